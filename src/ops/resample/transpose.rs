//! Transposed convolution (PyTorch's `ConvTranspose2d`, dilation 1) as direct loops, the
//! batch in parallel: each input pixel scatters `x * w[c, o]` into its `k x k` output
//! window at `(i s - p, j s - p)`; the backward pass gathers through the same windows.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::TransposeGeom;
use crate::element::{Element, Tensor4};
use crate::ops::scratch::data_of;
use crate::ops::tape::{add_into, put_grad, take_grad, untape};

impl TransposeGeom {
    /// For input row (or column) `i` and tap `t`: the output row, if inside.
    #[inline]
    fn dst(&self, i: usize, t: usize, n_out: usize) -> Option<usize> {
        (i * self.s + t).checked_sub(self.p).filter(|&r| r < n_out)
    }

    /// Calls `f(x index, w index, y index)` for every product of one sample.
    #[inline]
    fn each(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (k, ho, wo) = (self.k, self.h_out, self.w_out);
        for c in 0..self.c_in {
            for i in 0..self.h {
                for j in 0..self.w {
                    let xi = (c * self.h + i) * self.w + j;
                    for o in 0..self.c_out {
                        let wb = (c * self.c_out + o) * k * k;
                        for ki in 0..k {
                            let Some(r) = self.dst(i, ki, ho) else {
                                continue;
                            };
                            for kj in 0..k {
                                let Some(col) = self.dst(j, kj, wo) else {
                                    continue;
                                };
                                f(xi, wb + ki * k + kj, (o * ho + r) * wo + col);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// See [`crate::Backend::conv2d_transpose`].
pub fn cpu_conv2d_transpose<B: Dim, E: Element, T: Tape<E, Cpu> + Merge<T>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
    p: super::Conv2DTransposeParams,
) -> Result<Tensor4<B, E, Cpu, T>, CpuError> {
    let g = TransposeGeom::new(x.shape(), w.shape(), p).ok_or(CpuError::WrongNumElements)?;
    if bias.as_ref().is_some_and(|b| b.shape().0 != g.c_out) {
        return Err(CpuError::WrongNumElements);
    }
    let (b, _, _, _) = *x.shape();
    let (x, w, bias, mut tape) = untape(x, w, bias)?;
    let (xd, wd) = (data_of(&x), data_of(&w));
    let bd = bias.as_ref().map(data_of);
    let (n_in, n_out, plane) = (
        g.c_in * g.h * g.w,
        g.c_out * g.h_out * g.w_out,
        g.h_out * g.w_out,
    );
    let mut y = vec![E::zero(); b.size() * n_out];
    y.par_chunks_mut(n_out)
        .zip(xd.par_chunks(n_in))
        .for_each(|(y, x)| {
            if let Some(bd) = &bd {
                for (yo, &bv) in y.chunks_mut(plane).zip(bd.iter()) {
                    yo.fill(bv);
                }
            }
            g.each(|xi, wi, yi| y[yi] += x[xi] * wd[wi]);
        });
    let y = x
        .device()
        .try_tensor_from_vec(y, (b, g.c_out, g.h_out, g.w_out))?;
    if T::OWNS_TAPE {
        let y_id = y.clone();
        tape.add_backward_op(move |grads| {
            let (xd, wd) = (data_of(&x), data_of(&w));
            let gy = take_grad(grads, &y_id)?;
            let mut gx = vec![E::zero(); xd.len()];
            gx.par_chunks_mut(n_in)
                .zip(gy.par_chunks(n_out))
                .for_each(|(gx, gy)| g.each(|xi, wi, yi| gx[xi] += wd[wi] * gy[yi]));
            add_into(grads.get_or_alloc_mut(&x)?, &gx);
            // Each batch chunk sums its own weight gradient; the chunks are added after.
            let gw = xd
                .par_chunks(n_in)
                .zip(gy.par_chunks(n_out))
                .fold(
                    || vec![E::zero(); wd.len()],
                    |mut gw, (x, gy)| {
                        g.each(|xi, wi, yi| gw[wi] += x[xi] * gy[yi]);
                        gw
                    },
                )
                .reduce(
                    || vec![E::zero(); wd.len()],
                    |mut a, b| {
                        add_into(&mut a, &b);
                        a
                    },
                );
            add_into(grads.get_or_alloc_mut(&w)?, &gw);
            if let Some(bt) = &bias {
                let mut gb = vec![E::zero(); g.c_out];
                for s in gy.chunks(n_out) {
                    for (acc, yo) in gb.iter_mut().zip(s.chunks(plane)) {
                        *acc += yo.iter().fold(E::zero(), |a, &v| a + v);
                    }
                }
                add_into(grads.get_or_alloc_mut(bt)?, &gb);
            }
            put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

//! Resampling images, as differentiable dfdx ops: nearest-neighbour upsampling (CPU
//! loops, planes in parallel, whose backward pass adds each output block's gradient into
//! its source pixel; and a generic dfdx broadcast, the CUDA path and the reference), and
//! transposed convolution (direct CPU loops; the generic path gathers the zero-stuffed
//! input and runs the convolution op on it with the flipped kernel).

mod generic;
mod transpose;

use dfdx::prelude::*;
use rayon::prelude::*;

pub use self::generic::{
    conv2d_transpose as conv2d_transpose_generic, upsample2d as upsample2d_generic,
};
pub use self::transpose::cpu_conv2d_transpose;
use super::scratch::data_of;
use super::tape::{put_grad, take_grad};
use crate::element::{Element, Tensor4};

/// A transposed convolution's stride, padding and output padding (dilation 1), as in
/// PyTorch's `ConvTranspose2d`: `Ho = (H - 1) stride - 2 padding + kernel + output_padding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2DTransposeParams {
    pub stride: usize,
    pub padding: usize,
    /// Extra rows and columns at the end (less than the stride).
    pub output_padding: usize,
}

/// `(H - 1) s - 2 p + k + op`, or `None` when `op >= s` (PyTorch's rule), a size is zero or
/// the output would be empty.
pub const fn transpose_out_size(
    n: usize,
    k: usize,
    s: usize,
    p: usize,
    op: usize,
) -> Option<usize> {
    if n == 0 || k == 0 || s == 0 || op >= s {
        return None;
    }
    let full = (n - 1) * s + k + op;
    if full <= 2 * p {
        return None;
    }
    Some(full - 2 * p)
}

/// The sizes of one transposed convolution: input `(c_in, h, w)`, weight
/// `(c_in, c_out, k, k)`, output `(c_out, h_out, w_out)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TransposeGeom {
    pub c_in: usize,
    pub c_out: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub s: usize,
    pub p: usize,
    pub h_out: usize,
    pub w_out: usize,
}

impl TransposeGeom {
    pub fn new<B: Dim>(
        x: &(B, usize, usize, usize),
        w: &(usize, usize, usize, usize),
        p: Conv2DTransposeParams,
    ) -> Option<Self> {
        let (_, c_in, h, wd) = *x;
        let (wc, c_out, k, k2) = *w;
        if wc != c_in || k != k2 || c_in == 0 || c_out == 0 {
            return None;
        }
        let out = |n| transpose_out_size(n, k, p.stride, p.padding, p.output_padding);
        Some(Self {
            c_in,
            c_out,
            h,
            w: wd,
            k,
            s: p.stride,
            p: p.padding,
            h_out: out(h)?,
            w_out: out(wd)?,
        })
    }
}

/// See [`crate::Backend::upsample2d`].
pub fn cpu_upsample2d<B: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    fh: usize,
    fw: usize,
) -> Result<Tensor4<B, E, Cpu, T>, CpuError> {
    let (b, c, h, w) = *x.shape();
    let (ho, wo) = match (h.checked_mul(fh), w.checked_mul(fw)) {
        (Some(ho), Some(wo)) if fh > 0 && fw > 0 && h > 0 && w > 0 => (ho, wo),
        _ => return Err(CpuError::WrongNumElements),
    };
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let xd = data_of(&x);
    let mut y = vec![E::zero(); xd.len() * fh * fw];
    y.par_chunks_mut(ho * wo)
        .zip(xd.par_chunks(h * w))
        .for_each(|(y, x)| {
            for (oi, row) in y.chunks_exact_mut(wo).enumerate() {
                let src = &x[(oi / fh) * w..(oi / fh + 1) * w];
                for (v, &s) in row.chunks_exact_mut(fw).zip(src) {
                    v.fill(s);
                }
            }
        });
    drop(xd);
    let y = x.device().try_tensor_from_vec(y, (b, c, ho, wo))?;
    if T::OWNS_TAPE {
        let y_id = y.clone();
        tape.add_backward_op(move |grads| {
            let gy = take_grad(grads, &y_id)?;
            grads
                .get_or_alloc_mut(&x)?
                .par_chunks_mut(h * w)
                .zip(gy.par_chunks(ho * wo))
                .for_each(|(gx, gy)| {
                    for (oi, row) in gy.chunks_exact(wo).enumerate() {
                        let dst = &mut gx[(oi / fh) * w..(oi / fh + 1) * w];
                        for (d, v) in dst.iter_mut().zip(row.chunks_exact(fw)) {
                            *d += v.iter().fold(E::zero(), |a, &b| a + b);
                        }
                    }
                });
            put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

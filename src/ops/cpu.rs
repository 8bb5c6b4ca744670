//! Fast CPU kernels: im2col + gemm convolution with fused bias and ReLU, and pooling that
//! records its argmax for the backward pass. Work is split across cores by image (forward)
//! or by image chunk with per-thread weight-gradient accumulators (backward).

use dfdx::prelude::*;
use gemm::Parallelism;
use rayon::prelude::*;

use super::generic::{conv_geom, pool_geom};
use super::{Conv2DParams, ConvGeom, Pool2DKind, Pool2DParams, PoolGeom};
use crate::backend::{Element, Tensor4};

/// See [`crate::Backend::conv2d`].
pub fn conv2d<B: Dim, E: Element, T: Tape<E, Cpu> + Merge<T>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
    p: Conv2DParams,
) -> Result<Tensor4<B, E, Cpu, T>, CpuError> {
    let g = conv_geom(x.shape(), w.shape(), p).ok_or(CpuError::WrongNumElements)?;
    let (x, x_tape) = x.try_contiguous()?.split_tape();
    let (w, w_tape) = w.try_contiguous()?.split_tape();
    let mut tape = x_tape.merge(w_tape);
    let bias = match bias {
        Some(b) => {
            let (b, b_tape) = b.split_tape();
            tape = tape.merge(b_tape);
            Some(b)
        }
        None => None,
    };
    let xd = read(&x);
    let wd = read(&w);
    let bd = bias.as_ref().map(read);

    let out_len = g.c_out * g.h_out * g.w_out;
    let mut out = vec![E::zero(); g.batch * out_len];
    conv_forward(&g, &xd, &wd, bd.as_deref(), &mut out, p.relu);
    // ReLU's gradient only needs to know which outputs were positive.
    let mask: Vec<bool> = if T::OWNS_TAPE && p.relu {
        out.par_iter().map(|&v| v > E::zero()).collect()
    } else {
        Vec::new()
    };
    let shape = (x.shape().0, g.c_out, g.h_out, g.w_out);
    let y = x.device().try_tensor_from_vec(out, shape)?;
    if T::OWNS_TAPE {
        let y_id = y.clone();
        tape.add_backward_op(move |grads| {
            let mut gy = take_grad(grads, &y_id)?;
            if p.relu {
                gy.par_iter_mut().zip(mask.par_iter()).for_each(|(g, &m)| {
                    if !m {
                        *g = E::zero();
                    }
                });
            }
            let (gw, gb) = {
                let gx = grads.get_or_alloc_mut(&x)?;
                conv_backward(&g, &xd, &wd, &gy, gx)
            };
            add_into(grads.get_or_alloc_mut(&w)?, &gw);
            if let Some(b) = &bias {
                add_into(grads.get_or_alloc_mut(b)?, &gb);
            }
            put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

/// See [`crate::Backend::pool2d`].
pub fn pool2d<B: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    kind: Pool2DKind,
    p: Pool2DParams,
) -> Result<Tensor4<B, E, Cpu, T>, CpuError> {
    let g = pool_geom(x.shape(), p).ok_or(CpuError::WrongNumElements)?;
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let xd = read(&x);
    let plane_out = g.h_out * g.w_out;
    let mut out = vec![E::zero(); g.planes * plane_out];
    let mut arg = match kind {
        Pool2DKind::Max => vec![0u32; g.planes * plane_out],
        Pool2DKind::Avg => Vec::new(),
    };
    pool_forward(&g, kind, &xd, &mut out, &mut arg);
    drop(xd);
    let (b, c, _, _) = *x.shape();
    let y = x
        .device()
        .try_tensor_from_vec(out, (b, c, g.h_out, g.w_out))?;
    if T::OWNS_TAPE {
        let y_id = y.clone();
        tape.add_backward_op(move |grads| {
            let gy = take_grad(grads, &y_id)?;
            pool_backward(&g, kind, &arg, &gy, grads.get_or_alloc_mut(&x)?);
            put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

/// A contiguous tensor's elements.
fn read<S: Shape, E: Element>(t: &Tensor<S, E, Cpu>) -> Vec<E> {
    let mut v = vec![E::zero(); t.shape().num_elements()];
    t.copy_into(&mut v);
    v
}

/// Moves the gradient of `t` out of `grads` (no copy); give it back with [`put_grad`].
fn take_grad<S: Shape, E: Element>(
    grads: &mut Gradients<E, Cpu>,
    t: &Tensor<S, E, Cpu>,
) -> Result<Vec<E>, CpuError> {
    Ok(std::mem::take(&mut **grads.get_or_alloc_mut(t)?))
}

fn put_grad<S: Shape, E: Element>(
    grads: &mut Gradients<E, Cpu>,
    t: &Tensor<S, E, Cpu>,
    v: Vec<E>,
) -> Result<(), CpuError> {
    **grads.get_or_alloc_mut(t)? = v;
    Ok(())
}

fn add_into<E: Element>(dst: &mut [E], src: &[E]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// `dst (m x n) = [dst +] lhs (m x k) * rhs (k x n)`, each given as (pointer, row stride,
/// column stride). Single-threaded: callers parallelise over images.
#[allow(clippy::too_many_arguments)]
fn matmul<E: Element>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [E],
    accumulate: bool,
    lhs: &[E],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[E],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    debug_assert!(dst.len() >= m * n);
    debug_assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    debug_assert!(k == 0 || n == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the asserts above bound every index gemm touches within the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            E::one(),
            E::one(),
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

/// Fills `cols` `(C*K*K, Ho*Wo)` with the input taps of one image `x` `(C, H, W)`.
fn im2col<E: Element>(g: &ConvGeom, x: &[E], cols: &mut [E]) {
    let hw_out = g.h_out * g.w_out;
    let mut row = 0;
    for c in 0..g.c_in {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.k {
            for kj in 0..g.k {
                let dst = &mut cols[row * hw_out..(row + 1) * hw_out];
                for oi in 0..g.h_out {
                    let d = &mut dst[oi * g.w_out..(oi + 1) * g.w_out];
                    let r = (oi * g.stride + ki * g.dil).wrapping_sub(g.pad);
                    if r >= g.h {
                        d.fill(E::zero());
                        continue;
                    }
                    let src = &plane[r * g.w..(r + 1) * g.w];
                    for (oj, v) in d.iter_mut().enumerate() {
                        let col = (oj * g.stride + kj * g.dil).wrapping_sub(g.pad);
                        *v = if col < g.w { src[col] } else { E::zero() };
                    }
                }
                row += 1;
            }
        }
    }
}

/// Adds `cols` `(C*K*K, Ho*Wo)` back onto the taps of one image gradient `gx` `(C, H, W)`.
fn col2im<E: Element>(g: &ConvGeom, cols: &[E], gx: &mut [E]) {
    let hw_out = g.h_out * g.w_out;
    let mut row = 0;
    for c in 0..g.c_in {
        let plane = &mut gx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.k {
            for kj in 0..g.k {
                let src = &cols[row * hw_out..(row + 1) * hw_out];
                for oi in 0..g.h_out {
                    let r = (oi * g.stride + ki * g.dil).wrapping_sub(g.pad);
                    if r >= g.h {
                        continue;
                    }
                    let dst = &mut plane[r * g.w..(r + 1) * g.w];
                    for (oj, &v) in src[oi * g.w_out..(oi + 1) * g.w_out].iter().enumerate() {
                        let col = (oj * g.stride + kj * g.dil).wrapping_sub(g.pad);
                        if col < g.w {
                            dst[col] += v;
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

fn conv_forward<E: Element>(
    g: &ConvGeom,
    x: &[E],
    w: &[E],
    bias: Option<&[E]>,
    out: &mut [E],
    relu: bool,
) {
    let (chw, ckk, hw_out) = (g.c_in * g.h * g.w, g.c_in * g.k * g.k, g.h_out * g.w_out);
    if out.is_empty() {
        return;
    }
    out.par_chunks_mut(g.c_out * hw_out)
        .zip(x.par_chunks(chw.max(1)))
        .for_each_init(
            || vec![E::zero(); ckk * hw_out],
            |cols, (y, xb)| {
                im2col(g, xb, cols);
                if let Some(b) = bias {
                    for (o, yo) in y.chunks_mut(hw_out).enumerate() {
                        yo.fill(b[o]);
                    }
                }
                matmul(
                    (g.c_out, hw_out, ckk),
                    y,
                    bias.is_some(),
                    w,
                    (ckk, 1),
                    cols,
                    (hw_out, 1),
                );
                if relu {
                    for v in y.iter_mut() {
                        if *v < E::zero() {
                            *v = E::zero();
                        }
                    }
                }
            },
        );
}

/// Adds the input gradient into `gx` and returns the weight and bias gradients.
fn conv_backward<E: Element>(
    g: &ConvGeom,
    x: &[E],
    w: &[E],
    gy: &[E],
    gx: &mut [E],
) -> (Vec<E>, Vec<E>) {
    let (chw, ckk, hw_out) = (g.c_in * g.h * g.w, g.c_in * g.k * g.k, g.h_out * g.w_out);
    let y_len = g.c_out * hw_out;
    let zero = || (vec![E::zero(); g.c_out * ckk], vec![E::zero(); g.c_out]);
    if gy.is_empty() || gx.is_empty() {
        return zero();
    }
    gx.par_chunks_mut(chw)
        .zip(x.par_chunks(chw))
        .zip(gy.par_chunks(y_len))
        .fold(
            || {
                (
                    zero(),
                    vec![E::zero(); ckk * hw_out],
                    vec![E::zero(); ckk * hw_out],
                )
            },
            |((mut gw, mut gb), mut cols, mut gcols), ((gxb, xb), gyb)| {
                for (o, row) in gyb.chunks(hw_out).enumerate() {
                    gb[o] += row.iter().fold(E::zero(), |a, &v| a + v);
                }
                im2col(g, xb, &mut cols);
                // gw (O, CKK) += gy (O, HoWo) * cols^T (HoWo, CKK)
                matmul(
                    (g.c_out, ckk, hw_out),
                    &mut gw,
                    true,
                    gyb,
                    (hw_out, 1),
                    &cols,
                    (1, hw_out),
                );
                // gcols (CKK, HoWo) = w^T (CKK, O) * gy (O, HoWo)
                matmul(
                    (ckk, hw_out, g.c_out),
                    &mut gcols,
                    false,
                    w,
                    (1, ckk),
                    gyb,
                    (hw_out, 1),
                );
                col2im(g, &gcols, gxb);
                ((gw, gb), cols, gcols)
            },
        )
        .map(|(acc, _, _)| acc)
        .reduce(zero, |(mut gw, mut gb), (gw2, gb2)| {
            add_into(&mut gw, &gw2);
            add_into(&mut gb, &gb2);
            (gw, gb)
        })
}

fn pool_forward<E: Element>(
    g: &PoolGeom,
    kind: Pool2DKind,
    x: &[E],
    out: &mut [E],
    arg: &mut [u32],
) {
    let (hw, hw_out) = (g.h * g.w, g.h_out * g.w_out);
    if out.is_empty() {
        return;
    }
    let scale = E::one() / E::from(g.k * g.k).unwrap_or(E::one());
    match kind {
        Pool2DKind::Max => out
            .par_chunks_mut(hw_out)
            .zip(arg.par_chunks_mut(hw_out))
            .zip(x.par_chunks(hw))
            .for_each(|((y, a), xp)| {
                for oi in 0..g.h_out {
                    for oj in 0..g.w_out {
                        let (mut best, mut at) = (E::neg_infinity(), u32::MAX);
                        for ki in 0..g.k {
                            for kj in 0..g.k {
                                if let Some((r, c)) = g.src(oi, oj, ki, kj) {
                                    let v = xp[r * g.w + c];
                                    // `!(v <= best)` lets a NaN win, as PyTorch does.
                                    #[allow(clippy::neg_cmp_op_on_partial_ord)]
                                    if at == u32::MAX || !(v <= best) {
                                        best = v;
                                        at = (r * g.w + c) as u32;
                                    }
                                }
                            }
                        }
                        y[oi * g.w_out + oj] = best;
                        a[oi * g.w_out + oj] = at;
                    }
                }
            }),
        Pool2DKind::Avg => out
            .par_chunks_mut(hw_out)
            .zip(x.par_chunks(hw))
            .for_each(|(y, xp)| {
                for oi in 0..g.h_out {
                    for oj in 0..g.w_out {
                        let mut s = E::zero();
                        for ki in 0..g.k {
                            for kj in 0..g.k {
                                if let Some((r, c)) = g.src(oi, oj, ki, kj) {
                                    s += xp[r * g.w + c];
                                }
                            }
                        }
                        y[oi * g.w_out + oj] = s * scale;
                    }
                }
            }),
    }
}

fn pool_backward<E: Element>(g: &PoolGeom, kind: Pool2DKind, arg: &[u32], gy: &[E], gx: &mut [E]) {
    let (hw, hw_out) = (g.h * g.w, g.h_out * g.w_out);
    if gy.is_empty() {
        return;
    }
    let scale = E::one() / E::from(g.k * g.k).unwrap_or(E::one());
    match kind {
        Pool2DKind::Max => gx
            .par_chunks_mut(hw)
            .zip(gy.par_chunks(hw_out))
            .zip(arg.par_chunks(hw_out))
            .for_each(|((gxp, gyp), a)| {
                for (&v, &i) in gyp.iter().zip(a) {
                    if let Some(d) = gxp.get_mut(i as usize) {
                        *d += v;
                    }
                }
            }),
        Pool2DKind::Avg => {
            gx.par_chunks_mut(hw)
                .zip(gy.par_chunks(hw_out))
                .for_each(|(gxp, gyp)| {
                    for oi in 0..g.h_out {
                        for oj in 0..g.w_out {
                            let v = gyp[oi * g.w_out + oj] * scale;
                            for ki in 0..g.k {
                                for kj in 0..g.k {
                                    if let Some((r, c)) = g.src(oi, oj, ki, kj) {
                                        gxp[r * g.w + c] += v;
                                    }
                                }
                            }
                        }
                    }
                })
        }
    }
}

//! 2-d convolution (with fused bias, ReLU and max pooling) as a differentiable dfdx op.
//!
//! [`cpu`] chooses the kernels, here and nowhere else: the direct kernels ([`direct`]:
//! AVX-512, or AVX2 + FMA for few taps) for f32 convolutions they handle, else im2col
//! ([`im2col`]: gemm, from the padded image for stride 1 ([`implicit`]; 3x3 with enough
//! channels by Winograd's F(2x2, 3x3), [`winograd`], forward and both gradients), or
//! [`small`]'s loops for kernels with few taps). [`generic`] builds the op from dfdx ops (the CUDA
//! path, and the reference). On `Cpu`, work is split across cores by image;
//! weight gradients are summed over fixed chunks of images in a fixed order, so results
//! do not depend on the scheduling.

pub(crate) mod direct;
mod generic;
pub(crate) mod im2col;
mod implicit;
mod small;
#[cfg(test)]
mod tests;
mod winograd;

use dfdx::prelude::*;
use rayon::prelude::*;

pub use self::generic::generic;
use super::geom::{conv_geom, pool_geom, ConvGeom, PoolGeom};
use super::scratch::{data_of, Scratch};
use super::tape::{add_into, put_grad, take_grad, untape};
use super::Conv2DParams;
use crate::element::{f32s, f32s_mut, from_f32s, Element, Tensor4};

/// Images per partial weight gradient: partial sums over fixed chunks of images, added in
/// chunk order, make the result independent of the scheduling.
pub(crate) const IMAGES_PER_PARTIAL: usize = 8;

/// Elements per rayon task in elementwise passes.
const CHUNK: usize = 1 << 16;

/// See [`crate::Backend::conv2d`]. With `p.max_pool`, each image's convolution output
/// lives only in a per-thread scratch buffer: it is pooled straight away, and the backward
/// pass routes the gradient through the recorded argmax.
///
/// f32 convolutions that are square with stride 1 and no dilation, followed by nothing or
/// by `MaxPool2D(2)`, run the direct kernels where the CPU has AVX-512 (or, for few taps
/// per output, AVX2 + FMA).
pub fn cpu<B: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
    p: Conv2DParams,
) -> Result<Tensor4<B, E, Cpu, T>, CpuError> {
    run(x, w, bias, p, true)
}

/// [`cpu`] without the direct kernels (always im2col), for tests that compare the two.
pub fn cpu_im2col<B: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
    p: Conv2DParams,
) -> Result<Tensor4<B, E, Cpu, T>, CpuError> {
    run(x, w, bias, p, false)
}

/// The kernels that run one convolution on `Cpu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Direct kernels fused with `MaxPool2D(2)`.
    DirectPooled,
    /// Direct kernels without pooling.
    DirectPlain,
    Im2col,
}

impl Path {
    fn choose<E: Element>(g: &ConvGeom, pool: Option<&PoolGeom>, allow_direct: bool) -> Self {
        match pool {
            _ if !(allow_direct && direct::applies::<E>(g, pool)) => Self::Im2col,
            Some(_) => Self::DirectPooled,
            None => Self::DirectPlain,
        }
    }
}

fn run<B: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
    p: Conv2DParams,
    allow_direct: bool,
) -> Result<Tensor4<B, E, Cpu, T>, CpuError> {
    crate::alloc::tune_allocator();
    let g = conv_geom(x.shape(), w.shape(), p).ok_or(CpuError::WrongNumElements)?;
    let pool = match p.max_pool {
        Some(pp) => Some(
            pool_geom(&(g.batch, g.c_out, g.h_out, g.w_out), pp)
                .ok_or(CpuError::WrongNumElements)?,
        ),
        None => None,
    };
    let path = Path::choose::<E>(&g, pool.as_ref(), allow_direct);
    let (x, w, bias, mut tape) = untape(x, w, bias)?;
    let (xd, wd) = (data_of(&x), data_of(&w));
    let bd = bias.as_ref().map(data_of);

    let (h_out, w_out) = pool.map_or((g.h_out, g.w_out), |pg| (pg.h_out, pg.w_out));
    // The unpooled direct kernels allocate their output (written once, not zeroed first).
    let n_out = g.batch * g.c_out * h_out * w_out;
    let plain = path == Path::DirectPlain;
    let mut out = vec![E::zero(); if plain { 0 } else { n_out }];
    // The argmax is only kept when a backward pass will need it.
    let keep_arg = pool.is_some() && T::OWNS_TAPE;
    let arg = match (path, pool.as_ref()) {
        (Path::DirectPooled, Some(pg)) => {
            let mut arg = Scratch::<u8>::stale(if keep_arg { out.len() } else { 0 });
            direct::forward(
                direct::best(),
                &g,
                pg,
                f32s(&xd),
                f32s(&wd),
                bd.as_deref().map(f32s::<E>),
                p.relu,
                f32s_mut(&mut out),
                &mut arg,
            );
            Argmax::Phase(arg)
        }
        (Path::DirectPlain, _) => {
            let mut pos = Scratch::<u8>::stale(if T::OWNS_TAPE && p.relu { n_out } else { 0 });
            out = from_f32s(direct::forward_plain(
                direct::best(),
                &g,
                f32s(&xd),
                f32s(&wd),
                bd.as_deref().map(f32s::<E>),
                p.relu,
                &mut pos,
            ));
            Argmax::Positive(pos)
        }
        _ => {
            let mut arg = vec![0u32; if keep_arg { out.len() } else { 0 }];
            im2col::forward(
                &g,
                pool.as_ref(),
                &xd,
                &wd,
                bd.as_deref(),
                p.relu,
                &mut out,
                &mut arg,
            );
            Argmax::Plane(arg)
        }
    };
    // Without pooling, ReLU's gradient only needs to know which outputs were positive.
    // (In chunks: rayon's per-element iterators cost more than the comparisons.)
    let mut mask: Vec<bool> = Vec::new();
    if T::OWNS_TAPE && p.relu && matches!(arg, Argmax::Plane(_)) && pool.is_none() {
        mask = vec![false; out.len()];
        mask.par_chunks_mut(CHUNK)
            .zip(out.par_chunks(CHUNK))
            .for_each(|(m, o)| {
                for (m, &v) in m.iter_mut().zip(o) {
                    *m = v > E::zero();
                }
            });
    }
    let y = x
        .device()
        .try_tensor_from_vec(out, (x.shape().0, g.c_out, h_out, w_out))?;
    if T::OWNS_TAPE {
        let y_id = y.clone();
        tape.add_backward_op(move |grads| {
            let (xd, wd) = (data_of(&x), data_of(&w));
            let mut gy = take_grad(grads, &y_id)?;
            if !mask.is_empty() {
                gy.par_chunks_mut(CHUNK)
                    .zip(mask.par_chunks(CHUNK))
                    .for_each(|(g, m)| {
                        for (g, &m) in g.iter_mut().zip(m) {
                            *g = if m { *g } else { E::zero() };
                        }
                    });
            }
            let saved = Saved {
                x: &xd,
                w: &wd,
                arg: &arg,
                pool: pool.as_ref(),
            };
            let (gw, gb) = match (&arg, pool.as_ref()) {
                // The first layer's fast case: no input gradient, direct kernels.
                (Argmax::Phase(a), Some(pg)) if !p.input_grad => {
                    let (gw, gb) =
                        direct::backward(direct::best(), &g, pg, f32s(&xd), a, f32s(&gy));
                    (from_f32s(gw), from_f32s(gb))
                }
                // Unpooled direct path: `gy` is masked by the kernels.
                (Argmax::Positive(pos), None) => {
                    let gx = match p.input_grad {
                        true => Some(f32s_mut(grads.get_or_alloc_mut(&x)?)),
                        false => None,
                    };
                    let (gw, gb) = direct::backward_plain(
                        direct::best(),
                        &g,
                        f32s(&xd),
                        f32s(&wd),
                        pos,
                        f32s(&gy),
                        gx,
                    );
                    (from_f32s(gw), from_f32s(gb))
                }
                _ if p.input_grad => {
                    im2col::backward(&g, &saved, &gy, Some(grads.get_or_alloc_mut(&x)?))
                }
                _ => im2col::backward(&g, &saved, &gy, None),
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

/// What the forward pass keeps for the backward pass.
pub(crate) struct Saved<'a, E> {
    pub x: &'a [E],
    pub w: &'a [E],
    pub arg: &'a Argmax,
    pub pool: Option<&'a PoolGeom>,
}

/// The argmax of each pooled output, kept for the backward pass (empty without one).
pub(crate) enum Argmax {
    /// Index in the conv output plane, or [`NONE`](super::pool2d::kernels::NONE) (im2col
    /// path).
    Plane(Vec<u32>),
    /// Phase `di * 2 + dj` in the 2x2 window, or [`direct::NONE`] (direct path).
    Phase(Scratch<u8>),
    /// No pooling, direct path: 1 where the output is positive, else 0 (empty without
    /// ReLU).
    Positive(Scratch<u8>),
}

/// `w` `(O, C, KH, KW)` flipped and transposed: `(C, O, KH, KW)`, the kernel of the
/// input gradient.
fn flipped<E: Element>(g: &ConvGeom, w: &[E]) -> Vec<E> {
    let kk = g.kh * g.kw;
    let mut wf = vec![E::zero(); w.len()];
    for (i, v) in wf.iter_mut().enumerate() {
        let (c, o, t) = (i / (g.c_out * kk), i / kk % g.c_out, i % kk);
        *v = w[(o * g.c_in + c) * kk + kk - 1 - t];
    }
    wf
}

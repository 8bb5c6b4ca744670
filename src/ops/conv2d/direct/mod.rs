//! Direct (im2col-free) f32 convolution fused with ReLU and `MaxPool2D(2)`, or with ReLU
//! alone, with AVX-512 or AVX2 + FMA (the same kernels, [`simd::Lanes`] wide).
//!
//! Each image is copied into a polyphase layout, `xp[c][r][s][a][b] = xpad[c][2a+r][2b+s]`,
//! so that for 16 consecutive pooled columns, each of the four conv outputs of a 2x2 window
//! reads 16 consecutive floats per tap. The conv output never leaves the registers: it is
//! pooled straight away. Taps are summed in the order (c, ki, kj) with FMA, starting from the
//! bias, as the im2col path's thin-product loops do, so both agree bit for bit when that path
//! uses them (`C*K*K <= SMALL_K`).
//!
//! Without pooling ([`Plain`]), each image is copied zero-padded and a block computes two
//! output rows of 16 columns for up to 12 channels. The input gradient is the same kernel
//! on the (padded, ReLU-masked) output gradient with the flipped, transposed weights.

mod kernels;
mod layout;
mod simd;
#[cfg(test)]
mod tests;

use std::mem::MaybeUninit;

use rayon::prelude::*;

use self::layout::{Layout, Plain};
use crate::element::Element;
use crate::ops::geom::{ConvGeom, PoolGeom};
pub(crate) use crate::ops::isa::Simd;

/// The argmax of a pooled output that gets no gradient: ReLU zeroed the window's maximum.
pub(crate) const NONE: u8 = u8::MAX;

/// Lanes per vector.
const L: usize = 16;

/// Calls kernel `$f` of instruction set `$simd`, which the caller checked with
/// [`Simd::runs`].
macro_rules! on {
    ($simd:expr, $f:ident($($a:expr),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has `$simd`'s features (the caller's check).
        unsafe {
            match $simd {
                Simd::Avx512 => kernels::avx512::$f($($a),*),
                Simd::Avx2 => kernels::avx2::$f($($a),*),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("direct kernels on {:?}", ($simd, $($a),*));
    }};
}

/// Whether the direct kernels handle this convolution: f32, a square kernel with stride 1,
/// no dilation and the same padding on both axes, followed by nothing or by max pooling
/// with window 2, stride 2, no padding; on a CPU with AVX-512, or with AVX2 + FMA where
/// [`avx2_wins`].
pub(crate) fn applies<E: Element>(g: &ConvGeom, pool: Option<&PoolGeom>) -> bool {
    E::IS_F32
        && handles(g, pool)
        && match Simd::best() {
            Some(Simd::Avx512) => true,
            Some(Simd::Avx2) => avx2_wins(g.taps(), pool.is_some()),
            None => false,
        }
}

/// Whether the kernels compute this geometry (on any instruction set).
fn handles(g: &ConvGeom, pool: Option<&PoolGeom>) -> bool {
    g.square_unit().is_some()
        && g.c_in > 0
        && g.c_out > 0
        && g.h_out > 0
        && g.w_out > 0
        && pool.is_none_or(|p| p.is_2x2() && p.h_out > 0 && p.w_out > 0)
}

/// Whether the AVX2 direct kernels beat im2col (measured, forward and backward, batch 64
/// and 128, BENCHMARKS.md): for convolutions with few taps per output (first layers:
/// 3 -> 32 3x3, 1 -> 6 5x5), where a product is too thin for the matrix kernel, and not
/// below 10 taps without pooling (im2col's thin loops win there). With more taps the
/// AVX2 blocks, a quarter of AVX-512's, match im2col forward and lose backward.
fn avx2_wins(taps: usize, pooled: bool) -> bool {
    taps <= 32 && (pooled || taps >= 10)
}

/// The instruction set of a convolution [`applies`] accepted.
pub(crate) fn best() -> Simd {
    Simd::best().expect("direct conv: no AVX2 or AVX-512")
}

/// `v` split into one slice per image of `n` elements, or all `None` when `v` is empty.
fn per_image<T>(v: &mut [T], n: usize, batch: usize) -> Vec<Option<&mut [T]>> {
    if v.is_empty() {
        (0..batch).map(|_| None).collect()
    } else {
        v.chunks_mut(n).map(Some).collect()
    }
}

/// Sums 16-lane partials `(.., 16)` per row.
fn lanes(v: &[f32]) -> Vec<f32> {
    v.chunks_exact(L).map(|c| c.iter().sum()).collect()
}

/// Adds partial (weight, bias) gradients in order: the result does not depend on the
/// scheduling.
fn sum_partials(
    zero: (Vec<f32>, Vec<f32>),
    partials: Vec<(Vec<f32>, Vec<f32>)>,
) -> (Vec<f32>, Vec<f32>) {
    partials
        .into_iter()
        .fold(zero, |(mut gw, mut gb), (gw2, gb2)| {
            gw.iter_mut().zip(&gw2).for_each(|(a, b)| *a += b);
            gb.iter_mut().zip(&gb2).for_each(|(a, b)| *a += b);
            (gw, gb)
        })
}

/// Forward pass: `out` `(B, O, Hq, Wq)` gets max-pooled (and ReLU'd) conv outputs of `x`
/// `(B, C, H, W)` with `w` `(O, C, K, K)`; `arg` (empty, or one per output) the phase
/// `di * 2 + dj` of each maximum, or [`NONE`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    simd: Simd,
    g: &ConvGeom,
    pg: &PoolGeom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
    arg: &mut [u8],
) {
    assert!(handles(g, Some(pg)), "direct conv: unsupported geometry");
    assert!(simd.runs(), "direct conv: this CPU has no {simd:?}");
    let l = Layout::new(g, pg);
    let (chw, out_len) = (l.c_in * l.h * l.w, l.c_out * l.hq * l.wq);
    assert!(x.len() == g.batch * chw && out.len() == g.batch * out_len);
    assert!(w.len() == l.c_out * l.ckk && bias.is_none_or(|b| b.len() == l.c_out));
    assert!(arg.is_empty() || arg.len() == out.len());
    if out.is_empty() {
        return;
    }
    let offs = l.offsets();
    let args = per_image(arg, out_len, g.batch);
    out.par_chunks_mut(out_len)
        .zip(x.par_chunks(chw))
        .zip(args)
        .for_each_init(
            || vec![0.0f32; l.len()],
            |xp, ((out_b, xb), arg_b)| {
                l.fill(xb, xp);
                on!(
                    simd,
                    forward_image(&l, &offs, xp, w, bias, relu, out_b, arg_b)
                );
            },
        );
}

/// Weight and bias gradients from `gy` `(B, O, Hq, Wq)`, the gradient of the pooled output,
/// routed through `arg` (from [`forward`]). Partial sums over fixed chunks of images are
/// added in chunk order, so the result does not depend on the scheduling.
pub(crate) fn backward(
    simd: Simd,
    g: &ConvGeom,
    pg: &PoolGeom,
    x: &[f32],
    arg: &[u8],
    gy: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    assert!(handles(g, Some(pg)), "direct conv: unsupported geometry");
    assert!(simd.runs(), "direct conv: this CPU has no {simd:?}");
    let l = Layout::new(g, pg);
    let (chw, out_len) = (l.c_in * l.h * l.w, l.c_out * l.hq * l.wq);
    assert!(x.len() == g.batch * chw && gy.len() == g.batch * out_len && arg.len() == gy.len());
    let zero = || (vec![0.0f32; l.c_out * l.ckk], vec![0.0f32; l.c_out]);
    if gy.is_empty() {
        return zero();
    }
    let offs = l.offsets();
    let per = super::IMAGES_PER_PARTIAL;
    let partials: Vec<(Vec<f32>, Vec<f32>)> = (0..g.batch.div_ceil(per))
        .into_par_iter()
        .map(|chunk| {
            let mut xp = vec![0.0f32; l.len()];
            let mut gw = vec![0.0f32; l.c_out * l.ckk * L];
            let mut gb = vec![0.0f32; l.c_out * L];
            for b in chunk * per..((chunk + 1) * per).min(g.batch) {
                l.fill(&x[b * chw..(b + 1) * chw], &mut xp);
                let (gy_b, arg_b) = (
                    &gy[b * out_len..(b + 1) * out_len],
                    &arg[b * out_len..(b + 1) * out_len],
                );
                on!(
                    simd,
                    backward_image(&l, &offs, &xp, gy_b, arg_b, &mut gw, &mut gb)
                );
            }
            (lanes(&gw), lanes(&gb))
        })
        .collect();
    sum_partials(zero(), partials)
}

/// Where one image's unpooled output goes.
struct Out<'a> {
    /// `(O, Ho, Wo)`; every element gets written (with `add`, they must be initialised).
    y: &'a mut [MaybeUninit<f32>],
    relu: bool,
    /// 1 where the output is positive, else 0 (when given).
    pos: Option<&'a mut [u8]>,
    /// Add into `y` instead of storing.
    add: bool,
}

/// Forward pass without pooling: the (ReLU'd) conv outputs `(B, O, Ho, Wo)` of `x` `(B, C,
/// H, W)` with `w` `(O, C, K, K)`; `pos` (empty, or one per output) gets 1 where the output
/// is positive, else 0. The output is written once (no zero-filling first).
pub(crate) fn forward_plain(
    simd: Simd,
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    pos: &mut [u8],
) -> Vec<f32> {
    assert!(handles(g, None), "direct conv: unsupported geometry");
    assert!(simd.runs(), "direct conv: this CPU has no {simd:?}");
    let l = Plain::forward(g);
    let (chw, out_len) = (l.c_in * l.h * l.w, l.c_out * l.ho * l.wo);
    let n = g.batch * out_len;
    assert!(x.len() == g.batch * chw && (pos.is_empty() || pos.len() == n));
    assert!(w.len() == l.c_out * l.ckk && bias.is_none_or(|b| b.len() == l.c_out));
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let offs = l.offsets();
    let poss = per_image(pos, out_len, g.batch);
    out.spare_capacity_mut()[..n]
        .par_chunks_mut(out_len)
        .zip(x.par_chunks(chw))
        .zip(poss)
        .for_each_init(
            || vec![0.0f32; l.len()],
            |xp, ((y, xb), pos)| {
                l.fill(xb, xp);
                let out = Out {
                    y,
                    relu,
                    pos,
                    add: false,
                };
                on!(simd, plain_image(&l, &offs, xp, w, bias, out));
            },
        );
    // SAFETY: the first `n` elements are initialised: each image's `out_len` of them went
    // to one `plain_image`, which writes every element of its output.
    unsafe { out.set_len(n) };
    out
}

/// Backward pass without pooling: adds the input gradient into `gx` (when given) and
/// returns the weight and bias gradients, from `gy` `(B, O, Ho, Wo)` masked by `pos` (from
/// [`forward_plain`]; empty without ReLU). Partial sums as in [`backward`].
pub(crate) fn backward_plain(
    simd: Simd,
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    pos: &[u8],
    gy: &[f32],
    gx: Option<&mut [f32]>,
) -> (Vec<f32>, Vec<f32>) {
    assert!(handles(g, None), "direct conv: unsupported geometry");
    assert!(simd.runs(), "direct conv: this CPU has no {simd:?}");
    let (l, lg) = (Plain::forward(g), Plain::input_grad(g));
    let (chw, out_len) = (l.c_in * l.h * l.w, l.c_out * l.ho * l.wo);
    assert!(x.len() == g.batch * chw && gy.len() == g.batch * out_len);
    assert!(w.len() == l.c_out * l.ckk && (pos.is_empty() || pos.len() == gy.len()));
    assert!(gx.as_ref().is_none_or(|gx| gx.len() == x.len()));
    let zero = || (vec![0.0f32; l.c_out * l.ckk], vec![0.0f32; l.c_out]);
    if gy.is_empty() {
        return zero();
    }
    let (offs, offs_g) = (l.offsets(), lg.offsets());
    // The kernel of the input gradient.
    let wf = if gx.is_some() {
        super::flipped(g, w)
    } else {
        Vec::new()
    };
    let has_gx = gx.is_some();
    let mut items: Vec<(usize, Option<&mut [f32]>)> = match gx {
        Some(gx) => gx.chunks_mut(chw).map(Some).enumerate().collect(),
        None => (0..g.batch).map(|b| (b, None)).collect(),
    };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = items
        .par_chunks_mut(super::IMAGES_PER_PARTIAL)
        .map_init(
            || {
                let gyp = vec![0.0f32; if has_gx { lg.len() } else { 0 }];
                let gm = vec![0.0f32; if pos.is_empty() { 0 } else { out_len }];
                (vec![0.0f32; l.len()], gyp, gm)
            },
            |(xp, gyp, gm), chunk| {
                let mut gw = vec![0.0f32; l.c_out * l.ckk * L];
                let mut gb = vec![0.0f32; l.c_out * L];
                for (b, gxb) in chunk.iter_mut() {
                    let (b, gxb) = (*b, gxb.take());
                    let mut gy_b = &gy[b * out_len..(b + 1) * out_len];
                    let pos_b = pos.get(b * out_len..(b + 1) * out_len).unwrap_or(&[]);
                    on!(simd, mask_grads(l.c_out, gy_b, pos_b, gm, &mut gb));
                    if !pos_b.is_empty() {
                        gy_b = gm;
                    }
                    l.fill(&x[b * chw..(b + 1) * chw], xp);
                    on!(simd, plain_weight_grads(&l, &offs, xp, gy_b, &mut gw));
                    if let Some(gxb) = gxb {
                        lg.fill(gy_b, gyp);
                        // SAFETY: same layout; `plain_image` with `add` only writes
                        // initialised values, so `gxb` stays initialised.
                        let y = unsafe { &mut *(gxb as *mut [f32] as *mut [MaybeUninit<f32>]) };
                        let out = Out {
                            y,
                            relu: false,
                            pos: None,
                            add: true,
                        };
                        on!(simd, plain_image(&lg, &offs_g, gyp, &wf, None, out));
                    }
                }
                (lanes(&gw), lanes(&gb))
            },
        )
        .collect();
    sum_partials(zero(), partials)
}

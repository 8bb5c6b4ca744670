//! im2col convolution: each image's input taps copied into a `(C*KH*KW, Ho*Wo)` matrix
//! and multiplied by the weights (with gemm, or [`small`]'s loops for few taps), with
//! fused bias, ReLU and max pooling; any element type, geometry and pooling.

use std::borrow::Cow;

use gemm::Parallelism;
use rayon::prelude::*;

use super::implicit::Rows;
use super::{direct, flipped, small, Argmax, Saved, IMAGES_PER_PARTIAL};
use crate::element::Element;
use crate::ops::geom::{ConvGeom, PoolGeom};
use crate::ops::pool2d::kernels::{max_pool_plane, NONE};
use crate::ops::scratch::Local;
use crate::ops::tape::add_into;

/// Up to this many taps per output (`C*KH*KW`), convolutions use [`small`]'s loops instead of
/// gemm: for thin products (MNIST's first layer has 9 taps) gemm's packing dominates.
pub(super) const SMALL_K: usize = 32;

/// `dst (m x n, row stride dst_rs) = [dst +] lhs (m x k) * rhs (k x n)`, `lhs` and `rhs`
/// given with (row stride, column stride). Single-threaded: callers parallelise over images.
///
/// # Panics
/// When an operand is too short for its shape and strides (a bug in the caller).
#[allow(clippy::too_many_arguments)]
fn matmul<E: Element>(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs): (&mut [E], usize),
    accumulate: bool,
    lhs: &[E],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[E],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    assert!(
        dst_rs >= n && fits(dst.len(), (m, n), (dst_rs, 1)),
        "matmul: dst too short"
    );
    assert!(
        fits(lhs.len(), (m, k), (lhs_rs, lhs_cs)),
        "matmul: lhs too short"
    );
    assert!(
        fits(rhs.len(), (k, n), (rhs_rs, rhs_cs)),
        "matmul: rhs too short"
    );
    // f32 where typenet's product runs (AVX2 + FMA or AVX-512; within one task, as the
    // callers already run one image per task).
    if super::super::gemm::available() {
        if let (Some(d), Some(a), Some(b)) = (E::as_f32s_mut(dst), E::as_f32s(lhs), E::as_f32s(rhs))
        {
            use super::super::gemm::{gemm_serial, Operand, Select};
            let a = Operand {
                data: a,
                rs: lhs_rs,
                cs: lhs_cs,
            };
            let b = Operand {
                data: b,
                rs: rhs_rs,
                cs: rhs_cs,
            };
            gemm_serial((m, n, k), a, b, d, dst_rs, accumulate, Select::default());
            return;
        }
    }
    let stride = |s: usize| isize::try_from(s).expect("matmul: stride too large");
    // SAFETY: the asserts above bound every index gemm reads or writes within the slices
    // (its strides are those checked; `dst`, borrowed mutably, overlaps neither operand).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            stride(dst_rs),
            accumulate,
            lhs.as_ptr(),
            stride(lhs_cs),
            stride(lhs_rs),
            rhs.as_ptr(),
            stride(rhs_cs),
            stride(rhs_rs),
            E::one(),
            E::one(),
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

/// Whether a `rows x cols` matrix with strides `(rs, cs)` lies within `len` elements.
pub(super) fn fits(len: usize, (rows, cols): (usize, usize), (rs, cs): (usize, usize)) -> bool {
    if rows == 0 || cols == 0 {
        return true;
    }
    let last = (rows - 1)
        .checked_mul(rs)
        .zip((cols - 1).checked_mul(cs))
        .and_then(|(a, b)| a.checked_add(b));
    last.is_some_and(|i| i < len)
}

/// Floats of one chunk's im2col matrix (2 MiB): the convolutions with many taps work
/// through a large image a few output rows at a time, so that the matrix (and its
/// gradient) stay bounded per thread (a 64-channel 3x3 conv on 224 x 224 images would need
/// 115 MB); MNIST and CIFAR sizes are one chunk.
const CHUNK_FLOATS: usize = 1 << 19;

/// Output rows per chunk of an image (all of them for the thin products, whose loops take
/// whole planes).
fn chunk_rows(g: &ConvGeom, budget: usize) -> usize {
    if g.taps() <= SMALL_K {
        return g.h_out.max(1);
    }
    (budget / (g.taps() * g.w_out).max(1)).clamp(1, g.h_out.max(1))
}

/// The chunks of output rows of one image: `(first row, rows)`.
fn chunks(g: &ConvGeom, rows: usize) -> impl Iterator<Item = (usize, usize)> {
    let h_out = g.h_out;
    (0..h_out)
        .step_by(rows)
        .map(move |r0| (r0, rows.min(h_out - r0)))
}

/// The row stride of an im2col matrix with `n` columns: rows a multiple of 64 floats apart
/// would fall into the same few L1 sets (4 KB aliasing) as the product reads them
/// (measured on 32 x 1024 x 288: forward 63 GFLOP/s, 72 with rows padded by 16; weight
/// gradient 84 -> 87). The thin-product loops take contiguous rows.
fn col_stride(g: &ConvGeom, n: usize) -> usize {
    if g.taps() > SMALL_K && n.is_multiple_of(64) {
        n + 16
    } else {
        n
    }
}

/// Fills `cols` `(C*KH*KW, n)` (row stride `cs`) with the input taps of one image
/// `x` `(C, H, W)` for the output rows `r0..r0 + rows` (`n = rows * Wo` outputs).
fn im2col<E: Element>(
    g: &ConvGeom,
    x: &[E],
    (r0, rows): (usize, usize),
    (cols, cs): (&mut [E], usize),
) {
    // The offset table costs about one channel's gathers: with few channels the select
    // per element below wins (measured: 1 channel 2.1x, 3 channels 1.25x slower).
    if g.sw > 1 && g.c_in >= 8 {
        return im2col_strided(g, x, (r0, rows), (cols, cs));
    }
    let n = rows * g.w_out;
    let mut row = 0;
    for c in 0..g.c_in {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let dst = &mut cols[row * cs..row * cs + n];
                let (lo, hi, s0) = run(g, kj);
                for (i, d) in dst.chunks_exact_mut(g.w_out).enumerate() {
                    let r = ((r0 + i) * g.sh + ki * g.dh).wrapping_sub(g.ph);
                    if r >= g.h {
                        d.fill(E::zero());
                        continue;
                    }
                    let src = &plane[r * g.w..(r + 1) * g.w];
                    if g.sw == 1 {
                        copy_run(d, (lo, hi), &src[s0..s0 + (hi - lo)]);
                        continue;
                    }
                    // (Measured: a select per element beats short fills and a strided copy.)
                    for (oj, v) in d.iter_mut().enumerate() {
                        let col = (oj * g.sw + kj * g.dw).wrapping_sub(g.pw);
                        *v = if col < g.w { src[col] } else { E::zero() };
                    }
                }
                row += 1;
            }
        }
    }
}

/// [`im2col`] for column strides above 1 and 8 channels or more: the input rows the chunk
/// reads are copied once into a zero-padded block (only the columns the taps reach), and
/// every tap's row of the matrix is a gather from it through one table of offsets, shared
/// by all channels: no bounds test or select per element (1.5x faster than a select per
/// element on the strided model's 32-channel 14 x 14 layer, padding and table included).
fn im2col_strided<E: Element>(
    g: &ConvGeom,
    x: &[E],
    (r0, rows): (usize, usize),
    (cols, cs): (&mut [E], usize),
) {
    let n = rows * g.w_out;
    if n == 0 {
        return;
    }
    let hr = (rows - 1) * g.sh + (g.kh - 1) * g.dh + 1;
    let wp = (g.w_out - 1) * g.sw + (g.kw - 1) * g.dw + 1;
    let taps = g.kh * g.kw;
    // Offsets in the block of each tap's outputs, tap by tap.
    let mut offsets = Local::<u32>::stale(taps * n);
    let mut at = offsets.iter_mut();
    for ki in 0..g.kh {
        for kj in 0..g.kw {
            for i in 0..rows {
                for oj in 0..g.w_out {
                    if let Some(o) = at.next() {
                        *o = ((i * g.sh + ki * g.dh) * wp + oj * g.sw + kj * g.dw) as u32;
                    }
                }
            }
        }
    }
    let mut block = Local::<E>::stale(hr * wp);
    // Input columns that land in the block (block column = input column + pw).
    let (lo, hi) = (g.pw.min(wp), (g.pw + g.w).min(wp));
    // SAFETY (the gathers below): the largest offset is (hr - 1) wp + wp - 1, inside the
    // block; checked once here.
    assert!(offsets.iter().all(|&o| (o as usize) < block.len()));
    for c in 0..g.c_in {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        block.fill(E::zero());
        for (pr, dst) in block.chunks_exact_mut(wp).enumerate() {
            let r = (r0 * g.sh + pr).wrapping_sub(g.ph);
            if r < g.h && hi > lo {
                dst[lo..hi].copy_from_slice(&plane[r * g.w..r * g.w + (hi - lo)]);
            }
        }
        for (tap, offs) in offsets.chunks_exact(n).enumerate() {
            let row = c * taps + tap;
            let dst = &mut cols[row * cs..row * cs + n];
            for (d, &o) in dst.iter_mut().zip(offs) {
                // SAFETY: asserted above.
                *d = unsafe { *block.get_unchecked(o as usize) };
            }
        }
    }
}

/// `d[lo..hi] = src`, zeros elsewhere in `d`. Rows are short (tens of floats), so the
/// usual case is done with 8-float moves instead of `memcpy`/`memset` calls, whose
/// overhead per call was as large as the copy.
#[inline]
fn copy_run<E: Element>(d: &mut [E], (lo, hi): (usize, usize), src: &[E]) {
    const L: usize = 8;
    let n = d.len();
    if n < L || lo > L || n - hi > L || hi - lo < L {
        d[..lo].fill(E::zero());
        d[hi..].fill(E::zero());
        d[lo..hi].copy_from_slice(src);
        return;
    }
    let zeros = [E::zero(); L];
    *first::<E, L>(d) = zeros;
    *first::<E, L>(&mut d[n - L..]) = zeros;
    let run = &mut d[lo..hi];
    let len = run.len();
    for (a, b) in run
        .as_chunks_mut::<L>()
        .0
        .iter_mut()
        .zip(src.as_chunks::<L>().0)
    {
        *a = *b;
    }
    // The last (overlapping) 8: the same values again where they overlap.
    *first::<E, L>(&mut run[len - L..]) = *first_ref::<E, L>(&src[len - L..]);
}

/// The first `L` elements as an array (`s` has at least `L`).
#[inline(always)]
fn first<E, const L: usize>(s: &mut [E]) -> &mut [E; L] {
    s.first_chunk_mut::<L>().expect("at least L elements")
}

#[inline(always)]
fn first_ref<E, const L: usize>(s: &[E]) -> &[E; L] {
    s.first_chunk::<L>().expect("at least L elements")
}

/// With stride 1, the output columns `lo..hi` of tap column `kj` read the input columns
/// `s0..s0 + (hi - lo)` of a row (one contiguous run); the others are padding.
fn run(g: &ConvGeom, kj: usize) -> (usize, usize, usize) {
    let off = (kj * g.dw) as isize - g.pw as isize;
    let lo = (-off).clamp(0, g.w_out as isize) as usize;
    let hi = (g.w as isize - off).clamp(lo as isize, g.w_out as isize) as usize;
    let s0 = if hi > lo {
        (lo as isize + off) as usize
    } else {
        0
    };
    (lo, hi, s0)
}

/// Adds `cols` `(C*KH*KW, n)` (the output rows `r0..r0 + rows`) back onto the taps of one
/// image gradient `gx` `(C, H, W)`.
fn col2im<E: Element>(g: &ConvGeom, cols: &[E], (r0, rows): (usize, usize), gx: &mut [E]) {
    let n = rows * g.w_out;
    let mut row = 0;
    for c in 0..g.c_in {
        let plane = &mut gx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let src = &cols[row * n..(row + 1) * n];
                let (lo, hi, s0) = run(g, kj);
                for (i, s) in src.chunks_exact(g.w_out).enumerate() {
                    let r = ((r0 + i) * g.sh + ki * g.dh).wrapping_sub(g.ph);
                    if r >= g.h {
                        continue;
                    }
                    let dst = &mut plane[r * g.w..(r + 1) * g.w];
                    if g.sw == 1 {
                        add_into(&mut dst[s0..s0 + (hi - lo)], &s[lo..hi]);
                        continue;
                    }
                    for (oj, &v) in s.iter().enumerate() {
                        let col = (oj * g.sw + kj * g.dw).wrapping_sub(g.pw);
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

/// Forward pass: `out` `(B, O, Ho, Wo)` (pooled sizes with `pool`) gets the (ReLU'd,
/// pooled) conv outputs of `x` `(B, C, H, W)` with `w` `(O, C, KH, KW)`; `arg` (empty, or
/// one per output) the argmax of each pooled output in its conv output plane.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward<E: Element>(
    g: &ConvGeom,
    pool: Option<&PoolGeom>,
    x: &[E],
    w: &[E],
    bias: Option<&[E]>,
    relu: bool,
    out: &mut [E],
    arg: &mut [u32],
) {
    forward_in(g, pool, (x, w, bias), relu, out, arg, CHUNK_FLOATS)
}

/// [`forward`] with chunks of at most `budget` floats (tests use tiny ones).
#[allow(clippy::too_many_arguments)]
pub(super) fn forward_in<E: Element>(
    g: &ConvGeom,
    pool: Option<&PoolGeom>,
    (x, w, bias): (&[E], &[E], Option<&[E]>),
    relu: bool,
    out: &mut [E],
    arg: &mut [u32],
    budget: usize,
) {
    let (chw, ckk, hw_out) = (g.c_in * g.h * g.w, g.taps(), g.h_out * g.w_out);
    let out_len = out.len() / g.batch.max(1);
    if out.is_empty() || chw == 0 {
        return;
    }
    let rows = chunk_rows(g, budget);
    // Stride 1 with many taps: no im2col matrix (`cols` holds the padded image instead).
    let padded = Rows::forward::<E>(g).map(|r| (r, r.prepare(Cow::Borrowed(w))));
    // Without a kept argmax (inference), pooling writes it to a per-thread scratch.
    let keep_arg = !arg.is_empty();
    let scratch = || {
        let (y, a) = match pool {
            Some(_) => (
                Local::<E>::stale(g.c_out * hw_out),
                Local::<u32>::stale(if keep_arg { 0 } else { out_len }),
            ),
            None => (Local::stale(0), Local::stale(0)),
        };
        let n = rows * g.w_out;
        let cols = match &padded {
            Some((r, _)) => r.padded_len(),
            None => ckk * col_stride(g, n),
        };
        (Local::<E>::stale(cols), y, a)
    };
    let args: Vec<Option<&mut [u32]>> = if keep_arg {
        arg.chunks_mut(out_len).map(Some).collect()
    } else {
        (0..g.batch).map(|_| None).collect()
    };
    out.par_chunks_mut(out_len)
        .zip(x.par_chunks(chw))
        .zip(args)
        .for_each_init(
            scratch,
            |(cols, y_scratch, a_scratch), ((out_b, xb), arg_b)| {
                let arg_b: &mut [u32] = match arg_b {
                    Some(a) => a,
                    None => a_scratch,
                };
                let (y, pooled): (&mut [E], Option<&mut [E]>) = match pool {
                    Some(_) => (y_scratch, Some(out_b)),
                    None => (out_b, None),
                };
                if let Some(b) = bias {
                    for (o, yo) in y.chunks_mut(hw_out).enumerate() {
                        yo.fill(b[o]);
                    }
                } else if ckk <= SMALL_K {
                    y.fill(E::zero());
                }
                if let Some((r, kernel)) = &padded {
                    r.pad(xb, cols);
                    r.correlate(cols, kernel, y, bias.is_some());
                } else {
                    for (r0, n_rows) in chunks(g, rows) {
                        let n = n_rows * g.w_out;
                        let cs = col_stride(g, n);
                        im2col(g, xb, (r0, n_rows), (cols, cs));
                        if ckk <= SMALL_K {
                            small::matmul_acc((g.c_out, hw_out, ckk), y, w, cols);
                        } else {
                            matmul(
                                (g.c_out, n, ckk),
                                (&mut y[r0 * g.w_out..], hw_out),
                                bias.is_some(),
                                w,
                                (ckk, 1),
                                cols,
                                (cs, 1),
                            );
                        }
                    }
                }
                match (pool, pooled) {
                    (Some(pg), Some(out_b)) => {
                        let plane_out = pg.h_out * pg.w_out;
                        for ((yp, op), ap) in y
                            .chunks(hw_out)
                            .zip(out_b.chunks_mut(plane_out))
                            .zip(arg_b.chunks_mut(plane_out))
                        {
                            max_pool_plane(pg, yp, op, ap);
                            if relu {
                                // Unconditional stores, so the loop vectorises.
                                for (v, a) in op.iter_mut().zip(ap.iter_mut()) {
                                    let dead = *v <= E::zero();
                                    *v = if dead { E::zero() } else { *v };
                                    *a = if dead { NONE } else { *a };
                                }
                            }
                        }
                    }
                    (None, _) if relu => {
                        for v in y.iter_mut() {
                            *v = if *v < E::zero() { E::zero() } else { *v };
                        }
                    }
                    _ => {}
                }
            },
        );
}

/// Adds the input gradient into `gx` (when given) and returns the weight and bias
/// gradients. `gy` is the gradient of the (pooled) output, already ReLU-masked when
/// there is no pooling.
pub(crate) fn backward<E: Element>(
    g: &ConvGeom,
    s: &Saved<'_, E>,
    gy: &[E],
    gx: Option<&mut [E]>,
) -> (Vec<E>, Vec<E>) {
    backward_in(g, s, gy, gx, CHUNK_FLOATS)
}

/// [`backward`] with chunks of at most `budget` floats.
pub(super) fn backward_in<E: Element>(
    g: &ConvGeom,
    s: &Saved<'_, E>,
    gy: &[E],
    gx: Option<&mut [E]>,
    budget: usize,
) -> (Vec<E>, Vec<E>) {
    let (chw, ckk, hw_out) = (g.c_in * g.h * g.w, g.taps(), g.h_out * g.w_out);
    let gy_len = gy.len() / g.batch.max(1);
    // Stride 1, 3x3, enough channels: the weight gradient in Winograd's domain (16
    // matrices (O, C) per partial, transformed to (O, C, 3, 3) once at the end).
    let wino = Rows::forward::<E>(g).and_then(|r| r.winograd_tiles::<E>().map(|t| (r, t)));
    let gw_len = match wino {
        Some(_) => 16 * g.c_out * g.c_in,
        None => g.c_out * ckk,
    };
    let zero = || (vec![E::zero(); gw_len], vec![E::zero(); g.c_out]);
    if gy.is_empty() || chw == 0 {
        return zero();
    }
    let rows = chunk_rows(g, budget);
    let gx_parts: Vec<Option<&mut [E]>> = match gx {
        Some(gx) => gx.chunks_mut(chw).map(Some).collect(),
        None => (0..g.batch).map(|_| None).collect(),
    };
    // Stride 1 with many taps: the input gradient straight from the padded output
    // gradient (`gcols` holds it), with the flipped kernel; no col2im.
    let grad_padded = match gx_parts.iter().any(Option::is_some) {
        true => Rows::input_grad::<E>(g).map(|r| (r, r.prepare(Cow::Owned(flipped(g, s.w))))),
        false => None,
    };
    let scratch = || {
        let gyc = Local::<E>::stale(if s.pool.is_some() {
            g.c_out * hw_out
        } else {
            0
        });
        let n = rows * g.w_out;
        let gc = match &grad_padded {
            Some((r, _)) => r.padded_len(),
            None => ckk * n,
        };
        let cols = match &wino {
            Some((r, _)) => r.padded_len(),
            None => ckk * col_stride(g, n),
        };
        (zero(), Local::<E>::stale(cols), Local::<E>::stale(gc), gyc)
    };
    // w^T (CKK, O), contiguous, for the thin-product loops of the input gradient.
    let mut w_t = vec![E::zero(); if ckk <= SMALL_K { ckk * g.c_out } else { 0 }];
    if !w_t.is_empty() {
        for o in 0..g.c_out {
            for q in 0..ckk {
                w_t[q * g.c_out + o] = s.w[o * ckk + q];
            }
        }
    }
    #[allow(clippy::too_many_arguments)]
    let per_image = |b: usize,
                     gxb: Option<&mut [E]>,
                     xb: &[E],
                     gyb: &[E],
                     acc: &mut (Vec<E>, Vec<E>),
                     cols: &mut [E],
                     gcols: &mut [E],
                     gyc: &mut [E]| {
        // The gradient of this image's convolution output.
        let gyc_b: &[E] = match s.pool {
            Some(pg) => {
                gyc.fill(E::zero());
                let plane_out = pg.h_out * pg.w_out;
                let bounds = b * gy_len..(b + 1) * gy_len;
                for (o, gp) in gyb.chunks(plane_out).enumerate() {
                    let plane = &mut gyc[o * hw_out..(o + 1) * hw_out];
                    let ap = o * plane_out..(o + 1) * plane_out;
                    match s.arg {
                        Argmax::Plane(arg) => {
                            for (&v, &a) in gp.iter().zip(&arg[bounds.clone()][ap]) {
                                if let Some(d) = plane.get_mut(a as usize) {
                                    *d += v;
                                }
                            }
                        }
                        Argmax::Phase(arg) => {
                            let ap = &arg[bounds.clone()][ap];
                            for (i, (&v, &a)) in gp.iter().zip(ap).enumerate() {
                                if a != direct::NONE {
                                    let (pi, pj) = (i / pg.w_out, i % pg.w_out);
                                    let r = 2 * pi + (a / 2) as usize;
                                    plane[r * g.w_out + 2 * pj + (a % 2) as usize] += v;
                                }
                            }
                        }
                        Argmax::Positive(_) => unreachable!("only unpooled outputs"),
                    }
                }
                gyc
            }
            None => gyb,
        };
        let (gw, gb) = acc;
        for (o, row) in gyc_b.chunks(hw_out).enumerate() {
            gb[o] += small::sum(row);
        }
        let mut gxb = gxb;
        if let Some((r, kernel)) = &grad_padded {
            if let Some(gxb) = gxb.take() {
                r.pad(gyc_b, gcols);
                r.correlate(gcols, kernel, gxb, true);
            }
        }
        if let Some((r, tiles)) = &wino {
            r.pad(xb, cols);
            let (Some(xp), Some(gyc), Some(p)) =
                (E::as_f32s(cols), E::as_f32s(gyc_b), E::as_f32s_mut(gw))
            else {
                unreachable!("winograd runs f32 only")
            };
            tiles.weight_grad_acc(xp, gyc, p);
            if gxb.is_none() {
                return;
            }
        }
        for (r0, n_rows) in chunks(g, rows) {
            let n = n_rows * g.w_out;
            let cs = col_stride(g, n);
            // This chunk's columns of gy (O, HoWo).
            let gy_c = &gyc_b[r0 * g.w_out..];
            // The weight gradient (with Winograd, summed above).
            if wino.is_none() {
                im2col(g, xb, (r0, n_rows), (cols, cs));
                if ckk <= SMALL_K {
                    // gw (O, CKK) += gy (O, n) * cols^T (n, CKK)
                    small::matmul_bt_acc((g.c_out, ckk, hw_out), gw, gyc_b, cols);
                } else {
                    // gw^T (CKK, O) += cols (CKK, n) * gy^T (n, O): the narrow operand (gy) is
                    // the one packed, once per pass for all rows (20% faster than packing
                    // cols^T for every 32 of its columns).
                    matmul(
                        (ckk, g.c_out, n),
                        (gw, g.c_out),
                        true,
                        cols,
                        (cs, 1),
                        gy_c,
                        (1, hw_out),
                    );
                }
            }
            if let Some(gxb) = gxb.as_deref_mut() {
                // gcols (CKK, n) = w^T (CKK, O) * gy (O, n)
                if ckk <= SMALL_K {
                    gcols.fill(E::zero());
                    small::matmul_acc((ckk, hw_out, g.c_out), gcols, &w_t, gyc_b);
                } else {
                    matmul(
                        (ckk, n, g.c_out),
                        (gcols, n),
                        false,
                        s.w,
                        (1, ckk),
                        gy_c,
                        (hw_out, 1),
                    );
                }
                col2im(g, gcols, (r0, n_rows), gxb);
            }
        }
    };
    // Partial weight gradients over fixed chunks of images, summed in chunk order: the
    // result does not depend on how rayon schedules the chunks (training is reproducible).
    let mut items: Vec<(usize, Option<&mut [E]>)> = gx_parts.into_iter().enumerate().collect();
    let partials: Vec<(Vec<E>, Vec<E>)> = items
        .par_chunks_mut(IMAGES_PER_PARTIAL)
        .map(|chunk| {
            let (mut acc, mut cols, mut gcols, mut gyc) = scratch();
            for (b, gxb) in chunk.iter_mut() {
                let (b, gxb) = (*b, gxb.take());
                let xb = &s.x[b * chw..(b + 1) * chw];
                let gyb = &gy[b * gy_len..(b + 1) * gy_len];
                per_image(b, gxb, xb, gyb, &mut acc, &mut cols, &mut gcols, &mut gyc);
            }
            acc
        })
        .collect();
    if let Some((_, tiles)) = &wino {
        let (p, gb) = partials
            .into_iter()
            .fold(zero(), |(mut p, mut gb), (p2, gb2)| {
                add_into(&mut p, &p2);
                add_into(&mut gb, &gb2);
                (p, gb)
            });
        let p = E::as_f32s(&p).expect("winograd runs f32 only");
        return (crate::element::from_f32s(tiles.kernel_grad(p)), gb);
    }
    // The product path sums gw transposed, (CKK, O).
    let transposed = ckk > SMALL_K;
    partials
        .into_iter()
        .fold(zero(), |(mut gw, mut gb), (gw2, gb2)| {
            if transposed {
                for (q, row) in gw2.chunks(g.c_out).enumerate() {
                    for (o, &v) in row.iter().enumerate() {
                        gw[o * ckk + q] += v;
                    }
                }
            } else {
                add_into(&mut gw, &gw2);
            }
            add_into(&mut gb, &gb2);
            (gw, gb)
        })
}

//! The CPU pooling loops, one plane at a time (planes in parallel). Max pooling records
//! the argmax of each output (its index in the plane); the backward pass routes the
//! gradient through it.

use rayon::prelude::*;

use crate::element::Element;
use crate::ops::geom::PoolGeom;
use crate::ops::Pool2DKind;

/// An argmax that gets no gradient: the window held only padding, or a fused ReLU zeroed
/// the window's maximum.
pub(crate) const NONE: u32 = u32::MAX;

/// `MaxPool2D(2)`: the common case, written so that LLVM vectorises it (selects, no
/// branches); see [`max_pool_plane`].
fn max_pool_2x2<E: Element>(g: &PoolGeom, x: &[E], y: &mut [E], arg: &mut [u32]) {
    #[inline(always)]
    fn gt<E: Element>(a: E, b: E) -> bool {
        (a > b) | (a.is_nan() & !b.is_nan())
    }
    for oi in 0..g.h_out {
        let (ra, rb) = (
            &x[2 * oi * g.w..(2 * oi + 1) * g.w],
            &x[(2 * oi + 1) * g.w..(2 * oi + 2) * g.w],
        );
        let y_row = &mut y[oi * g.w_out..(oi + 1) * g.w_out];
        let a_row = &mut arg[oi * g.w_out..(oi + 1) * g.w_out];
        let base = (2 * oi * g.w) as u32;
        let w = g.w as u32;
        for ((((yv, at), a), b), oj) in y_row
            .iter_mut()
            .zip(a_row.iter_mut())
            .zip(ra.chunks_exact(2))
            .zip(rb.chunks_exact(2))
            .zip(0u32..)
        {
            let ta = gt(a[1], a[0]);
            let ma = if ta { a[1] } else { a[0] };
            let tb = gt(b[1], b[0]);
            let mb = if tb { b[1] } else { b[0] };
            let t = gt(mb, ma);
            *yv = if t { mb } else { ma };
            let col = if t { w + tb as u32 } else { ta as u32 };
            *at = base + 2 * oj + col;
        }
    }
}

/// Max pooling of one plane, recording the argmax (index in the plane) of each output.
///
/// Speed: a scalar compare-and-select on loaded floats compiles to a branch that
/// mispredicts about half the time on real data. Instead, each tap's values for a whole
/// output row are gathered as integer order keys into a contiguous buffer, and the
/// running maximum is updated by a loop over the row that LLVM vectorises (vector selects
/// never become branches). A (positive) NaN wins, as in PyTorch.
pub(crate) fn max_pool_plane<E: Element>(g: &PoolGeom, x: &[E], y: &mut [E], arg: &mut [u32]) {
    if g.is_2x2() {
        return max_pool_2x2(g, x, y, arg);
    }
    let mut keys = vec![i64::MIN; g.w_out];
    let mut tap = vec![i64::MIN; g.w_out];
    for oi in 0..g.h_out {
        let a_row = &mut arg[oi * g.w_out..(oi + 1) * g.w_out];
        a_row.fill(NONE);
        keys.fill(i64::MIN);
        for ki in 0..g.kh {
            let r = (oi * g.sh + ki).wrapping_sub(g.ph);
            if r >= g.h {
                continue;
            }
            let row = &x[r * g.w..(r + 1) * g.w];
            for kj in 0..g.kw {
                for (oj, t) in tap.iter_mut().enumerate() {
                    let c = (oj * g.sw + kj).wrapping_sub(g.pw);
                    *t = row.get(c).map_or(i64::MIN, |v| v.order_key());
                }
                // Index in the plane of output oj's tap: base + oj * stride.
                let base = (r * g.w + kj).wrapping_sub(g.pw) as u32;
                let step = g.sw as u32;
                for (((key, at), &t), oj) in
                    keys.iter_mut().zip(a_row.iter_mut()).zip(&tap).zip(0u32..)
                {
                    let better = t > *key;
                    *key = if better { t } else { *key };
                    *at = if better {
                        base.wrapping_add(oj * step)
                    } else {
                        *at
                    };
                }
            }
        }
        for (yv, &at) in y[oi * g.w_out..(oi + 1) * g.w_out]
            .iter_mut()
            .zip(a_row.iter())
        {
            *yv = x.get(at as usize).copied().unwrap_or(E::neg_infinity());
        }
    }
}

/// A global pooling (one window covering the whole plane, as `GlobalMaxPool1D` runs):
/// one pass over the plane. A (positive) NaN wins, as in [`max_pool_plane`].
fn global_plane<E: Element>(kind: Pool2DKind, x: &[E], scale: E) -> (E, u32) {
    match kind {
        Pool2DKind::Max => {
            let (mut best, mut at) = (i64::MIN, NONE);
            for (i, v) in x.iter().enumerate() {
                let key = v.order_key();
                if key > best {
                    (best, at) = (key, i as u32);
                }
            }
            (x.get(at as usize).copied().unwrap_or(E::neg_infinity()), at)
        }
        Pool2DKind::Avg => {
            let mut s = E::zero();
            for &v in x {
                s += v;
            }
            (s * scale, NONE)
        }
    }
}

/// `out` (and, for max pooling, `arg`) of every plane of `x`.
pub(crate) fn pool_forward<E: Element>(
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
    let scale = E::one() / E::from(g.taps()).unwrap_or(E::one());
    if g.is_global() {
        // Few outputs per plane: chunks of planes keep each task big enough.
        let per = (out.len() / (4 * rayon::current_num_threads())).max(1);
        return match kind {
            Pool2DKind::Max => out
                .par_chunks_mut(per)
                .zip(arg.par_chunks_mut(per))
                .zip(x.par_chunks(per * hw))
                .for_each(|((y, a), xs)| {
                    for ((yv, av), xp) in y.iter_mut().zip(a).zip(xs.chunks(hw)) {
                        (*yv, *av) = global_plane(kind, xp, scale);
                    }
                }),
            Pool2DKind::Avg => out
                .par_chunks_mut(per)
                .zip(x.par_chunks(per * hw))
                .for_each(|(y, xs)| {
                    for (yv, xp) in y.iter_mut().zip(xs.chunks(hw)) {
                        *yv = global_plane(kind, xp, scale).0;
                    }
                }),
        };
    }
    match kind {
        Pool2DKind::Max => out
            .par_chunks_mut(hw_out)
            .zip(arg.par_chunks_mut(hw_out))
            .zip(x.par_chunks(hw))
            .for_each(|((y, a), xp)| max_pool_plane(g, xp, y, a)),
        Pool2DKind::Avg if unpadded(g) => out
            .par_chunks_mut(hw_out)
            .zip(x.par_chunks(hw))
            .for_each(|(y, xp)| avg_plane_unpadded(g, xp, y, scale)),
        Pool2DKind::Avg => out
            .par_chunks_mut(hw_out)
            .zip(x.par_chunks(hw))
            .for_each(|(y, xp)| {
                for oi in 0..g.h_out {
                    for oj in 0..g.w_out {
                        let mut s = E::zero();
                        for ki in 0..g.kh {
                            for kj in 0..g.kw {
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

/// Every window inside the plane (no padding): the average pooling's row loops below.
fn unpadded(g: &PoolGeom) -> bool {
    let fits = |o: usize, s: usize, k: usize, n: usize| o == 0 || (o - 1) * s + k <= n;
    g.ph == 0 && g.pw == 0 && fits(g.h_out, g.sh, g.kh, g.h) && fits(g.w_out, g.sw, g.kw, g.w)
}

/// One plane's average pooling without padding, a window row at a time (the same sums,
/// in the same order, as the per-output loops: rows, then columns).
fn avg_plane_unpadded<E: Element>(g: &PoolGeom, xp: &[E], y: &mut [E], scale: E) {
    for (oi, yr) in y.chunks_exact_mut(g.w_out).enumerate() {
        yr.fill(E::zero());
        for ki in 0..g.kh {
            let row = &xp[(oi * g.sh + ki) * g.w..][..g.w];
            if (g.kw, g.sw) == (2, 2) {
                for (d, p) in yr.iter_mut().zip(row.chunks_exact(2)) {
                    *d = *d + p[0] + p[1];
                }
            } else {
                for (oj, d) in yr.iter_mut().enumerate() {
                    for &v in &row[oj * g.sw..][..g.kw] {
                        *d += v;
                    }
                }
            }
        }
        for d in yr.iter_mut() {
            *d *= scale;
        }
    }
}

/// [`avg_plane_unpadded`]'s input gradient, added into `gx`.
fn avg_grad_unpadded<E: Element>(g: &PoolGeom, gy: &[E], gx: &mut [E], scale: E) {
    for (oi, gr) in gy.chunks_exact(g.w_out).enumerate() {
        for ki in 0..g.kh {
            let row = &mut gx[(oi * g.sh + ki) * g.w..][..g.w];
            if (g.kw, g.sw) == (2, 2) {
                for (p, &v) in row.chunks_exact_mut(2).zip(gr) {
                    let v = v * scale;
                    p[0] += v;
                    p[1] += v;
                }
            } else {
                for (oj, &v) in gr.iter().enumerate() {
                    let v = v * scale;
                    for d in &mut row[oj * g.sw..][..g.kw] {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// Adds the input gradient of [`pool_forward`] into `gx`.
pub(crate) fn pool_backward<E: Element>(
    g: &PoolGeom,
    kind: Pool2DKind,
    arg: &[u32],
    gy: &[E],
    gx: &mut [E],
) {
    let (hw, hw_out) = (g.h * g.w, g.h_out * g.w_out);
    if gy.is_empty() {
        return;
    }
    let scale = E::one() / E::from(g.taps()).unwrap_or(E::one());
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
        Pool2DKind::Avg if unpadded(g) => gx
            .par_chunks_mut(hw)
            .zip(gy.par_chunks(hw_out))
            .for_each(|(gxp, gyp)| avg_grad_unpadded(g, gyp, gxp, scale)),
        Pool2DKind::Avg => {
            gx.par_chunks_mut(hw)
                .zip(gy.par_chunks(hw_out))
                .for_each(|(gxp, gyp)| {
                    for oi in 0..g.h_out {
                        for oj in 0..g.w_out {
                            let v = gyp[oi * g.w_out + oj] * scale;
                            for ki in 0..g.kh {
                                for kj in 0..g.kw {
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

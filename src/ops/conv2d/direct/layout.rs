//! Where the direct kernels read: each image copied into a layout whose taps, for 16
//! consecutive outputs, are 16 consecutive floats, and the offset of each tap's vector.
//! Layouts come from their constructors, which keep the sizes consistent; the kernels still
//! check [`Layout::valid`] / [`Plain::valid`] and the read bounds before relying on them.

use super::L;
use crate::ops::geom::{ConvGeom, PoolGeom};

/// Sizes of one image's polyphase copy and of the pooled output.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub(super) c_in: usize,
    pub(super) c_out: usize,
    pub(super) k: usize,
    pub(super) ckk: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) pad: usize,
    /// Pooled output rows and columns.
    pub(super) hq: usize,
    pub(super) wq: usize,
    /// 16-lane blocks per pooled row.
    pub(super) nb: usize,
    /// Rows and row stride of one phase plane.
    pub(super) rows: usize,
    pub(super) bs: usize,
}

impl Layout {
    /// The layout of `g` followed by `pg`, which [`super::applies`] accepted.
    pub(super) fn new(g: &ConvGeom, pg: &PoolGeom) -> Self {
        let (k, pad) = g
            .square_unit()
            .expect("direct kernels: a square, unit convolution");
        let (hq, wq) = (pg.h_out, pg.w_out);
        let nb = wq.div_ceil(L);
        // Pooled row pi reads phase rows pi + (di+ki)/2 <= hq - 1 + k/2; a 16-lane block
        // starting at column j0 reads up to j0 + 15 + k/2. Rows are padded to that.
        Self {
            c_in: g.c_in,
            c_out: g.c_out,
            k,
            ckk: g.c_in * k * k,
            h: g.h,
            w: g.w,
            pad,
            hq,
            wq,
            nb,
            rows: (g.h + 2 * pad).div_ceil(2).max(hq + k / 2),
            bs: (g.w + 2 * pad).div_ceil(2).max(nb * L + k / 2),
        }
    }

    /// Whether the sizes are consistent: every block starts inside a pooled row.
    pub(super) fn valid(&self) -> bool {
        self.nb == self.wq.div_ceil(L)
    }

    /// Floats in one image's polyphase copy.
    pub(super) fn len(&self) -> usize {
        self.c_in * 4 * self.rows * self.bs
    }

    /// For each tap (c, ki, kj) and phase (di, dj), in that order, the offset of its input
    /// vector from the start of the pooled block (`pi * bs + j0`).
    pub(super) fn offsets(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.ckk * 4);
        for c in 0..self.c_in {
            for ki in 0..self.k {
                for kj in 0..self.k {
                    for di in 0..2 {
                        for dj in 0..2 {
                            let (rr, ss) = (di + ki, dj + kj);
                            let plane = c * 4 + (rr % 2) * 2 + ss % 2;
                            v.push((plane * self.rows + rr / 2) * self.bs + ss / 2);
                        }
                    }
                }
            }
        }
        v
    }

    /// One past the last float a kernel reads, given [`Layout::offsets`] (`None` if that
    /// overflows): the last block's base plus the largest offset plus a vector.
    pub(super) fn reads_end(&self, offs: &[usize]) -> Option<usize> {
        if self.hq == 0 || self.nb == 0 {
            return Some(0);
        }
        let last_block = (self.hq - 1)
            .checked_mul(self.bs)?
            .checked_add((self.nb - 1).checked_mul(L)?)?;
        end_of_reads(last_block, offs)
    }

    /// Copies image `x` `(C, H, W)` into `xp`, whose padding must already be zero (it is
    /// never written, so a zeroed scratch can be reused for images of the same geometry).
    pub(super) fn fill(&self, x: &[f32], xp: &mut [f32]) {
        let pad = self.pad;
        // Input column j lands in phase s = (j + pad) % 2 at b = (j + pad) / 2: even columns
        // in phase pad % 2 from b = pad / 2, odd ones in the other from (pad + 1) / 2.
        let (se, so) = (pad % 2, 1 - pad % 2);
        for c in 0..self.c_in {
            for i in 0..self.h {
                let pr = i + pad;
                let src = &x[(c * self.h + i) * self.w..][..self.w];
                let row = |s: usize| ((c * 4 + (pr % 2) * 2 + s) * self.rows + pr / 2) * self.bs;
                let (re, ro) = (row(se) + pad / 2, row(so) + pad.div_ceil(2));
                // Two disjoint rows (different phase planes) of `xp`.
                let (lo, hi, lo_is_even) = if re < ro {
                    let (a, b) = xp.split_at_mut(ro);
                    (&mut a[re..], b, true)
                } else {
                    let (a, b) = xp.split_at_mut(re);
                    (&mut a[ro..], b, false)
                };
                let (de, dodd) = if lo_is_even { (lo, hi) } else { (hi, lo) };
                let pairs = src.chunks_exact(2);
                if let [last] = pairs.remainder() {
                    de[self.w / 2] = *last;
                }
                for ((e, o), p) in de.iter_mut().zip(dodd.iter_mut()).zip(pairs) {
                    *e = p[0];
                    *o = p[1];
                }
            }
        }
    }
}

/// A zero-padded copy of one image, `(C, rows, bs)`, for the unpooled kernels, and the
/// output grid computed from it: output `(i, j)` reads the window at copy row `org + i`,
/// column `org + j`. Blocks are two output rows by 16 columns.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plain {
    pub(super) c_in: usize,
    pub(super) c_out: usize,
    pub(super) k: usize,
    pub(super) ckk: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    /// Zero rows and columns before the image in the copy.
    pub(super) pad: usize,
    pub(super) org: usize,
    pub(super) ho: usize,
    pub(super) wo: usize,
    /// 16-lane blocks per output row.
    pub(super) nb: usize,
    pub(super) rows: usize,
    pub(super) bs: usize,
}

impl Plain {
    fn new(
        (c_in, c_out, k): (usize, usize, usize),
        (h, w): (usize, usize),
        pad: usize,
        org: usize,
        (ho, wo): (usize, usize),
    ) -> Self {
        let nb = wo.div_ceil(L);
        // The last row pair reads rows up to org + 2 * ceil(ho / 2) + k - 2; the last block
        // columns up to org + nb * 16 + k - 2.
        Self {
            c_in,
            c_out,
            k,
            ckk: c_in * k * k,
            h,
            w,
            pad,
            org,
            ho,
            wo,
            nb,
            rows: (h + 2 * pad).max(org + ho.div_ceil(2) * 2 + k - 1),
            bs: (w + 2 * pad).max(org + nb * L + k - 1),
        }
    }

    /// The forward convolution of `g`.
    pub(super) fn forward(g: &ConvGeom) -> Self {
        let (k, pad) = g
            .square_unit()
            .expect("direct kernels: a square, unit convolution");
        Self::new((g.c_in, g.c_out, k), (g.h, g.w), pad, 0, (g.h_out, g.w_out))
    }

    /// The input gradient of `g`: the output gradient padded by `k - 1` correlated with the
    /// flipped kernel, read from `pad` on.
    pub(super) fn input_grad(g: &ConvGeom) -> Self {
        let (k, pad) = g
            .square_unit()
            .expect("direct kernels: a square, unit convolution");
        Self::new(
            (g.c_out, g.c_in, k),
            (g.h_out, g.w_out),
            k - 1,
            pad,
            (g.h, g.w),
        )
    }

    /// Whether the sizes are consistent: every block starts inside an output row.
    pub(super) fn valid(&self) -> bool {
        self.nb == self.wo.div_ceil(L)
    }

    /// Floats in one image's padded copy.
    pub(super) fn len(&self) -> usize {
        self.c_in * self.rows * self.bs
    }

    /// For each tap (c, ki, kj) and row r of the pair, in that order, the offset of its
    /// input vector from the block's base.
    pub(super) fn offsets(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.ckk * 2);
        for c in 0..self.c_in {
            for ki in 0..self.k {
                for kj in 0..self.k {
                    for r in 0..2 {
                        v.push((c * self.rows + ki + r) * self.bs + kj);
                    }
                }
            }
        }
        v
    }

    /// The base, in the copy, of the block at output row `i`, column `j0`.
    pub(super) fn base(&self, i: usize, j0: usize) -> usize {
        (self.org + i) * self.bs + self.org + j0
    }

    /// One past the last float a kernel reads, given [`Plain::offsets`] (`None` if that
    /// overflows): the last block's base plus the largest offset plus a vector.
    pub(super) fn reads_end(&self, offs: &[usize]) -> Option<usize> {
        if self.ho == 0 || self.nb == 0 {
            return Some(0);
        }
        // The last block's base, as `base` computes it, without overflow.
        let (i, j0) = ((self.ho.div_ceil(2) - 1) * 2, (self.nb - 1).checked_mul(L)?);
        let last = (self.org.checked_add(i)?)
            .checked_mul(self.bs)?
            .checked_add(self.org)?
            .checked_add(j0)?;
        end_of_reads(last, offs)
    }

    /// Copies image `x` `(C, H, W)` into `xp`, whose padding must already be zero (it is
    /// never written).
    pub(super) fn fill(&self, x: &[f32], xp: &mut [f32]) {
        for c in 0..self.c_in {
            for i in 0..self.h {
                let src = &x[(c * self.h + i) * self.w..][..self.w];
                let dst = &mut xp[(c * self.rows + i + self.pad) * self.bs + self.pad..][..self.w];
                dst.copy_from_slice(src);
            }
        }
    }
}

/// `base` plus the largest offset plus a vector (`None` if that overflows).
fn end_of_reads(base: usize, offs: &[usize]) -> Option<usize> {
    base.checked_add(offs.iter().copied().max().unwrap_or(0))?
        .checked_add(L)
}

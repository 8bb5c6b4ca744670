//! Stride-1 convolutions with many taps, multiplied straight from a zero-padded copy of the
//! image instead of an im2col matrix: for output row `i`, the im2col row of tap
//! `(c, ki, kj)` is the copy read from `(c * Hp + ki + i) * Wp + kj` on, so typenet's
//! product takes the copy as `B` with one row offset per tap (its row selection), one
//! output row per call. The copy is about the image's size; the im2col matrix it replaces
//! is `KH * KW` times that, written and read back once per pass.
//!
//! The input gradient of such a convolution is one too: the output gradient, padded by
//! `K - 1 - P`, correlated with the flipped kernel (`w` transposed to `(C, O, KH, KW)`).

use std::borrow::Cow;

use super::im2col::SMALL_K;
use super::winograd::{Tiles, Winograd};
use crate::element::Element;
use crate::ops::gemm::{self, gemm_serial, Operand, Select};
use crate::ops::geom::ConvGeom;

/// A stride-1 correlation of `c_in` planes of `h x w` (zero-padded by `ph`, `pw`) with
/// `c_out` kernels of `kh x kw`: the output is `c_out` planes of `h_out x w_out`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rows {
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    ph: usize,
    pw: usize,
    kh: usize,
    kw: usize,
    h_out: usize,
    w_out: usize,
}

impl Rows {
    /// The forward pass of `g`, when this path takes it.
    pub(super) fn forward<E: Element>(g: &ConvGeom) -> Option<Self> {
        let rows = Self {
            c_in: g.c_in,
            c_out: g.c_out,
            h: g.h,
            w: g.w,
            ph: g.ph,
            pw: g.pw,
            kh: g.kh,
            kw: g.kw,
            h_out: g.h_out,
            w_out: g.w_out,
        };
        (unit(g) && (rows.pays::<E>() || rows.winograd::<E>())).then_some(rows)
    }

    /// The input gradient of `g` (a correlation of the output gradient), when this path
    /// takes it: padding `K - 1 - P` must not be negative.
    pub(super) fn input_grad<E: Element>(g: &ConvGeom) -> Option<Self> {
        if !unit(g) || g.ph >= g.kh || g.pw >= g.kw {
            return None;
        }
        let rows = Self {
            c_in: g.c_out,
            c_out: g.c_in,
            h: g.h_out,
            w: g.w_out,
            ph: g.kh - 1 - g.ph,
            pw: g.kw - 1 - g.pw,
            kh: g.kh,
            kw: g.kw,
            h_out: g.h,
            w_out: g.w,
        };
        (rows.pays::<E>() || rows.winograd::<E>()).then_some(rows)
    }

    /// f32 on typenet's product, enough taps for a product (else im2col's thin loops),
    /// output rows of at least 16 (one product per row: narrower rows would leave its
    /// 16-column blocks partly empty) and at least 1024 outputs per product (fewer do not
    /// pay for packing the image rows: measured 10% slower at 32 x 16, even at 64 x 16,
    /// 10-25% faster at 32 x 32, in BENCHMARKS.md). The sizes must match.
    fn pays<E: Element>(&self) -> bool {
        E::IS_F32
            && gemm::available()
            && self.c_in * self.kh * self.kw > SMALL_K
            && self.w_out >= 16
            && self.c_out * self.w_out >= 1024
            && self.h_out > 0
            && (self.h + 2 * self.ph).checked_sub(self.kh) == Some(self.h_out - 1)
            && (self.w + 2 * self.pw).checked_sub(self.kw) == Some(self.w_out - 1)
    }

    /// 3x3 kernels, f32 on typenet's product, and enough channels that the products (`O x
    /// C` by `C x tiles`) outweigh the transforms (per channel): at least 16 each side and
    /// 512 pairs (measured: 16 -> 16 and fewer lose, 16 -> 32 and 24 -> 24 break even, 32
    /// -> 16 wins by 5-10%, in BENCHMARKS.md). The sizes must match.
    fn winograd<E: Element>(&self) -> bool {
        E::IS_F32
            && gemm::available()
            && (self.kh, self.kw) == (3, 3)
            && self.c_in.min(self.c_out) >= 16
            && self.c_in * self.c_out >= 512
            && self.h_out > 0
            && self.w_out > 0
            && self.hp().checked_sub(2) == Some(self.h_out)
            && self.wp().checked_sub(2) == Some(self.w_out)
    }

    /// The kernel `w` `(O, C * KH * KW)` ready for [`Rows::correlate`].
    pub(super) fn prepare<'w, E: Element>(&self, w: Cow<'w, [E]>) -> Kernel<'w, E> {
        match E::as_f32s(&w) {
            Some(w) if self.winograd::<E>() => Kernel::Winograd(Winograd::new(self.tiles(), w)),
            _ => Kernel::Taps {
                offs: self.offsets(),
                w,
            },
        }
    }

    /// This correlation's Winograd tiling, when [`Rows::prepare`] takes Winograd for it.
    pub(super) fn winograd_tiles<E: Element>(&self) -> Option<Tiles> {
        self.winograd::<E>().then(|| self.tiles())
    }

    fn tiles(&self) -> Tiles {
        Tiles {
            c_in: self.c_in,
            c_out: self.c_out,
            hp: self.hp(),
            wp: self.wp(),
        }
    }

    fn hp(&self) -> usize {
        self.h + 2 * self.ph
    }

    fn wp(&self) -> usize {
        self.w + 2 * self.pw
    }

    /// Floats of one padded copy.
    pub(super) fn padded_len(&self) -> usize {
        self.c_in * self.hp() * self.wp()
    }

    /// The offset of each tap `(c, ki, kj)` in the padded copy, increasing.
    fn offsets(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.c_in * self.kh * self.kw);
        for c in 0..self.c_in {
            for ki in 0..self.kh {
                for kj in 0..self.kw {
                    v.push((c * self.hp() + ki) * self.wp() + kj);
                }
            }
        }
        v
    }

    /// Copies `x` `(C, H, W)` into `xp` zero-padded (every element of
    /// `xp[..padded_len]` written).
    pub(super) fn pad<E: Element>(&self, x: &[E], xp: &mut [E]) {
        let (h, w, wp) = (self.h, self.w, self.wp());
        let plane = self.hp() * wp;
        for (src, dst) in x
            .chunks_exact(h * w)
            .zip(xp[..self.padded_len()].chunks_exact_mut(plane))
        {
            let (top, rest) = dst.split_at_mut(self.ph * wp);
            top.fill(E::zero());
            let (mid, bottom) = rest.split_at_mut(h * wp);
            bottom.fill(E::zero());
            for (s, d) in src.chunks_exact(w).zip(mid.chunks_exact_mut(wp)) {
                d[..self.pw].fill(E::zero());
                d[self.pw..self.pw + w].copy_from_slice(s);
                d[self.pw + w..].fill(E::zero());
            }
        }
    }

    /// `y` `(O, Ho, Wo)` `[+]=` the correlation of the padded copy `xp` with the kernel
    /// (from [`Rows::prepare`]).
    ///
    /// # Panics
    /// When a slice is too short for the sizes (a bug in the caller), or `E` is not f32.
    pub(super) fn correlate<E: Element>(
        &self,
        xp: &[E],
        kernel: &Kernel<'_, E>,
        y: &mut [E],
        accumulate: bool,
    ) {
        let (offs, w) = match kernel {
            Kernel::Taps { offs, w } => (offs, w),
            Kernel::Winograd(k) => {
                let (Some(xp), Some(y)) = (E::as_f32s(xp), E::as_f32s_mut(y)) else {
                    panic!("winograd conv: f32 only");
                };
                return k.correlate(xp, y, accumulate);
            }
        };
        let taps = self.c_in * self.kh * self.kw;
        let hw_out = self.h_out * self.w_out;
        let c_out = self.c_out;
        assert!(offs.len() == taps && xp.len() >= self.padded_len() && w.len() >= c_out * taps);
        assert!(y.len() >= c_out * hw_out, "implicit conv: output too short");
        let (Some(xp), Some(w), Some(y)) = (E::as_f32s(xp), E::as_f32s(w), E::as_f32s_mut(y))
        else {
            panic!("implicit conv: f32 only");
        };
        let a = Operand {
            data: w,
            rs: taps,
            cs: 1,
        };
        let sel = Select {
            b_rows: Some(offs),
            c_rows: None,
        };
        for i in 0..self.h_out {
            let b = Operand {
                data: &xp[i * self.wp()..],
                rs: 1,
                cs: 1,
            };
            let c = &mut y[i * self.w_out..];
            gemm_serial((c_out, self.w_out, taps), a, b, c, hw_out, accumulate, sel);
        }
    }
}

/// A kernel ready for [`Rows::correlate`].
pub(super) enum Kernel<'w, E: Clone> {
    /// `w` `(O, C * KH * KW)` and the offset of each tap in the padded copy.
    Taps { offs: Vec<usize>, w: Cow<'w, [E]> },
    /// 3x3, transformed for Winograd's F(2x2, 3x3).
    Winograd(Winograd),
}

/// Stride 1 and no dilation on both axes.
fn unit(g: &ConvGeom) -> bool {
    g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1
}

//! Stride-1 3x3 correlations by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray,
//! 2015): each 2x2 block of outputs comes from a 4x4 patch `d` of the padded image as
//! `A^T [(G g G^T) ⊙ (B^T d B)] A`, so per channel pair 16 products replace the direct
//! sum's 36. Summed over input channels, each of the 16 elements of the transform is one
//! matrix product (`O x C` times `C x tiles`) on typenet's gemm: 4/9 of the multiply-adds
//! of the padded-image product ([`super::implicit`]). The transforms are additions:
//!
//! ```text
//! B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//! G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//! A^T = [1 1 1 0; 0 1 -1 -1]
//! ```
//!
//! Tiles are taken a block of tile rows at a time, so the transformed patches and the
//! products' outputs of a block stay in the core's cache. A padded row is deinterleaved
//! into its even and odd columns first (AVX2 shuffles): then the transforms of neighbouring
//! tiles are contiguous vectors (LLVM vectorises them; [`multiversion`] compiles them for
//! AVX2).

use crate::element::Element;
use crate::ops::gemm::{gemm_serial, Operand, Select};
use crate::ops::isa::{multiversion, Isa};
use crate::ops::scratch::Local;

/// Tiles (2x2 output blocks) per block of products: 64 tiles of 32 channels keep the
/// transformed patches and the outputs (128 KiB each) in L2.
const TILES: usize = 64;
/// Tiles per block of the weight gradient's products, whose depth they are.
const GRAD_TILES: usize = 128;

/// The tiling of a 3x3 stride-1 correlation of `c_in` padded planes of `hp x wp` with
/// `c_out` kernels, giving `c_out` planes of `h_out x w_out` (`hp - 2`, `wp - 2`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Tiles {
    pub c_in: usize,
    pub c_out: usize,
    pub hp: usize,
    pub wp: usize,
}

impl Tiles {
    fn h_out(&self) -> usize {
        self.hp - 2
    }

    fn w_out(&self) -> usize {
        self.wp - 2
    }

    /// Tiles per row.
    fn tw(&self) -> usize {
        self.w_out().div_ceil(2)
    }

    /// The blocks of tile rows, each about `tiles` tiles.
    fn blocks(&self, tiles: usize) -> impl Iterator<Item = Block> {
        let (th, tw) = (self.h_out().div_ceil(2), self.tw());
        let rows = (tiles / tw).clamp(1, th.max(1));
        (0..th).step_by(rows).map(move |t0| Block {
            t0,
            nr: rows.min(th - t0),
            tw,
        })
    }

    /// Tiles in the largest block of about `tiles`.
    fn most(&self, tiles: usize) -> usize {
        self.blocks(tiles).next().map_or(0, |b| b.nr * b.tw)
    }

    /// `B^T d B` of block `b`'s patches of `xp` `(C, Hp, Wp)`: element `t` of tile `i` of
    /// channel `c` to `v[(t * C + c) * nt + i]`.
    fn input(&self, isa: Isa, b: Block, xp: &[f32], v: &mut [f32]) {
        let plane = self.hp * self.wp;
        let mut rows = Local::<f32>::stale((2 * b.nr + 2) * 4 * b.tw + 2 * (b.tw + 1));
        let (h, eo) = rows.split_at_mut((2 * b.nr + 2) * 4 * b.tw);
        for (c, xc) in xp.chunks_exact(plane).take(self.c_in).enumerate() {
            input_rows::<f32>(isa, b, (xc, self.hp, self.wp), h, eo);
            input_tiles::<f32>(isa, b, h, v, (c, self.c_in));
        }
    }

    /// `p` (16 matrices `(O, C)`) `+=` the Winograd-domain weight gradient of one image:
    /// `sum over tiles of (A gy A^T) ⊙ (B^T d B)`, `gy` `(O, Ho, Wo)` the output gradient,
    /// `xp` the padded input. [`Tiles::kernel_grad`] turns `p` into the weight gradient.
    ///
    /// # Panics
    /// When a slice is too short for the sizes.
    pub(super) fn weight_grad_acc(&self, xp: &[f32], gy: &[f32], p: &mut [f32]) {
        let (c_in, c_out) = (self.c_in, self.c_out);
        let hw_out = self.h_out() * self.w_out();
        assert!(
            xp.len() >= c_in * self.hp * self.wp,
            "winograd: input too short"
        );
        assert!(gy.len() >= c_out * hw_out, "winograd: gradient too short");
        assert!(p.len() >= 16 * c_out * c_in, "winograd: partial too short");
        let most = self.most(GRAD_TILES);
        let mut v = Local::<f32>::stale(16 * c_in * most);
        let mut gt = Local::<f32>::stale(16 * c_out * most);
        let mut eo = Local::<f32>::stale(4 * most);
        let isa = Isa::best();
        for b in self.blocks(GRAD_TILES) {
            let nt = b.nr * b.tw;
            self.input(isa, b, xp, &mut v);
            for (o, go) in gy.chunks_exact(hw_out).take(c_out).enumerate() {
                grad_tiles::<f32>(isa, b, (go, self.w_out()), &mut gt, (o, c_out), &mut eo);
            }
            for t in 0..16 {
                // P_t (O x C) += Gy_t (O x nt) * V_t^T (nt x C).
                let a = Operand {
                    data: &gt[t * c_out * nt..][..c_out * nt],
                    rs: nt,
                    cs: 1,
                };
                let bm = Operand {
                    data: &v[t * c_in * nt..][..c_in * nt],
                    rs: 1,
                    cs: nt,
                };
                let pt = &mut p[t * c_out * c_in..][..c_out * c_in];
                gemm_serial((c_out, c_in, nt), a, bm, pt, c_in, true, Select::default());
            }
        }
    }

    /// The weight gradient `(O, C, 3, 3)` from [`Tiles::weight_grad_acc`]'s sums:
    /// `G^T P G` for each kernel.
    pub(super) fn kernel_grad(&self, p: &[f32]) -> Vec<f32> {
        let oc = self.c_out * self.c_in;
        let mut gw = vec![0f32; oc * 9];
        // G^T x for a column x of 4: 3 values.
        let gt = |x: [f32; 4]| {
            [
                x[0] + 0.5 * (x[1] + x[2]),
                0.5 * (x[1] - x[2]),
                0.5 * (x[1] + x[2]) + x[3],
            ]
        };
        for (k, g) in gw.chunks_exact_mut(9).enumerate() {
            let at = |i: usize, j: usize| p[(i * 4 + j) * oc + k];
            // (G^T P) is 3 x 4, then (G^T P) G is 3 x 3.
            let cols = [0, 1, 2, 3].map(|j| gt([at(0, j), at(1, j), at(2, j), at(3, j)]));
            for r in 0..3 {
                let row = gt([cols[0][r], cols[1][r], cols[2][r], cols[3][r]]);
                g[r * 3..r * 3 + 3].copy_from_slice(&row);
            }
        }
        gw
    }
}

/// A 3x3 stride-1 correlation ([`Tiles`]) with its kernel transformed once.
pub(super) struct Winograd {
    tiles: Tiles,
    /// `G g G^T` of every kernel: 16 matrices `(O, C)`.
    u: Vec<f32>,
}

impl Winograd {
    /// For `w` `(O, C, 3, 3)`.
    ///
    /// # Panics
    /// When `w` is shorter than that, or the padded planes are smaller than 3 x 3.
    pub(super) fn new(tiles: Tiles, w: &[f32]) -> Self {
        let (c_in, c_out) = (tiles.c_in, tiles.c_out);
        assert!(
            w.len() >= c_out * c_in * 9 && tiles.hp >= 3 && tiles.wp >= 3,
            "winograd: sizes"
        );
        let mut u = vec![0f32; 16 * c_out * c_in];
        // G x for a column x of 3: 4 values.
        let g4 = |s: [f32; 3]| {
            [
                s[0],
                (s[0] + s[1] + s[2]) / 2.0,
                (s[0] - s[1] + s[2]) / 2.0,
                s[2],
            ]
        };
        for (oc, g) in w.chunks_exact(9).take(c_out * c_in).enumerate() {
            // G g (4 x 3), then (G g) G^T (4 x 4).
            let cols = [0, 1, 2].map(|j| g4([g[j], g[3 + j], g[6 + j]]));
            for i in 0..4 {
                let row = g4([cols[0][i], cols[1][i], cols[2][i]]);
                for (j, v) in row.into_iter().enumerate() {
                    u[(i * 4 + j) * c_out * c_in + oc] = v;
                }
            }
        }
        Self { tiles, u }
    }

    /// `y` `(O, Ho, Wo)` `[+]=` the correlation of `xp` `(C, Hp, Wp)` with the kernel.
    ///
    /// # Panics
    /// When a slice is too short for the sizes.
    pub(super) fn correlate(&self, xp: &[f32], y: &mut [f32], accumulate: bool) {
        let t = self.tiles;
        let (c_in, c_out) = (t.c_in, t.c_out);
        let (h_out, w_out) = (t.h_out(), t.w_out());
        assert!(xp.len() >= c_in * t.hp * t.wp, "winograd: input too short");
        assert!(
            y.len() >= c_out * h_out * w_out,
            "winograd: output too short"
        );
        let most = t.most(TILES);
        let mut v = Local::<f32>::stale(16 * c_in * most);
        let mut m = Local::<f32>::stale(16 * c_out * most);
        let mut tmp = Local::<f32>::stale(12 * most);
        let isa = Isa::best();
        for b in t.blocks(TILES) {
            let nt = b.nr * b.tw;
            t.input(isa, b, xp, &mut v);
            for e in 0..16 {
                let a = Operand {
                    data: &self.u[e * c_out * c_in..][..c_out * c_in],
                    rs: c_in,
                    cs: 1,
                };
                let bm = Operand {
                    data: &v[e * c_in * nt..][..c_in * nt],
                    rs: nt,
                    cs: 1,
                };
                let me = &mut m[e * c_out * nt..][..c_out * nt];
                gemm_serial((c_out, nt, c_in), a, bm, me, nt, false, Select::default());
            }
            for (o, yo) in y.chunks_exact_mut(h_out * w_out).take(c_out).enumerate() {
                output::<f32>(
                    isa,
                    b,
                    &m[..16 * c_out * nt],
                    (o, c_out),
                    (yo, w_out),
                    accumulate,
                    &mut tmp,
                );
            }
        }
    }
}

/// `nr` rows of `tw` tiles from tile row `t0` on.
#[derive(Clone, Copy)]
struct Block {
    t0: usize,
    nr: usize,
    tw: usize,
}

multiversion! {
    /// The horizontal transform (`d B`) of the `2 nr + 2` padded rows a block reads, rows
    /// past the plane zeros: column `q` of `d B` for row `r` goes to `h` at
    /// `((q * 2 + r % 2) * (nr + 1) + r / 2) * tw`, so the rows one tile row needs are
    /// contiguous across the block's tile rows. `eo` is scratch for a deinterleaved row.
    fn input_rows(b: Block, x: (&[f32], usize, usize), h: &mut [f32], eo: &mut [f32]) = input_rows_imp;
}

// `E` and `FMA`: `multiversion`'s signature (f32 only here).
#[allow(clippy::extra_unused_type_parameters)]
#[inline(always)]
fn input_rows_imp<E: Element, const FMA: bool>(
    b: Block,
    x: (&[f32], usize, usize),
    h: &mut [f32],
    eo: &mut [f32],
) {
    // The common widths compiled with a constant width: rows of one or two vectors, whose
    // loops then unroll without tails.
    match b.tw {
        8 => input_rows_tw::<8, FMA>(b, x, h, eo),
        16 => input_rows_tw::<16, FMA>(b, x, h, eo),
        _ => input_rows_tw::<0, FMA>(b, x, h, eo),
    }
}

/// [`input_rows_imp`] for `TW` tiles per row (0: any); `AVX2` as [`deinterleave`]'s.
#[inline(always)]
fn input_rows_tw<const TW: usize, const AVX2: bool>(
    b: Block,
    (plane, hp, wp): (&[f32], usize, usize),
    h: &mut [f32],
    eo: &mut [f32],
) {
    let tw = if TW == 0 { b.tw } else { TW };
    let half = b.nr + 1;
    let (e, o) = eo[..2 * (tw + 1)].split_at_mut(tw + 1);
    for r in 0..2 * half {
        let at = |q: usize| ((q * 2 + r % 2) * half + r / 2) * tw;
        let pr = 2 * b.t0 + r;
        if pr >= hp {
            for q in 0..4 {
                h[at(q)..][..tw].fill(0.0);
            }
            continue;
        }
        let row = &plane[pr * wp..][..wp];
        // e[j] = row[2j], o[j] = row[2j + 1], zeros past the row.
        let pairs = (wp / 2).min(tw + 1);
        deinterleave::<AVX2>(&row[..2 * pairs], &mut e[..pairs], &mut o[..pairs]);
        for j in pairs..=tw {
            e[j] = row.get(2 * j).copied().unwrap_or(0.0);
            o[j] = 0.0;
        }
        let (e0, e1, o0, o1) = (&e[..tw], &e[1..], &o[..tw], &o[1..]);
        let cols = [
            (e0, e1, -1.0),
            (o0, e1, 1.0),
            (e1, o0, -1.0),
            (o0, o1, -1.0),
        ];
        for (q, (x, y, sign)) in cols.into_iter().enumerate() {
            for ((d, &x), &y) in h[at(q)..][..tw].iter_mut().zip(x).zip(y) {
                *d = x + sign * y;
            }
        }
    }
}

/// `e[j] = x[2j]`, `o[j] = x[2j + 1]`: with AVX2 shuffles in the kernels' AVX2 builds
/// (`AVX2`, their `FMA`; LLVM leaves the loop scalar), else the loop.
#[inline(always)]
fn deinterleave<const AVX2: bool>(x: &[f32], e: &mut [f32], o: &mut [f32]) {
    let n = e.len().min(o.len()).min(x.len() / 2);
    let (x, e, o) = (&x[..2 * n], &mut e[..n], &mut o[..n]);
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: `multiversion` compiles `FMA = true` only into its AVX2 + FMA build,
        // which runs after checking the CPU; the slices hold `2 n`, `n`, `n` floats.
        done = unsafe { deinterleave_avx2(x, e, o) };
    }
    for j in done..n {
        e[j] = x[2 * j];
        o[j] = x[2 * j + 1];
    }
}

/// [`deinterleave`]'s first multiple of 8 pairs; returns how many.
///
/// # Safety
/// The CPU has AVX2; `x` holds twice as many floats as `e` and `o` (which are as long).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn deinterleave_avx2(x: &[f32], e: &mut [f32], o: &mut [f32]) -> usize {
    use std::arch::x86_64::*;
    let n = e.len() / 8 * 8;
    for j in (0..n).step_by(8) {
        // SAFETY: j + 8 <= n: floats 2j..2j + 16 of `x`, j..j + 8 of `e` and `o`.
        unsafe {
            let a = _mm256_loadu_ps(x.as_ptr().add(2 * j));
            let b = _mm256_loadu_ps(x.as_ptr().add(2 * j + 8));
            // Per 128-bit lane: (a0 a2 b0 b2), (a1 a3 b1 b3); then the 64-bit halves in
            // order 0, 2, 1, 3.
            let ev = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
            let od = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
            let order = |v: __m256| {
                _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
            };
            _mm256_storeu_ps(e.as_mut_ptr().add(j), order(ev));
            _mm256_storeu_ps(o.as_mut_ptr().add(j), order(od));
        }
    }
    n
}

multiversion! {
    /// The vertical transform (`B^T (d B)`) of channel `c`'s rows `h` from
    /// [`input_rows`]: element `t` of tile `i` goes to `v[(t * C + c) * nt + i]`.
    fn input_tiles(b: Block, h: &[f32], v: &mut [f32], c: (usize, usize)) = input_tiles_imp;
}

// `E` and `FMA`: `multiversion`'s signature (f32 only here).
#[allow(clippy::extra_unused_type_parameters)]
#[inline(always)]
fn input_tiles_imp<E: Element, const FMA: bool>(
    b: Block,
    h: &[f32],
    v: &mut [f32],
    (c, c_in): (usize, usize),
) {
    let (tw, half, nt) = (b.tw, b.nr + 1, b.nr * b.tw);
    for q in 0..4 {
        // Row k of every tile row: parity k % 2, from half-row k / 2 on.
        let d = |k: usize| &h[((q * 2 + k % 2) * half + k / 2) * tw..][..nt];
        let (d0, d1, d2, d3) = (d(0), d(1), d(2), d(3));
        let rows = [
            (d0, d2, -1.0),
            (d1, d2, 1.0),
            (d2, d1, -1.0),
            (d1, d3, -1.0),
        ];
        for (p, (x, y, sign)) in rows.into_iter().enumerate() {
            let vp = &mut v[((p * 4 + q) * c_in + c) * nt..][..nt];
            for ((d, &x), &y) in vp.iter_mut().zip(x).zip(y) {
                *d = x + sign * y;
            }
        }
    }
}

multiversion! {
    /// The output transform (`A^T M A`) of output channel `o` for a block: `m` holds the
    /// 16 products, `(t * O + o) * nt + tile`; `y` is the channel's plane, rows of `w_out`;
    /// `tmp` is scratch for `12 nt` floats.
    fn output(b: Block, m: &[f32], o: (usize, usize), y: (&mut [f32], usize), accumulate: bool, tmp: &mut [f32]) = output_imp;
}

// `E` and `FMA`: `multiversion`'s signature (f32 only here).
#[allow(clippy::extra_unused_type_parameters)]
#[inline(always)]
fn output_imp<E: Element, const FMA: bool>(
    b: Block,
    m: &[f32],
    o: (usize, usize),
    y: (&mut [f32], usize),
    accumulate: bool,
    tmp: &mut [f32],
) {
    // As in `input_rows_imp`: rows of one or two vectors with a constant width.
    match b.tw {
        8 => output_tw::<8>(b, m, o, y, accumulate, tmp),
        16 => output_tw::<16>(b, m, o, y, accumulate, tmp),
        _ => output_tw::<0>(b, m, o, y, accumulate, tmp),
    }
}

/// [`output_imp`] for `TW` tiles per row (0: any).
#[inline(always)]
fn output_tw<const TW: usize>(
    b: Block,
    m: &[f32],
    (o, c_out): (usize, usize),
    (y, w_out): (&mut [f32], usize),
    accumulate: bool,
    tmp: &mut [f32],
) {
    let tw = if TW == 0 { b.tw } else { TW };
    let nt = b.nr * tw;
    let h_out = y.len() / w_out;
    let (s, yv) = tmp[..12 * nt].split_at_mut(8 * nt);
    let r = |t: usize| &m[(t * c_out + o) * nt..][..nt];
    // A^T M: s[q] = m[0][q] + m[1][q] + m[2][q], s[4 + q] = m[1][q] - m[2][q] - m[3][q].
    let (s0, s1) = s.split_at_mut(4 * nt);
    for ((q, s0), s1) in s0
        .chunks_exact_mut(nt)
        .enumerate()
        .zip(s1.chunks_exact_mut(nt))
    {
        let (r0, r1, r2, r3) = (r(q), r(4 + q), r(8 + q), r(12 + q));
        for ((((d0, d1), &a), &b), (&c, &d)) in s0
            .iter_mut()
            .zip(s1.iter_mut())
            .zip(r0)
            .zip(r1)
            .zip(r2.iter().zip(r3))
        {
            *d0 = a + b + c;
            *d1 = b - c - d;
        }
    }
    // (A^T M) A: output row a of every tile in yv[2a] (even columns), yv[2a + 1] (odd).
    for (a, ya) in yv.chunks_exact_mut(2 * nt).enumerate() {
        let sa = |q: usize| &s[(4 * a + q) * nt..][..nt];
        let (p0, p1, p2, p3) = (sa(0), sa(1), sa(2), sa(3));
        let (ye, yo) = ya.split_at_mut(nt);
        for ((((e, od), &p0), &p1), (&p2, &p3)) in ye
            .iter_mut()
            .zip(yo.iter_mut())
            .zip(p0)
            .zip(p1)
            .zip(p2.iter().zip(p3))
        {
            *e = p0 + p1 + p2;
            *od = p1 - p2 - p3;
        }
    }
    for ti in 0..b.nr {
        for a in 0..2 {
            let i = 2 * (b.t0 + ti) + a;
            if i >= h_out {
                break;
            }
            let row = &mut y[i * w_out..][..w_out];
            let ye = &yv[2 * a * nt + ti * tw..][..tw];
            let yo = &yv[(2 * a + 1) * nt + ti * tw..][..tw];
            // (`tw` when even: a constant in the constant-width builds.)
            let n = if w_out % 2 == 0 { tw } else { w_out / 2 };
            let (pairs, tail) = row.split_at_mut(2 * n);
            let (ye2, yo2) = (&ye[..n], &yo[..n]);
            if accumulate {
                for j in 0..n {
                    pairs[2 * j] += ye2[j];
                    pairs[2 * j + 1] += yo2[j];
                }
            } else {
                for j in 0..n {
                    pairs[2 * j] = ye2[j];
                    pairs[2 * j + 1] = yo2[j];
                }
            }
            if let Some(d) = tail.first_mut() {
                let e = ye[w_out / 2];
                *d = if accumulate { *d + e } else { e };
            }
        }
    }
}

multiversion! {
    /// `A gy A^T` of block `b`'s 2x2 tiles of output channel `o`'s gradient plane `gy`
    /// (rows of `w_out`; zeros past it): element `t` of tile `i` to
    /// `gt[(t * O + o) * nt + i]`. `eo` is scratch for `4 nt` floats.
    fn grad_tiles(b: Block, gy: (&[f32], usize), gt: &mut [f32], o: (usize, usize), eo: &mut [f32]) = grad_tiles_imp;
}

// `E` and `FMA`: `multiversion`'s signature (f32 only here).
#[allow(clippy::extra_unused_type_parameters)]
#[inline(always)]
fn grad_tiles_imp<E: Element, const FMA: bool>(
    b: Block,
    (gy, w_out): (&[f32], usize),
    gt: &mut [f32],
    (o, c_out): (usize, usize),
    eo: &mut [f32],
) {
    let (tw, nt) = (b.tw, b.nr * b.tw);
    let h_out = gy.len() / w_out;
    // Even and odd columns of the top and bottom gradient rows of every tile.
    let eo = &mut eo[..4 * nt];
    for ti in 0..b.nr {
        for a in 0..2 {
            let (e, od) = eo[2 * a * nt..].split_at_mut(nt);
            let (e, od) = (&mut e[ti * tw..][..tw], &mut od[ti * tw..][..tw]);
            let i = 2 * (b.t0 + ti) + a;
            if i >= h_out {
                e.fill(0.0);
                od.fill(0.0);
                continue;
            }
            let row = &gy[i * w_out..][..w_out];
            deinterleave::<FMA>(row, e, od);
            if w_out % 2 == 1 {
                e[tw - 1] = row[w_out - 1];
                od[tw - 1] = 0.0;
            }
        }
    }
    let (top, bottom) = eo.split_at(2 * nt);
    let halves = (top.split_at(nt), bottom.split_at(nt));
    let stride = 4 * c_out * nt;
    grad_quad::<0>(halves, rows4(gt, o * nt, stride, nt));
    grad_quad::<1>(halves, rows4(gt, (c_out + o) * nt, stride, nt));
    grad_quad::<2>(halves, rows4(gt, (2 * c_out + o) * nt, stride, nt));
    grad_quad::<3>(halves, rows4(gt, (3 * c_out + o) * nt, stride, nt));
}

/// The four disjoint rows `x[at + p * stride..][..n]`, `p` in `0..4` (`n <= stride`).
fn rows4(x: &mut [f32], at: usize, stride: usize, n: usize) -> [&mut [f32]; 4] {
    let (r0, rest) = x[at..].split_at_mut(stride);
    let (r1, rest) = rest.split_at_mut(stride);
    let (r2, r3) = rest.split_at_mut(stride);
    [&mut r0[..n], &mut r1[..n], &mut r2[..n], &mut r3[..n]]
}

/// Column `Q` of `A gy A^T` for every tile. `A x` for a column `x = (x0, x1)` is
/// `(x0, x0 + x1, x0 - x1, -x1)`: taken along the columns (even, odd), then the rows (top,
/// bottom).
#[inline(always)]
#[allow(clippy::type_complexity)]
fn grad_quad<const Q: usize>(
    ((te, to), (be, bo)): ((&[f32], &[f32]), (&[f32], &[f32])),
    [g0, g1, g2, g3]: [&mut [f32]; 4],
) {
    let col = |e: f32, o: f32| match Q {
        0 => e,
        1 => e + o,
        2 => e - o,
        _ => -o,
    };
    let n = g0.len();
    let (te, to, be, bo) = (&te[..n], &to[..n], &be[..n], &bo[..n]);
    let (g1, g2, g3) = (&mut g1[..n], &mut g2[..n], &mut g3[..n]);
    for j in 0..n {
        let (x0, x1) = (col(te[j], to[j]), col(be[j], bo[j]));
        g0[j] = x0;
        g1[j] = x0 + x1;
        g2[j] = x0 - x1;
        g3[j] = -x1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The correlation by its definition.
    fn naive(
        c_in: usize,
        c_out: usize,
        (hp, wp): (usize, usize),
        xp: &[f32],
        w: &[f32],
    ) -> Vec<f32> {
        let (ho, wo) = (hp - 2, wp - 2);
        let mut y = vec![0f32; c_out * ho * wo];
        for o in 0..c_out {
            for i in 0..ho {
                for j in 0..wo {
                    let mut s = 0f64;
                    for c in 0..c_in {
                        for ki in 0..3 {
                            for kj in 0..3 {
                                let x = xp[(c * hp + i + ki) * wp + j + kj] as f64;
                                s += x * w[((o * c_in + c) * 3 + ki) * 3 + kj] as f64;
                            }
                        }
                    }
                    y[(o * ho + i) * wo + j] = s as f32;
                }
            }
        }
        y
    }

    /// `(c_in, c_out, hp, wp)`: odd and even planes, one tile row or many blocks, rows of 8
    /// and 16 tiles, few and many channels.
    const CASES: &[(usize, usize, usize, usize)] = &[
        (1, 1, 3, 3),
        (3, 5, 7, 9),
        (8, 16, 34, 34),
        (5, 3, 10, 19),
        (16, 8, 18, 18),
        (3, 8, 17, 18),
        (4, 4, 35, 6),
        (2, 7, 3, 40),
    ];

    fn tiles((c_in, c_out, hp, wp): (usize, usize, usize, usize)) -> Tiles {
        Tiles {
            c_in,
            c_out,
            hp,
            wp,
        }
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|i| {
                ((i.wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn matches_naive_loops() {
        if !crate::ops::gemm::available() {
            return;
        }
        for &(c_in, c_out, hp, wp) in CASES {
            let xp = values(c_in * hp * wp, 7);
            let w = values(c_out * c_in * 9, 11);
            let want = naive(c_in, c_out, (hp, wp), &xp, &w);
            let k = Winograd::new(tiles((c_in, c_out, hp, wp)), &w);
            let base = values(want.len(), 3);
            for accumulate in [false, true] {
                let mut y = base.clone();
                k.correlate(&xp, &mut y, accumulate);
                for (i, (&got, &want)) in y.iter().zip(&want).enumerate() {
                    let want = if accumulate { want + base[i] } else { want };
                    let tol = 1e-4 * (1.0 + (c_in * 9) as f32).sqrt();
                    assert!(
                        (got - want).abs() <= tol,
                        "{c_in}->{c_out} {hp}x{wp} acc {accumulate} at {i}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn weight_gradient_matches_naive_loops() {
        if !crate::ops::gemm::available() {
            return;
        }
        for &(c_in, c_out, hp, wp) in CASES {
            let (ho, wo) = (hp - 2, wp - 2);
            let xp = values(c_in * hp * wp, 5);
            let gy = values(c_out * ho * wo, 9);
            let tiles = tiles((c_in, c_out, hp, wp));
            // Two images summed in the Winograd domain, as the backward pass does.
            let mut p = vec![0f32; 16 * c_out * c_in];
            tiles.weight_grad_acc(&xp, &gy, &mut p);
            tiles.weight_grad_acc(&xp, &gy, &mut p);
            let gw = tiles.kernel_grad(&p);
            for o in 0..c_out {
                for c in 0..c_in {
                    for k in 0..9 {
                        let (ki, kj) = (k / 3, k % 3);
                        let mut want = 0f64;
                        for i in 0..ho {
                            for j in 0..wo {
                                let x = xp[(c * hp + i + ki) * wp + j + kj] as f64;
                                want += 2.0 * x * gy[(o * ho + i) * wo + j] as f64;
                            }
                        }
                        let got = gw[(o * c_in + c) * 9 + k] as f64;
                        let tol = 1e-4 * (1.0 + (ho * wo) as f64).sqrt();
                        assert!(
                            (got - want).abs() <= tol,
                            "{c_in}->{c_out} {hp}x{wp} ({o}, {c}, {k}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}

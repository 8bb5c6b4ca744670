//! An f32 matrix product with AVX-512 kernels (and AVX2 + FMA ones on CPUs without
//! AVX-512, chosen at run time), for the shapes of dense layers:
//! `C (m x n) [+]= A (m x k) * B (k x n)`, `A` given by row and column strides (so `A^T`
//! costs nothing), `B` by row and column strides too (packed into panels, so a transposed
//! `B` costs one register transpose per 8 x 8 block). The three products of a `Dense`
//! layer's step (forward with `W` read transposed, input and weight gradients) all take
//! this form, so one register-blocked kernel serves them; it reaches about twice the
//! throughput of the `gemm` crate's AVX2 kernels that dfdx uses for these shapes (see
//! BENCHMARKS.md).
//!
//! Work is split over rayon's threads in tiles of `C` (or, for a deep product with a narrow
//! `C`, in a fixed number of slices of the depth); each piece is computed by one thread in
//! a fixed order and partial sums are added in a fixed order, so results depend neither on
//! the scheduling nor on the number of threads.

use super::isa::Simd;

/// A read-only matrix operand: element `(r, c)` at `ptr[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub struct Operand<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

/// Whether this CPU runs [`gemm`]: AVX-512F, or AVX2 and FMA (`TYPENET_CPU=avx2` forces
/// the latter, `portable` turns the product off).
pub fn available() -> bool {
    Simd::best().is_some()
}

/// Rows and columns of `C` per register block.
const MR: usize = 8;
const NR: usize = 32;
/// Depth of one pass over a block (the `B` panel of a pass stays in L1/L2).
const KC: usize = 256;
/// The depth of each pass over a product `k` deep: at most [`KC`], as even as possible
/// (288 = 144 + 144, not 256 + 32, whose short pass reloads `C` for little work), and a
/// multiple of 8 (the transposed packing moves 8 x 8 blocks).
fn passes(k: usize) -> usize {
    k.div_ceil(k.div_ceil(KC).max(1))
        .next_multiple_of(8)
        .min(KC)
}

/// Widest tile of `C` one task computes.
const NC: usize = 128;
/// Slices of the depth of a deep, narrow product (see [`split_depth`]).
const DEPTH_SLICES: usize = 4;

/// `c (m x n, row stride c_rs) = [c +] a (m x k) * b (k x n)`. `b` with column stride 1
/// or row stride 1 (a transposed matrix) is packed with vector moves, other strides with
/// scalar ones.
///
/// # Panics
/// When an operand is too short for its shape and strides (a bug in the caller), or when
/// the CPU lacks AVX-512 and AVX2 + FMA (check [`available`] first).
pub fn gemm(
    mnk: (usize, usize, usize),
    a: Operand<'_>,
    b: Operand<'_>,
    c: &mut [f32],
    c_rs: usize,
    accumulate: bool,
) {
    gemm_select(mnk, a, b, c, c_rs, accumulate, Select::default())
}

/// Which rows of `B` (the depth) and of `C` a product runs over: `None` is all, in order;
/// a list (strictly increasing) maps row `i` of the product to row `list[i]` of the
/// operand. A dense layer's backward pass uses it to skip units ReLU left dead for the
/// whole batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Select<'a> {
    pub b_rows: Option<&'a [usize]>,
    pub c_rows: Option<&'a [usize]>,
}

impl Select<'_> {
    fn row(list: Option<&[usize]>, i: usize) -> usize {
        list.map_or(i, |l| l[i])
    }
}

/// [`gemm`] over the rows `sel` selects: `m` and `k` count the selected rows; `A` is
/// dense (`m x k`).
#[allow(clippy::too_many_arguments)]
pub fn gemm_select(
    mnk: (usize, usize, usize),
    a: Operand<'_>,
    b: Operand<'_>,
    c: &mut [f32],
    c_rs: usize,
    accumulate: bool,
    sel: Select<'_>,
) {
    let isa = Simd::best().expect("gemm needs AVX-512 or AVX2 + FMA");
    gemm_on((isa, true), mnk, a, b, c, c_rs, accumulate, sel)
}

/// [`gemm_select`] on the calling thread only (for callers that already run one product
/// per task, such as the im2col convolutions, one image each).
pub fn gemm_serial(
    mnk: (usize, usize, usize),
    a: Operand<'_>,
    b: Operand<'_>,
    c: &mut [f32],
    c_rs: usize,
    accumulate: bool,
    sel: Select<'_>,
) {
    let isa = Simd::best().expect("gemm needs AVX-512 or AVX2 + FMA");
    gemm_on((isa, false), mnk, a, b, c, c_rs, accumulate, sel)
}

#[allow(clippy::too_many_arguments)]
fn gemm_on(
    (isa, parallel): (Simd, bool),
    (m, n, k): (usize, usize, usize),
    a: Operand<'_>,
    b: Operand<'_>,
    c: &mut [f32],
    c_rs: usize,
    accumulate: bool,
    sel: Select<'_>,
) {
    let increasing = |l: &[usize]| l.windows(2).all(|p| p[0] < p[1]);
    assert!(
        sel.c_rows.is_none_or(|l| l.len() == m && increasing(l)),
        "gemm: C row list"
    );
    assert!(
        sel.b_rows.is_none_or(|l| l.len() == k && increasing(l)),
        "gemm: B row list"
    );
    if m == 0 || n == 0 {
        return;
    }
    let last_c = Select::row(sel.c_rows, m - 1);
    assert!(
        c_rs >= n && below(c.len(), (last_c, c_rs), (n - 1, 1)),
        "gemm: C too short"
    );
    if k > 0 {
        assert!(
            below(a.data.len(), (m - 1, a.rs), (k - 1, a.cs)),
            "gemm: A too short"
        );
        let last_b = Select::row(sel.b_rows, k - 1);
        assert!(
            below(b.data.len(), (last_b, b.rs), (n - 1, b.cs)),
            "gemm: B too short"
        );
    }
    let threads = rayon::current_num_threads().max(1);
    let all = sel.b_rows.is_none() && sel.c_rows.is_none();
    if !parallel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as for the tiles below, with one tile covering all of C.
        unsafe {
            x86::tile(
                (0, 0, m, n, k),
                a,
                b,
                (c.as_mut_ptr(), c_rs),
                (accumulate, isa),
                sel,
            )
        };
        return;
    }
    if all && n <= NC && k >= 8 * KC {
        // A fixed number of slices, whatever the number of threads: the same sums.
        return split_depth((m, n, k), a, b, c, c_rs, accumulate, (DEPTH_SLICES, isa));
    }
    let col_tiles = n.div_ceil(NC);
    let nc = n.div_ceil(col_tiles).next_multiple_of(16);
    // Few column tiles (a deep product): split the rows so every thread gets work.
    let row_tiles = threads.div_ceil(col_tiles).min(m.div_ceil(MR));
    let mc = m.div_ceil(row_tiles).next_multiple_of(MR);
    let tiles: Vec<(usize, usize)> = (0..m.div_ceil(mc))
        .flat_map(|i| (0..n.div_ceil(nc)).map(move |j| (i * mc, j * nc)))
        .collect();
    let c_ptr = SendPtr(c.as_mut_ptr());
    let run = |&(r0, c0): &(usize, usize)| {
        let (rows, cols) = ((m - r0).min(mc), (n - c0).min(nc));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the asserts above bound every index of A, B and C touched by a tile
        // within the slices; tiles write disjoint parts of C; `kernels` checked the CPU.
        unsafe {
            x86::tile(
                (r0, c0, rows, cols, k),
                a,
                b,
                (c_ptr.get(), c_rs),
                (accumulate, isa),
                sel,
            )
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!(
            "checked by `available`: {r0} {c0} {rows} {cols} {:?}",
            c_ptr.get()
        )
    };
    if tiles.len() == 1 {
        run(&tiles[0]);
    } else {
        use rayon::prelude::*;
        tiles.par_iter().for_each(run);
    }
}

/// Whether element `(r, c)` of a matrix with strides `(rs, cs)` lies within `len`
/// elements (without overflow).
fn below(len: usize, (r, rs): (usize, usize), (c, cs): (usize, usize)) -> bool {
    let at = r.checked_mul(rs).zip(c.checked_mul(cs));
    at.and_then(|(a, b)| a.checked_add(b))
        .is_some_and(|i| i < len)
}

/// A deep product with a narrow `C` (a dense layer's forward pass): each thread takes a
/// slice of the depth and computes a whole partial `C`, so `A` and `B` are read (and `B`
/// packed) once in all instead of once per thread; the partials are added in a fixed order.
#[allow(clippy::too_many_arguments)]
fn split_depth(
    (m, n, k): (usize, usize, usize),
    a: Operand<'_>,
    b: Operand<'_>,
    c: &mut [f32],
    c_rs: usize,
    accumulate: bool,
    (parts, isa): (usize, Simd),
) {
    use rayon::prelude::*;
    let kp = k.div_ceil(parts).next_multiple_of(8);
    let partials: Vec<Vec<f32>> = (0..k.div_ceil(kp))
        .into_par_iter()
        .map(|t| {
            let (k0, kk) = (t * kp, kp.min(k - t * kp));
            let a = Operand {
                data: &a.data[k0 * a.cs..],
                ..a
            };
            let b = Operand {
                data: &b.data[k0 * b.rs..],
                ..b
            };
            let mut part = vec![0f32; m * n];
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `gemm` bounded A and B for the whole depth, so for this slice of it;
            // `part` is m x n; `kernels` checked the CPU.
            unsafe {
                x86::tile(
                    (0, 0, m, n, kk),
                    a,
                    b,
                    (part.as_mut_ptr(), n),
                    (false, isa),
                    Select::default(),
                )
            };
            part
        })
        .collect();
    for (i, row) in c.chunks_mut(c_rs).take(m).enumerate() {
        let row = &mut row[..n];
        if !accumulate {
            row.fill(0.0);
        }
        for p in &partials {
            for (d, &v) in row.iter_mut().zip(&p[i * n..(i + 1) * n]) {
                *d += v;
            }
        }
    }
}

/// `C`'s pointer, shared by the tiles of one product.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: the tiles that receive the pointer write disjoint elements of `C` through it,
// while `gemm_select` holds `C`'s only (mutable) borrow.
unsafe impl Send for SendPtr {}
// SAFETY: as for `Send`: shared copies only ever reach disjoint elements.
unsafe impl Sync for SendPtr {}

impl SendPtr {
    // A method, so closures capture the whole (Sync) wrapper, not the raw field.
    fn get(self) -> *mut f32 {
        self.0
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Operand, Select, Simd, KC, MR, NR};
    use crate::ops::scratch::Local;
    use std::arch::x86_64::*;

    /// [`tile512`] or [`avx2::tile`].
    ///
    /// # Safety
    /// As [`tile512`]'s, and the CPU runs `isa`.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile(
        t: (usize, usize, usize, usize, usize),
        a: Operand<'_>,
        b: Operand<'_>,
        c: (*mut f32, usize),
        (accumulate, isa): (bool, Simd),
        sel: Select<'_>,
    ) {
        // SAFETY: the caller's.
        unsafe {
            match isa {
                Simd::Avx512 => tile512(t, a, b, c, accumulate, sel),
                Simd::Avx2 => avx2::tile(t, a, b, c, accumulate, sel),
            }
        }
    }

    /// `C[r0..r0 + rows][c0..c0 + cols] = [C +] A[r0..][..k] * B[..k][c0..]` (rows of `C`
    /// and `B` through `sel`).
    ///
    /// # Safety
    /// Every element of `A`, `B` and `C` the tile reaches is in bounds: `A` and `B` are
    /// slices long enough for their strides (as `gemm_select` asserts), `c` points to a
    /// `C` with row stride `c_rs` that holds every selected row of the tile, and no other
    /// thread accesses those elements meanwhile.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile512(
        (r0, c0, rows, cols, k): (usize, usize, usize, usize, usize),
        a: Operand<'_>,
        b: Operand<'_>,
        (c, c_rs): (*mut f32, usize),
        accumulate: bool,
        sel: Select<'_>,
    ) {
        let ap = a.data.as_ptr();
        // The B panel of one pass, packed contiguous (and zero-padded to NR columns): the
        // row blocks that reuse it then stream it from L1 without a TLB miss per row. The
        // packing writes all of it; the buffer is the thread's, not allocated per call.
        let mut panel = Local::<f32>::stale(KC.min(k.max(1)) * NR);
        let mut k0 = 0;
        loop {
            let kc = (k - k0).min(KC);
            let load_c = accumulate || k0 > 0;
            for j in (0..cols).step_by(NR) {
                let w = (cols - j).min(NR);
                let masks = [lanes(w), lanes(w.saturating_sub(16))];
                let ahead = j + NR < cols;
                // SAFETY: the rows and columns of B it reads are in bounds (the caller);
                // `panel` holds `kc` rows of `NR`.
                unsafe {
                    pack(
                        b,
                        sel.b_rows,
                        (k0, kc),
                        (c0 + j, w),
                        ahead,
                        panel.as_mut_ptr(),
                    )
                };
                for i in (0..rows).step_by(MR) {
                    let ai = ap.wrapping_add((r0 + i) * a.rs + k0 * a.cs);
                    let c_row = |r: usize| {
                        let row = Select::row(sel.c_rows, (r0 + i + r).min(r0 + rows - 1));
                        c.wrapping_add(row * c_rs + c0 + j)
                    };
                    let blk = Block {
                        k: kc,
                        a: ai,
                        a_rs: a.rs,
                        a_cs: a.cs,
                        b: panel.as_ptr(),
                        c: std::array::from_fn(c_row),
                        masks,
                        load_c,
                    };
                    // SAFETY: the block's `R` rows of A (`kc` deep) and of C (`w` columns)
                    // are in the tile, in bounds (the caller); the panel holds `kc` rows.
                    unsafe {
                        match (rows - i).min(MR) {
                            8 => micro::<8>(blk),
                            7 => micro::<7>(blk),
                            6 => micro::<6>(blk),
                            5 => micro::<5>(blk),
                            4 => micro::<4>(blk),
                            3 => micro::<3>(blk),
                            2 => micro::<2>(blk),
                            _ => micro::<1>(blk),
                        }
                    }
                }
            }
            k0 += kc;
            if k0 >= k {
                break;
            }
        }
    }

    /// Copies `B[k0..k0 + kc][c..c + w]` into `panel` (`kc` rows of `NR`, zero-padded);
    /// with `ahead`, prefetches the next panel to the right.
    ///
    /// # Safety
    /// Those elements of `B` (rows through `b_rows`) are in `b.data`, `w <= NR`, and
    /// `panel` is writable for `kc * NR` floats.
    #[target_feature(enable = "avx512f")]
    unsafe fn pack(
        b: Operand<'_>,
        b_rows: Option<&[usize]>,
        (k0, kc): (usize, usize),
        (c, w): (usize, usize),
        ahead: bool,
        panel: *mut f32,
    ) {
        // Row s of this pass, at column c.
        let row = |s: usize| {
            b.data
                .as_ptr()
                .wrapping_add(Select::row(b_rows, k0 + s) * b.rs + c * b.cs)
        };
        if b.cs == 1 {
            let masks = [lanes(w), lanes(w.saturating_sub(16))];
            for s in 0..kc {
                let (src, dst) = (row(s), panel.wrapping_add(s * NR));
                if ahead {
                    // A hint: prefetching never faults, even past the end.
                    _mm_prefetch::<_MM_HINT_T0>(src.wrapping_add(NR).cast());
                    _mm_prefetch::<_MM_HINT_T0>(src.wrapping_add(NR + 16).cast());
                }
                // SAFETY: the masked lanes are the row's `w` columns (in bounds); `dst` is
                // row `s` of the panel.
                unsafe {
                    _mm512_storeu_ps(dst, _mm512_maskz_loadu_ps(masks[0], src));
                    let hi = _mm512_maskz_loadu_ps(masks[1], src.wrapping_add(16));
                    _mm512_storeu_ps(dst.add(16), hi);
                }
            }
            return;
        }
        // SAFETY: the caller's.
        unsafe { pack_strided(b, b_rows, (k0, kc), (c, w), panel) }
    }

    /// [`pack`] for a `B` whose column stride is not 1: a transposed `B` (rows of the
    /// stored matrix are columns here) in 8 x 8 blocks transposed in registers, the edges
    /// (and other strides) element by element.
    ///
    /// # Safety
    /// As [`pack`]'s.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn pack_strided(
        b: Operand<'_>,
        b_rows: Option<&[usize]>,
        (k0, kc): (usize, usize),
        (c, w): (usize, usize),
        panel: *mut f32,
    ) {
        let row = |s: usize| {
            b.data
                .as_ptr()
                .wrapping_add(Select::row(b_rows, k0 + s) * b.rs + c * b.cs)
        };
        let (s8, w8) = if b.rs == 1 && b_rows.is_none() {
            (kc / 8 * 8, w / 8 * 8)
        } else {
            (0, 0)
        };
        for jj in (0..w8).step_by(8) {
            for s in (0..s8).step_by(8) {
                // SAFETY: an 8 x 8 block of the pass's rows and columns (in bounds, `b.rs`
                // is 1 here) into rows `s..s + 8`, columns `jj..jj + 8` of the panel.
                unsafe {
                    let src = row(s).wrapping_add(jj * b.cs);
                    transpose8(src, b.cs, panel.add(s * NR + jj), NR)
                };
            }
        }
        for s in 0..kc {
            let dst = panel.wrapping_add(s * NR);
            let from = if s < s8 { w8 } else { 0 };
            for jj in from..NR {
                // SAFETY: column `jj < w` of row `s` is in bounds; `dst` is a panel row.
                unsafe { *dst.add(jj) = if jj < w { *row(s).add(jj * b.cs) } else { 0.0 } };
            }
        }
    }

    /// 8 x 8 block: `d[j * d_rs + i] = s[i * s_rs + j]`.
    ///
    /// # Safety
    /// The 8 floats from `s + i * s_rs` are readable and the 8 from `d + i * d_rs`
    /// writable, for `i < 8`.
    #[target_feature(enable = "avx")]
    pub unsafe fn transpose8(s: *const f32, s_rs: usize, d: *mut f32, d_rs: usize) {
        // SAFETY: the caller's rows.
        let r: [__m256; 8] = std::array::from_fn(|i| unsafe { _mm256_loadu_ps(s.add(i * s_rs)) });
        let t = [
            _mm256_unpacklo_ps(r[0], r[1]),
            _mm256_unpackhi_ps(r[0], r[1]),
            _mm256_unpacklo_ps(r[2], r[3]),
            _mm256_unpackhi_ps(r[2], r[3]),
            _mm256_unpacklo_ps(r[4], r[5]),
            _mm256_unpackhi_ps(r[4], r[5]),
            _mm256_unpacklo_ps(r[6], r[7]),
            _mm256_unpackhi_ps(r[6], r[7]),
        ];
        let u = [
            _mm256_shuffle_ps::<0x44>(t[0], t[2]),
            _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            _mm256_shuffle_ps::<0x44>(t[1], t[3]),
            _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            _mm256_shuffle_ps::<0x44>(t[4], t[6]),
            _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            _mm256_shuffle_ps::<0x44>(t[5], t[7]),
            _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        for i in 0..4 {
            let (lo, hi) = (
                _mm256_permute2f128_ps::<0x20>(u[i], u[i + 4]),
                _mm256_permute2f128_ps::<0x31>(u[i], u[i + 4]),
            );
            // SAFETY: rows `i` and `i + 4` of the caller's destination.
            unsafe {
                _mm256_storeu_ps(d.add(i * d_rs), lo);
                _mm256_storeu_ps(d.add((i + 4) * d_rs), hi);
            }
        }
    }

    /// The first `n` (at most 16) lanes.
    #[inline(always)]
    fn lanes(n: usize) -> __mmask16 {
        if n >= 16 {
            0xffff
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    #[derive(Clone, Copy)]
    struct Block {
        k: usize,
        a: *const f32,
        a_rs: usize,
        a_cs: usize,
        /// The packed panel: `k` rows of `NR`.
        b: *const f32,
        /// The block's rows of `C` (the first `R` are used).
        c: [*mut f32; MR],
        masks: [__mmask16; 2],
        load_c: bool,
    }

    /// `R x 32` block of `C`, accumulated in 2R registers over `k` steps: per step two
    /// loads of `B`, R broadcasts of `A`, 2R FMAs.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `p.a` holds `R` rows of `p.k` (strides `a_rs`, `a_cs`), `p.b`
    /// `p.k` rows of `NR`, and the lanes of `p.masks` of the first `R` rows of `p.c` are
    /// writable.
    #[inline(always)]
    unsafe fn micro<const R: usize>(p: Block) {
        let [m0, m1] = p.masks;
        // SAFETY: the caller guarantees AVX-512F and every access below (the second half
        // of a row of C, through `wrapping_add`, is only reached through its mask).
        unsafe {
            // C is added after the products, not loaded first: a C block that is not in
            // cache (gradients are written once) would otherwise stall every FMA behind
            // its loads.
            let mut acc = [[_mm512_setzero_ps(); 2]; R];
            if p.load_c {
                for &cr in &p.c[..R] {
                    _mm_prefetch::<_MM_HINT_T0>(cr.cast());
                    _mm_prefetch::<_MM_HINT_T0>(cr.wrapping_add(16).cast());
                }
            }
            for s in 0..p.k {
                let bs = p.b.add(s * NR);
                let b0 = _mm512_loadu_ps(bs);
                let b1 = _mm512_loadu_ps(bs.add(16));
                let as_ = p.a.add(s * p.a_cs);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*as_.add(r * p.a_rs));
                    acc[0] = _mm512_fmadd_ps(av, b0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(av, b1, acc[1]);
                }
            }
            for (acc, &cr) in acc.iter_mut().zip(&p.c) {
                let cr_hi = cr.wrapping_add(16);
                if p.load_c {
                    acc[0] = _mm512_add_ps(acc[0], _mm512_maskz_loadu_ps(m0, cr));
                    acc[1] = _mm512_add_ps(acc[1], _mm512_maskz_loadu_ps(m1, cr_hi));
                }
                _mm512_mask_storeu_ps(cr, m0, acc[0]);
                _mm512_mask_storeu_ps(cr_hi, m1, acc[1]);
            }
        }
    }

    /// The same product with AVX2 + FMA: 16 registers of 8 lanes, so `6 x 16` blocks of
    /// `C` (12 accumulators), each half of a 32-wide panel in turn.
    pub mod avx2 {
        use super::super::{passes, Operand, Select, NR};
        use super::{pack_strided, Local};
        use std::arch::x86_64::*;

        /// Rows of `C` per register block.
        const MR: usize = 6;

        /// As [`super::tile512`].
        ///
        /// # Safety
        /// As [`super::tile512`]'s, with AVX2 and FMA for AVX-512F.
        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn tile(
            (r0, c0, rows, cols, k): (usize, usize, usize, usize, usize),
            a: Operand<'_>,
            b: Operand<'_>,
            (c, c_rs): (*mut f32, usize),
            accumulate: bool,
            sel: Select<'_>,
        ) {
            let ap = a.data.as_ptr();
            let depth = passes(k);
            let mut panel = Local::<f32>::stale(depth.max(1) * NR);
            let mut k0 = 0;
            loop {
                let kc = (k - k0).min(depth);
                let load_c = accumulate || k0 > 0;
                for j in (0..cols).step_by(NR) {
                    let w = (cols - j).min(NR);
                    // SAFETY: as in `tile512`.
                    unsafe { pack(b, sel.b_rows, (k0, kc), (c0 + j, w), panel.as_mut_ptr()) };
                    for h in (0..w).step_by(16) {
                        let hw = (w - h).min(16);
                        for (i, nr) in row_blocks(rows) {
                            let ai = ap.wrapping_add((r0 + i) * a.rs + k0 * a.cs);
                            let c_row = |r: usize| {
                                let row = Select::row(sel.c_rows, (r0 + i + r).min(r0 + rows - 1));
                                c.wrapping_add(row * c_rs + c0 + j + h)
                            };
                            let blk = Block {
                                k: kc,
                                a: ai,
                                a_rs: a.rs,
                                a_cs: a.cs,
                                b: panel.as_ptr().wrapping_add(h),
                                c: std::array::from_fn(c_row),
                                w: hw,
                                load_c,
                            };
                            // SAFETY: the block's rows of A and C are in the tile (the
                            // caller); the panel holds `kc` rows of `NR`, `h + 16 <= NR`.
                            unsafe {
                                match nr {
                                    6 => micro::<6>(blk),
                                    5 => micro::<5>(blk),
                                    4 => micro::<4>(blk),
                                    3 => micro::<3>(blk),
                                    2 => micro::<2>(blk),
                                    _ => micro::<1>(blk),
                                }
                            }
                        }
                    }
                }
                k0 += kc;
                if k0 >= k {
                    break;
                }
            }
        }

        /// The row blocks `(first row, rows)` of a tile of `rows` rows: blocks of `MR`,
        /// except that a last block of 1 or 2 rows (whose few accumulators leave the FMA
        /// units waiting on their latency) is merged with the one before into two halves.
        fn row_blocks(rows: usize) -> impl Iterator<Item = (usize, usize)> {
            let rem = rows % MR;
            let full = rows / MR;
            let split = full > 0 && (rem == 1 || rem == 2);
            let plain = if split { full - 1 } else { full };
            let tail: [usize; 2] = if split {
                [(MR + rem).div_ceil(2), (MR + rem) / 2]
            } else {
                [rem, 0]
            };
            let sizes = std::iter::repeat_n(MR, plain).chain(tail.into_iter().filter(|&r| r > 0));
            sizes.scan(0, |at, r| {
                let i = *at;
                *at += r;
                Some((i, r))
            })
        }

        /// `B[k0..k0 + kc][c..c + w]` into `panel` (`kc` rows of `NR`, zero-padded).
        ///
        /// # Safety
        /// As `super::pack`'s.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn pack(
            b: Operand<'_>,
            b_rows: Option<&[usize]>,
            (k0, kc): (usize, usize),
            (c, w): (usize, usize),
            panel: *mut f32,
        ) {
            let row = |s: usize| {
                b.data
                    .as_ptr()
                    .wrapping_add(Select::row(b_rows, k0 + s) * b.rs + c * b.cs)
            };
            if b.cs == 1 {
                // Vector moves (a `memcpy` call per 128-byte row cost as much as the
                // products of a short row block); masked loads for the last columns.
                let lane = |i: usize| _mm256_set1_epi32(i as i32);
                let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let masks: [__m256i; 4] =
                    std::array::from_fn(|q| _mm256_cmpgt_epi32(lane(w.saturating_sub(8 * q)), idx));
                for s in 0..kc {
                    let (src, dst) = (row(s), panel.wrapping_add(s * NR));
                    // SAFETY: only the row's first `w` columns are read (the masks); row `s`
                    // of the panel has `NR` floats.
                    unsafe {
                        if w == NR {
                            for q in 0..4 {
                                _mm256_storeu_ps(dst.add(8 * q), _mm256_loadu_ps(src.add(8 * q)));
                            }
                        } else if w == 16 {
                            // (Rows of 16 outputs: the other half of the panel is not read.)
                            for q in 0..2 {
                                _mm256_storeu_ps(dst.add(8 * q), _mm256_loadu_ps(src.add(8 * q)));
                            }
                        } else {
                            for (q, &m) in masks.iter().enumerate() {
                                let v = _mm256_maskload_ps(src.wrapping_add(8 * q), m);
                                _mm256_storeu_ps(dst.add(8 * q), v);
                            }
                        }
                    }
                }
                return;
            }
            // SAFETY: the caller's.
            unsafe { pack_strided(b, b_rows, (k0, kc), (c, w), panel) }
        }

        #[derive(Clone, Copy)]
        struct Block {
            k: usize,
            a: *const f32,
            a_rs: usize,
            a_cs: usize,
            /// 16 columns of the packed panel (row stride `NR`).
            b: *const f32,
            c: [*mut f32; MR],
            /// Columns of `C` written (at most 16).
            w: usize,
            load_c: bool,
        }

        /// `R x 16` block of `C` in `2R` registers over `k` steps.
        ///
        /// # Safety
        /// AVX2 + FMA; `p.a` holds `R` rows of `p.k`, `p.b` `p.k` rows of 16 (stride
        /// `NR`), and the first `p.w` floats of the first `R` rows of `p.c` are writable.
        #[inline(always)]
        unsafe fn micro<const R: usize>(p: Block) {
            // SAFETY: the caller's; C is touched only in its first `w` columns.
            unsafe {
                let mut acc = [[_mm256_setzero_ps(); 2]; R];
                for s in 0..p.k {
                    let bs = p.b.add(s * NR);
                    let b0 = _mm256_loadu_ps(bs);
                    let b1 = _mm256_loadu_ps(bs.add(8));
                    let as_ = p.a.add(s * p.a_cs);
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let av = _mm256_set1_ps(*as_.add(r * p.a_rs));
                        acc[0] = _mm256_fmadd_ps(av, b0, acc[0]);
                        acc[1] = _mm256_fmadd_ps(av, b1, acc[1]);
                    }
                }
                for (acc, &cr) in acc.iter_mut().zip(&p.c) {
                    if p.w == 16 {
                        if p.load_c {
                            acc[0] = _mm256_add_ps(acc[0], _mm256_loadu_ps(cr));
                            acc[1] = _mm256_add_ps(acc[1], _mm256_loadu_ps(cr.add(8)));
                        }
                        _mm256_storeu_ps(cr, acc[0]);
                        _mm256_storeu_ps(cr.add(8), acc[1]);
                    } else {
                        let mut t = [0f32; 16];
                        _mm256_storeu_ps(t.as_mut_ptr(), acc[0]);
                        _mm256_storeu_ps(t.as_mut_ptr().add(8), acc[1]);
                        for (j, &v) in t.iter().enumerate().take(p.w) {
                            let d = cr.add(j);
                            *d = if p.load_c { *d + v } else { v };
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(
        (m, n, k): (usize, usize, usize),
        a: Operand<'_>,
        b: Operand<'_>,
        c: &mut [f32],
        c_rs: usize,
    ) {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for q in 0..k {
                    s += a.data[i * a.rs + q * a.cs] as f64 * b.data[q * b.rs + j * b.cs] as f64;
                }
                c[i * c_rs + j] += s as f32;
            }
        }
    }

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.618).sin()).collect()
    }

    /// Every tail: rows not a multiple of 8, columns not a multiple of 8, 16 or 32, depths
    /// across the pass boundary, transposed `A` and `B`, padded strides, accumulate or not.
    #[test]
    fn matches_naive_loops() {
        for isa in Simd::all_available() {
            matches_naive_loops_on(isa);
        }
    }

    fn matches_naive_loops_on(isa: Simd) {
        for &(m, n, k) in &[
            (1, 1, 1),
            (3, 17, 5),
            (8, 32, 256),
            (9, 33, 257),
            (13, 70, 600),
            (128, 128, 300),
            (20, 70, 2100),
            (3, 128, 5408),
            (17, 300, 40),
            (10, 129, 263),
            (32, 49, 288),
            (7, 31, 513),
            (5, 5, 0),
        ] {
            for transposed in [false, true] {
                for accumulate in [false, true] {
                    let (a_rs, a_cs) = if transposed { (1, m + 2) } else { (k + 3, 1) };
                    let a = values(m * a_rs.max(1) + k * a_cs + 8, 1.0);
                    let a = Operand {
                        data: &a,
                        rs: a_rs,
                        cs: a_cs,
                    };
                    let c_rs = n + 1;
                    // B row-major, or transposed (stored n x k), both with padded rows.
                    let (b_rs, b_cs) = if transposed { (1, k + 3) } else { (n + 5, 1) };
                    let b = values(k * b_rs + n * b_cs + 1, 2.0);
                    let b = Operand {
                        data: &b,
                        rs: b_rs,
                        cs: b_cs,
                    };
                    let c0 = values(m * c_rs, 3.0);
                    let mut want = if accumulate {
                        c0.clone()
                    } else {
                        let mut z = c0.clone();
                        for i in 0..m {
                            z[i * c_rs..i * c_rs + n].fill(0.0);
                        }
                        z
                    };
                    naive((m, n, k), a, b, &mut want, c_rs);
                    let mut got = c0.clone();
                    let all = Select::default();
                    gemm_on(
                        (isa, true),
                        (m, n, k),
                        a,
                        b,
                        &mut got,
                        c_rs,
                        accumulate,
                        all,
                    );
                    let mut serial = c0.clone();
                    gemm_on(
                        (isa, false),
                        (m, n, k),
                        a,
                        b,
                        &mut serial,
                        c_rs,
                        accumulate,
                        all,
                    );

                    let both = got.iter().zip(&want).chain(serial.iter().zip(&want));
                    for (i, (g, w)) in both.enumerate() {
                        let tol = 1e-4 * (1.0 + (k as f32).sqrt());
                        assert!(
                            (g - w).abs() <= tol,
                            "{isa:?} {m}x{n}x{k} t={transposed} acc={accumulate} at {i}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    /// Selected rows: C rows and B rows (the depth) through increasing lists; rows of C
    /// outside the list are left alone.
    #[test]
    fn selected_rows_match_naive_loops() {
        for isa in Simd::all_available() {
            selected_rows_on(isa);
        }
    }

    fn selected_rows_on(isa: Simd) {
        let (rows_c, n, rows_b) = (40, 70, 300);
        let c_rows: Vec<usize> = (0..rows_c).filter(|i| i % 3 != 1).collect();
        let b_rows: Vec<usize> = (0..rows_b).filter(|i| i % 5 < 3).collect();
        let (m, k) = (c_rows.len(), b_rows.len());
        for transposed_b in [false, true] {
            let a = values(m * k, 1.0);
            let a = Operand {
                data: &a,
                rs: k,
                cs: 1,
            };
            let (b_rs, b_cs) = if transposed_b { (1, rows_b) } else { (n, 1) };
            let b = values(rows_b * n, 2.0);
            let b = Operand {
                data: &b,
                rs: b_rs,
                cs: b_cs,
            };
            let c0 = values(rows_c * n, 3.0);
            let mut want = c0.clone();
            for (i, &ci) in c_rows.iter().enumerate() {
                for j in 0..n {
                    let mut s = 0f64;
                    for (q, &bq) in b_rows.iter().enumerate() {
                        s += a.data[i * k + q] as f64 * b.data[bq * b_rs + j * b_cs] as f64;
                    }
                    want[ci * n + j] += s as f32;
                }
            }
            let mut got = c0.clone();
            let sel = Select {
                b_rows: Some(&b_rows),
                c_rows: Some(&c_rows),
            };
            gemm_on((isa, true), (m, n, k), a, b, &mut got, n, true, sel);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-3,
                    "{isa:?} t={transposed_b} at {i}: {g} vs {w}"
                );
            }
        }
    }
}

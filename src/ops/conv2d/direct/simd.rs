//! The 16-lane vectors the direct kernels are written in: one AVX-512 register, or two
//! AVX2 registers. Masks are 16-bit lane sets on both (bit `i`: lane `i`), so the layouts,
//! partial sums and tail masks are the same for both instruction sets.
//!
//! Every method is `unsafe`: the CPU must have the type's instruction set, and pointers
//! must be valid for the lanes the method touches (all 16, or those of the mask). The
//! byte methods take prefix masks (the first `n` lanes), which is what [`super::tail`]
//! gives.

#![cfg(target_arch = "x86_64")]
// Each method is an intrinsic or two under the trait's contract (the caller's features and
// pointers): an `unsafe` block per call would only repeat it.
#![allow(unsafe_op_in_unsafe_fn)]

use std::arch::x86_64::*;

use super::L;

/// The first `n` lanes (all when `n >= 16`).
#[inline(always)]
pub(super) fn tail(n: usize) -> u16 {
    if n >= L {
        0xffff
    } else {
        (1u16 << n) - 1
    }
}

/// 16 f32 lanes. See the module documentation for the safety contract.
pub(super) trait Lanes: Copy {
    /// Whether a vector is one register (AVX-512), not two: blocks can hold more.
    const ONE_REGISTER: bool;
    unsafe fn zero() -> Self;
    unsafe fn splat(v: f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(p: *mut f32, v: Self);
    unsafe fn add(a: Self, b: Self) -> Self;
    /// `a * b + c`, fused.
    unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self;
    /// The lanes of `m` from `p`, zero elsewhere.
    unsafe fn load_masked(m: u16, p: *const f32) -> Self;
    /// Writes the lanes of `m` only.
    unsafe fn store_masked(p: *mut f32, m: u16, v: Self);
    /// Ordered comparisons (false where either lane is NaN).
    unsafe fn lt(a: Self, b: Self) -> u16;
    unsafe fn le(a: Self, b: Self) -> u16;
    unsafe fn gt(a: Self, b: Self) -> u16;
    unsafe fn eq(a: Self, b: Self) -> u16;
    unsafe fn is_nan(a: Self) -> u16;
    /// The lanes of `m` from `b`, the others from `a`.
    unsafe fn blend(m: u16, a: Self, b: Self) -> Self;
    /// The bytes of prefix mask `m` from `p`, as floats; zero elsewhere.
    unsafe fn load_bytes(m: u16, p: *const u8) -> Self;
    /// Lanes holding whole numbers 0..=255, as bytes, into the lanes of prefix mask `m`.
    unsafe fn store_bytes(p: *mut u8, m: u16, v: Self);
}

#[derive(Clone, Copy)]
pub(super) struct Avx512(__m512);

impl Lanes for Avx512 {
    const ONE_REGISTER: bool = true;
    #[inline(always)]
    unsafe fn zero() -> Self {
        Self(_mm512_setzero_ps())
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Self(_mm512_set1_ps(v))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Self(_mm512_loadu_ps(p))
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self) {
        _mm512_storeu_ps(p, v.0)
    }
    #[inline(always)]
    unsafe fn add(a: Self, b: Self) -> Self {
        Self(_mm512_add_ps(a.0, b.0))
    }
    #[inline(always)]
    unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
        Self(_mm512_fmadd_ps(a.0, b.0, c.0))
    }
    #[inline(always)]
    unsafe fn load_masked(m: u16, p: *const f32) -> Self {
        Self(_mm512_maskz_loadu_ps(m, p))
    }
    #[inline(always)]
    unsafe fn store_masked(p: *mut f32, m: u16, v: Self) {
        _mm512_mask_storeu_ps(p, m, v.0)
    }
    #[inline(always)]
    unsafe fn lt(a: Self, b: Self) -> u16 {
        _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a.0, b.0)
    }
    #[inline(always)]
    unsafe fn le(a: Self, b: Self) -> u16 {
        _mm512_cmp_ps_mask::<_CMP_LE_OQ>(a.0, b.0)
    }
    #[inline(always)]
    unsafe fn gt(a: Self, b: Self) -> u16 {
        _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a.0, b.0)
    }
    #[inline(always)]
    unsafe fn eq(a: Self, b: Self) -> u16 {
        _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a.0, b.0)
    }
    #[inline(always)]
    unsafe fn is_nan(a: Self) -> u16 {
        _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a.0, a.0)
    }
    #[inline(always)]
    unsafe fn blend(m: u16, a: Self, b: Self) -> Self {
        Self(_mm512_mask_blend_ps(m, a.0, b.0))
    }
    #[inline(always)]
    unsafe fn load_bytes(m: u16, p: *const u8) -> Self {
        let b = _mm_maskz_loadu_epi8(m, p.cast());
        Self(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)))
    }
    #[inline(always)]
    unsafe fn store_bytes(p: *mut u8, m: u16, v: Self) {
        _mm512_mask_cvtepi32_storeu_epi8(p.cast(), m, _mm512_cvttps_epi32(v.0))
    }
}

#[derive(Clone, Copy)]
pub(super) struct Avx2([__m256; 2]);

/// The two 8-lane halves of mask `m` as vector masks (all ones where set).
#[inline(always)]
unsafe fn halves(m: u16) -> [__m256i; 2] {
    let bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    let lo = _mm256_and_si256(_mm256_set1_epi32((m & 0xff) as i32), bits);
    let hi = _mm256_and_si256(_mm256_set1_epi32((m >> 8) as i32), bits);
    [_mm256_cmpeq_epi32(lo, bits), _mm256_cmpeq_epi32(hi, bits)]
}

/// The 16-bit mask of two 8-lane vector masks.
#[inline(always)]
unsafe fn bits(lo: __m256, hi: __m256) -> u16 {
    (_mm256_movemask_ps(lo) as u16) | ((_mm256_movemask_ps(hi) as u16) << 8)
}

impl Avx2 {
    #[inline(always)]
    unsafe fn cmp<const P: i32>(a: Self, b: Self) -> u16 {
        bits(
            _mm256_cmp_ps::<P>(a.0[0], b.0[0]),
            _mm256_cmp_ps::<P>(a.0[1], b.0[1]),
        )
    }
}

impl Lanes for Avx2 {
    const ONE_REGISTER: bool = false;
    #[inline(always)]
    unsafe fn zero() -> Self {
        Self([_mm256_setzero_ps(); 2])
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Self([_mm256_set1_ps(v); 2])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Self([_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))])
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self) {
        _mm256_storeu_ps(p, v.0[0]);
        _mm256_storeu_ps(p.add(8), v.0[1]);
    }
    #[inline(always)]
    unsafe fn add(a: Self, b: Self) -> Self {
        Self([_mm256_add_ps(a.0[0], b.0[0]), _mm256_add_ps(a.0[1], b.0[1])])
    }
    #[inline(always)]
    unsafe fn fmadd(a: Self, b: Self, c: Self) -> Self {
        Self([
            _mm256_fmadd_ps(a.0[0], b.0[0], c.0[0]),
            _mm256_fmadd_ps(a.0[1], b.0[1], c.0[1]),
        ])
    }
    #[inline(always)]
    unsafe fn load_masked(m: u16, p: *const f32) -> Self {
        match m {
            0xffff => Self::load(p),
            0 => Self::zero(),
            _ => {
                let [lo, hi] = halves(m);
                // Masked-off lanes are not read (and do not fault).
                Self([
                    _mm256_maskload_ps(p, lo),
                    _mm256_maskload_ps(p.wrapping_add(8), hi),
                ])
            }
        }
    }
    #[inline(always)]
    unsafe fn store_masked(p: *mut f32, m: u16, v: Self) {
        match m {
            0xffff => Self::store(p, v),
            0 => {}
            _ => {
                let [lo, hi] = halves(m);
                _mm256_maskstore_ps(p, lo, v.0[0]);
                _mm256_maskstore_ps(p.wrapping_add(8), hi, v.0[1]);
            }
        }
    }
    #[inline(always)]
    unsafe fn lt(a: Self, b: Self) -> u16 {
        Self::cmp::<_CMP_LT_OQ>(a, b)
    }
    #[inline(always)]
    unsafe fn le(a: Self, b: Self) -> u16 {
        Self::cmp::<_CMP_LE_OQ>(a, b)
    }
    #[inline(always)]
    unsafe fn gt(a: Self, b: Self) -> u16 {
        Self::cmp::<_CMP_GT_OQ>(a, b)
    }
    #[inline(always)]
    unsafe fn eq(a: Self, b: Self) -> u16 {
        Self::cmp::<_CMP_EQ_OQ>(a, b)
    }
    #[inline(always)]
    unsafe fn is_nan(a: Self) -> u16 {
        Self::cmp::<_CMP_UNORD_Q>(a, a)
    }
    #[inline(always)]
    unsafe fn blend(m: u16, a: Self, b: Self) -> Self {
        match m {
            0 => a,
            0xffff => b,
            _ => {
                let [lo, hi] = halves(m);
                Self([
                    _mm256_blendv_ps(a.0[0], b.0[0], _mm256_castsi256_ps(lo)),
                    _mm256_blendv_ps(a.0[1], b.0[1], _mm256_castsi256_ps(hi)),
                ])
            }
        }
    }
    #[inline(always)]
    unsafe fn load_bytes(m: u16, p: *const u8) -> Self {
        let b = if m == 0xffff {
            _mm_loadu_si128(p.cast())
        } else {
            let mut t = [0u8; L];
            let n = m.count_ones() as usize;
            std::ptr::copy_nonoverlapping(p, t.as_mut_ptr(), n);
            _mm_loadu_si128(t.as_ptr().cast())
        };
        Self([
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)),
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(b))),
        ])
    }
    #[inline(always)]
    unsafe fn store_bytes(p: *mut u8, m: u16, v: Self) {
        let (lo, hi) = (_mm256_cvttps_epi32(v.0[0]), _mm256_cvttps_epi32(v.0[1]));
        // 16 words as lo[0..4] hi[0..4] lo[4..8] hi[4..8], put back in order, then bytes.
        let w = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi32(lo, hi));
        let b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w));
        if m == 0xffff {
            _mm_storeu_si128(p.cast(), b);
        } else {
            let mut t = [0u8; L];
            _mm_storeu_si128(t.as_mut_ptr().cast(), b);
            std::ptr::copy_nonoverlapping(t.as_ptr(), p, m.count_ones() as usize);
        }
    }
}

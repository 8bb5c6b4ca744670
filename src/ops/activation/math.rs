//! Vectorisable f32 `exp`, `tanh` and sigmoid (branch-free polynomials after Cephes), so
//! that an activation loop compiles to SIMD instead of one libm call per element. They
//! agree with libm to about 2 ulp (tests/activation_reference.rs checks 1e-6 relative or
//! 4e-7 absolute).

// The coefficients are Cephes's, digit for digit.
#![allow(clippy::excessive_precision)]

use crate::ops::isa::madd;

/// `e^x` for `x` in [-87.3, 88]; inputs outside are clamped (results near 0 or 1.7e38),
/// NaN stays NaN.
#[inline(always)]
pub(crate) fn exp<const FMA: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that `n * LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to an integer, which its low mantissa bits then hold.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.336_55, 88.0);
    let t = madd::<f32, FMA>(MAGIC, x, LOG2E);
    let n = t - MAGIC;
    let r = madd::<f32, FMA>(x, n, -LN2_HI);
    let r = madd::<f32, FMA>(r, n, -LN2_LO);
    let mut p = 1.987_569_1e-4f32;
    p = madd::<f32, FMA>(1.398_199_9e-3, p, r);
    p = madd::<f32, FMA>(8.333_452e-3, p, r);
    p = madd::<f32, FMA>(4.166_579_6e-2, p, r);
    p = madd::<f32, FMA>(1.666_666_5e-1, p, r);
    p = madd::<f32, FMA>(5.000_000_1e-1, p, r);
    let e = madd::<f32, FMA>(r + 1.0, p, r * r);
    // 2^n from its exponent bits; n is in [-126, 127] after the clamp.
    let k = (t.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    e * f32::from_bits((k.wrapping_add(127) as u32) << 23)
}

/// `tanh(x)`: an odd polynomial near 0 (where `1 - 2 / (e^2x + 1)` would cancel).
#[inline(always)]
pub(crate) fn tanh<const FMA: bool>(x: f32) -> f32 {
    let z = x * x;
    let mut p = -5.704_988_7e-3f32;
    p = madd::<f32, FMA>(2.063_908_9e-2, p, z);
    p = madd::<f32, FMA>(-5.373_971_6e-2, p, z);
    p = madd::<f32, FMA>(1.333_144_2e-1, p, z);
    p = madd::<f32, FMA>(-3.333_328_2e-1, p, z);
    let small = madd::<f32, FMA>(x, p * z, x);
    let a = x.abs();
    let big = (1.0 - 2.0 / (exp::<FMA>(2.0 * a) + 1.0)).copysign(x);
    if a < 0.625 {
        small
    } else {
        big
    }
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub(crate) fn sigmoid<const FMA: bool>(x: f32) -> f32 {
    1.0 / (1.0 + exp::<FMA>(-x))
}

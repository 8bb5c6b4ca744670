//! The activation loops: forward `y = f(x)` and backward `gx += gy * f'(x)`, over chunks
//! in parallel. f32 runs the vectorisable functions of `math.rs`; other element types
//! their own `exp` and `tanh`.

use num_traits::Float;
use rayon::prelude::*;

use super::math;
use super::Activation;
use crate::element::{f32s, f32s_mut, Element};
use crate::ops::isa::{madd, Isa, CHUNK};

/// sqrt(2 / pi) and 0.044715 sqrt(2 / pi): GELU's tanh approximation (dfdx's `FastGeLU`,
/// PyTorch's `approximate="tanh"`) is `0.5 x (1 + tanh(x (A + B x^2)))`.
const GELU_A: f64 = 0.797_884_560_802_865_4;
const GELU_B: f64 = 0.044_715 * GELU_A;

/// `y = f(x)` (`y` as long as `x`).
pub fn forward<E: Element>(isa: Isa, act: Activation, x: &[E], y: &mut [E]) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| forward_chunk(isa, act, x, y));
}

/// `gx += gy * f'(x)`.
pub fn backward<E: Element>(isa: Isa, act: Activation, x: &[E], gy: &[E], gx: &mut [E]) {
    gx.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(gy.par_chunks(CHUNK)))
        .for_each(|(gx, (x, gy))| backward_chunk(isa, act, x, gy, gx));
}

fn forward_chunk<E: Element>(isa: Isa, act: Activation, x: &[E], y: &mut [E]) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 && Isa::Avx2.available() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { forward_avx2(act, x, y) };
    }
    let _ = isa;
    forward_impl::<E, false>(act, x, y)
}

fn backward_chunk<E: Element>(isa: Isa, act: Activation, x: &[E], gy: &[E], gx: &mut [E]) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2 && Isa::Avx2.available() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { backward_avx2(act, x, gy, gx) };
    }
    let _ = isa;
    backward_impl::<E, false>(act, x, gy, gx)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn forward_avx2<E: Element>(act: Activation, x: &[E], y: &mut [E]) {
    forward_impl::<E, true>(act, x, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn backward_avx2<E: Element>(act: Activation, x: &[E], gy: &[E], gx: &mut [E]) {
    backward_impl::<E, true>(act, x, gy, gx)
}

/// Applies `f` to each pair; one loop per activation, so each vectorises.
#[inline(always)]
fn map<E: Copy>(x: &[E], y: &mut [E], f: impl Fn(E) -> E) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = f(x);
    }
}

/// `gx += gy * d(x)`.
#[inline(always)]
fn map_grad<E: Float>(x: &[E], gy: &[E], gx: &mut [E], d: impl Fn(E) -> E) {
    for ((gx, &x), &gy) in gx.iter_mut().zip(x).zip(gy) {
        *gx = *gx + gy * d(x);
    }
}

#[inline(always)]
fn forward_impl<E: Element, const FMA: bool>(act: Activation, x: &[E], y: &mut [E]) {
    if E::IS_F32 {
        return forward_f32::<FMA>(act, f32s(x), f32s_mut(y));
    }
    match act {
        Activation::ReLU => relu(x, y),
        Activation::LeakyReLU(a) => leaky_relu(a, x, y),
        Activation::Sigmoid => map(x, y, |x| E::one() / (E::one() + (-x).exp())),
        Activation::Tanh => map(x, y, |x| x.tanh()),
        Activation::Gelu => {
            let (a, b, half) = (cst::<E>(GELU_A), cst::<E>(GELU_B), cst::<E>(0.5));
            map(x, y, |x| {
                half * x * (E::one() + (x * (a + b * x * x)).tanh())
            })
        }
    }
}

#[inline(always)]
fn forward_f32<const FMA: bool>(act: Activation, x: &[f32], y: &mut [f32]) {
    let (a, b) = (GELU_A as f32, GELU_B as f32);
    match act {
        Activation::Sigmoid => map(x, y, math::sigmoid::<FMA>),
        Activation::Tanh => map(x, y, math::tanh::<FMA>),
        // 0.5 (1 + tanh z) = sigmoid(2 z): no cancellation where tanh z is near -1.
        Activation::Gelu => map(x, y, |x| {
            x * math::sigmoid::<FMA>(2.0 * x * madd::<f32, FMA>(a, b, x * x))
        }),
        Activation::ReLU => relu(x, y),
        Activation::LeakyReLU(alpha) => leaky_relu(alpha, x, y),
    }
}

#[inline(always)]
fn relu<E: Element>(x: &[E], y: &mut [E]) {
    map(x, y, |x| if x > E::zero() { x } else { E::zero() })
}

#[inline(always)]
fn leaky_relu<E: Element>(alpha: f64, x: &[E], y: &mut [E]) {
    let a = cst::<E>(alpha);
    map(x, y, |x| if x < E::zero() { a * x } else { x })
}

#[inline(always)]
fn relu_grad<E: Element>(x: &[E], gy: &[E], gx: &mut [E]) {
    map_grad(
        x,
        gy,
        gx,
        |x| {
            if x > E::zero() {
                E::one()
            } else {
                E::zero()
            }
        },
    )
}

#[inline(always)]
fn leaky_relu_grad<E: Element>(alpha: f64, x: &[E], gy: &[E], gx: &mut [E]) {
    let a = cst::<E>(alpha);
    map_grad(x, gy, gx, |x| if x < E::zero() { a } else { E::one() })
}

#[inline(always)]
fn backward_impl<E: Element, const FMA: bool>(act: Activation, x: &[E], gy: &[E], gx: &mut [E]) {
    if E::IS_F32 {
        return backward_f32::<FMA>(act, f32s(x), f32s(gy), f32s_mut(gx));
    }
    match act {
        Activation::ReLU => relu_grad(x, gy, gx),
        Activation::LeakyReLU(a) => leaky_relu_grad(a, x, gy, gx),
        Activation::Sigmoid => map_grad(x, gy, gx, |x| {
            let s = E::one() / (E::one() + (-x).exp());
            s * (E::one() - s)
        }),
        Activation::Tanh => map_grad(x, gy, gx, |x| {
            let t = x.tanh();
            E::one() - t * t
        }),
        Activation::Gelu => {
            let (a, b, half) = (cst::<E>(GELU_A), cst::<E>(GELU_B), cst::<E>(0.5));
            let three = cst::<E>(3.0);
            map_grad(x, gy, gx, |x| {
                let t = (x * (a + b * x * x)).tanh();
                half * (E::one() + t) + half * x * (E::one() - t * t) * (a + three * b * x * x)
            })
        }
    }
}

#[inline(always)]
fn backward_f32<const FMA: bool>(act: Activation, x: &[f32], gy: &[f32], gx: &mut [f32]) {
    let (a, b) = (GELU_A as f32, GELU_B as f32);
    match act {
        // s (1 - s) = e s^2 with e = e^-x: no cancellation where s is near 1.
        Activation::Sigmoid => map_grad(x, gy, gx, |x| {
            let e = math::exp::<FMA>(-x);
            let s = 1.0 / (1.0 + e);
            e * s * s
        }),
        Activation::Tanh => map_grad(x, gy, gx, |x| {
            let t = math::tanh::<FMA>(x);
            1.0 - t * t
        }),
        // d/dx [x s(2z)] = s + 2 x s (1 - s) z', z = x (a + b x^2), z' = a + 3 b x^2.
        Activation::Gelu => map_grad(x, gy, gx, |x| {
            let x2 = x * x;
            let e = math::exp::<FMA>(-2.0 * x * madd::<f32, FMA>(a, b, x2));
            let s = 1.0 / (1.0 + e);
            let dz = madd::<f32, FMA>(a, 3.0 * b, x2);
            // (e s) <= 1 first: e alone reaches 1.7e38 where x is very negative.
            madd::<f32, FMA>(s, 2.0 * x * ((e * s) * s), dz)
        }),
        Activation::ReLU => relu_grad(x, gy, gx),
        Activation::LeakyReLU(alpha) => leaky_relu_grad(alpha, x, gy, gx),
    }
}

fn cst<E: Element>(v: f64) -> E {
    E::from_f64(v).unwrap_or_default()
}

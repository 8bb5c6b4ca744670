//! Dropout's mask from a counter-based hash of (seed, index): the backward pass recomputes
//! it instead of storing it, any chunk can be computed on any thread, and a seed gives the
//! same mask everywhere. The hash is two rounds of Wellons's `lowbias32` (32-bit lanes
//! vectorise on AVX2, 64-bit multiplies do not).

use rayon::prelude::*;

use crate::element::Element;
use crate::ops::isa::{multiversion, Isa, CHUNK};

/// A dropout's seed and rate, as the kernels use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mask {
    seed: u64,
    /// An element is dropped where its hash is below this: `rate * 2^32`.
    threshold: u32,
}

impl Mask {
    /// Drops each element with probability `rate` (in [0, 1)), to 2^-32.
    pub fn new(seed: u64, rate: f64) -> Mask {
        let t = (rate.clamp(0.0, 1.0) * 4_294_967_296.0).round();
        Mask {
            seed,
            threshold: t.min(u32::MAX as f64) as u32,
        }
    }

    /// Whether element `i` is kept.
    pub fn keeps(&self, i: usize) -> bool {
        let (lo, hi) = self.seeds(i);
        hash(i as u32, lo, hi) >= self.threshold
    }

    /// The two 32-bit seeds for the 2^32-element block holding `i` (the block folds in).
    #[inline(always)]
    fn seeds(&self, i: usize) -> (u32, u32) {
        let block = ((i as u64) >> 32) as u32;
        (
            self.seed as u32,
            ((self.seed >> 32) as u32) ^ block.wrapping_mul(0x9E37_79B9),
        )
    }
}

#[inline(always)]
fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

#[inline(always)]
fn hash(i: u32, lo: u32, hi: u32) -> u32 {
    lowbias32(lowbias32(i ^ lo) ^ hi)
}

#[inline(always)]
fn apply_impl<E: Element, const FMA: bool>(
    m: Mask,
    start: usize,
    scale: E,
    x: &[E],
    y: &mut [E],
    acc: bool,
) {
    let (lo, hi) = m.seeds(start);
    let base = start as u32;
    for (j, (y, &x)) in y.iter_mut().zip(x).enumerate() {
        let keep = hash(base.wrapping_add(j as u32), lo, hi) >= m.threshold;
        let v = if keep { x * scale } else { E::zero() };
        *y = if acc { *y + v } else { v };
    }
}

multiversion! {
    fn apply_chunk(m: Mask, start: usize, scale: E, x: &[E], y: &mut [E], acc: bool)
        = apply_impl;
}

/// `y = mask * x * scale` (forward) or, with `acc`, `y += mask * x * scale` (backward).
pub fn apply<E: Element>(isa: Isa, m: Mask, scale: E, x: &[E], y: &mut [E], acc: bool) {
    // CHUNK divides 2^32: no chunk straddles two blocks of `Mask::seeds`.
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(k, (y, x))| apply_chunk(isa, m, k * CHUNK, scale, x, y, acc));
}

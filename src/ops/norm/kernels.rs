//! Batch-normalisation loops on data read as `(outer, channels, inner)`: per-channel
//! sums with channels in parallel (each channel's order fixed, so results do not depend
//! on the thread count), and elementwise passes with samples in parallel. Sums run in 8
//! independent lanes of `E` per contiguous segment (vectorisable) and add up in f64.

use rayon::prelude::*;

use crate::element::Element;
use crate::ops::isa::{madd, multiversion, Isa};

/// An input's sizes: `outer` samples of `channels` segments of `inner` elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub outer: usize,
    pub channels: usize,
    pub inner: usize,
}

impl Layout {
    /// Elements per channel.
    pub fn per_channel(&self) -> usize {
        self.outer * self.inner
    }

    fn sample(&self) -> usize {
        self.channels * self.inner
    }

    fn len(&self) -> usize {
        self.outer * self.sample()
    }

    /// Channel `c`'s segment of sample `b`.
    fn seg<'a, E>(&self, x: &'a [E], b: usize, c: usize) -> &'a [E] {
        let at = b * self.sample() + c * self.inner;
        &x[at..at + self.inner]
    }
}

const LANES: usize = 8;

/// Folds `f(acc, a[i], b[i])` over two equal-length slices in [`LANES`] accumulators.
#[inline(always)]
fn lanes<E: Element>(a: &[E], b: &[E], f: impl Fn(E, E, E) -> E) -> E {
    let mut acc = [E::zero(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .fold(E::zero(), |s, (&x, &y)| f(s, x, y));
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] = f(acc[l], x[l], y[l]);
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

#[inline(always)]
fn channel_sum_impl<E: Element, const FMA: bool>(l: Layout, x: &[E], c: usize) -> f64 {
    (0..l.outer)
        .map(|b| {
            let s = l.seg(x, b, c);
            lanes(s, s, |a, x, _| a + x).to_f64().unwrap_or(f64::NAN)
        })
        .sum()
}

#[inline(always)]
fn channel_sq_dev_impl<E: Element, const FMA: bool>(l: Layout, x: &[E], c: usize, mean: E) -> f64 {
    (0..l.outer)
        .map(|b| {
            let s = l.seg(x, b, c);
            let v = lanes(s, s, |a, x, _| {
                let d = x - mean;
                madd::<E, FMA>(a, d, d)
            });
            v.to_f64().unwrap_or(f64::NAN)
        })
        .sum()
}

#[inline(always)]
fn channel_grad_sums_impl<E: Element, const FMA: bool>(
    l: Layout,
    x: &[E],
    gy: &[E],
    c: usize,
    mean: E,
) -> (f64, f64) {
    let (mut sg, mut sgx) = (0.0, 0.0);
    for b in 0..l.outer {
        let (xs, gs) = (l.seg(x, b, c), l.seg(gy, b, c));
        let g = lanes(gs, gs, |a, g, _| a + g);
        let gx = lanes(gs, xs, |a, g, x| madd::<E, FMA>(a, g, x - mean));
        sg += g.to_f64().unwrap_or(f64::NAN);
        sgx += gx.to_f64().unwrap_or(f64::NAN);
    }
    (sg, sgx)
}

#[inline(always)]
fn sample_affine_impl<E: Element, const FMA: bool>(
    inner: usize,
    x: &[E],
    a: &[E],
    b: &[E],
    y: &mut [E],
) {
    for (c, (ys, xs)) in y
        .chunks_exact_mut(inner)
        .zip(x.chunks_exact(inner))
        .enumerate()
    {
        let (a, b) = (a[c], b[c]);
        for (y, &x) in ys.iter_mut().zip(xs) {
            *y = madd::<E, FMA>(b, a, x);
        }
    }
}

#[inline(always)]
fn sample_input_grad_impl<E: Element, const FMA: bool>(
    inner: usize,
    x: &[E],
    gy: &[E],
    k: &[[E; 3]],
    gx: &mut [E],
) {
    let segs = gx
        .chunks_exact_mut(inner)
        .zip(x.chunks_exact(inner).zip(gy.chunks_exact(inner)));
    for (c, (gxs, (xs, gys))) in segs.enumerate() {
        let [k1, k2, k3] = k[c];
        for ((gx, &x), &g) in gxs.iter_mut().zip(xs).zip(gys) {
            *gx += madd::<E, FMA>(madd::<E, FMA>(k3, k2, x), k1, g);
        }
    }
}

multiversion! {
    fn channel_sum(l: Layout, x: &[E], c: usize) -> f64 = channel_sum_impl;
}
multiversion! {
    fn channel_sq_dev(l: Layout, x: &[E], c: usize, mean: E) -> f64 = channel_sq_dev_impl;
}
multiversion! {
    fn channel_grad_sums(l: Layout, x: &[E], gy: &[E], c: usize, mean: E) -> (f64, f64)
        = channel_grad_sums_impl;
}
multiversion! {
    fn sample_affine(inner: usize, x: &[E], a: &[E], b: &[E], y: &mut [E]) = sample_affine_impl;
}
multiversion! {
    fn sample_input_grad(inner: usize, x: &[E], gy: &[E], k: &[[E; 3]], gx: &mut [E])
        = sample_input_grad_impl;
}

/// Per-channel mean and biased variance (two passes: no cancellation), in f64.
pub fn batch_stats<E: Element>(isa: Isa, l: Layout, x: &[E]) -> Vec<(f64, f64)> {
    debug_assert_eq!(x.len(), l.len());
    let n = l.per_channel().max(1) as f64;
    (0..l.channels)
        .into_par_iter()
        .map(|c| {
            let mean = channel_sum(isa, l, x, c) / n;
            let m = E::from_f64(mean).unwrap_or_default();
            (mean, channel_sq_dev(isa, l, x, c, m) / n)
        })
        .collect()
}

/// `y = a[c] x + b[c]`.
pub fn affine<E: Element>(isa: Isa, l: Layout, x: &[E], a: &[E], b: &[E], y: &mut [E]) {
    let s = l.sample().max(1);
    y.par_chunks_mut(s)
        .zip(x.par_chunks(s))
        .for_each(|(y, x)| sample_affine(isa, l.inner.max(1), x, a, b, y));
}

/// Per channel, `sum gy` and `sum gy (x - mean[c])`.
pub fn grad_sums<E: Element>(
    isa: Isa,
    l: Layout,
    x: &[E],
    gy: &[E],
    mean: &[E],
) -> Vec<(f64, f64)> {
    (0..l.channels)
        .into_par_iter()
        .map(|c| channel_grad_sums(isa, l, x, gy, c, mean[c]))
        .collect()
}

/// `gx += k1[c] gy + k2[c] x + k3[c]`, with `k[c] = [k1, k2, k3]`.
pub fn input_grad<E: Element>(isa: Isa, l: Layout, x: &[E], gy: &[E], k: &[[E; 3]], gx: &mut [E]) {
    let s = l.sample().max(1);
    gx.par_chunks_mut(s)
        .zip(x.par_chunks(s).zip(gy.par_chunks(s)))
        .for_each(|(gx, (x, gy))| sample_input_grad(isa, l.inner.max(1), x, gy, k, gx));
}

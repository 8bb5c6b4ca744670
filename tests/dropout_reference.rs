//! typenet's dropout op: its mask is a hash of (seed, index), the same on every
//! instruction set and thread count and in the backward pass; it drops `rate` of the
//! elements and scales the rest by `1 / (1 - rate)` as dfdx's dropout does; a seeded
//! device gives the same masks every run.

use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::__private::ops::kernels::{dropout as kernels, Isa};
use typenet::__private::ops::{cpu, generic};

#[test]
fn kernels_apply_the_mask_on_every_isa() {
    let x: Vec<f32> = (0..50_000).map(|i| 1.0 + (i % 13) as f32).collect();
    let m = kernels::Mask::new(0xDEAD_BEEF_1234, 0.3);
    let scale = 1.0 / 0.7f32;
    for isa in Isa::all_available() {
        let mut y = vec![7f32; x.len()];
        kernels::apply(isa, m, scale, &x, &mut y, false);
        let mut acc = vec![1f32; x.len()];
        kernels::apply(isa, m, scale, &x, &mut acc, true);
        for i in 0..x.len() {
            let want = if m.keeps(i) { x[i] * scale } else { 0.0 };
            assert_eq!(y[i], want, "{isa:?} y[{i}]");
            assert_eq!(acc[i], 1.0 + want, "{isa:?} acc[{i}]");
        }
    }
}

#[test]
fn drops_the_rate_and_masks_differ_by_seed() {
    let n = 200_000;
    for rate in [0.0, 0.1, 0.5, 0.9] {
        let m = kernels::Mask::new(42, rate);
        let dropped = (0..n).filter(|&i| !m.keeps(i)).count() as f64 / n as f64;
        // 5 standard deviations of a binomial fraction.
        let sd = (rate * (1.0 - rate) / n as f64).sqrt();
        assert!(
            (dropped - rate).abs() <= 5.0 * sd + 1e-9,
            "rate {rate}: {dropped}"
        );
    }
    let (a, b) = (kernels::Mask::new(1, 0.5), kernels::Mask::new(2, 0.5));
    let same = (0..n).filter(|&i| a.keeps(i) == b.keeps(i)).count() as f64 / n as f64;
    assert!((same - 0.5).abs() < 0.01, "{same}");
    // Neighbours are independent: pairs of consecutive decisions are uniform.
    let both = (0..n).filter(|&i| a.keeps(i) && a.keeps(i + 1)).count() as f64 / n as f64;
    assert!((both - 0.25).abs() < 0.01, "{both}");
    // Masks beyond 2^32 elements do not repeat the first block's.
    let far = (0..10_000)
        .filter(|&i| a.keeps(i) == a.keeps(i + (1 << 32)))
        .count();
    assert!((4_000..6_000).contains(&far), "{far}");
}

/// The op through the tape: kept elements scaled by 1 / (1 - rate), others 0, and the
/// gradient masked the same way.
fn op_masks_forward_and_gradient(shape: (usize, usize), rate: f64, seed: u64) {
    let dev = Cpu::seed_from_u64(seed);
    let x: Tensor<(usize, usize), f64, _> = dev.sample_uniform_like(&shape) + 0.5;
    let r: Tensor<(usize, usize), f64, _> = dev.sample_normal_like(&shape);
    let y = cpu::dropout(x.leaky_trace(), rate).unwrap();
    let yv = y.retaped::<NoneTape>().as_vec();
    let g = (y * r.clone()).sum().backward().get(&x).as_vec();
    let (xv, rv) = (x.as_vec(), r.as_vec());
    let scale = 1.0 / (1.0 - rate);
    for i in 0..xv.len() {
        if yv[i] == 0.0 {
            assert_eq!(g[i], 0.0, "dropped element {i} gets no gradient");
        } else {
            assert!(
                (yv[i] - xv[i] * scale).abs() <= 1e-12 * yv[i].abs(),
                "y[{i}]"
            );
            assert!(
                (g[i] - rv[i] * scale).abs() <= 1e-12 * (1.0 + g[i].abs()),
                "g[{i}]"
            );
        }
    }
}

#[test]
fn a_seeded_device_gives_the_same_masks() {
    let run = |seed| {
        let dev = Cpu::seed_from_u64(seed);
        let x: Tensor<Rank2<64, 100>, f32, _> = dev.ones();
        let a = cpu::dropout(x.clone(), 0.5).unwrap().as_vec();
        let b = cpu::dropout(x, 0.5).unwrap().as_vec();
        (a, b)
    };
    let (a1, b1) = run(3);
    let (a2, b2) = run(3);
    assert_eq!(a1, a2);
    assert_eq!(b1, b2);
    assert_ne!(a1, b1, "each call draws a new seed");
    assert_ne!(a1, run(4).0);
}

#[test]
fn scaling_agrees_with_dfdx() {
    let dev = Cpu::seed_from_u64(8);
    let x: Tensor<Rank2<32, 50>, f32, _> = dev.sample_uniform::<Rank2<32, 50>>() + 0.5;
    let xv = x.as_vec();
    let ours = cpu::dropout(x.clone(), 0.25).unwrap().as_vec();
    let theirs = generic::dropout(x, 0.25).unwrap().as_vec();
    for (name, y) in [("ours", &ours), ("dfdx", &theirs)] {
        let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
        assert!((kept - 0.75).abs() < 0.05, "{name}: kept {kept}");
        for (v, x) in y.iter().zip(&xv) {
            assert!(
                *v == 0.0 || (v - x / 0.75).abs() <= 1e-6 * v.abs(),
                "{name}: {v} {x}"
            );
        }
    }
}

#[test]
fn rate_zero_keeps_everything() {
    let dev = Cpu::seed_from_u64(1);
    let x: Tensor<Rank1<1000>, f32, _> = dev.sample_normal();
    assert_eq!(cpu::dropout(x.clone(), 0.0).unwrap().as_vec(), x.as_vec());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_shapes_and_rates(
        b in 1usize..5, n in 1usize..30_000, rate in 0.0f64..0.95, seed in 0u64..1000,
    ) {
        op_masks_forward_and_gradient((b, n), rate, seed);
    }
}

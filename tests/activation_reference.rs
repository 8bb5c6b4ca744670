//! typenet's activation ops (ReLU, LeakyReLU, sigmoid, tanh, GELU) against naive f64
//! loops, forward and gradient: the kernels on every instruction set this CPU runs (the
//! portable one always), their vectorised f32 `exp`/`tanh` against libm to 1e-6 relative
//! or 4e-7 absolute, and the ops (through the tape) against dfdx's ops.

use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::__private::ops::kernels::{activation as kernels, Isa};
use typenet::__private::ops::{cpu, generic};
use typenet::Activation;

const ACTS: [Activation; 6] = [
    Activation::ReLU,
    Activation::LeakyReLU(0.01),
    Activation::LeakyReLU(-0.3),
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Gelu,
];

const GELU_A: f64 = 0.797_884_560_802_865_4;
const GELU_B: f64 = 0.044_715;

fn f(act: Activation, x: f64) -> f64 {
    match act {
        Activation::ReLU => x.max(0.0),
        Activation::LeakyReLU(a) => {
            if x < 0.0 {
                a * x
            } else {
                x
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Tanh => x.tanh(),
        Activation::Gelu => 0.5 * x * (1.0 + (GELU_A * (x + GELU_B * x * x * x)).tanh()),
    }
}

fn df(act: Activation, x: f64) -> f64 {
    match act {
        Activation::ReLU => (x > 0.0) as u8 as f64,
        Activation::LeakyReLU(a) => {
            if x < 0.0 {
                a
            } else {
                1.0
            }
        }
        Activation::Sigmoid => f(act, x) * (1.0 - f(act, x)),
        Activation::Tanh => 1.0 - x.tanh().powi(2),
        Activation::Gelu => {
            let t = (GELU_A * (x + GELU_B * x * x * x)).tanh();
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_A * (1.0 + 3.0 * GELU_B * x * x)
        }
    }
}

/// The accuracy the f32 kernels promise: 1e-6 relative or 4e-7 absolute (times the
/// incoming gradient's size for gradients).
fn check(what: &str, got: f64, want: f64, scale: f64) {
    let tol = 1e-6 * want.abs() + 4e-7 * scale.max(1.0);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (diff {:e})",
        (got - want).abs()
    );
}

/// Inputs over the ranges that matter: each kernel's branch points, saturation, zero.
fn grid() -> Vec<f32> {
    let mut v: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.005).collect();
    v.extend((-200..=200).map(|i| i as f32 * 0.5));
    v.extend([
        0.0,
        -0.0,
        0.625,
        -0.625,
        0.624_999_9,
        87.0,
        -87.0,
        88.5,
        -88.5,
        1e-30,
    ]);
    v
}

fn kernels_match_reference_f32(xs: &[f32], gy: &[f32]) {
    for isa in Isa::all_available() {
        for act in ACTS {
            let mut y = vec![0f32; xs.len()];
            kernels::forward(isa, act, xs, &mut y);
            let mut gx = vec![0.5f32; xs.len()];
            kernels::backward(isa, act, xs, gy, &mut gx);
            for i in 0..xs.len() {
                let (x, g) = (xs[i] as f64, gy[i] as f64);
                let what = format!("{act:?} {isa:?} f({x})");
                check(&what, y[i] as f64, f(act, x), 1.0);
                let what = format!("{act:?} {isa:?} f'({x})");
                check(&what, gx[i] as f64 - 0.5, g * df(act, x), g.abs());
            }
        }
    }
}

#[test]
fn f32_kernels_match_libm_on_a_grid() {
    let xs = grid();
    let gy: Vec<f32> = (0..xs.len()).map(|i| 1.0 - (i % 7) as f32 * 0.3).collect();
    kernels_match_reference_f32(&xs, &gy);
}

#[test]
fn f64_kernels_match_naive_loops() {
    let xs: Vec<f64> = grid().iter().map(|&x| x as f64 * 1.001).collect();
    let gy: Vec<f64> = (0..xs.len()).map(|i| 1.0 - (i % 5) as f64 * 0.4).collect();
    for isa in Isa::all_available() {
        for act in ACTS {
            let mut y = vec![0f64; xs.len()];
            kernels::forward(isa, act, &xs, &mut y);
            let mut gx = vec![0f64; xs.len()];
            kernels::backward(isa, act, &xs, &gy, &mut gx);
            for i in 0..xs.len() {
                let (x, g) = (xs[i], gy[i]);
                assert!(
                    (y[i] - f(act, x)).abs() <= 1e-12 * (1.0 + y[i].abs()),
                    "{act:?} f({x})"
                );
                let want = g * df(act, x);
                assert!(
                    (gx[i] - want).abs() <= 1e-12 * (1.0 + want.abs()),
                    "{act:?} f'({x})"
                );
            }
        }
    }
}

#[test]
fn nan_stays_nan() {
    for isa in Isa::all_available() {
        for act in [Activation::Sigmoid, Activation::Tanh, Activation::Gelu] {
            let mut y = [0f32; 9];
            kernels::forward(isa, act, &[f32::NAN; 9], &mut y);
            assert!(y.iter().all(|v| v.is_nan()), "{act:?} {isa:?}: {y:?}");
        }
    }
}

/// The op through the tape on `Cpu`, f64: forward and input gradient against naive loops.
fn op_matches_naive(act: Activation, shape: (usize, usize, usize), seed: u64) {
    let dev = Cpu::seed_from_u64(seed);
    let x: Tensor<(usize, usize, usize), f64, _> = dev.sample_normal_like(&shape) * 3.0;
    let r: Tensor<(usize, usize, usize), f64, _> = dev.sample_normal_like(&shape);
    let y = cpu::activation(x.leaky_trace(), act).unwrap();
    let (xv, rv) = (x.as_vec(), r.as_vec());
    let yv = y.retaped::<NoneTape>().as_vec();
    let g = (y * r).sum().backward();
    let gx = g.get(&x).as_vec();
    for i in 0..xv.len() {
        assert!((yv[i] - f(act, xv[i])).abs() <= 1e-12 * (1.0 + yv[i].abs()));
        let want = rv[i] * df(act, xv[i]);
        assert!(
            (gx[i] - want).abs() <= 1e-12 * (1.0 + want.abs()),
            "{act:?} grad"
        );
    }
}

/// The op against dfdx's own op (typenet's path before these kernels), f32.
fn op_matches_dfdx(act: Activation, shape: (usize, usize, usize), seed: u64) {
    let dev = Cpu::seed_from_u64(seed);
    let x: Tensor<(usize, usize, usize), f32, _> = dev.sample_normal_like(&shape) * 3.0;
    let r: Tensor<(usize, usize, usize), f32, _> = dev.sample_normal_like(&shape);
    let y1 = cpu::activation(x.leaky_trace(), act).unwrap();
    let y2 = generic::activation(x.leaky_trace(), act).unwrap();
    let (v1, v2) = (
        y1.retaped::<NoneTape>().as_vec(),
        y2.retaped::<NoneTape>().as_vec(),
    );
    let g1 = (y1 * r.clone()).sum().backward().get(&x).as_vec();
    let g2 = (y2 * r).sum().backward().get(&x).as_vec();
    for i in 0..v1.len() {
        let tol = |a: f32| 4e-6 * (1.0 + a.abs());
        assert!(
            (v1[i] - v2[i]).abs() <= tol(v2[i]),
            "{act:?} y: {} vs {}",
            v1[i],
            v2[i]
        );
        assert!(
            (g1[i] - g2[i]).abs() <= tol(g2[i]),
            "{act:?} grad: {} vs {}",
            g1[i],
            g2[i]
        );
    }
}

#[test]
fn large_tensors_split_across_threads() {
    // Several parallel chunks, one of them partial.
    for act in ACTS {
        op_matches_naive(act, (3, 17, 401), 5);
        op_matches_dfdx(act, (3, 17, 401), 6);
    }
}

#[test]
fn inference_has_no_tape_and_the_same_values() {
    let dev = Cpu::seed_from_u64(2);
    let x: Tensor<Rank2<4, 9>, f32, _> = dev.sample_normal();
    for act in ACTS {
        let a = cpu::activation(x.clone(), act).unwrap().as_vec();
        let b = cpu::activation(x.leaky_trace(), act).unwrap();
        assert_eq!(a, b.retaped::<NoneTape>().as_vec());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn ops_match_naive_loops_and_dfdx(
        a in 0usize..6, b in 1usize..4, c in 1usize..9, d in 1usize..40, seed in 0u64..1000,
    ) {
        op_matches_naive(ACTS[a], (b, c, d), seed);
        op_matches_dfdx(ACTS[a], (b, c, d), seed);
    }

    #[test]
    fn f32_kernels_match_libm_anywhere(
        xs in proptest::collection::vec(-90f32..90f32, 1..300),
        scale in 0.01f32..3.0,
    ) {
        let xs: Vec<f32> = xs.iter().map(|x| x * scale).collect();
        let gy: Vec<f32> = xs.iter().map(|x| (x * 0.37).sin()).collect();
        kernels_match_reference_f32(&xs, &gy);
    }
}

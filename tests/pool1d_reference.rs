//! The 1-d pools against naive loops: `MaxPool1D` and `AvgPool1D` (window, stride,
//! padding) and the global pools, forward and input gradient, on random batches, channels
//! and lengths, batched and unbatched; the `Cpu` op against the generic (CUDA) path; and
//! the layers inside `network!`, with a training step.

use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::__private::ops::{generic, Pool2DKind, PoolParams};
use typenet::layers::{AvgPool1D, GlobalAvgPool1D, GlobalMaxPool1D, LayerParams, MaxPool1D};
use typenet::prelude::*;

/// `y[b][c][j]` = max or mean of `x[b][c][j s + t - p]` over taps `t < k` (padding is
/// `-inf` for max, `0` for the mean, which always divides by `k`), and for the loss
/// `sum(y * g)` the gradient of `x` (max: to the first largest tap).
fn naive(
    max: bool,
    (b, c, l): (usize, usize, usize),
    (k, s, p): (usize, usize, usize),
    x: &[f64],
    g: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let lo = (l + 2 * p - k) / s + 1;
    let (mut y, mut gx) = (vec![0.0; b * c * lo], vec![0.0; x.len()]);
    for plane in 0..b * c {
        for j in 0..lo {
            let yi = plane * lo + j;
            let taps: Vec<usize> = (0..k)
                .filter_map(|t| (j * s + t).checked_sub(p).filter(|&r| r < l))
                .map(|r| plane * l + r)
                .collect();
            if max {
                let mut best = taps[0];
                for &i in &taps {
                    if x[i] > x[best] {
                        best = i;
                    }
                }
                y[yi] = x[best];
                gx[best] += g[yi];
            } else {
                y[yi] = taps.iter().map(|&i| x[i]).sum::<f64>() / k as f64;
                for &i in &taps {
                    gx[i] += g[yi] / k as f64;
                }
            }
        }
    }
    (y, gx)
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "at {i}: {x} vs {y}");
    }
}

type Seq = Tensor<(usize, usize, usize), f64, Cpu>;

/// Runs `layer` on a random `(b, c, l)` batch with a tape and compares the output and
/// the input gradient with [`naive`]; the first sample alone must give the same.
macro_rules! check {
    ($layer:expr, $max:expr, ($b:expr, $c:expr, $l:expr), $ksp:expr, $seed:expr) => {{
        let (layer, b, c, l) = ($layer, $b, $c, $l);
        let dev = Cpu::seed_from_u64($seed);
        let x: Seq = dev.sample_normal_like(&(b, c, l));
        let y = layer.forward(x.leaky_trace());
        let n = y.shape().num_elements();
        let g: Tensor<(usize,), f64, _> = dev.sample_normal_like(&(n,));
        let yv = y.as_vec();
        let grads = (y.reshape_like(&(n,)) * g.clone()).sum().backward();
        let (want, gx) = naive($max, (b, c, l), $ksp, &x.as_vec(), &g.as_vec());
        close(&yv, &want, 1e-12);
        close(&grads.get(&x).as_vec(), &gx, 1e-12);
        let x0: Tensor<(usize, usize), f64, _> =
            dev.tensor_from_vec(x.as_vec()[..c * l].to_vec(), (c, l));
        let y0 = layer.forward(x0);
        close(&y0.as_vec(), &want[..want.len() / b], 1e-12);
    }};
}

/// Output and input gradient of the generic pooling op (what `Cuda` runs).
fn generic_pool(kind: Pool2DKind, x: &Seq, p: PoolParams, g_seed: u64) -> (Vec<f64>, Vec<f64>) {
    let (b, c, l) = *x.shape();
    let x4 = x.clone().reshape_like(&(b, c, 1usize, l));
    let y = generic::pool2d(x4.leaky_trace(), kind, p).expect("generic");
    let n = y.shape().num_elements();
    let g: Tensor<(usize,), f64, _> = Cpu::seed_from_u64(g_seed).sample_normal_like(&(n,));
    let yv = y.as_vec();
    let grads = (y.reshape_like(&(n,)) * g).sum().backward();
    (yv, grads.get(&x4).as_vec())
}

/// The same through `Cpu`'s op, with the same gradient seed.
fn cpu_pool(kind: Pool2DKind, x: &Seq, p: PoolParams, g_seed: u64) -> (Vec<f64>, Vec<f64>) {
    let (b, c, l) = *x.shape();
    let x4 = x.clone().reshape_like(&(b, c, 1usize, l));
    let y = <Cpu as Backend<f64>>::pool2d(x4.leaky_trace(), kind, p).expect("cpu");
    let n = y.shape().num_elements();
    let g: Tensor<(usize,), f64, _> = Cpu::seed_from_u64(g_seed).sample_normal_like(&(n,));
    let yv = y.as_vec();
    let grads = (y.reshape_like(&(n,)) * g).sum().backward();
    (yv, grads.get(&x4).as_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn pools_match_naive_loops(b in 1usize..4, c in 1usize..5, extra in 0usize..20, seed in 0u64..1000) {
        let l = 5 + extra;
        check!(MaxPool1D::<2, 2, 0>, true, (b, c, l), (2, 2, 0), seed);
        check!(MaxPool1D::<3, 1, 1>, true, (b, c, l), (3, 1, 1), seed);
        check!(MaxPool1D::<5, 2, 2>, true, (b, c, l), (5, 2, 2), seed);
        check!(AvgPool1D::<2, 2, 0>, false, (b, c, l), (2, 2, 0), seed);
        check!(AvgPool1D::<3, 2, 1>, false, (b, c, l), (3, 2, 1), seed);
        check!(AvgPool1D::<4, 3, 0>, false, (b, c, l), (4, 3, 0), seed);
        check!(GlobalMaxPool1D, true, (b, c, l), (l, l, 0), seed);
        check!(GlobalAvgPool1D, false, (b, c, l), (l, l, 0), seed);
    }

    #[test]
    fn cpu_op_agrees_with_generic_path(
        b in 1usize..4, c in 1usize..5, l in 1usize..40, k in 1usize..6, s in 1usize..4,
        pad in 0usize..3, global in any::<bool>(), seed in 0u64..1000,
    ) {
        let (k, p) = if global { (l, 0) } else { (k, pad.min(k / 2)) };
        prop_assume!(k <= l + 2 * p);
        let pp = PoolParams::per_axis([1, k], [1, s], [0, p]);
        let x: Seq = Cpu::seed_from_u64(seed).sample_normal_like(&(b, c, l));
        for kind in [Pool2DKind::Max, Pool2DKind::Avg] {
            let (yc, gc) = cpu_pool(kind, &x, pp, seed + 1);
            let (yg, gg) = generic_pool(kind, &x, pp, seed + 1);
            close(&yc, &yg, 1e-12);
            close(&gc, &gg, 1e-12);
        }
    }
}

#[test]
fn global_max_pool_lets_nan_win_and_handles_long_sequences() {
    let dev = Cpu::default();
    let mut v: Vec<f32> = (0..3 * 1000).map(|i| (i % 997) as f32).collect();
    v[1500] = f32::NAN;
    let x: Tensor<Rank3<1, 3, 1000>, f32, _> = dev.tensor(v.clone());
    let y = GlobalMaxPool1D.forward(x);
    let y = y.as_vec();
    assert_eq!(y[0], 996.0);
    assert!(y[1].is_nan());
    assert_eq!(y[2], 996.0);
    let x: Tensor<Rank2<3, 1000>, f32, _> = dev.tensor(v);
    let a = GlobalAvgPool1D.forward(x);
    let want: f32 = (2000..3000).map(|i| (i % 997) as f32).sum::<f32>() / 1000.0;
    assert!((a.as_vec()[2] - want).abs() < 1e-3);
}

network! {
    /// Every 1-d pool in one network over 3-channel sequences of 40.
    pub struct PoolNet: (3, 40) -> (4) {
        Conv1D(8, 3, padding = same, activation = relu), // 3*3*8+8 = 80 -> (8, 40)
        MaxPool1D(2),                                    // (8, 20)
        AvgPool1D(3, stride = 1, padding = 1),           // (8, 20)
        MaxPool1D(3, stride = 2, padding = 1),           // (8, 10)
        AvgPool1D(2),                                    // (8, 5)
        GlobalMaxPool1D,                                 // (8)
        Dense(4),                                        // 36
    }
}

network! {
    pub struct AvgHead: (4, 9) -> (4) {
        GlobalAvgPool1D,
    }
}

#[test]
fn pools_in_a_network() {
    assert_eq!(PoolNet::PARAMS, 80 + 36);
    assert_eq!(<MaxPool1D<2, 2, 0> as LayerParams>::PARAMS, 0);
    let rows: Vec<(String, Vec<usize>, usize)> = PoolNet::summary()
        .rows
        .iter()
        .map(|r| (r.layer.clone(), r.output_shape.clone(), r.params))
        .collect();
    assert_eq!(rows[1], ("max_pool1d_1 (MaxPool1D)".into(), vec![8, 20], 0));
    assert_eq!(rows[2], ("avg_pool1d_2 (AvgPool1D)".into(), vec![8, 20], 0));
    assert_eq!(rows[3], ("max_pool1d_3 (MaxPool1D)".into(), vec![8, 10], 0));
    assert_eq!(rows[4], ("avg_pool1d_4 (AvgPool1D)".into(), vec![8, 5], 0));
    assert_eq!(
        rows[5],
        ("global_max_pool1d_5 (GlobalMaxPool1D)".into(), vec![8], 0)
    );
    let dev = Cpu::default();
    let mut m = dev.build_module::<PoolNet, f32>();
    let x: Tensor<Rank3<2, 3, 40>, f32, _> = dev.sample_normal();
    let y: Tensor<Rank2<2, 4>, f32, _> = m.forward(x.clone());
    // The same through the layers one by one.
    let h = m.conv1d_0.forward(x.clone()).relu();
    let h = MaxPool1D::<2, 2, 0>.forward(h);
    let h = AvgPool1D::<3, 1, 1>.forward(h);
    let h = MaxPool1D::<3, 2, 1>.forward(h);
    let h = AvgPool1D::<2, 2, 0>.forward(h);
    let h = GlobalMaxPool1D.forward(h);
    let want = m.dense_6.forward(h);
    for (a, b) in y.as_vec().iter().zip(want.as_vec()) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    // One training step changes the convolution below the pools.
    let mut grads = m.alloc_grads();
    let loss = m.forward_mut(x.trace(grads)).square().mean();
    grads = loss.backward();
    let mut opt = dfdx::optim::Sgd::new(&m, Default::default());
    let before = m.conv1d_0.weight.as_vec();
    opt.update(&mut m, &grads).expect("update");
    assert_ne!(before, m.conv1d_0.weight.as_vec());
    let a = dev.build_module::<AvgHead, f32>();
    let x: Tensor<Rank2<4, 9>, f32, _> = dev.sample_normal();
    let xs = x.as_vec();
    let y = a.forward(x).as_vec();
    for c in 0..4 {
        let mean = xs[c * 9..(c + 1) * 9].iter().sum::<f32>() / 9.0;
        assert!((y[c] - mean).abs() < 1e-5);
    }
}

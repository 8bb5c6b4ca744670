//! `Backend::conv2d_dense` (Conv2D + ReLU + MaxPool2D flattened into a Dense, one op on
//! `Cpu`) against the two ops of the generic dfdx-op path run one after the other (the
//! path CUDA runs, itself checked against naive loops in `ops_reference` and
//! `dense_reference`): output and every gradient, on random geometries, in f32.

use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::__private::ops::{generic, out_size, Conv2DParams, DenseParams, Pool2DParams};
use typenet::Backend;

#[derive(Debug, Clone)]
struct Case {
    batch: usize,
    c_in: usize,
    size: (usize, usize),
    c_out: usize,
    k: usize,
    pad: usize,
    conv_bias: bool,
    conv_relu: bool,
    input_grad: bool,
    units: usize,
    dense_bias: bool,
    dense_relu: bool,
    seed: u64,
}

type T4 = Tensor<(usize, usize, usize, usize), f32, Cpu, OwnedTape<f32, Cpu>>;
type T2 = Tensor<(usize, usize), f32, Cpu, OwnedTape<f32, Cpu>>;

/// (y, gx, conv gw, conv gb, dense gw, dense gb); gx empty when not computed.
fn run(c: &Case, fused: bool) -> [Vec<f32>; 6] {
    let dev = Cpu::seed_from_u64(c.seed);
    let (h, w) = c.size;
    let ho = out_size(h, c.k, 1, c.pad, 1).unwrap() / 2;
    let wo = out_size(w, c.k, 1, c.pad, 1).unwrap() / 2;
    let inputs = c.c_out * ho * wo;
    let x: Tensor<(usize, usize, usize, usize), f32, Cpu> =
        dev.sample_normal_like(&(c.batch, c.c_in, h, w));
    let cw: Tensor<(usize, usize, usize, usize), f32, Cpu> =
        dev.sample_normal_like(&(c.c_out, c.c_in, c.k, c.k));
    let cb: Tensor<(usize,), f32, Cpu> = dev.sample_normal_like(&(c.c_out,));
    let dw: Tensor<(usize, usize), f32, Cpu> = dev.sample_normal_like(&(c.units, inputs));
    let db: Tensor<(usize,), f32, Cpu> = dev.sample_normal_like(&(c.units,));
    let r: Tensor<(usize, usize), f32, Cpu> = dev.sample_normal_like(&(c.batch, c.units));
    let p = Conv2DParams::new(1, c.pad, 1)
        .relu(c.conv_relu)
        .max_pool(Some(Pool2DParams {
            window: 2,
            stride: 2,
            padding: 0,
        }))
        .input_grad(c.input_grad);
    let dp = DenseParams::new().relu(c.dense_relu);
    let conv_b = c.conv_bias.then(|| cb.retaped::<OwnedTape<f32, Cpu>>());
    let dense_b = c.dense_bias.then_some(&db);
    let y: T2 = if fused {
        Cpu::conv2d_dense(x.leaky_trace(), cw.retaped(), conv_b, p, &dw, dense_b, dp)
    } else {
        let hid: T4 = generic::conv2d(x.leaky_trace(), cw.retaped(), conv_b, p).unwrap();
        typenet::__private::ops::dense::generic(hid, c.batch, &dw, dense_b, dp)
    }
    .expect("runs");
    let yv = y.retaped::<NoneTape>().as_vec();
    let g = (y * r).sum().backward();
    let opt = |on: bool, v: &dyn Fn() -> Vec<f32>| if on { v() } else { vec![] };
    [
        yv,
        opt(c.input_grad || !fused, &|| g.get(&x).as_vec()),
        g.get(&cw).as_vec(),
        opt(c.conv_bias, &|| g.get(&cb).as_vec()),
        g.get(&dw).as_vec(),
        opt(c.dense_bias, &|| g.get(&db).as_vec()),
    ]
}

fn check(c: &Case) {
    let got = run(c, true);
    let want = run(c, false);
    let names = ["y", "gx", "conv gw", "conv gb", "dense gw", "dense gb"];
    for (i, ((name, g), w)) in names.iter().zip(&got).zip(&want).enumerate() {
        if i == 1 && !c.input_grad {
            assert!(g.is_empty());
            continue;
        }
        assert_eq!(g.len(), w.len(), "{name} length in {c:?}");
        let scale = w.iter().fold(1f32, |m, v| m.max(v.abs()));
        for (j, (a, b)) in g.iter().zip(w).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * scale,
                "{name}[{j}]: fused {a}, separate {b} in {c:?}"
            );
        }
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1usize..5, 1usize..4, 4usize..12, 4usize..12, 1usize..9),
        (1usize..4, 0usize..2),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        (1usize..40, any::<bool>(), any::<bool>()),
        any::<u64>(),
    )
        .prop_map(
            |((batch, c_in, h, w, c_out), (k, pad), (cb, cr, ig), (units, db, dr), seed)| Case {
                batch,
                c_in,
                size: (h, w),
                c_out,
                k,
                pad,
                conv_bias: cb,
                conv_relu: cr,
                input_grad: ig,
                units,
                dense_bias: db,
                dense_relu: dr,
                seed,
            },
        )
        // Padding wider than the kernel makes border outputs equal the bias exactly: pooling
        // ties, whose gradient the generic path splits and the fast one does not.
        .prop_filter("no ties, and a non-empty pooled output", |c| {
            if c.pad >= c.k {
                return false;
            }
            let ho = out_size(c.size.0, c.k, 1, c.pad, 1).unwrap_or(0);
            let wo = out_size(c.size.1, c.k, 1, c.pad, 1).unwrap_or(0);
            ho >= 2 && wo >= 2
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn fused_chain_matches_separate_ops(c in case()) {
        check(&c);
    }
}

/// The MNIST model's first block and hidden layer, on a few images.
#[test]
fn mnist_block_matches_separate_ops() {
    for input_grad in [false, true] {
        check(&Case {
            batch: 3,
            c_in: 1,
            size: (28, 28),
            c_out: 32,
            k: 3,
            pad: 0,
            conv_bias: true,
            conv_relu: true,
            input_grad,
            units: 128,
            dense_bias: true,
            dense_relu: true,
            seed: 11,
        });
    }
}

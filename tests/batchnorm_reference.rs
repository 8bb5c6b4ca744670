//! `network!`'s batch norm (typenet's own forwards, usable with any tape) against dfdx's
//! `BatchNorm2D`/`BatchNorm1D` in training mode (forward, gradients, running statistics)
//! and against naive loops in inference mode.

use dfdx::nn::modules::{BatchNorm1D, BatchNorm2D, ModuleMut};
use dfdx::prelude::*;
use typenet::__private::{batch_norm1d, batch_norm1d_train, batch_norm2d, batch_norm2d_train};

fn close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: length");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-9 * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

fn randomised(dev: &Cpu) -> BatchNorm2D<3, f64, Cpu> {
    let mut bn = BatchNorm2D::<3, f64, Cpu>::build(dev);
    bn.scale = dev.sample_normal();
    bn.bias = dev.sample_normal();
    bn.running_mean = dev.sample_normal();
    bn.running_var = dev.sample_uniform::<Rank1<3>>() + 0.5;
    bn
}

#[test]
fn batch_norm2d_training_matches_dfdx() {
    let dev = Cpu::seed_from_u64(11);
    let x: Tensor<Rank4<4, 3, 5, 6>, f64, _> = dev.sample_normal();
    let r: Tensor<Rank4<4, 3, 5, 6>, f64, _> = dev.sample_normal();
    let mut ours = randomised(&dev);
    let mut theirs = ours.clone();

    let y1 = batch_norm2d_train(&mut ours, x.leaky_trace()).unwrap();
    let y2 = theirs.forward_mut(x.leaky_trace());
    close(
        "y",
        &y1.retaped::<NoneTape>().as_vec(),
        &y2.retaped::<NoneTape>().as_vec(),
    );
    close(
        "running_mean",
        &ours.running_mean.as_vec(),
        &theirs.running_mean.as_vec(),
    );
    close(
        "running_var",
        &ours.running_var.as_vec(),
        &theirs.running_var.as_vec(),
    );

    let g1 = (y1 * r.clone()).sum().backward();
    let g2 = (y2 * r).sum().backward();
    close("grad x", &g1.get(&x).as_vec(), &g2.get(&x).as_vec());
    close(
        "grad scale",
        &g1.get(&ours.scale).as_vec(),
        &g2.get(&theirs.scale).as_vec(),
    );
    close(
        "grad bias",
        &g1.get(&ours.bias).as_vec(),
        &g2.get(&theirs.bias).as_vec(),
    );
}

#[test]
fn batch_norm2d_inference_matches_naive_loops() {
    let dev = Cpu::seed_from_u64(12);
    let bn = randomised(&dev);
    let x: Tensor<Rank4<2, 3, 4, 5>, f64, _> = dev.sample_normal();
    let y = batch_norm2d(&bn, x.clone()).unwrap().as_vec();
    let (xv, m, v, s, b) = (
        x.as_vec(),
        bn.running_mean.as_vec(),
        bn.running_var.as_vec(),
        bn.scale.as_vec(),
        bn.bias.as_vec(),
    );
    let mut want = vec![0.0; xv.len()];
    for (i, w) in want.iter_mut().enumerate() {
        let c = (i / 20) % 3;
        *w = (xv[i] - m[c]) / (v[c] + bn.epsilon).sqrt() * s[c] + b[c];
    }
    close("y", &y, &want);
}

#[test]
fn batch_norm1d_matches_dfdx_and_naive_loops() {
    let dev = Cpu::seed_from_u64(13);
    let mut ours = BatchNorm1D::<4, f64, Cpu>::build(&dev);
    ours.scale = dev.sample_normal();
    ours.bias = dev.sample_normal();
    let mut theirs = ours.clone();
    let x: Tensor<Rank2<6, 4>, f64, _> = dev.sample_normal();
    let y1 = batch_norm1d_train(&mut ours, x.leaky_trace()).unwrap();
    let y2 = theirs.forward_mut(x.leaky_trace());
    close(
        "y",
        &y1.retaped::<NoneTape>().as_vec(),
        &y2.retaped::<NoneTape>().as_vec(),
    );
    close(
        "running_var",
        &ours.running_var.as_vec(),
        &theirs.running_var.as_vec(),
    );
    let g1 = y1.square().sum().backward();
    let g2 = y2.square().sum().backward();
    close("grad x", &g1.get(&x).as_vec(), &g2.get(&x).as_vec());
    close(
        "grad scale",
        &g1.get(&ours.scale).as_vec(),
        &g2.get(&theirs.scale).as_vec(),
    );

    let y = batch_norm1d(&ours, x.clone()).unwrap().as_vec();
    let (xv, m, v, s, b) = (
        x.as_vec(),
        ours.running_mean.as_vec(),
        ours.running_var.as_vec(),
        ours.scale.as_vec(),
        ours.bias.as_vec(),
    );
    let want: Vec<f64> = (0..xv.len())
        .map(|i| {
            let c = i % 4;
            (xv[i] - m[c]) / (v[c] + ours.epsilon).sqrt() * s[c] + b[c]
        })
        .collect();
    close("inference y", &y, &want);
}

typenet::network! {
    /// Inference folds the batch norm into the conv (and runs the ReLU and pooling in the
    /// same op).
    struct ConvBnPool: (3, 9, 9) -> (4, 4, 4) {
        Conv2D(4, 3, padding = same),
        BatchNorm2D,
        ReLU,
        MaxPool2D(2),
    }
}

typenet::network! {
    /// A folded batch norm with nothing after it, on a conv without bias.
    struct ConvBn: (3, 9, 9) -> (4, 5, 5) {
        Conv2D(4, 3, stride = 2, padding = 1, bias = false),
        BatchNorm2D,
    }
}

/// Random scale, shift and running statistics for a `BatchNorm2D<4>`.
macro_rules! randomise_bn {
    ($bn:expr, $dev:expr) => {{
        $bn.scale = $dev.sample_normal();
        $bn.bias = $dev.sample_normal();
        $bn.running_mean = $dev.sample_normal();
        $bn.running_var = $dev.sample_uniform::<Rank1<4>>() + 0.5;
    }};
}

/// `MaxPool2D(2)` on `(B, C, H, W)` by loops (floor: the last odd row/column dropped).
fn max_pool2(v: &[f64], (b, c, h, w): (usize, usize, usize, usize)) -> Vec<f64> {
    let (ho, wo) = (h / 2, w / 2);
    let mut out = vec![f64::NEG_INFINITY; b * c * ho * wo];
    for p in 0..b * c {
        for i in 0..ho {
            for j in 0..wo {
                for (di, dj) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let x = v[(p * h + 2 * i + di) * w + 2 * j + dj];
                    let o = &mut out[(p * ho + i) * wo + j];
                    *o = o.max(x);
                }
            }
        }
    }
    out
}

#[test]
fn inference_folds_batch_norm_into_the_conv_exactly() {
    use dfdx::nn::Module;
    let dev = Cpu::seed_from_u64(5);
    let mut m = dev.build_module::<ConvBnPool, f64>();
    randomise_bn!(m.batch_norm2d_1, dev);
    let x: Tensor<Rank4<2, 3, 9, 9>, f64, _> = dev.sample_normal();

    // The unfused layers: conv, batch norm with running statistics, ReLU, pooling.
    let conv = m.conv2d_0.try_forward(x.clone()).unwrap();
    let y_ref = batch_norm2d(&m.batch_norm2d_1, conv).unwrap().relu();
    let pooled = max_pool2(&y_ref.as_vec(), (2, 4, 9, 9));
    let y = m.forward(x.clone());
    close("y", &y.as_vec(), &pooled);

    // Gradients through the folded weights: against the unfused layers (no pooling, so
    // that the comparison needs no argmax).
    let mut m2 = dev.build_module::<ConvBn, f64>();
    randomise_bn!(m2.batch_norm2d_1, dev);
    let r: Tensor<Rank4<2, 4, 5, 5>, f64, _> = dev.sample_normal();
    let folded = m2.forward(x.leaky_trace());
    let folded_y = folded.retaped::<NoneTape>().as_vec();
    let g1 = (folded * r.clone()).sum().backward();
    let conv = m2.conv2d_0.try_forward(x.leaky_trace()).unwrap();
    let unfused = batch_norm2d(&m2.batch_norm2d_1, conv).unwrap();
    close(
        "y (no pooling)",
        &folded_y,
        &unfused.retaped::<NoneTape>().as_vec(),
    );
    let unfused = unfused.realize::<Rank4<2, 4, 5, 5>>();
    let g2 = (unfused * r).sum().backward();
    close("dx", &g1.get(&x).as_vec(), &g2.get(&x).as_vec());
    let (w, bn) = (&m2.conv2d_0.weight, &m2.batch_norm2d_1);
    close("dw", &g1.get(w).as_vec(), &g2.get(w).as_vec());
    close(
        "dgamma",
        &g1.get(&bn.scale).as_vec(),
        &g2.get(&bn.scale).as_vec(),
    );
    close(
        "dbeta",
        &g1.get(&bn.bias).as_vec(),
        &g2.get(&bn.bias).as_vec(),
    );
}

#[test]
fn folded_f32_inference_matches_the_unfused_layers() {
    use dfdx::nn::Module;
    let dev = Cpu::seed_from_u64(6);
    let mut m = dev.build_module::<ConvBnPool, f32>();
    randomise_bn!(m.batch_norm2d_1, dev);
    let x: Tensor<Rank4<3, 3, 9, 9>, f32, _> = dev.sample_normal();
    let y = m.forward(x.clone());
    let unfused = batch_norm2d(&m.batch_norm2d_1, m.conv2d_0.try_forward(x).unwrap())
        .unwrap()
        .relu();
    let v: Vec<f64> = unfused.as_vec().iter().map(|&v| v as f64).collect();
    let want = max_pool2(&v, (3, 4, 9, 9));
    for (i, (&a, &b)) in y.as_vec().iter().zip(&want).enumerate() {
        assert!(
            (a as f64 - b).abs() <= 1e-5 * (1.0 + b.abs()),
            "y[{i}]: {a} vs {b}"
        );
    }
}

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

//! What the interop tests share (`tests/interop.rs` and `onnx-check/tests/onnx.rs`): the
//! networks both use, and helpers.
#![allow(dead_code)]

use std::path::PathBuf;

use dfdx::prelude::*;
use typenet::models::{MnistCnn, MnistCnnModule};
use typenet::prelude::*;
use typenet::{network, Batch};

network! {
    /// Every parameterised kind: conv, batch norm, residual, dense, layer norm.
    pub struct Mixed: (2, 8, 8) -> (3) {
        Conv2D(4, 3, padding = same),
        BatchNorm2D,
        ReLU,
        Residual { Conv2D(4, 3, padding = 1, bias = false), ReLU },
        MaxPool2D(2),
        Flatten,
        Dense(6),
        BatchNorm1D,
        LayerNorm,
        Dense(3, bias = false),
    }
}

network! {
    pub struct Inner: (6) -> (6) {
        Dense(6, activation = tanh),
    }
}

network! {
    /// A nested network: its layers get a nested prefix.
    pub struct Outer: (4) -> (2) {
        Dense(6),
        Inner,
        Dense(2),
        Softmax,
    }
}

pub fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("typenet-interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Training steps so that batch norm's running statistics are not their defaults.
pub fn warm<N: NetworkSpec>(m: &mut N::Module<f32, Cpu>, dev: &Cpu) {
    for _ in 0..3 {
        let x: Batch<N::Input, usize, f32, Cpu> =
            dev.sample_normal_like(&<N::Input as SampleShape>::batched(5usize));
        m.try_forward_batch_mut(x).unwrap();
    }
}

/// `a` and `b` agree to `tol`, relative to `1 + |a|`.
pub fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs()),
            "{what}: element {i}: typenet {x}, other {y}"
        );
    }
}

/// The repository root (this file is included from two crates).
pub fn repo() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if d.join("tests/fixtures").is_dir() {
        d
    } else {
        d.join("..")
    }
}

/// The PyTorch-trained fixture (scripts/train_torch_mnist.py), without its extension.
pub fn fixture_path() -> PathBuf {
    repo().join("tests/fixtures/mnist_cnn_torch")
}

/// The fixture's test images (`(n, 1, 28, 28)` as a flat vector) and PyTorch's logits.
pub fn fixture() -> (Vec<f32>, Vec<Vec<f32>>) {
    let json = fixture_path().with_extension("json");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let logits = meta["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect::<Vec<Vec<f32>>>();
    let mnist = load_mnist(repo().join("data/mnist")).unwrap();
    let n = logits.len();
    let images = mnist.test.features()[..n * 784].to_vec();
    (images, logits)
}

/// The MNIST CNN with the fixture's weights.
pub fn fixture_model(dev: &Cpu) -> MnistCnnModule<f32, Cpu> {
    let mut m = dev.build_module::<MnistCnn, f32>();
    typenet::interop::load_pytorch(&mut m, fixture_path().with_extension("safetensors")).unwrap();
    m
}

//! Trains the MNIST CNN of SPEC §1 briefly on a slice of the vendored MNIST and checks
//! that it learns: two epochs on 12,000 training images (1,500 steps of 16; about 20 s in
//! the debug profile on 2 cores), then >= 90% on 1,000 test images.
//!
//! (With PyTorch-style initialisation the net needs a few hundred steps to pass 90%: one
//! epoch of 6,000 images in batches of 32 gives 0.87-0.90 depending on the seed; this
//! setting gives 0.93-0.955 over seeds 0-3, a safe margin.)

use std::path::Path;

use dfdx::optim::Adam;
use dfdx::prelude::*;
use typenet::data::load_mnist;
use typenet::models::MnistCnn;
use typenet::train::{evaluate, fit, FitConfig};

#[test]
fn mnist_cnn_learns_from_a_slice_of_mnist() {
    let mnist = load_mnist(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist"))
        .expect("vendored MNIST");
    let train = mnist.train.take(12_000);
    let test = mnist.test.take(1_000);

    let dev = Cpu::seed_from_u64(0);
    let mut model = dev.build_module::<MnistCnn, f32>();
    let mut opt = Adam::new(
        &model,
        AdamConfig {
            lr: 1e-3,
            ..Default::default()
        },
    );
    let before = evaluate(&model, &test, 250).expect("evaluate");

    let config = FitConfig {
        epochs: 2,
        batch_size: 16,
        seed: 0,
        ..Default::default()
    };
    let history = fit(&mut model, &mut opt, &train, None, &config).expect("fit");
    let after = evaluate(&model, &test, 250).expect("evaluate");
    println!("before: {before:?}\nafter:  {after:?}");

    assert_eq!(history.len(), 2);
    for epoch in &history.epochs {
        assert_eq!((epoch.steps, epoch.samples), (750, 12_000));
    }
    assert!(
        history.loss()[1] < history.loss()[0],
        "{:?}",
        history.loss()
    );
    assert!(
        after.loss < before.loss,
        "loss {} -> {}",
        before.loss,
        after.loss
    );
    assert!(
        after.accuracy >= 0.90,
        "test accuracy {} after one epoch",
        after.accuracy
    );
}

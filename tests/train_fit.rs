//! `fit` and `evaluate` on a tiny synthetic problem: learning, determinism, batching,
//! configuration errors and divergence.

#[path = "train_support/tiny.rs"]
mod tiny;

use dfdx::optim::{Adam, Sgd};
use dfdx::prelude::*;
use tiny::{blobs, Tiny, TinyModule};
use typenet::data::Dataset;
use typenet::train::{BatchOrder, TrainError};
use typenet::{Batch, Network};

fn quiet(epochs: usize, batch_size: usize, seed: u64) -> typenet::train::FitConfig {
    typenet::train::FitConfig {
        epochs,
        batch_size,
        seed,
        verbose: typenet::train::Verbosity::Silent,
        ..Default::default()
    }
}

fn model(seed: u64) -> TinyModule<f32, Cpu> {
    Cpu::seed_from_u64(seed).build_module::<Tiny, f32>()
}

fn adam(m: &TinyModule<f32, Cpu>, lr: f64) -> Adam<TinyModule<f32, Cpu>, f32, Cpu> {
    Adam::new(
        m,
        AdamConfig {
            lr,
            ..Default::default()
        },
    )
}

#[test]
fn training_reduces_the_loss() {
    let train = blobs(60);
    let val = blobs(30);
    let mut m = model(1);
    let mut opt = adam(&m, 1e-2);
    let before = typenet::train::evaluate(&m, &val, 16).expect("evaluate");
    let history =
        typenet::train::fit(&mut m, &mut opt, &train, Some(&val), &quiet(8, 8, 0)).expect("fit");
    let after = typenet::train::evaluate(&m, &val, 7).expect("evaluate");

    assert_eq!(history.len(), 8);
    let loss = history.loss();
    assert!(
        loss[7] < loss[0] * 0.5,
        "training loss should fall: {loss:?}"
    );
    assert!(
        after.loss < before.loss * 0.5,
        "val loss {} -> {}",
        before.loss,
        after.loss
    );
    assert!(after.accuracy >= 0.95, "val accuracy {}", after.accuracy);
    let last = history.last().expect("8 epochs");
    let v = last.validation.expect("a validation set was given");
    assert!(
        (v.loss - after.loss).abs() < 1e-5,
        "the last epoch's validation is the final model's"
    );
    assert_eq!(history.val_accuracy().len(), 8);
    assert!(history.seconds().iter().all(|&s| s >= 0.0));
    assert!(history.accuracy().iter().all(|&a| (0.0..=1.0).contains(&a)));
}

#[test]
fn cross_entropy_matches_hand_computed_value() {
    let dev = Cpu::default();
    let logits = dev.tensor([[1.0f64, 2.0, 3.0], [0.0, 0.0, 0.0]]);
    let loss = typenet::train::softmax_cross_entropy(logits.clone(), &[2, 0]).expect("loss");
    // -log softmax: row 0, class 2: log(e^1 + e^2 + e^3) - 3; row 1: log 3.
    let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    let expected = ((lse - 3.0) + 3f64.ln()) / 2.0;
    assert!(
        (loss.as_vec()[0] - expected).abs() < 1e-12,
        "{} vs {expected}",
        loss.as_vec()[0]
    );
    assert!((expected - 0.753_109_13).abs() < 1e-7);

    // Same as dfdx's own loss on one-hot targets.
    let targets = dev.tensor([[0.0f64, 0.0, 1.0], [1.0, 0.0, 0.0]]);
    let dfdx_loss = cross_entropy_with_logits_loss(logits.clone(), targets);
    assert!((dfdx_loss.array() - expected).abs() < 1e-12);

    // The gradient is (softmax - one_hot) / batch.
    let loss = typenet::train::softmax_cross_entropy(logits.leaky_trace(), &[2, 0]).expect("loss");
    let grads = loss.backward();
    let g = grads.get(&logits).array();
    let e: [f64; 3] = [1f64.exp(), 2f64.exp(), 3f64.exp()];
    let s: f64 = e.iter().sum();
    let want = [
        [e[0] / s / 2.0, e[1] / s / 2.0, (e[2] / s - 1.0) / 2.0],
        [(1.0 / 3.0 - 1.0) / 2.0, 1.0 / 6.0, 1.0 / 6.0],
    ];
    for (gr, wr) in g.iter().zip(want) {
        for (a, b) in gr.iter().zip(wr) {
            assert!((a - b).abs() < 1e-12, "{g:?} vs {want:?}");
        }
    }
}

#[test]
fn cross_entropy_is_stable_for_large_logits() {
    let dev = Cpu::default();
    let logits = dev.tensor([[1000.0f32, 0.0, -1000.0]]);
    let right = typenet::train::softmax_cross_entropy(logits.clone(), &[0]).expect("loss");
    let wrong = typenet::train::softmax_cross_entropy(logits, &[2]).expect("loss");
    assert_eq!(right.as_vec()[0], 0.0);
    assert_eq!(wrong.as_vec()[0], 2000.0);
}

#[test]
fn loss_uses_logits_of_a_network_ending_in_softmax() {
    // evaluate() must give -log(p[label]) of the softmax output, computed from the logits
    // (not log_softmax applied to probabilities).
    let dev = Cpu::default();
    let m = model(3);
    const _: () = assert!(<TinyModule<f32, Cpu> as Network<f32, Cpu>>::ENDS_IN_SOFTMAX);
    let data = blobs(9);
    let x: Batch<(Const<4>,), usize, f32, Cpu> = data
        .batch(&dev, &(0..9).collect::<Vec<_>>())
        .expect("batch");
    let probs = m.forward(x).as_vec();
    let expected: f64 = probs
        .chunks(3)
        .zip(data.labels())
        .map(|(p, &l)| -f64::from(p[l]).ln())
        .sum::<f64>()
        / 9.0;
    let eval = typenet::train::evaluate(&m, &data, 4).expect("evaluate");
    assert!(
        (eval.loss - expected).abs() < 1e-5,
        "{} vs {expected}",
        eval.loss
    );
    let correct = probs
        .chunks(3)
        .zip(data.labels())
        .filter(|(p, &l)| p.iter().all(|&q| q <= p[l]))
        .count();
    assert!((eval.accuracy - correct as f64 / 9.0).abs() < 1e-12);
}

#[test]
fn one_hot_and_count_correct() {
    let v: Vec<f32> = typenet::train::one_hot(&[1, 0], 3).expect("in range");
    assert_eq!(v, vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
    let err = typenet::train::one_hot::<f32>(&[1, 3], 3).unwrap_err();
    assert!(matches!(
        err,
        TrainError::LabelOutOfRange {
            index: 1,
            label: 3,
            classes: 3,
            ..
        }
    ));
    assert!(typenet::train::one_hot::<f32>(&[0], 0).is_err());

    let logits = [0.1f32, 0.7, 0.2, 5.0, f32::NAN, 1.0, 1.0, 1.0, 0.0];
    assert_eq!(typenet::train::count_correct(&logits, &[1, 0, 0], 3), 3);
    assert_eq!(typenet::train::count_correct(&logits, &[2, 1, 1], 3), 0);

    let dev = Cpu::default();
    let err =
        typenet::train::softmax_cross_entropy(dev.tensor([[0.0f32, 1.0]]), &[0, 1]).unwrap_err();
    assert!(
        err.to_string()
            .contains("2 labels were given for a batch of 1"),
        "{err}"
    );
}

#[test]
fn shuffling_is_deterministic_for_a_seed() {
    let epochs = |seed| {
        let mut order = BatchOrder::new(50, 7, seed).expect("valid");
        (0..3)
            .map(|_| order.next_epoch().flatten().copied().collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    let a = epochs(42);
    assert_eq!(a, epochs(42));
    assert_ne!(a, epochs(43));
    assert_ne!(a[0], a[1], "each epoch is shuffled anew");
    for epoch in &a {
        let mut sorted = epoch.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..50).collect::<Vec<_>>(),
            "every sample once per epoch"
        );
    }
    assert_ne!(a[0], (0..50).collect::<Vec<_>>(), "shuffled, not in order");

    // Same seeds (device and shuffling) give the same training run.
    let run = |seed| {
        let mut m = model(7);
        let mut opt = adam(&m, 1e-2);
        typenet::train::fit(&mut m, &mut opt, &blobs(30), None, &quiet(2, 4, seed))
            .expect("fit")
            .loss()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn last_smaller_batch_is_used() {
    let mut order = BatchOrder::new(10, 4, 0).expect("valid");
    assert_eq!(order.steps(), 3);
    let sizes: Vec<usize> = order.next_epoch().map(|b| b.len()).collect();
    assert_eq!(sizes, vec![4, 4, 2]);

    let mut m = model(2);
    let mut opt = adam(&m, 1e-2);
    let history =
        typenet::train::fit(&mut m, &mut opt, &blobs(10), None, &quiet(2, 4, 0)).expect("fit");
    for e in &history.epochs {
        assert_eq!(e.steps, 3);
        assert_eq!(e.samples, 10, "the last batch of 2 is trained on too");
        assert!(e.validation.is_none());
    }

    // A batch larger than the data set is one smaller batch.
    let history =
        typenet::train::fit(&mut m, &mut opt, &blobs(10), None, &quiet(1, 128, 0)).expect("fit");
    assert_eq!(
        (history.epochs[0].steps, history.epochs[0].samples),
        (1, 10)
    );
}

#[test]
fn invalid_configuration_is_an_error() {
    let mut m = model(0);
    let mut opt = adam(&m, 1e-3);
    let data = blobs(6);

    let err = typenet::train::fit(&mut m, &mut opt, &data, None, &quiet(0, 4, 0)).unwrap_err();
    assert!(matches!(
        err,
        TrainError::InvalidConfig {
            field: "epochs",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "invalid training configuration: `epochs` is 0: train for at least 1 epoch"
    );

    let err = typenet::train::fit(&mut m, &mut opt, &data, None, &quiet(1, 0, 0)).unwrap_err();
    assert!(matches!(
        err,
        TrainError::InvalidConfig {
            field: "batch_size",
            ..
        }
    ));
    assert!(
        err.to_string()
            .contains("`batch_size` is 0: use at least 1 sample per batch"),
        "{err}"
    );
    assert!(typenet::train::evaluate(&m, &data, 0).is_err());
    assert!(BatchOrder::new(5, 0, 0).is_err());

    let empty = Dataset::<(Const<4>,)>::new(vec![], vec![]).expect("empty");
    let err = typenet::train::fit(&mut m, &mut opt, &empty, None, &quiet(1, 4, 0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the training set is empty: it needs at least one sample"
    );
    let err =
        typenet::train::fit(&mut m, &mut opt, &data, Some(&empty), &quiet(1, 4, 0)).unwrap_err();
    assert!(matches!(
        err,
        TrainError::EmptyDataset { set: "validation" }
    ));

    let bad = Dataset::<(Const<4>,)>::new(vec![0.0; 8], vec![0, 3]).expect("sizes");
    let err = typenet::train::fit(&mut m, &mut opt, &bad, None, &quiet(1, 4, 0)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("label 3 of training sample 1 is not a class of a network with 3 outputs (labels must be 0 to 2)"),
        "{err}"
    );
    let err = typenet::train::evaluate(&m, &bad, 4).unwrap_err();
    assert!(matches!(
        err,
        TrainError::LabelOutOfRange {
            set: "evaluation",
            index: 1,
            ..
        }
    ));
}

#[test]
fn nan_loss_stops_training_naming_epoch_and_step() {
    let mut m = model(0);
    let mut opt = adam(&m, 1e-3);
    let mut features = blobs(8).features().to_vec();
    // (A NaN input would be zeroed by the ReLU; an infinite one makes inf - inf logits.)
    features[0] = f32::INFINITY;
    let data = Dataset::<(Const<4>,)>::new(features, vec![0, 1, 2, 0, 1, 2, 0, 1]).expect("sizes");
    let err = typenet::train::fit(&mut m, &mut opt, &data, None, &quiet(3, 8, 0)).unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::NonFiniteLoss {
                epoch: 1,
                step: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("the loss became NaN at epoch 1, step 1: training diverged"),
        "{msg}"
    );
    assert!(msg.contains("lower the learning rate"), "{msg}");

    // A learning rate so large that training blows up part-way.
    let mut m = model(0);
    let mut opt = Sgd::new(
        &m,
        SgdConfig {
            lr: 1e30,
            momentum: None,
            weight_decay: None,
        },
    );
    let err = typenet::train::fit(&mut m, &mut opt, &blobs(30), None, &quiet(5, 3, 0)).unwrap_err();
    match err {
        TrainError::NonFiniteLoss { epoch, step, loss } => {
            assert!(!loss.is_finite());
            assert!(
                epoch >= 1 && (1..=10).contains(&step),
                "epoch {epoch} step {step}"
            );
        }
        other => panic!("expected a non-finite loss, got {other:?}"),
    }
}

#[test]
fn epoch_line_is_keras_style() {
    let m = typenet::train::EpochMetrics {
        epoch: 1,
        epochs: 10,
        seconds: 8.314,
        loss: 0.22114,
        accuracy: 0.93808,
        steps: 469,
        samples: 60_000,
        validation: Some(typenet::train::Evaluation {
            loss: 0.09421,
            accuracy: 0.9706,
            top_k: None,
        }),
        top_k: None,
        lr: Some(0.001),
    };
    assert_eq!(
        m.to_string(),
        "Epoch 1/10 - 8.31s - loss: 0.2211 - accuracy: 0.9381 - val_loss: 0.0942 - val_accuracy: 0.9706"
    );
    let no_val = typenet::train::EpochMetrics {
        validation: None,
        ..m.clone()
    };
    assert_eq!(
        no_val.to_string(),
        "Epoch 1/10 - 8.31s - loss: 0.2211 - accuracy: 0.9381"
    );
}

#[test]
fn trains_in_f64_too() {
    let dev = Cpu::seed_from_u64(0);
    let mut m = dev.build_module::<Tiny, f64>();
    let mut opt = Adam::new(
        &m,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    );
    let h = typenet::train::fit(&mut m, &mut opt, &blobs(30), None, &quiet(5, 8, 0)).expect("fit");
    assert!(h.loss()[4] < h.loss()[0]);
}

#[test]
fn prelude_names_do_not_clash_with_dfdx() {
    // Both globs in scope, and each name of typenet's prelude resolves.
    #[allow(unused_imports)]
    use dfdx::prelude::*;
    #[allow(unused_imports)]
    use typenet::prelude::*;
    let _config: FitConfig = FitConfig::default();
    let _data: Option<Dataset> = None;
    let _shape: Option<MnistShape> = None;
    let _h: History = History::default();
    let _l: (Loss, Verbosity) = (Loss::default(), Verbosity::Silent);
    let _e: Option<(Evaluation, EpochMetrics, TrainError, DataError, Mnist)> = None;
    let _load = || load_mnist("data/mnist");
    let _fit = fit::<f32, Cpu, TinyModule<f32, Cpu>, Adam<TinyModule<f32, Cpu>, f32, Cpu>, 3>;
    let _evaluate = evaluate::<f32, Cpu, TinyModule<f32, Cpu>, 3>;
}

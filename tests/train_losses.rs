//! Losses against hand-computed values (forward and gradient), class weights, metrics,
//! predict, validation_split and verbosity.

#[path = "train_support/tiny.rs"]
mod tiny;

use dfdx::optim::{Adam, Sgd};
use dfdx::prelude::*;
use tiny::{blobs, Tiny, TinyModule};
use typenet::train::{
    balanced_class_weights, binary_cross_entropy, categorical_cross_entropy, count_top_k,
    epoch_line, evaluate_with, fit, mean_squared_error, predict, sample_factors, split_validation,
    weighted_loss, ConfusionMatrix, EpochMetrics, FitConfig, Loss, TrainError, Verbosity,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * (1.0 + b.abs())
}

fn softmax(row: &[f64]) -> Vec<f64> {
    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = row.iter().map(|x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

fn quiet(epochs: usize, batch_size: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size,
        verbose: Verbosity::Silent,
        ..Default::default()
    }
}

#[test]
fn categorical_cross_entropy_with_probability_targets() {
    let dev = Cpu::default();
    let logits = dev.tensor([[1.0f64, 2.0, 3.0], [0.5, -1.0, 0.0]]);
    let targets = vec![0.2, 0.3, 0.5, 0.0, 1.0, 0.0];
    let loss = categorical_cross_entropy(logits.leaky_trace(), targets.clone()).unwrap();
    let rows = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]];
    let mut expected = 0.0;
    let mut grad = Vec::new();
    for (b, row) in rows.iter().enumerate() {
        let p = softmax(row);
        for k in 0..3 {
            expected -= targets[b * 3 + k] * p[k].ln();
            // d/dlogit of the mean: (softmax - t) / B (each target row sums to 1).
            grad.push((p[k] - targets[b * 3 + k]) / 2.0);
        }
    }
    expected /= 2.0;
    assert!(
        close(loss.array(), expected),
        "{} vs {expected}",
        loss.array()
    );
    let g = loss.backward();
    let got = g.get(&logits).as_vec();
    for (a, b) in got.iter().zip(&grad) {
        assert!((a - b).abs() < 1e-12, "{got:?} vs {grad:?}");
    }
}

#[test]
fn binary_cross_entropy_from_logits_is_exact_and_stable() {
    let dev = Cpu::default();
    let logits = dev.tensor([[2.0f64, -1.0], [100.0, -100.0]]);
    let targets = vec![1.0, 0.0, 0.0, 1.0];
    let loss = binary_cross_entropy(logits.leaky_trace(), targets.clone()).unwrap();
    // -[t ln s(x) + (1-t) ln(1 - s(x))]: row 0: ln(1+e^-2), ln(1+e^-1); row 1: 100, 100.
    let expected = ((1.0 + (-2f64).exp()).ln() + (1.0 + (-1f64).exp()).ln() + 200.0) / 4.0;
    assert!(
        close(loss.array(), expected),
        "{} vs {expected}",
        loss.array()
    );
    let g = loss.backward().get(&logits).as_vec();
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let xs = [2.0, -1.0, 100.0, -100.0];
    for i in 0..4 {
        let want = (sig(xs[i]) - targets[i]) / 4.0;
        assert!((g[i] - want).abs() < 1e-12, "grad {i}: {} vs {want}", g[i]);
    }
}

#[test]
fn mean_squared_error_matches_hand_computed_value() {
    let dev = Cpu::default();
    let out = dev.tensor([[0.5f64, 1.0], [0.0, -1.0]]);
    let loss = mean_squared_error(out.leaky_trace(), vec![0.0, 1.0, 1.0, 1.0]).unwrap();
    // (0.25 + 0 + 1 + 4) / 4
    assert!(close(loss.array(), 5.25 / 4.0));
    let g = loss.backward().get(&out).as_vec();
    assert_eq!(g, vec![2.0 * 0.5 / 4.0, 0.0, -2.0 / 4.0, -4.0 / 4.0]);
}

#[test]
fn mse_on_a_softmax_network_compares_probabilities() {
    let dev = Cpu::default();
    let logits = dev.tensor([[0.0f64, 0.0]]);
    let t = Loss::MeanSquaredError.targets::<f64>(&[1], 2).unwrap();
    let l = weighted_loss(&Loss::MeanSquaredError, logits, t, &[1.0], true).unwrap();
    // softmax = (0.5, 0.5) vs (0, 1): (0.25 + 0.25) / 2.
    assert!(close(l.array(), 0.25));
}

#[test]
fn class_weights_scale_each_samples_loss() {
    let dev = Cpu::default();
    let rows = [[1.0f64, 2.0, 3.0], [0.0, 0.0, 1.0]];
    let logits = dev.tensor(rows);
    let labels = [0usize, 2];
    let weights = [1.0, 0.5, 3.0];
    let factors = sample_factors(&labels, Some(&weights)).unwrap();
    assert_eq!(factors, vec![0.5, 1.5]);
    let t = Loss::SparseCategoricalCrossentropy
        .targets::<f64>(&labels, 3)
        .unwrap();
    let l = weighted_loss(
        &Loss::SparseCategoricalCrossentropy,
        logits,
        t,
        &factors,
        false,
    )
    .unwrap();
    // Keras: sum(w_i * l_i) / batch size.
    let l0 = -softmax(&rows[0])[0].ln();
    let l1 = -softmax(&rows[1])[2].ln();
    assert!(close(l.array(), (1.0 * l0 + 3.0 * l1) / 2.0));
    assert!(matches!(
        sample_factors(&[5], Some(&weights)),
        Err(TrainError::LabelOutOfRange { label: 5, .. })
    ));
}

#[test]
fn class_weights_change_the_loss_fit_reports() {
    let data = blobs(30);
    let run = |w: Option<Vec<f64>>| {
        let mut m = Cpu::seed_from_u64(3).build_module::<Tiny, f64>();
        let mut opt = Sgd::new(&m, SgdConfig::default());
        let cfg = FitConfig {
            class_weights: w,
            shuffle: false,
            ..quiet(1, 30)
        };
        fit(&mut m, &mut opt, &data, None, &cfg).unwrap().loss()[0]
    };
    let plain = run(None);
    // One step on the whole set: the reported loss is the loss before the update.
    assert!(close(run(Some(vec![1.0, 1.0, 1.0])), plain));
    assert!(close(run(Some(vec![2.0, 2.0, 2.0])), 2.0 * plain));
    let mut m = Cpu::seed_from_u64(3).build_module::<Tiny, f64>();
    let mut opt = Sgd::new(&m, SgdConfig::default());
    let err = fit(
        &mut m,
        &mut opt,
        &data,
        None,
        &FitConfig {
            class_weights: Some(vec![1.0, 2.0]),
            ..quiet(1, 30)
        },
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("has 2 weights but the network has 3 classes"),
        "{err}"
    );
}

#[test]
fn balanced_weights_are_n_over_k_count() {
    let w = balanced_class_weights(&[0, 0, 0, 1, 2, 2], 4).unwrap();
    assert_eq!(w, vec![6.0 / 12.0, 6.0 / 4.0, 6.0 / 8.0, 0.0]);
    assert!(balanced_class_weights(&[4], 2).is_err());
}

#[test]
fn label_smoothing_targets() {
    let t = Loss::CategoricalCrossentropy {
        label_smoothing: 0.3,
    }
    .targets::<f64>(&[1], 3)
    .unwrap();
    assert!(
        close(t[0], 0.1) && close(t[1], 0.8) && close(t[2], 0.1),
        "{t:?}"
    );
}

#[test]
fn top_k_counts_and_confusion_matrix() {
    let logits = [0.1f32, 0.5, 0.4, 0.9, 0.05, 0.05, 0.2, 0.3, 0.5];
    assert_eq!(count_top_k(&logits, &[2, 1, 0], 3, 1), 0);
    assert_eq!(count_top_k(&logits, &[2, 1, 0], 3, 2), 2);
    assert_eq!(count_top_k(&logits, &[2, 1, 0], 3, 3), 3);
    let cm = ConfusionMatrix::new(&[0, 0, 0, 0, 1, 1, 2], &[0, 0, 0, 1, 1, 0, 1], 3).unwrap();
    assert_eq!(cm.count(0, 0), 3);
    assert_eq!(cm.count(1, 0), 1);
    assert_eq!(cm.recall(), vec![Some(0.75), Some(0.5), Some(0.0)]);
    assert!(close(cm.balanced_accuracy(), (0.75 + 0.5 + 0.0) / 3.0));
    assert!(close(cm.accuracy(), 4.0 / 7.0));
    assert_eq!(cm.precision()[2], None);
    assert!(cm.to_string().contains("balanced accuracy: 0.4167"));
}

#[test]
fn binary_and_mse_losses_train() {
    for loss in [
        Loss::BinaryCrossentropy,
        Loss::MeanSquaredError,
        Loss::CategoricalCrossentropy {
            label_smoothing: 0.1,
        },
    ] {
        let mut m: TinyModule<f32, Cpu> = Cpu::seed_from_u64(1).build_module::<Tiny, f32>();
        let mut opt = Adam::new(
            &m,
            AdamConfig {
                lr: 1e-2,
                ..Default::default()
            },
        );
        let cfg = FitConfig {
            loss,
            top_k: Some(2),
            ..quiet(6, 8)
        };
        let h = fit(&mut m, &mut opt, &blobs(60), Some(&blobs(30)), &cfg).unwrap();
        let l = h.loss();
        assert!(l[5] < l[0], "{loss:?}: {l:?}");
        let last = h.last().unwrap();
        assert!(last.accuracy > 0.9, "{loss:?}: {}", last.accuracy);
        let top2 = last.get("val_top_2_accuracy").unwrap();
        assert!(top2 >= last.validation.unwrap().accuracy);
        assert!(last.to_string().contains(" - top_2_accuracy: "), "{last}");
        let e = evaluate_with(&m, &blobs(30), 7, &loss, Some(2)).unwrap();
        assert!((e.loss - last.validation.unwrap().loss).abs() < 1e-5);
    }
}

#[test]
fn predict_gives_probabilities_and_argmax() {
    let m: TinyModule<f32, Cpu> = Cpu::seed_from_u64(2).build_module::<Tiny, f32>();
    let data = blobs(10);
    let p = predict(&m, &data, 3).unwrap();
    assert_eq!((p.len(), p.outputs, p.probabilities.len()), (10, 3, 30));
    for i in 0..10 {
        let row = p.row(i).unwrap();
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let best = (0..3).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(p.classes[i], best);
    }
    assert!(p.row(10).is_none());
    // The same as the network's own softmax output.
    let x = data.batch::<f32, Cpu>(&Cpu::default(), &[0, 1]).unwrap();
    let out = m.forward(x).as_vec();
    for (a, b) in out.iter().zip(&p.probabilities[..6]) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn validation_split_takes_the_last_fraction() {
    let data = blobs(30);
    let (t, v) = split_validation(&data, 0.2).unwrap();
    assert_eq!((t.len(), v.len()), (24, 6));
    assert_eq!(v.labels(), &data.labels()[24..]);
    let (t, v) = split_validation(&blobs(10), 0.25).unwrap();
    assert_eq!((t.len(), v.len()), (7, 3));
    assert!(split_validation(&blobs(1), 0.5).is_err());

    let mut m: TinyModule<f32, Cpu> = Cpu::seed_from_u64(1).build_module::<Tiny, f32>();
    let mut opt = Adam::new(&m, AdamConfig::default());
    let cfg = FitConfig {
        validation_split: 0.2,
        ..quiet(1, 8)
    };
    let h = fit(&mut m, &mut opt, &data, None, &cfg).unwrap();
    assert_eq!(h.epochs[0].samples, 24);
    assert!(h.epochs[0].validation.is_some());
    let err = fit(&mut m, &mut opt, &data, Some(&data), &cfg).unwrap_err();
    assert!(err.to_string().contains("use one or the other"), "{err}");
    let bad = FitConfig {
        validation_split: 1.0,
        ..quiet(1, 8)
    };
    assert!(fit(&mut m, &mut opt, &data, None, &bad).is_err());
}

#[test]
fn verbosity_decides_the_line() {
    let m = EpochMetrics {
        epoch: 2,
        epochs: 3,
        seconds: 1.0,
        loss: 0.5,
        accuracy: 0.75,
        steps: 1,
        samples: 4,
        validation: None,
        top_k: Some((5, 0.875)),
        lr: None,
    };
    assert_eq!(epoch_line(&m, Verbosity::Silent), None);
    let line = "Epoch 2/3 - 1.00s - loss: 0.5000 - accuracy: 0.7500 - top_5_accuracy: 0.8750";
    assert_eq!(epoch_line(&m, Verbosity::OneLine).as_deref(), Some(line));
    assert_eq!(
        epoch_line(&m, Verbosity::ProgressBar).as_deref(),
        Some(line)
    );
    assert_eq!(Verbosity::from(false), Verbosity::Silent);
}

#[test]
fn shuffle_off_keeps_the_data_order() {
    let mut a = typenet::train::BatchOrder::new(5, 2, 0)
        .unwrap()
        .with_shuffle(false);
    let batches: Vec<Vec<usize>> = a.next_epoch().map(|c| c.to_vec()).collect();
    assert_eq!(batches, vec![vec![0, 1], vec![2, 3], vec![4]]);
}

#[test]
fn single_output_targets_and_classes() {
    let t = Loss::BinaryCrossentropy
        .targets::<f32>(&[0, 1, 1], 1)
        .unwrap();
    assert_eq!(t, vec![0.0, 1.0, 1.0]);
    assert!(matches!(
        Loss::BinaryCrossentropy.targets::<f32>(&[2], 1),
        Err(TrainError::LabelOutOfRange {
            label: 2,
            classes: 2,
            ..
        })
    ));
    assert_eq!(Loss::BinaryCrossentropy.classes(1), 2);
    assert_eq!(Loss::SparseCategoricalCrossentropy.classes(1), 1);
    assert_eq!(
        typenet::train::predicted_classes(&[-0.5f32, 0.0, 2.0], 1),
        vec![0, 0, 1]
    );
    assert_eq!(
        typenet::train::predicted_classes(&[0.1f32, 0.7, 0.2, f32::NAN, 1.0, 0.0], 3),
        vec![1, 1]
    );
    let bad = Loss::CategoricalCrossentropy {
        label_smoothing: 1.0,
    };
    let mut m: TinyModule<f32, Cpu> = Cpu::seed_from_u64(1).build_module::<Tiny, f32>();
    let mut opt = Adam::new(&m, AdamConfig::default());
    let err = fit(
        &mut m,
        &mut opt,
        &blobs(6),
        None,
        &FitConfig {
            loss: bad,
            ..quiet(1, 4)
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("label_smoothing 1"), "{err}");
}

#[test]
fn confusion_matrix_of_a_model_matches_predict() {
    let m: TinyModule<f32, Cpu> = Cpu::seed_from_u64(5).build_module::<Tiny, f32>();
    let data = blobs(12);
    let p = predict(&m, &data, 5).unwrap();
    let cm = typenet::train::confusion_matrix(&m, &data, 4).unwrap();
    assert_eq!(cm.total(), 12);
    let right = p
        .classes
        .iter()
        .zip(data.labels())
        .filter(|(a, b)| a == b)
        .count();
    assert!(close(cm.accuracy(), right as f64 / 12.0));
    let e = typenet::train::evaluate(&m, &data, 12).unwrap();
    assert!(close(cm.accuracy(), e.accuracy));
}

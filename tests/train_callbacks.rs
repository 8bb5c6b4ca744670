//! Callbacks: early stopping (stop epoch, best weights restored), checkpoints (best only,
//! loadable, intact after a NaN stop), learning-rate schedules, reduce-on-plateau, the CSV
//! log, and resuming with `initial_epoch`.

#[path = "train_support/tiny.rs"]
mod tiny;

use std::path::PathBuf;

use dfdx::optim::Sgd;
use dfdx::prelude::*;
use tiny::{blobs, Tiny, TinyModule};
use typenet::optim::LearningRate;
use typenet::train::{
    fit, fit_with, read_checkpoint_epoch, read_csv_last_epoch, Callback, Control, CosineDecay,
    CsvLogger, EarlyStopping, EpochMetrics, Evaluation, ExponentialDecay, FitConfig, Mode,
    ModelCheckpoint, ReduceLROnPlateau, StepDecay, TrainError, Verbosity,
};
use typenet::weights::load_weights;

type Model = TinyModule<f32, Cpu>;

fn model(seed: u64) -> Model {
    Cpu::seed_from_u64(seed).build_module::<Tiny, f32>()
}

fn quiet(epochs: usize) -> FitConfig {
    FitConfig {
        epochs,
        batch_size: 8,
        verbose: Verbosity::Silent,
        ..Default::default()
    }
}

fn logs(epoch: usize, val_loss: f64) -> EpochMetrics {
    EpochMetrics {
        epoch,
        epochs: 10,
        seconds: 0.0,
        loss: 1.0,
        accuracy: 0.5,
        steps: 1,
        samples: 1,
        validation: Some(Evaluation {
            loss: val_loss,
            accuracy: 1.0 - val_loss,
            top_k: None,
        }),
        top_k: None,
        lr: Some(0.1),
    }
}

fn weights(m: &Model) -> Vec<f32> {
    let mut v = m.dense_0.weight.as_vec();
    v.extend(m.dense_2.weight.as_vec());
    v.extend(m.dense_2.bias.as_vec());
    v
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("typenet-callbacks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Keeps a copy of the weights after each epoch.
#[derive(Default)]
struct Record(Vec<Vec<f32>>);
impl Callback<f32, Cpu, Model> for Record {
    fn on_epoch_end(
        &mut self,
        _l: &EpochMetrics,
        m: &mut Model,
        _c: &mut Control,
    ) -> Result<(), TrainError> {
        self.0.push(weights(m));
        Ok(())
    }
}

#[test]
fn early_stopping_stops_after_patience_and_restores_the_best() {
    // The "model" is the epoch it was last set to; the metric is scripted.
    let mut es = EarlyStopping::<Vec<usize>>::new("val_loss", 2).restore_best_weights(true);
    let mut m = vec![0usize];
    let mut ctl = Control::new(0.1);
    let cb: &mut dyn Callback<f32, Cpu, Vec<usize>> = &mut es;
    cb.on_train_begin(&mut m, &mut ctl).unwrap();
    let mut stopped_at = None;
    for (i, v) in [1.0, 0.8, 0.9, 0.85, 0.7].into_iter().enumerate() {
        let epoch = i + 1;
        m = vec![epoch];
        cb.on_epoch_end(&logs(epoch, v), &mut m, &mut ctl).unwrap();
        if ctl.stopping() {
            stopped_at = Some(epoch);
            break;
        }
    }
    assert_eq!(stopped_at, Some(4));
    cb.on_train_end(&Default::default(), &mut m).unwrap();
    assert_eq!(m, vec![2], "the best epoch's model is back");
    assert_eq!(
        (es.best_epoch(), es.stopped_epoch(), es.best()),
        (Some(2), Some(4), Some(0.8))
    );

    // Accuracy is maximised in auto mode; min_delta counts.
    let mut es = EarlyStopping::<Vec<usize>>::new("val_accuracy", 1).min_delta(0.05);
    let cb: &mut dyn Callback<f32, Cpu, Vec<usize>> = &mut es;
    let mut ctl = Control::new(0.1);
    cb.on_epoch_end(&logs(1, 0.5), &mut m, &mut ctl).unwrap(); // acc 0.5
    cb.on_epoch_end(&logs(2, 0.47), &mut m, &mut ctl).unwrap(); // acc 0.53: < min_delta
    assert!(ctl.stopping());
    // A metric that is not measured is an error naming it.
    let err = cb
        .on_epoch_end(
            &EpochMetrics {
                validation: None,
                ..logs(3, 0.1)
            },
            &mut m,
            &mut ctl,
        )
        .unwrap_err();
    assert!(err.to_string().contains("monitors `val_accuracy`"), "{err}");
}

#[test]
fn early_stopping_in_fit_restores_the_best_weights() {
    let mut m = model(1);
    let mut opt = Sgd::new(
        &m,
        SgdConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    // Nothing improves by 1e9 after the first epoch: stop after epoch 1 + patience 2.
    let mut es = EarlyStopping::new("val_loss", 2)
        .min_delta(1e9)
        .restore_best_weights(true);
    let mut rec = Record::default();
    let h = fit_with(
        &mut m,
        &mut opt,
        &blobs(30),
        Some(&blobs(12)),
        &quiet(10),
        &mut [&mut rec, &mut es],
    )
    .unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(es.stopped_epoch(), Some(3));
    assert_ne!(rec.0[0], rec.0[2]);
    assert_eq!(weights(&m), rec.0[0], "epoch 1's weights are restored");
}

#[test]
fn checkpoint_best_only_writes_on_improvement_and_loads() {
    let path = tmp("best.safetensors");
    let _ = std::fs::remove_file(&path);
    let mut ck = ModelCheckpoint::new(&path)
        .monitor("val_loss", Mode::Min)
        .save_best_only(true);
    let mut ctl = Control::new(0.1);
    let models: Vec<Model> = (0..4).map(model).collect();
    for (i, v) in [1.0, 1.2, 0.5, 0.6].into_iter().enumerate() {
        let mut m = models[i].clone();
        Callback::<f32, Cpu, Model>::on_epoch_end(&mut ck, &logs(i + 1, v), &mut m, &mut ctl)
            .unwrap();
    }
    assert_eq!(ck.saved_epochs(), &[1, 3]);
    let mut loaded = model(99);
    load_weights(&mut loaded, &path).unwrap();
    assert_eq!(weights(&loaded), weights(&models[2]));
    assert_eq!(read_checkpoint_epoch(&path).unwrap(), 3);
}

/// Sets a learning rate that makes the next epoch diverge.
struct Explode;
impl Callback<f32, Cpu, Model> for Explode {
    fn on_epoch_end(
        &mut self,
        _l: &EpochMetrics,
        _m: &mut Model,
        c: &mut Control,
    ) -> Result<(), TrainError> {
        c.set_lr(1e30);
        Ok(())
    }
}

#[test]
fn a_nan_stop_leaves_the_last_good_checkpoint() {
    let path = tmp("every.safetensors");
    let mut m = model(2);
    let mut opt = Sgd::new(
        &m,
        SgdConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    let mut ck = ModelCheckpoint::new(&path);
    let mut rec = Record::default();
    let err = fit_with(
        &mut m,
        &mut opt,
        &blobs(30),
        None,
        &quiet(5),
        &mut [&mut rec, &mut ck, &mut Explode],
    )
    .unwrap_err();
    assert!(
        matches!(err, TrainError::NonFiniteLoss { epoch: 2, .. }),
        "{err}"
    );
    assert_eq!(ck.saved_epochs(), &[1]);
    let mut loaded = model(99);
    load_weights(&mut loaded, &path).unwrap();
    assert_eq!(weights(&loaded), rec.0[0]);
    assert!(weights(&loaded).iter().all(|w| w.is_finite()));
    assert_eq!(read_checkpoint_epoch(&path).unwrap(), 1);
}

#[test]
fn schedules_give_the_hand_computed_rates() {
    let step = StepDecay {
        initial: 0.1,
        drop: 0.5,
        every: 2,
    };
    let got: Vec<f64> = (1..=5).map(|e| step.lr(e)).collect();
    assert_eq!(got, vec![0.1, 0.1, 0.05, 0.05, 0.025]);

    let exp = ExponentialDecay {
        initial: 0.1,
        rate: 0.5,
        decay_epochs: 2,
    };
    assert_eq!(exp.lr(1), 0.1);
    assert!((exp.lr(2) - 0.1 * 0.5f64.sqrt()).abs() < 1e-15);
    assert!((exp.lr(3) - 0.05).abs() < 1e-15);

    let cos = CosineDecay {
        initial: 1.0,
        decay_epochs: 4,
        alpha: 0.0,
    };
    let want = [
        1.0,
        (1.0 + (std::f64::consts::PI / 4.0).cos()) / 2.0,
        0.5,
        (1.0 - (std::f64::consts::PI / 4.0).cos()) / 2.0,
        0.0,
        0.0,
    ];
    for (e, w) in want.iter().enumerate() {
        assert!(
            (cos.lr(e + 1) - w).abs() < 1e-12,
            "epoch {}: {} vs {w}",
            e + 1,
            cos.lr(e + 1)
        );
    }
    let cos = CosineDecay {
        initial: 1.0,
        decay_epochs: 2,
        alpha: 0.1,
    };
    assert!((cos.lr(3) - 0.1).abs() < 1e-12);

    // Through fit: the optimizer runs each epoch at the schedule's rate.
    let mut m = model(3);
    let mut opt = Sgd::new(
        &m,
        SgdConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    let mut sched = step;
    let h = fit_with(
        &mut m,
        &mut opt,
        &blobs(12),
        None,
        &quiet(5),
        &mut [&mut sched],
    )
    .unwrap();
    assert_eq!(h.metric("lr"), vec![0.1, 0.1, 0.05, 0.05, 0.025]);
    assert_eq!(opt.lr(), 0.025);
}

#[test]
fn reduce_on_plateau_multiplies_after_patience() {
    let mut r = ReduceLROnPlateau::new("val_loss").factor_patience(0.5, 2);
    let cb: &mut dyn Callback<f32, Cpu, ()> = &mut r;
    let mut ctl = Control::new(1.0);
    cb.on_train_begin(&mut (), &mut ctl).unwrap();
    let mut rates = Vec::new();
    for (i, v) in [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5].into_iter().enumerate() {
        cb.on_epoch_end(&logs(i + 1, v), &mut (), &mut ctl).unwrap();
        rates.push(ctl.lr());
    }
    assert_eq!(rates, vec![1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25]);
    let mut bad = ReduceLROnPlateau::new("val_loss").factor_patience(1.5, 2);
    let cb: &mut dyn Callback<f32, Cpu, ()> = &mut bad;
    assert!(cb.on_train_begin(&mut (), &mut ctl).is_err());
}

#[test]
fn csv_log_and_resume() {
    let csv = tmp("log.csv");
    let mut m = model(4);
    let mut opt = Sgd::new(
        &m,
        SgdConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    let mut log = CsvLogger::new(&csv);
    let h = fit_with(
        &mut m,
        &mut opt,
        &blobs(12),
        Some(&blobs(6)),
        &quiet(3),
        &mut [&mut log],
    )
    .unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "epoch,loss,accuracy,val_loss,val_accuracy,lr");
    assert_eq!(lines.len(), 4);
    for (line, e) in lines[1..].iter().zip(&h.epochs) {
        let v = e.validation.unwrap();
        assert_eq!(
            *line,
            format!(
                "{},{},{},{},{},0.05",
                e.epoch, e.loss, e.accuracy, v.loss, v.accuracy
            )
        );
    }
    assert_eq!(CsvLogger::format(&h), text);
    assert_eq!(read_csv_last_epoch(&csv).unwrap(), 3);

    // Resume: epochs 4 and 5, appended to the log.
    let cfg = FitConfig {
        initial_epoch: 3,
        ..quiet(5)
    };
    let mut log = CsvLogger::new(&csv).append(true);
    let h2 = fit_with(&mut m, &mut opt, &blobs(12), None, &cfg, &mut [&mut log]).unwrap();
    assert_eq!(h2.epoch_numbers(), vec![4, 5]);
    assert!(h2.epochs[0].to_string().starts_with("Epoch 4/5 - "));
    let text = std::fs::read_to_string(&csv).unwrap();
    let epochs: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(epochs, vec!["1", "2", "3", "4", "5"]);
    assert!(
        text.lines().last().unwrap().contains(",,,"),
        "no validation: empty cells: {text}"
    );
    assert_eq!(read_csv_last_epoch(&csv).unwrap(), 5);

    let err = fit(
        &mut m,
        &mut opt,
        &blobs(12),
        None,
        &FitConfig {
            initial_epoch: 5,
            ..quiet(5)
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("initial_epoch"), "{err}");
    let missing = read_csv_last_epoch(&tmp("missing.csv")).unwrap_err();
    assert!(missing.to_string().contains("cannot resume"), "{missing}");
}

#[test]
fn a_bad_epoch_file_is_a_clear_error() {
    let path = tmp("bad.safetensors");
    std::fs::write(
        typenet::train::callbacks::checkpoint_epoch_path(&path),
        "seven\n",
    )
    .unwrap();
    let err = read_checkpoint_epoch(&path).unwrap_err();
    assert!(err.to_string().contains("not an epoch number"), "{err}");
    let err = read_checkpoint_epoch(&tmp("none.safetensors")).unwrap_err();
    assert!(
        err.to_string().contains("written beside the weights"),
        "{err}"
    );
}

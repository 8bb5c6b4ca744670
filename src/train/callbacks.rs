//! Callbacks that [`fit_with`](super::fit_with) calls around each epoch, as in Keras:
//! [`EarlyStopping`], [`ModelCheckpoint`], [`CsvLogger`], and the learning-rate schedules
//! [`StepDecay`], [`ExponentialDecay`], [`CosineDecay`] and [`ReduceLROnPlateau`].
//! (Keras's `TerminateOnNaN` is built in: `fit` stops with
//! [`TrainError::NonFiniteLoss`] naming the epoch and
//! step, before any callback sees the bad epoch, so a checkpoint keeps the last good
//! weights.)

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use dfdx::nn::TensorCollection;
use dfdx::prelude::*;
use dfdx::tensor::safetensors::SafeDtype;

use super::history::{EpochMetrics, History};
use super::TrainError;
use crate::weights::{save_weights, write_atomic};

/// What a callback can do to the running [`fit`](super::fit): read and set the learning
/// rate, and stop training after the current epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    lr: f64,
    stop: bool,
}

impl Control {
    /// A handle for an optimizer whose learning rate is `lr`.
    pub fn new(lr: f64) -> Self {
        Self { lr, stop: false }
    }
    /// The learning rate the next step will use.
    pub fn lr(&self) -> f64 {
        self.lr
    }
    /// Sets the learning rate for the following steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    /// Ends training once the current epoch is done (Keras's `model.stop_training = True`).
    pub fn stop_training(&mut self) {
        self.stop = true;
    }
    /// Whether a callback asked to stop.
    pub fn stopping(&self) -> bool {
        self.stop
    }
}

/// Something [`fit_with`](super::fit_with) calls while it trains a model of type `M`
/// (element type `E` on device `D`). Every method has a default that does nothing.
/// An error from a callback ends training and is returned by `fit_with`.
pub trait Callback<E: Dtype, D: Device<E>, M> {
    /// Before the first epoch.
    fn on_train_begin(&mut self, _model: &mut M, _ctl: &mut Control) -> Result<(), TrainError> {
        Ok(())
    }
    /// Before epoch `epoch` (from 1): learning-rate schedules set the rate here.
    fn on_epoch_begin(
        &mut self,
        _epoch: usize,
        _model: &mut M,
        _ctl: &mut Control,
    ) -> Result<(), TrainError> {
        Ok(())
    }
    /// After an epoch and its validation, with its metrics.
    fn on_epoch_end(
        &mut self,
        _logs: &EpochMetrics,
        _model: &mut M,
        _ctl: &mut Control,
    ) -> Result<(), TrainError> {
        Ok(())
    }
    /// After the last epoch (also after an early stop; not after an error).
    fn on_train_end(&mut self, _history: &History, _model: &mut M) -> Result<(), TrainError> {
        Ok(())
    }
}

/// Whether a smaller or a larger monitored value is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `max` for names containing `acc`, `min` otherwise (Keras's `auto`).
    #[default]
    Auto,
    /// Smaller is better (losses).
    Min,
    /// Larger is better (accuracies).
    Max,
}

impl Mode {
    fn maximise(self, monitor: &str) -> bool {
        match self {
            Mode::Auto => monitor.contains("acc"),
            Mode::Min => false,
            Mode::Max => true,
        }
    }
}

/// Tracks the best value of a monitored metric.
#[derive(Debug, Clone, PartialEq)]
struct Tracker {
    monitor: String,
    maximise: bool,
    min_delta: f64,
    best: Option<f64>,
}

impl Tracker {
    fn new(monitor: &str, mode: Mode, min_delta: f64) -> Self {
        Self {
            monitor: monitor.to_string(),
            maximise: mode.maximise(monitor),
            min_delta: min_delta.abs(),
            best: None,
        }
    }

    fn value(&self, logs: &EpochMetrics, who: &'static str) -> Result<f64, TrainError> {
        logs.get(&self.monitor)
            .ok_or_else(|| TrainError::InvalidConfig {
                field: who,
                problem: format!(
                    "monitors `{}`, which epoch {} did not measure: use `loss`, `accuracy` (or \
                 `val_loss` / `val_accuracy` when there is validation data)",
                    self.monitor, logs.epoch
                ),
            })
    }

    /// Whether `v` improves on the best by more than `min_delta` (the first value always
    /// does); updates the best when it does.
    fn improved(&mut self, v: f64) -> bool {
        let better = match self.best {
            None => !v.is_nan(),
            Some(b) if self.maximise => v - self.min_delta > b,
            Some(b) => v + self.min_delta < b,
        };
        if better {
            self.best = Some(v);
        }
        better
    }
}

/// Stops training when a monitored metric stops improving (Keras's `EarlyStopping`).
///
/// After each epoch the metric counts as improved when it beats the best so far by more
/// than `min_delta`; after `patience` epochs in a row without improvement, training stops.
/// With `restore_best_weights`, the model is set back to the weights of its best epoch
/// when training ends, by this stop or otherwise (Keras restores only when it stops); the
/// copy is kept with `Clone` (a dfdx tensor clone shares its buffer until the optimizer
/// writes to it).
#[derive(Debug, Clone)]
pub struct EarlyStopping<M> {
    tracker: Tracker,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Put the best epoch's weights back at the end.
    pub restore_best_weights: bool,
    wait: usize,
    best_epoch: Option<usize>,
    stopped_epoch: Option<usize>,
    best_model: Option<M>,
}

impl<M> EarlyStopping<M> {
    /// Watches `monitor` (e.g. `val_loss`) in `Mode::Auto`, `min_delta` 0, no restoring.
    pub fn new(monitor: &str, patience: usize) -> Self {
        Self {
            tracker: Tracker::new(monitor, Mode::Auto, 0.0),
            patience,
            restore_best_weights: false,
            wait: 0,
            best_epoch: None,
            stopped_epoch: None,
            best_model: None,
        }
    }
    /// The smallest change that counts as an improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.tracker.min_delta = min_delta.abs();
        self
    }
    /// Whether smaller or larger is better.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.tracker.maximise = mode.maximise(&self.tracker.monitor);
        self
    }
    /// Restore the best epoch's weights at the end.
    pub fn restore_best_weights(mut self, restore: bool) -> Self {
        self.restore_best_weights = restore;
        self
    }
    /// The epoch after which training stopped, if this callback stopped it.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }
    /// The epoch with the best monitored value so far.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }
    /// The best monitored value so far.
    pub fn best(&self) -> Option<f64> {
        self.tracker.best
    }
}

impl<E: Dtype, D: Device<E>, M: Clone> Callback<E, D, M> for EarlyStopping<M> {
    fn on_train_begin(&mut self, _model: &mut M, _ctl: &mut Control) -> Result<(), TrainError> {
        self.wait = 0;
        self.tracker.best = None;
        self.best_epoch = None;
        self.stopped_epoch = None;
        self.best_model = None;
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        logs: &EpochMetrics,
        model: &mut M,
        ctl: &mut Control,
    ) -> Result<(), TrainError> {
        let v = self.tracker.value(logs, "EarlyStopping")?;
        if self.tracker.improved(v) {
            self.wait = 0;
            self.best_epoch = Some(logs.epoch);
            if self.restore_best_weights {
                self.best_model = Some(model.clone());
            }
        } else {
            self.wait += 1;
            if self.wait >= self.patience {
                self.stopped_epoch = Some(logs.epoch);
                ctl.stop_training();
            }
        }
        Ok(())
    }

    fn on_train_end(&mut self, _history: &History, model: &mut M) -> Result<(), TrainError> {
        if let Some(best) = self.best_model.take() {
            *model = best;
        }
        Ok(())
    }
}

/// The sidecar file beside a checkpoint that records the epoch its weights are from:
/// `PATH.epoch` for weights at `PATH`.
pub fn checkpoint_epoch_path(weights: &Path) -> PathBuf {
    let mut s = weights.as_os_str().to_owned();
    s.push(".epoch");
    PathBuf::from(s)
}

/// The epoch recorded beside the checkpoint `weights` by [`ModelCheckpoint`] (pass it as
/// [`FitConfig::initial_epoch`](super::FitConfig::initial_epoch) to resume).
pub fn read_checkpoint_epoch(weights: &Path) -> Result<usize, TrainError> {
    let path = checkpoint_epoch_path(weights);
    let text = fs::read_to_string(&path).map_err(|e| TrainError::Resume {
        path: path.clone(),
        problem: format!(
            "cannot be read ({e}); it is written beside the weights by ModelCheckpoint"
        ),
    })?;
    text.trim()
        .parse::<usize>()
        .map_err(|_| TrainError::Resume {
            path,
            problem: format!(
                "holds {:?}, not an epoch number; delete it and pass the epoch to resume from",
                text.trim()
            ),
        })
}

/// Saves the model's weights after epochs (Keras's `ModelCheckpoint`), atomically with
/// [`save_weights`]: a crash mid-write, or a later NaN loss, leaves the last file whole.
/// Beside the weights it writes `PATH.epoch`, the epoch they are from (see
/// [`read_checkpoint_epoch`]).
#[derive(Debug, Clone)]
pub struct ModelCheckpoint {
    path: PathBuf,
    tracker: Tracker,
    save_best_only: bool,
    saved: Vec<usize>,
}

impl ModelCheckpoint {
    /// Saves after every epoch to `path` (monitor `val_loss`, used with
    /// [`Self::save_best_only`]).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            tracker: Tracker::new("val_loss", Mode::Auto, 0.0),
            save_best_only: false,
            saved: Vec::new(),
        }
    }
    /// The metric that decides which epoch is best.
    pub fn monitor(mut self, monitor: &str, mode: Mode) -> Self {
        self.tracker = Tracker::new(monitor, mode, 0.0);
        self
    }
    /// Save only when the monitored metric improves on the best so far.
    pub fn save_best_only(mut self, best_only: bool) -> Self {
        self.save_best_only = best_only;
        self
    }
    /// The epochs whose weights were written, in order.
    pub fn saved_epochs(&self) -> &[usize] {
        &self.saved
    }
}

impl<E: Dtype + SafeDtype, D: Device<E>, M: TensorCollection<E, D>> Callback<E, D, M>
    for ModelCheckpoint
{
    fn on_train_begin(&mut self, _model: &mut M, _ctl: &mut Control) -> Result<(), TrainError> {
        create_parent(&self.path)
    }

    fn on_epoch_end(
        &mut self,
        logs: &EpochMetrics,
        model: &mut M,
        _ctl: &mut Control,
    ) -> Result<(), TrainError> {
        if self.save_best_only {
            let v = self.tracker.value(logs, "ModelCheckpoint")?;
            if !self.tracker.improved(v) {
                return Ok(());
            }
        }
        save_weights(model, &self.path)?;
        write_atomic(
            &checkpoint_epoch_path(&self.path),
            format!("{}\n", logs.epoch).as_bytes(),
        )?;
        self.saved.push(logs.epoch);
        Ok(())
    }
}

/// Writes one CSV row per epoch (Keras's `CSVLogger`): header
/// `epoch,loss,accuracy,val_loss,val_accuracy,lr` (plus `top_K_accuracy` columns when
/// measured), epochs numbered from 1, empty cells for what was not measured. The whole
/// file is rewritten atomically after each epoch, so it is never half-written.
#[derive(Debug, Clone)]
pub struct CsvLogger {
    path: PathBuf,
    append: bool,
    rows: Vec<String>,
}

/// The CSV header [`CsvLogger`] writes when no top-k accuracy is measured.
pub const CSV_HEADER: &str = "epoch,loss,accuracy,val_loss,val_accuracy,lr";

impl CsvLogger {
    /// Logs to `path`, replacing what it held.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            append: false,
            rows: Vec::new(),
        }
    }
    /// Keep the rows already in the file (for a resumed run): rows of epochs at or after
    /// the first new epoch are replaced.
    pub fn append(mut self, append: bool) -> Self {
        self.append = append;
        self
    }

    /// The CSV text for `history`.
    pub fn format(history: &History) -> String {
        let mut out = String::new();
        let k = history.epochs.iter().find_map(|e| e.top_k.map(|(k, _)| k));
        out.push_str(CSV_HEADER);
        if let Some(k) = k {
            let _ = write!(out, ",top_{k}_accuracy,val_top_{k}_accuracy");
        }
        out.push('\n');
        for e in &history.epochs {
            out.push_str(&Self::row(e, k));
            out.push('\n');
        }
        out
    }

    fn row(e: &EpochMetrics, k: Option<usize>) -> String {
        let cell = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
        let mut row = format!(
            "{},{},{},{},{},{}",
            e.epoch,
            e.loss,
            e.accuracy,
            cell(e.validation.map(|v| v.loss)),
            cell(e.validation.map(|v| v.accuracy)),
            cell(e.lr)
        );
        if k.is_some() {
            let _ = write!(
                row,
                ",{},{}",
                cell(e.top_k.map(|t| t.1)),
                cell(e.validation.and_then(|v| v.top_k).map(|t| t.1))
            );
        }
        row
    }

    fn write(&self, k: Option<usize>) -> Result<(), TrainError> {
        let mut out = String::from(CSV_HEADER);
        if let Some(k) = k {
            let _ = write!(out, ",top_{k}_accuracy,val_top_{k}_accuracy");
        }
        out.push('\n');
        for r in &self.rows {
            out.push_str(r);
            out.push('\n');
        }
        write_atomic(&self.path, out.as_bytes())?;
        Ok(())
    }
}

/// The last epoch number in a CSV written by [`CsvLogger`] (0 for a file with only the
/// header): the `initial_epoch` to resume from.
pub fn read_csv_last_epoch(path: &Path) -> Result<usize, TrainError> {
    let text = fs::read_to_string(path).map_err(|e| TrainError::Resume {
        path: path.to_path_buf(),
        problem: format!("cannot be read ({e})"),
    })?;
    let mut last = 0;
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cell = line.split(',').next().unwrap_or("");
        last = cell.trim().parse().map_err(|_| TrainError::Resume {
            path: path.to_path_buf(),
            problem: format!("has a row whose epoch is {cell:?}, not a number: {line:?}"),
        })?;
    }
    Ok(last)
}

impl<E: Dtype, D: Device<E>, M> Callback<E, D, M> for CsvLogger {
    fn on_train_begin(&mut self, _model: &mut M, _ctl: &mut Control) -> Result<(), TrainError> {
        create_parent(&self.path)?;
        self.rows.clear();
        if self.append {
            if let Ok(text) = fs::read_to_string(&self.path) {
                self.rows = text
                    .lines()
                    .skip(1)
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect();
            }
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        logs: &EpochMetrics,
        _model: &mut M,
        _ctl: &mut Control,
    ) -> Result<(), TrainError> {
        // A resumed run replaces rows of the epochs it trains again.
        self.rows.retain(|r| {
            r.split(',')
                .next()
                .and_then(|c| c.parse::<usize>().ok())
                .is_some_and(|e| e < logs.epoch)
        });
        let k = logs.top_k.map(|(k, _)| k);
        self.rows.push(Self::row(logs, k));
        self.write(k)
    }
}

/// Creates `path`'s directory if it is missing (for the files callbacks write).
fn create_parent(path: &Path) -> Result<(), TrainError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            fs::create_dir_all(dir).map_err(|e| TrainError::Output {
                path: path.to_path_buf(),
                problem: format!(
                    "cannot be written: its directory cannot be created ({e}); pick a \
                     writable place"
                ),
            })
        }
        _ => Ok(()),
    }
}

/// A schedule whose `lr(epoch)` sets the learning rate at the start of every epoch.
macro_rules! schedule_callback {
    ($schedule:ty) => {
        impl<E: Dtype, D: Device<E>, M> Callback<E, D, M> for $schedule {
            fn on_epoch_begin(
                &mut self,
                epoch: usize,
                _m: &mut M,
                ctl: &mut Control,
            ) -> Result<(), TrainError> {
                ctl.set_lr(self.lr(epoch));
                Ok(())
            }
        }
    };
}

/// `lr = initial * drop^floor((epoch - 1) / every)`: the rate is multiplied by `drop`
/// every `every` epochs (epochs counted from 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepDecay {
    /// The first epoch's rate.
    pub initial: f64,
    /// The factor applied every `every` epochs (e.g. 0.5).
    pub drop: f64,
    /// Epochs between drops (at least 1).
    pub every: usize,
}

impl StepDecay {
    /// The rate for `epoch` (from 1).
    pub fn lr(&self, epoch: usize) -> f64 {
        let drops = epoch.saturating_sub(1) / self.every.max(1);
        self.initial * self.drop.powi(drops.min(i32::MAX as usize) as i32)
    }
}

schedule_callback!(StepDecay);

/// `lr = initial * rate^((epoch - 1) / decay_epochs)`, smoothly (Keras's
/// `ExponentialDecay` counted in epochs instead of steps).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialDecay {
    /// The first epoch's rate.
    pub initial: f64,
    /// The factor per `decay_epochs` epochs (e.g. 0.96).
    pub rate: f64,
    /// Epochs over which the rate is multiplied by `rate` (at least 1).
    pub decay_epochs: usize,
}

impl ExponentialDecay {
    /// The rate for `epoch` (from 1).
    pub fn lr(&self, epoch: usize) -> f64 {
        let t = epoch.saturating_sub(1) as f64 / self.decay_epochs.max(1) as f64;
        self.initial * self.rate.powf(t)
    }
}

schedule_callback!(ExponentialDecay);

/// Cosine annealing from `initial` down to `initial * alpha` over `decay_epochs` epochs,
/// then flat (Keras's `CosineDecay` counted in epochs):
/// `lr = initial * ((1 - alpha) * (1 + cos(pi * t / decay_epochs)) / 2 + alpha)` with
/// `t = min(epoch - 1, decay_epochs)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineDecay {
    /// The first epoch's rate.
    pub initial: f64,
    /// Epochs to reach the final rate (at least 1).
    pub decay_epochs: usize,
    /// The final rate as a fraction of `initial` (0 to 1).
    pub alpha: f64,
}

impl CosineDecay {
    /// The rate for `epoch` (from 1).
    pub fn lr(&self, epoch: usize) -> f64 {
        let total = self.decay_epochs.max(1) as f64;
        let t = (epoch.saturating_sub(1) as f64).min(total);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * t / total).cos());
        self.initial * ((1.0 - self.alpha) * cosine + self.alpha)
    }
}

schedule_callback!(CosineDecay);

/// Multiplies the learning rate by `factor` when a monitored metric has not improved for
/// `patience` epochs (Keras's `ReduceLROnPlateau`), then waits `cooldown` epochs before
/// counting again; never goes below `min_lr`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReduceLROnPlateau {
    tracker: Tracker,
    /// The factor (in `(0, 1)`, Keras: 0.1).
    pub factor: f64,
    /// Epochs without improvement before reducing (Keras: 10).
    pub patience: usize,
    /// Epochs to wait after a reduction (Keras: 0).
    pub cooldown: usize,
    /// The smallest rate (Keras: 0).
    pub min_lr: f64,
    wait: usize,
    cooldown_left: usize,
}

impl ReduceLROnPlateau {
    /// Keras's defaults on `monitor`: factor 0.1, patience 10, min_delta 1e-4, cooldown 0,
    /// min_lr 0, mode auto.
    pub fn new(monitor: &str) -> Self {
        Self {
            tracker: Tracker::new(monitor, Mode::Auto, 1e-4),
            factor: 0.1,
            patience: 10,
            cooldown: 0,
            min_lr: 0.0,
            wait: 0,
            cooldown_left: 0,
        }
    }
    /// Sets the factor and the patience.
    pub fn factor_patience(mut self, factor: f64, patience: usize) -> Self {
        self.factor = factor;
        self.patience = patience;
        self
    }
    /// The smallest change that counts as an improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.tracker.min_delta = min_delta.abs();
        self
    }
}

impl<E: Dtype, D: Device<E>, M> Callback<E, D, M> for ReduceLROnPlateau {
    fn on_train_begin(&mut self, _m: &mut M, _ctl: &mut Control) -> Result<(), TrainError> {
        if !(self.factor > 0.0 && self.factor < 1.0) {
            return Err(TrainError::InvalidConfig {
                field: "ReduceLROnPlateau",
                problem: format!(
                    "has factor {}: use a value in (0, 1), e.g. 0.1",
                    self.factor
                ),
            });
        }
        self.wait = 0;
        self.cooldown_left = 0;
        self.tracker.best = None;
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        logs: &EpochMetrics,
        _m: &mut M,
        ctl: &mut Control,
    ) -> Result<(), TrainError> {
        let v = self.tracker.value(logs, "ReduceLROnPlateau")?;
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.wait = 0;
        }
        if self.tracker.improved(v) {
            self.wait = 0;
        } else if self.cooldown_left == 0 {
            self.wait += 1;
            if self.wait >= self.patience {
                let old = ctl.lr();
                if old > self.min_lr {
                    ctl.set_lr((old * self.factor).max(self.min_lr));
                    self.cooldown_left = self.cooldown;
                    self.wait = 0;
                }
            }
        }
        Ok(())
    }
}

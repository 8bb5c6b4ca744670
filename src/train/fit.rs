//! [`fit`] and [`evaluate`].

use std::io::Write;
use std::time::Instant;

use dfdx::nn::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorRef, ZeroGrads,
};
use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::callbacks::{Callback, Control};
use super::history::{EpochMetrics, Evaluation, History};
use super::loss::{count_top_k, predicted_classes, sample_factors, weighted_loss, Loss};
use super::metrics::ConfusionMatrix;
use super::progress::EpochBar;
use super::{device_err, TrainError};
use crate::backend::{Backend, Element};
use crate::data::Dataset;
use crate::network::{Network, SampleShape};
use crate::optim::{LearningRate, OptimizerStep};

/// How much [`fit`] prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// A progress bar during each epoch (on a terminal) and one line after it (Keras's
    /// `verbose=1`).
    #[default]
    ProgressBar,
    /// Only the line after each epoch (Keras's `verbose=2`).
    OneLine,
    /// Nothing (Keras's `verbose=0`).
    Silent,
}

impl From<bool> for Verbosity {
    /// `true` is [`Verbosity::ProgressBar`], `false` [`Verbosity::Silent`].
    fn from(verbose: bool) -> Self {
        if verbose {
            Self::ProgressBar
        } else {
            Self::Silent
        }
    }
}

/// The line [`fit`] prints after an epoch at this verbosity (`None`: nothing).
pub fn epoch_line(metrics: &EpochMetrics, verbosity: Verbosity) -> Option<String> {
    match verbosity {
        Verbosity::Silent => None,
        Verbosity::ProgressBar | Verbosity::OneLine => Some(metrics.to_string()),
    }
}

/// How [`fit`] trains (Keras's `fit` arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    /// The epoch to end at (at least 1). As in Keras, with `initial_epoch` the run trains
    /// epochs `initial_epoch + 1 ..= epochs`.
    pub epochs: usize,
    /// Samples per optimizer step (at least 1); the last batch of an epoch holds the
    /// remainder and may be smaller.
    pub batch_size: usize,
    /// Seeds the shuffling of the training set (the same seed gives the same batches).
    pub seed: u64,
    /// What to print: a progress bar and a line per epoch, the line only, or nothing.
    pub verbose: Verbosity,
    /// Shuffle the training samples every epoch (otherwise batches follow the data's order).
    pub shuffle: bool,
    /// Holds out this fraction of the training set, taken from its end before any
    /// shuffling (as Keras), as validation data; 0 for none. In `[0, 1)`; not together
    /// with a `validation` set.
    pub validation_split: f64,
    /// The loss to minimise.
    pub loss: Loss,
    /// Also report top-k accuracy (`top_5_accuracy` for `Some(5)`).
    pub top_k: Option<usize>,
    /// Per-class loss weights (one per class, finite, `>= 0`): each training sample's loss
    /// is multiplied by its class's weight (Keras's `class_weight`; the mean stays over the
    /// batch size). Validation and [`evaluate`] are unweighted, as in Keras. See
    /// [`balanced_class_weights`](super::balanced_class_weights).
    pub class_weights: Option<Vec<f64>>,
    /// Epochs already trained (to resume a run): numbering continues from here.
    pub initial_epoch: usize,
}

impl Default for FitConfig {
    /// 10 epochs of shuffled batches of 128, seed 0, progress bar, sparse categorical
    /// cross-entropy, accuracy, no validation split, no class weights.
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 128,
            seed: 0,
            verbose: Verbosity::ProgressBar,
            shuffle: true,
            validation_split: 0.0,
            loss: Loss::default(),
            top_k: None,
            class_weights: None,
            initial_epoch: 0,
        }
    }
}

impl FitConfig {
    /// An error naming the first field out of range.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |field, problem: String| Err(TrainError::InvalidConfig { field, problem });
        if self.epochs == 0 {
            return bad("epochs", "is 0: train for at least 1 epoch".into());
        }
        if self.initial_epoch >= self.epochs {
            return bad(
                "initial_epoch",
                format!(
                    "is {} but `epochs` is {}: `epochs` is the epoch to end at, so it must be \
                     larger (to train 5 more epochs after {}, set epochs = {})",
                    self.initial_epoch,
                    self.epochs,
                    self.initial_epoch,
                    self.initial_epoch + 5
                ),
            );
        }
        if !(0.0..1.0).contains(&self.validation_split) {
            return bad(
                "validation_split",
                format!(
                    "is {}: use a fraction in [0, 1), e.g. 0.1 (0 for none)",
                    self.validation_split
                ),
            );
        }
        if self.top_k == Some(0) {
            return bad("top_k", "is Some(0): use k >= 1, e.g. Some(5)".into());
        }
        if let Some(w) = &self.class_weights {
            if let Some((class, v)) = w
                .iter()
                .enumerate()
                .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
            {
                return bad(
                    "class_weights",
                    format!("has weight {v} for class {class}: weights must be finite and >= 0"),
                );
            }
        }
        self.loss.validate()?;
        check_batch_size(self.batch_size)
    }
}

/// Splits `data` as Keras's `validation_split`: the last `ceil`-ish fraction
/// (`len - floor(len * (1 - split))` samples) becomes the validation set.
pub fn split_validation<S: SampleShape>(
    data: &Dataset<S>,
    split: f64,
) -> Result<(Dataset<S>, Dataset<S>), TrainError> {
    if !(split > 0.0 && split < 1.0) {
        return Err(TrainError::InvalidConfig {
            field: "validation_split",
            problem: format!("is {split}: use a fraction in (0, 1), e.g. 0.1"),
        });
    }
    let at = (data.len() as f64 * (1.0 - split)).floor() as usize;
    if at == 0 || at == data.len() {
        return Err(TrainError::InvalidConfig {
            field: "validation_split",
            problem: format!(
                "of {split} leaves {} training and {} validation samples out of {}: both \
                 need at least one; use a split that keeps samples on both sides",
                at,
                data.len() - at,
                data.len()
            ),
        });
    }
    Ok(data.split_at(at)?)
}

fn check_batch_size(batch_size: usize) -> Result<(), TrainError> {
    if batch_size == 0 {
        return Err(TrainError::InvalidConfig {
            field: "batch_size",
            problem: "is 0: use at least 1 sample per batch (e.g. 32 or 128)".into(),
        });
    }
    Ok(())
}

/// The order in which [`fit`] visits the training samples: every epoch a fresh shuffle of
/// all indices from a seeded `StdRng`, cut into batches of `batch_size` (the last one
/// smaller when the size does not divide the length).
#[derive(Debug, Clone)]
pub struct BatchOrder {
    order: Vec<usize>,
    batch_size: usize,
    rng: StdRng,
    shuffle: bool,
}

impl BatchOrder {
    /// Batches over `len` samples; an error when `batch_size` is 0.
    pub fn new(len: usize, batch_size: usize, seed: u64) -> Result<Self, TrainError> {
        check_batch_size(batch_size)?;
        Ok(Self {
            order: (0..len).collect(),
            batch_size,
            rng: StdRng::seed_from_u64(seed),
            shuffle: true,
        })
    }

    /// The same, in the data's order every epoch when `shuffle` is false.
    pub fn with_shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Batches per epoch: `ceil(len / batch_size)`.
    pub fn steps(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// Shuffles and returns the next epoch's batches of sample indices.
    pub fn next_epoch(&mut self) -> std::slice::Chunks<'_, usize> {
        if self.shuffle {
            self.order.shuffle(&mut self.rng);
        }
        self.order.chunks(self.batch_size)
    }
}

struct FindDevice<D>(Option<D>);

impl<E: Dtype, D: Device<E>> TensorVisitor<E, D> for FindDevice<D> {
    type Viewer = ViewTensorRef;
    type Err = D::Err;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _opts: TensorOptions<S, E, D>,
        t: &Tensor<S, E, D>,
    ) -> Result<Option<Tensor<S, E, D>>, D::Err> {
        if self.0.is_none() {
            self.0 = Some(t.device().clone());
        }
        Ok(None)
    }
}

/// The device `model`'s tensors live on (a default device for a model without tensors).
pub(crate) fn model_device<E: Dtype, D: Device<E>, M: TensorCollection<E, D>>(
    model: &M,
) -> Result<D, TrainError> {
    let mut finder = FindDevice(None);
    M::iter_tensors(&mut RecursiveWalker {
        m: model,
        f: &mut finder,
    })
    .map_err(device_err("looking up the model's device"))?;
    Ok(finder.0.unwrap_or_default())
}

fn check_labels<S: SampleShape>(
    data: &Dataset<S>,
    classes: usize,
    set: &'static str,
) -> Result<(), TrainError> {
    if data.is_empty() {
        return Err(TrainError::EmptyDataset { set });
    }
    match data
        .labels()
        .iter()
        .enumerate()
        .find(|&(_, &l)| l >= classes)
    {
        Some((index, &label)) => Err(TrainError::LabelOutOfRange {
            set,
            index,
            label,
            classes,
        }),
        None => Ok(()),
    }
}

/// A scalar tensor's value as `f64` (NaN if it cannot be read).
fn scalar<E: Element, D: Device<E>, T>(t: &Tensor<Rank0, E, D, T>) -> f64 {
    t.as_vec()
        .first()
        .and_then(|x| x.to_f64())
        .unwrap_or(f64::NAN)
}

/// Trains `model` on `train` with `optimizer` as [`fit_with`] does, without callbacks.
///
/// With `config.verbose` at [`Verbosity::ProgressBar`], shows a progress bar during each
/// epoch (on a terminal) and prints a Keras-style line after it:
/// `Epoch 1/10 - 8.31s - loss: 0.2211 - accuracy: 0.9381 - val_loss: 0.0942 - val_accuracy: 0.9706`.
pub fn fit<E, D, M, O, const K: usize>(
    model: &mut M,
    optimizer: &mut O,
    train: &Dataset<M::InputShape>,
    validation: Option<&Dataset<M::InputShape>>,
    config: &FitConfig,
) -> Result<History, TrainError>
where
    E: Element,
    D: Backend<E>,
    M: Network<E, D, OutputShape = (Const<K>,)>,
    O: OptimizerStep<M, D, E> + LearningRate,
{
    fit_with(model, optimizer, train, validation, config, &mut [])
}

/// Trains `model` on `train` with `optimizer`, minimising `config.loss` of its logits, for
/// epochs `config.initial_epoch + 1 ..= config.epochs` of mini-batches (shuffled unless
/// `config.shuffle` is off); after each epoch evaluates on `validation` (or on the
/// `config.validation_split` held out from `train`), then calls each callback's
/// `on_epoch_end`, which may stop training or change the learning rate. Returns the
/// per-epoch metrics.
///
/// Errors (leaving the model as trained so far): an invalid `config`, an empty set, a
/// label that the network cannot output, class weights of the wrong length, a NaN or
/// infinite loss (naming the epoch and step; Keras's `TerminateOnNaN`, always on, raised
/// before any callback sees that epoch), a callback's error, and device or optimizer
/// failures.
pub fn fit_with<E, D, M, O, const K: usize>(
    model: &mut M,
    optimizer: &mut O,
    train: &Dataset<M::InputShape>,
    validation: Option<&Dataset<M::InputShape>>,
    config: &FitConfig,
    callbacks: &mut [&mut dyn Callback<E, D, M>],
) -> Result<History, TrainError>
where
    E: Element,
    D: Backend<E>,
    M: Network<E, D, OutputShape = (Const<K>,)>,
    O: OptimizerStep<M, D, E> + LearningRate,
{
    crate::alloc::tune_allocator();
    config.validate()?;
    let held_out;
    let (train, validation) = if config.validation_split > 0.0 {
        if validation.is_some() {
            return Err(TrainError::InvalidConfig {
                field: "validation_split",
                problem: "was given together with validation data: use one or the other".into(),
            });
        }
        held_out = split_validation(train, config.validation_split)?;
        (&held_out.0, Some(&held_out.1))
    } else {
        (train, validation)
    };
    let classes = config.loss.classes(K);
    check_labels(train, classes, "training")?;
    if let Some(val) = validation {
        check_labels(val, classes, "validation")?;
    }
    if let Some(w) = &config.class_weights {
        if w.len() != classes {
            return Err(TrainError::InvalidConfig {
                field: "class_weights",
                problem: format!(
                    "has {} weights but the network has {classes} classes: give one weight per class",
                    w.len()
                ),
            });
        }
    }
    let dev: D = model_device(model)?;
    let mut order =
        BatchOrder::new(train.len(), config.batch_size, config.seed)?.with_shuffle(config.shuffle);
    let steps = order.steps();
    let mut grads = model
        .try_alloc_grads()
        .map_err(device_err("allocating the gradients"))?;
    let mut labels: Vec<usize> = Vec::with_capacity(config.batch_size);
    let mut history = History::default();
    let mut ctl = Control::new(optimizer.lr());
    for cb in callbacks.iter_mut() {
        cb.on_train_begin(model, &mut ctl)?;
    }
    check_lr(ctl.lr(), config.initial_epoch + 1)?;
    optimizer.set_lr(ctl.lr());

    for epoch in config.initial_epoch + 1..=config.epochs {
        ctl = Control::new(optimizer.lr());
        for cb in callbacks.iter_mut() {
            cb.on_epoch_begin(epoch, model, &mut ctl)?;
        }
        check_lr(ctl.lr(), epoch)?;
        optimizer.set_lr(ctl.lr());
        let lr = optimizer.lr();

        let bar = EpochBar::new(
            epoch,
            config.epochs,
            steps,
            config.verbose == Verbosity::ProgressBar,
        );
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut top, mut seen) = (0.0f64, 0usize, 0usize, 0usize);
        for (step, indices) in order.next_epoch().enumerate() {
            let step = step + 1;
            let x = train.batch::<E, D>(&dev, indices)?;
            labels.clear();
            labels.extend(indices.iter().filter_map(|&i| train.labels().get(i)));

            let logits = model
                .try_forward_logits_mut(x.traced(grads))
                .map_err(device_err("running the forward pass"))?;
            let values = logits.as_vec();
            correct += count_matches(&values, &labels, K);
            if let Some(k) = config.top_k {
                top += count_top_k(&values, &labels, K, k);
            }
            let targets = config.loss.targets::<E>(&labels, K)?;
            let factors = sample_factors(&labels, config.class_weights.as_deref())?;
            let loss = weighted_loss(&config.loss, logits, targets, &factors, M::ENDS_IN_SOFTMAX)?;
            let loss_value = scalar(&loss);
            if !loss_value.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    epoch,
                    step,
                    loss: loss_value,
                });
            }
            grads = loss
                .try_backward()
                .map_err(device_err("computing the gradients"))?;
            // The step leaves the gradients zero for the next batch.
            optimizer
                .step_and_zero_grads(model, &mut grads)
                .map_err(|e| TrainError::Optimizer {
                    epoch,
                    step,
                    message: e.to_string(),
                })?;

            loss_sum += loss_value * labels.len() as f64;
            seen += labels.len();
            bar.step(loss_sum / seen as f64, correct as f64 / seen as f64);
        }
        let seconds = start.elapsed().as_secs_f64();
        bar.finish();
        let validation = match validation {
            Some(val) => Some(evaluate_with(
                model,
                val,
                config.batch_size,
                &config.loss,
                config.top_k,
            )?),
            None => None,
        };
        let n = seen.max(1) as f64;
        let metrics = EpochMetrics {
            epoch,
            epochs: config.epochs,
            seconds,
            loss: loss_sum / n,
            accuracy: correct as f64 / n,
            steps,
            samples: seen,
            validation,
            top_k: config.top_k.map(|k| (k, top as f64 / n)),
            lr: Some(lr),
        };
        if let Some(line) = epoch_line(&metrics, config.verbose) {
            // Not `println!`: a closed stdout (`... | head`) must not panic the training.
            let _ = writeln!(std::io::stdout(), "{line}");
        }
        history.epochs.push(metrics);
        ctl = Control::new(optimizer.lr());
        if let Some(logs) = history.epochs.last() {
            for cb in callbacks.iter_mut() {
                cb.on_epoch_end(logs, model, &mut ctl)?;
            }
        }
        check_lr(ctl.lr(), epoch)?;
        optimizer.set_lr(ctl.lr());
        if ctl.stopping() {
            break;
        }
    }
    for cb in callbacks.iter_mut() {
        cb.on_train_end(&history, model)?;
    }
    Ok(history)
}

fn check_lr(lr: f64, epoch: usize) -> Result<(), TrainError> {
    if lr.is_finite() && lr >= 0.0 {
        Ok(())
    } else {
        Err(TrainError::InvalidConfig {
            field: "learning rate",
            problem: format!(
                "was set to {lr} by a callback at epoch {epoch}: a schedule must give a finite \
                 rate >= 0; check its parameters"
            ),
        })
    }
}

/// Rows whose predicted class (see [`predicted_classes`]) is their label.
fn count_matches<E: Element>(logits: &[E], labels: &[usize], outputs: usize) -> usize {
    predicted_classes(logits, outputs)
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count()
}

/// The mean softmax cross-entropy and the accuracy of `model` on `data`, in inference mode
/// (dropout off, batch-norm running statistics), `batch_size` samples at a time.
pub fn evaluate<E, D, M, const K: usize>(
    model: &M,
    data: &Dataset<M::InputShape>,
    batch_size: usize,
) -> Result<Evaluation, TrainError>
where
    E: Element,
    D: Backend<E>,
    M: Network<E, D, OutputShape = (Const<K>,)>,
{
    evaluate_with(model, data, batch_size, &Loss::default(), None)
}

/// `loss`'s mean (unweighted), the accuracy and optionally the top-k accuracy of `model`
/// on `data`, in inference mode, `batch_size` samples at a time.
pub fn evaluate_with<E, D, M, const K: usize>(
    model: &M,
    data: &Dataset<M::InputShape>,
    batch_size: usize,
    loss: &Loss,
    top_k: Option<usize>,
) -> Result<Evaluation, TrainError>
where
    E: Element,
    D: Backend<E>,
    M: Network<E, D, OutputShape = (Const<K>,)>,
{
    check_batch_size(batch_size)?;
    loss.validate()?;
    check_labels(data, loss.classes(K), "evaluation")?;
    let dev: D = model_device(model)?;
    let indices: Vec<usize> = (0..data.len()).collect();
    let (mut loss_sum, mut correct, mut top) = (0.0f64, 0usize, 0usize);
    for chunk in indices.chunks(batch_size) {
        let x = data.batch::<E, D>(&dev, chunk)?;
        let labels = data.batch_labels(chunk)?;
        let logits = model
            .try_forward_logits(x)
            .map_err(device_err("running the forward pass"))?;
        let values = logits.as_vec();
        correct += count_matches(&values, &labels, K);
        if let Some(k) = top_k {
            top += count_top_k(&values, &labels, K, k);
        }
        let targets = loss.targets::<E>(&labels, K)?;
        let factors = sample_factors(&labels, None)?;
        let l = weighted_loss(loss, logits, targets, &factors, M::ENDS_IN_SOFTMAX)?;
        loss_sum += scalar(&l) * labels.len() as f64;
    }
    let n = data.len() as f64;
    Ok(Evaluation {
        loss: loss_sum / n,
        accuracy: correct as f64 / n,
        top_k: top_k.map(|k| (k, top as f64 / n)),
    })
}

/// What [`predict`] gives: per sample, the class probabilities and the predicted class.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Row-major, `outputs` values per sample: the softmax of the logits (whether or not
    /// the network ends in `Softmax`), or for a single-output network the sigmoid.
    pub probabilities: Vec<f32>,
    /// The predicted class of each sample: the largest probability (for one output,
    /// probability > 0.5).
    pub classes: Vec<usize>,
    /// Values per sample in `probabilities`.
    pub outputs: usize,
}

impl Predictions {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.classes.len()
    }
    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
    /// Sample `i`'s probabilities.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        let start = i.checked_mul(self.outputs)?;
        self.probabilities
            .get(start..start.checked_add(self.outputs)?)
    }
}

/// The predictions of `model` for every sample of `data` (its labels are not used), in
/// inference mode, `batch_size` samples at a time (Keras's `predict`).
pub fn predict<E, D, M, const K: usize>(
    model: &M,
    data: &Dataset<M::InputShape>,
    batch_size: usize,
) -> Result<Predictions, TrainError>
where
    E: Element,
    D: Backend<E>,
    M: Network<E, D, OutputShape = (Const<K>,)>,
{
    check_batch_size(batch_size)?;
    let dev: D = model_device(model)?;
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut out = Predictions {
        probabilities: Vec::with_capacity(data.len() * K),
        classes: Vec::with_capacity(data.len()),
        outputs: K,
    };
    for chunk in indices.chunks(batch_size) {
        let x = data.batch::<E, D>(&dev, chunk)?;
        let logits = model
            .try_forward_logits(x)
            .map_err(device_err("running the forward pass"))?
            .as_vec();
        out.classes.extend(predicted_classes(&logits, K));
        for row in logits.chunks(K) {
            let row: Vec<f64> = row.iter().map(|v| v.to_f64().unwrap_or(f64::NAN)).collect();
            if K == 1 {
                out.probabilities
                    .extend(row.iter().map(|&x| (1.0 / (1.0 + (-x).exp())) as f32));
            } else {
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = row.iter().map(|&x| (x - max).exp()).collect();
                let sum: f64 = exps.iter().sum();
                out.probabilities
                    .extend(exps.iter().map(|&e| (e / sum) as f32));
            }
        }
    }
    Ok(out)
}

/// The confusion matrix of `model` on `data` (true labels against [`predict`]'s classes).
pub fn confusion_matrix<E, D, M, const K: usize>(
    model: &M,
    data: &Dataset<M::InputShape>,
    batch_size: usize,
) -> Result<ConfusionMatrix, TrainError>
where
    E: Element,
    D: Backend<E>,
    M: Network<E, D, OutputShape = (Const<K>,)>,
{
    let p = predict(model, data, batch_size)?;
    let classes = if K == 1 { 2 } else { K };
    check_labels(data, classes, "evaluation")?;
    ConfusionMatrix::new(data.labels(), &p.classes, classes)
}

//! [`fit`] and [`evaluate`].

use std::io::Write;
use std::time::Instant;

use dfdx::nn::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorRef, ZeroGrads,
};
use dfdx::optim::Optimizer;
use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::history::{EpochMetrics, Evaluation, History};
use super::loss::{count_correct, softmax_cross_entropy};
use super::progress::EpochBar;
use super::{device_err, TrainError};
use crate::backend::{Backend, Element};
use crate::data::Dataset;
use crate::network::{Network, SampleShape};

/// How [`fit`] trains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitConfig {
    /// Passes over the training set (at least 1).
    pub epochs: usize,
    /// Samples per optimizer step (at least 1); the last batch of an epoch holds the
    /// remainder and may be smaller.
    pub batch_size: usize,
    /// Seeds the shuffling of the training set (the same seed gives the same batches).
    pub seed: u64,
    /// Show a progress bar (on a terminal) and print one line per epoch to stdout.
    pub verbose: bool,
}

impl Default for FitConfig {
    /// 10 epochs of batches of 128, seed 0, verbose.
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 128,
            seed: 0,
            verbose: true,
        }
    }
}

impl FitConfig {
    /// An error naming the first field out of range.
    pub fn validate(&self) -> Result<(), TrainError> {
        if self.epochs == 0 {
            return Err(TrainError::InvalidConfig {
                field: "epochs",
                problem: "is 0: train for at least 1 epoch".into(),
            });
        }
        check_batch_size(self.batch_size)
    }
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
}

impl BatchOrder {
    /// Batches over `len` samples; an error when `batch_size` is 0.
    pub fn new(len: usize, batch_size: usize, seed: u64) -> Result<Self, TrainError> {
        check_batch_size(batch_size)?;
        Ok(Self {
            order: (0..len).collect(),
            batch_size,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// Batches per epoch: `ceil(len / batch_size)`.
    pub fn steps(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// Shuffles and returns the next epoch's batches of sample indices.
    pub fn next_epoch(&mut self) -> std::slice::Chunks<'_, usize> {
        self.order.shuffle(&mut self.rng);
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
pub fn model_device<E: Dtype, D: Device<E>, M: TensorCollection<E, D>>(
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

/// Trains `model` on `train` with `optimizer`, minimising the softmax cross-entropy of its
/// logits, for `config.epochs` passes of shuffled mini-batches; after each epoch evaluates
/// on `validation` (if given). Returns the per-epoch metrics.
///
/// With `config.verbose`, shows a progress bar during each epoch (on a terminal) and
/// prints a Keras-style line after it:
/// `Epoch 1/10 - 8.31s - loss: 0.2211 - accuracy: 0.9381 - val_loss: 0.0942 - val_accuracy: 0.9706`.
///
/// Errors (leaving the model as trained so far): an invalid `config`, an empty set, a
/// label that is not below the number of outputs `K`, a NaN or infinite loss (naming the
/// epoch and step), and device or optimizer failures.
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
    O: Optimizer<M, D, E>,
{
    crate::alloc::tune_allocator();
    config.validate()?;
    check_labels(train, K, "training")?;
    if let Some(val) = validation {
        check_labels(val, K, "validation")?;
    }
    let dev: D = model_device(model)?;
    let mut order = BatchOrder::new(train.len(), config.batch_size, config.seed)?;
    let steps = order.steps();
    let mut grads = model
        .try_alloc_grads()
        .map_err(device_err("allocating the gradients"))?;
    let mut labels: Vec<usize> = Vec::with_capacity(config.batch_size);
    let mut history = History::default();

    for epoch in 1..=config.epochs {
        let bar = EpochBar::new(epoch, config.epochs, steps, config.verbose);
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for (step, indices) in order.next_epoch().enumerate() {
            let step = step + 1;
            let x = train.batch::<E, D>(&dev, indices)?;
            labels.clear();
            labels.extend(indices.iter().filter_map(|&i| train.labels().get(i)));

            let logits = model
                .try_forward_logits_mut(x.traced(grads))
                .map_err(device_err("running the forward pass"))?;
            correct += count_correct(&logits.as_vec(), &labels, K);
            let loss = softmax_cross_entropy(logits, &labels)?;
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
            optimizer
                .update(model, &grads)
                .map_err(|e| TrainError::Optimizer {
                    epoch,
                    step,
                    message: e.to_string(),
                })?;
            model
                .try_zero_grads(&mut grads)
                .map_err(device_err("zeroing the gradients"))?;

            loss_sum += loss_value * labels.len() as f64;
            seen += labels.len();
            bar.step(loss_sum / seen as f64, correct as f64 / seen as f64);
        }
        let seconds = start.elapsed().as_secs_f64();
        bar.finish();
        let validation = match validation {
            Some(val) => Some(evaluate(model, val, config.batch_size)?),
            None => None,
        };
        let metrics = EpochMetrics {
            epoch,
            epochs: config.epochs,
            seconds,
            loss: loss_sum / seen.max(1) as f64,
            accuracy: correct as f64 / seen.max(1) as f64,
            steps,
            samples: seen,
            validation,
        };
        if config.verbose {
            // Not `println!`: a closed stdout (`... | head`) must not panic the training.
            let _ = writeln!(std::io::stdout(), "{metrics}");
        }
        history.epochs.push(metrics);
    }
    Ok(history)
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
    check_batch_size(batch_size)?;
    check_labels(data, K, "evaluation")?;
    let dev: D = model_device(model)?;
    let indices: Vec<usize> = (0..data.len()).collect();
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for chunk in indices.chunks(batch_size) {
        let x = data.batch::<E, D>(&dev, chunk)?;
        let labels = data.batch_labels(chunk)?;
        let logits = model
            .try_forward_logits(x)
            .map_err(device_err("running the forward pass"))?;
        correct += count_correct(&logits.as_vec(), &labels, K);
        let loss = softmax_cross_entropy(logits, &labels)?;
        loss_sum += scalar(&loss) * labels.len() as f64;
    }
    let n = data.len() as f64;
    Ok(Evaluation {
        loss: loss_sum / n,
        accuracy: correct as f64 / n,
    })
}

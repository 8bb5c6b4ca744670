//! Training and evaluating a [`Network`](crate::Network) classifier, Keras style:
//! [`fit`] (or [`fit_with`], with [`callbacks`]) runs epochs of mini-batches with any dfdx
//! optimizer and returns a [`History`]; [`evaluate`] / [`evaluate_with`] give a dataset's
//! loss and metrics, [`predict`] its probabilities and classes, [`confusion_matrix`] its
//! per-class results.
//!
//! Every [`Loss`] is computed from the network's logits (the output before a final
//! `Softmax`, see [`Network::try_forward_logits`](crate::Network::try_forward_logits)) in
//! a numerically stable form (`log_softmax`, or `max(x, 0) - x t + ln(1 + e^-|x|)` for
//! binary cross-entropy), whether or not the network ends in `Softmax`.

pub mod callbacks;
mod fit;
mod history;
mod loss;
mod metrics;
mod progress;

use std::path::PathBuf;

use crate::data::DataError;
use crate::weights::WeightsError;

pub use callbacks::{
    read_checkpoint_epoch, read_csv_last_epoch, Callback, Control, CosineDecay, CsvLogger,
    EarlyStopping, ExponentialDecay, Mode, ModelCheckpoint, ReduceLROnPlateau, StepDecay,
};
pub use fit::{
    confusion_matrix, evaluate, evaluate_with, fit, fit_with, predict, split_validation, FitConfig,
    Predictions, Verbosity,
};
pub use history::{EpochMetrics, Evaluation, History};
pub use loss::{
    binary_cross_entropy, categorical_cross_entropy, mean_squared_error, one_hot,
    softmax_cross_entropy, Loss,
};
// The trainer's own steps, public only for the tests that check them one by one.
#[doc(hidden)]
pub use fit::{epoch_line, BatchOrder};
#[doc(hidden)]
pub use loss::{count_correct, count_top_k, predicted_classes, sample_factors, weighted_loss};
pub use metrics::{balanced_class_weights, ConfusionMatrix};

/// What went wrong while training or evaluating. Each message says what was wrong and
/// how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A [`FitConfig`] field (or an argument such as a batch size) is out of range.
    #[error("invalid training configuration: `{field}` {problem}")]
    InvalidConfig {
        /// The field or argument.
        field: &'static str,
        /// What is wrong with it and what to use instead.
        problem: String,
    },
    /// A dataset without samples.
    #[error("the {set} set is empty: it needs at least one sample")]
    EmptyDataset {
        /// Which set: `training`, `validation` or `evaluation`.
        set: &'static str,
    },
    /// A label that is not one of the network's classes.
    #[error(
        "label {label} of {set} sample {index} is not a class of a network with {classes} \
         outputs (labels must be 0 to {}): fix the labels or declare the network with more \
         outputs",
        .classes.saturating_sub(1)
    )]
    LabelOutOfRange {
        /// Which set.
        set: &'static str,
        /// The sample's index in its set (or in its batch for [`one_hot`]).
        index: usize,
        /// The label.
        label: usize,
        /// The network's number of outputs.
        classes: usize,
    },
    /// The number of labels differs from the batch size of the logits.
    #[error("{labels} labels were given for a batch of {batch} logits: give one label per sample")]
    LabelCount {
        /// Labels given.
        labels: usize,
        /// Rows of logits.
        batch: usize,
    },
    /// The loss became NaN or infinite.
    #[error(
        "the loss became {loss} at epoch {epoch}, step {step}: training diverged; lower the \
         learning rate, or check the inputs for NaN or infinite values"
    )]
    NonFiniteLoss {
        /// The epoch (from 1).
        epoch: usize,
        /// The step within the epoch (from 1).
        step: usize,
        /// The loss value.
        loss: f64,
    },
    /// The optimizer could not update the parameters.
    #[error(
        "the optimizer update failed at epoch {epoch}, step {step}: {message} (a parameter \
         that does not influence the loss gets no gradient; an optimizer built for another \
         model cannot update this one)"
    )]
    Optimizer {
        /// The epoch (from 1).
        epoch: usize,
        /// The step within the epoch (from 1).
        step: usize,
        /// The optimizer's error.
        message: String,
    },
    /// The device failed (out of memory, a kernel error, ...).
    #[error("device error while {context}: {message}")]
    Device {
        /// What was being done.
        context: &'static str,
        /// The device's error.
        message: String,
    },
    /// Building a batch from the data failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Saving weights or a log file failed (a checkpoint or CSV callback).
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// A file a callback writes cannot be written.
    #[error("`{}` {problem}", .path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// What a resumed run needs could not be read.
    #[error("cannot resume: `{}` {problem}", .path.display())]
    Resume {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

/// Maps a device error to [`TrainError::Device`] with `context`.
pub(crate) fn device_err<Err: std::fmt::Display>(
    context: &'static str,
) -> impl FnOnce(Err) -> TrainError {
    move |e| TrainError::Device {
        context,
        message: e.to_string(),
    }
}

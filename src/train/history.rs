//! What [`fit`](super::fit) and [`evaluate`](super::evaluate) measure.

use std::fmt;

/// A dataset's mean loss and accuracy under a model (see [`evaluate`](super::evaluate)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Mean softmax cross-entropy per sample.
    pub loss: f64,
    /// Fraction of samples whose largest output is their label, in `[0, 1]`.
    pub accuracy: f64,
    /// `(k, fraction of samples whose label is among their k largest outputs)`, when
    /// [`FitConfig::top_k`](super::FitConfig::top_k) asks for it.
    pub top_k: Option<(usize, f64)>,
}

impl Evaluation {
    /// A metric by its Keras name: `loss`, `accuracy` or `top_K_accuracy` (e.g.
    /// `top_5_accuracy`).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "loss" => Some(self.loss),
            "accuracy" => Some(self.accuracy),
            _ => match self.top_k {
                Some((k, v)) if name == top_k_name(k) => Some(v),
                _ => None,
            },
        }
    }
}

/// Keras's name for top-k accuracy: `top_5_accuracy`.
pub(crate) fn top_k_name(k: usize) -> String {
    format!("top_{k}_accuracy")
}

/// One epoch of training.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochMetrics {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The number of epochs the run was asked for.
    pub epochs: usize,
    /// Seconds spent on this epoch's training steps (not on validation).
    pub seconds: f64,
    /// Mean training loss over the epoch's batches (weighted by batch size, so each
    /// sample counts once; the model changes from batch to batch, as in Keras).
    pub loss: f64,
    /// Fraction of the epoch's training samples classified right when their batch was seen.
    pub accuracy: f64,
    /// Optimizer steps taken (batches).
    pub steps: usize,
    /// Training samples seen (the whole training set).
    pub samples: usize,
    /// The validation set's loss and accuracy after the epoch, when one was given.
    pub validation: Option<Evaluation>,
    /// Top-k accuracy of the epoch's training samples, when asked for: `(k, fraction)`.
    pub top_k: Option<(usize, f64)>,
    /// The optimizer's learning rate during the epoch.
    pub lr: Option<f64>,
}

impl EpochMetrics {
    /// A metric by its Keras name: `loss`, `accuracy`, `top_5_accuracy`, `val_loss`,
    /// `val_accuracy`, `val_top_5_accuracy`, `lr`. `None` when the epoch did not measure it.
    pub fn get(&self, name: &str) -> Option<f64> {
        if name == "lr" || name == "learning_rate" {
            return self.lr;
        }
        if let Some(rest) = name.strip_prefix("val_") {
            return self.validation.as_ref().and_then(|v| v.get(rest));
        }
        Evaluation {
            loss: self.loss,
            accuracy: self.accuracy,
            top_k: self.top_k,
        }
        .get(name)
    }
}

impl fmt::Display for EpochMetrics {
    /// The Keras-style line
    /// `Epoch 1/10 - 8.31s - loss: 0.2211 - accuracy: 0.9381 - val_loss: 0.0942 - val_accuracy: 0.9706`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Epoch {}/{} - {:.2}s - loss: {:.4} - accuracy: {:.4}",
            self.epoch, self.epochs, self.seconds, self.loss, self.accuracy
        )?;
        if let Some((k, v)) = self.top_k {
            write!(f, " - {}: {v:.4}", top_k_name(k))?;
        }
        if let Some(v) = &self.validation {
            write!(
                f,
                " - val_loss: {:.4} - val_accuracy: {:.4}",
                v.loss, v.accuracy
            )?;
            if let Some((k, t)) = v.top_k {
                write!(f, " - val_{}: {t:.4}", top_k_name(k))?;
            }
        }
        Ok(())
    }
}

/// Per-epoch metrics of a [`fit`](super::fit) run, like Keras's `History`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// One entry per completed epoch, in order.
    pub epochs: Vec<EpochMetrics>,
}

impl History {
    /// The number of completed epochs.
    pub fn len(&self) -> usize {
        self.epochs.len()
    }

    /// Whether no epoch completed.
    pub fn is_empty(&self) -> bool {
        self.epochs.is_empty()
    }

    /// The last epoch's metrics.
    pub fn last(&self) -> Option<&EpochMetrics> {
        self.epochs.last()
    }

    /// Training loss per epoch.
    pub fn loss(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.loss).collect()
    }

    /// Training accuracy per epoch.
    pub fn accuracy(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.accuracy).collect()
    }

    /// Validation loss per epoch (empty without a validation set).
    pub fn val_loss(&self) -> Vec<f64> {
        self.epochs
            .iter()
            .filter_map(|e| e.validation.map(|v| v.loss))
            .collect()
    }

    /// Validation accuracy per epoch (empty without a validation set).
    pub fn val_accuracy(&self) -> Vec<f64> {
        self.epochs
            .iter()
            .filter_map(|e| e.validation.map(|v| v.accuracy))
            .collect()
    }

    /// A metric per epoch by its Keras name (see [`EpochMetrics::get`]); epochs that did
    /// not measure it are left out.
    pub fn metric(&self, name: &str) -> Vec<f64> {
        self.epochs.iter().filter_map(|e| e.get(name)).collect()
    }

    /// The epoch numbers (from 1, continuing from `initial_epoch` on a resumed run).
    pub fn epoch_numbers(&self) -> Vec<usize> {
        self.epochs.iter().map(|e| e.epoch).collect()
    }

    /// Seconds per epoch (training steps only).
    pub fn seconds(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.seconds).collect()
    }
}

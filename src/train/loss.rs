//! Softmax cross-entropy from logits, and accuracy.

use dfdx::prelude::*;

use super::{device_err, TrainError};
use crate::backend::Element;

/// `labels` as one-hot rows of `classes` values each (`1` at the label, `0` elsewhere).
/// A label `>= classes` is an error naming its position in `labels`.
pub fn one_hot<E: Element>(labels: &[usize], classes: usize) -> Result<Vec<E>, TrainError> {
    if let (0, Some(&label)) = (classes, labels.first()) {
        return Err(TrainError::LabelOutOfRange {
            set: "batch",
            index: 0,
            label,
            classes,
        });
    }
    let mut out = vec![E::zero(); labels.len().saturating_mul(classes)];
    for (i, (&label, row)) in labels
        .iter()
        .zip(out.chunks_mut(classes.max(1)))
        .enumerate()
    {
        let slot = row.get_mut(label).filter(|_| label < classes);
        match slot {
            Some(v) => *v = E::one(),
            None => {
                return Err(TrainError::LabelOutOfRange {
                    set: "batch",
                    index: i,
                    label,
                    classes,
                })
            }
        }
    }
    Ok(out)
}

/// The mean over the batch of the softmax cross-entropy between `logits` `(B, K)` and
/// the class `labels` (one per row): `mean_b(-log_softmax(logits)[b, labels[b]])`.
///
/// Computed with `log_softmax` (the log-sum-exp trick), so large logits do not overflow.
/// Pass the logits, not softmax probabilities: [`Network::try_forward_logits`] gives them.
/// The result keeps `logits`' tape, so it can be back-propagated.
///
/// [`Network::try_forward_logits`]: crate::Network::try_forward_logits
pub fn softmax_cross_entropy<B: Dim, const K: usize, E: Element, D: Device<E>, T: Tape<E, D>>(
    logits: Tensor<(B, Const<K>), E, D, T>,
    labels: &[usize],
) -> Result<Tensor<Rank0, E, D, T>, TrainError> {
    let batch = logits.shape().0;
    if labels.len() != batch.size() || labels.is_empty() {
        return Err(TrainError::LabelCount {
            labels: labels.len(),
            batch: batch.size(),
        });
    }
    let targets = logits
        .device()
        .try_tensor_from_vec(one_hot::<E>(labels, K)?, (batch, Const::<K>))
        .map_err(device_err("copying the labels to the device"))?;
    let n = E::from_usize(labels.len()).ok_or(TrainError::LabelCount {
        labels: labels.len(),
        batch: batch.size(),
    })?;
    let err = device_err("computing the loss");
    logits
        .try_log_softmax::<Axis<1>>()
        .and_then(|logp| logp.try_mul(targets))
        .and_then(|picked| picked.try_sum::<Rank0, _>())
        .and_then(|total| total.try_negate())
        .and_then(|neg| neg.try_div(n))
        .map_err(err)
}

/// How many rows of `logits` (row-major, `classes` per row) have their largest value at
/// the row's label. Ties go to the first largest value; NaN never wins.
pub fn count_correct<E: Element>(logits: &[E], labels: &[usize], classes: usize) -> usize {
    if classes == 0 {
        return 0;
    }
    logits
        .chunks(classes)
        .zip(labels)
        .filter(|(row, &label)| argmax(row) == Some(label))
        .count()
}

fn argmax<E: Element>(row: &[E]) -> Option<usize> {
    let mut best: Option<(usize, E)> = None;
    for (i, &v) in row.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        match best {
            Some((_, b)) if v <= b => {}
            _ => best = Some((i, v)),
        }
    }
    best.map(|(i, _)| i)
}

/// Which loss [`fit`](super::fit) minimises and [`evaluate`](super::evaluate) reports
/// (Keras's names). Every variant takes the network's logits (see
/// [`Network::try_forward_logits`](crate::Network::try_forward_logits)) and the dataset's
/// class labels, and is reduced as Keras's `sum_over_batch_size`: the (class-weighted)
/// per-sample losses summed and divided by the batch size.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Loss {
    /// Softmax cross-entropy against class-index targets (Keras's
    /// `sparse_categorical_crossentropy`; the default).
    #[default]
    SparseCategoricalCrossentropy,
    /// Softmax cross-entropy against probability targets (Keras's
    /// `categorical_crossentropy`): the labels become one-hot rows, smoothed to
    /// `(1 - label_smoothing) * one_hot + label_smoothing / K` (0 gives plain one-hot).
    /// [`categorical_cross_entropy`] takes any probability rows directly.
    CategoricalCrossentropy {
        /// In `[0, 1)`.
        label_smoothing: f64,
    },
    /// Sigmoid cross-entropy of every output against a 0/1 target, computed from logits
    /// in the stable form `max(x, 0) - x t + ln(1 + e^-|x|)` and averaged over the outputs
    /// (Keras's `binary_crossentropy(from_logits=True)`). With `K > 1` outputs the targets
    /// are the one-hot labels; with one output the target is the label itself (0 or 1).
    BinaryCrossentropy,
    /// The mean squared difference between the network's output (softmax of the logits
    /// when it ends in `Softmax`, the logits otherwise) and the one-hot labels (with one
    /// output: the label as a number).
    MeanSquaredError,
}

impl Loss {
    /// Keras's name for the loss.
    pub fn name(&self) -> &'static str {
        match self {
            Self::SparseCategoricalCrossentropy => "sparse_categorical_crossentropy",
            Self::CategoricalCrossentropy { .. } => "categorical_crossentropy",
            Self::BinaryCrossentropy => "binary_crossentropy",
            Self::MeanSquaredError => "mean_squared_error",
        }
    }

    /// The number of distinct labels a network with `outputs` outputs can be trained on
    /// with this loss (2 for a single-output network under binary cross-entropy or MSE).
    pub fn classes(&self, outputs: usize) -> usize {
        match self {
            Self::BinaryCrossentropy | Self::MeanSquaredError if outputs == 1 => 2,
            _ => outputs,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), TrainError> {
        if let Self::CategoricalCrossentropy { label_smoothing } = self {
            if !(0.0..1.0).contains(label_smoothing) {
                return Err(TrainError::InvalidConfig {
                    field: "loss",
                    problem: format!(
                        "has label_smoothing {label_smoothing}: use a value in [0, 1), e.g. 0.1"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The target rows (`labels.len()` rows of `outputs` values) this loss compares the
    /// outputs with.
    pub fn targets<E: Element>(
        &self,
        labels: &[usize],
        outputs: usize,
    ) -> Result<Vec<E>, TrainError> {
        if outputs == 1 && matches!(self, Self::BinaryCrossentropy | Self::MeanSquaredError) {
            return labels
                .iter()
                .enumerate()
                .map(|(index, &label)| match label {
                    0 => Ok(E::zero()),
                    1 => Ok(E::one()),
                    _ => Err(TrainError::LabelOutOfRange {
                        set: "batch",
                        index,
                        label,
                        classes: 2,
                    }),
                })
                .collect();
        }
        let mut rows = one_hot::<E>(labels, outputs)?;
        if let Self::CategoricalCrossentropy { label_smoothing } = *self {
            if label_smoothing > 0.0 {
                let s = E::from_f64(label_smoothing).unwrap_or_else(E::zero);
                let k = E::from_usize(outputs).unwrap_or_else(E::one);
                for v in &mut rows {
                    *v = *v * (E::one() - s) + s / k;
                }
            }
        }
        Ok(rows)
    }
}

/// The per-sample factors of a batch: `class_weights[label]` (or 1) divided by the batch
/// size, so that summing `factor * per-sample loss` gives Keras's weighted
/// `sum_over_batch_size` reduction.
pub fn sample_factors(
    labels: &[usize],
    class_weights: Option<&[f64]>,
) -> Result<Vec<f64>, TrainError> {
    let n = labels.len().max(1) as f64;
    labels
        .iter()
        .enumerate()
        .map(|(index, &label)| match class_weights {
            None => Ok(1.0 / n),
            Some(w) => w
                .get(label)
                .map(|w| w / n)
                .ok_or(TrainError::LabelOutOfRange {
                    set: "batch",
                    index,
                    label,
                    classes: w.len(),
                }),
        })
        .collect()
}

/// The loss of `logits` `(B, K)` against `targets` (row-major, `B * K` values, as
/// [`Loss::targets`] makes them), with sample `b`'s loss multiplied by `factors[b]` and
/// the products summed ([`sample_factors`] gives factors for the mean, optionally class
/// weighted). `ends_in_softmax` matters only for [`Loss::MeanSquaredError`]. The result
/// keeps `logits`' tape.
pub fn weighted_loss<B: Dim, const K: usize, E: Element, D: Device<E>, T: Tape<E, D>>(
    loss: &Loss,
    logits: Tensor<(B, Const<K>), E, D, T>,
    targets: Vec<E>,
    factors: &[f64],
    ends_in_softmax: bool,
) -> Result<Tensor<Rank0, E, D, T>, TrainError> {
    let batch = logits.shape().0;
    let b = batch.size();
    if factors.len() != b || targets.len() != b * K || b == 0 {
        return Err(TrainError::LabelCount {
            labels: factors.len(),
            batch: b,
        });
    }
    // Per-element weights: the sample's factor, over K for losses averaged over outputs.
    let per_output = !matches!(
        loss,
        Loss::SparseCategoricalCrossentropy | Loss::CategoricalCrossentropy { .. }
    );
    let k = if per_output { K as f64 } else { 1.0 };
    let mut w = Vec::with_capacity(b * K);
    for &f in factors {
        let v = E::from_f64(f / k).ok_or_else(|| TrainError::InvalidConfig {
            field: "class_weights",
            problem: format!("has a weight ({f}) the element type cannot hold"),
        })?;
        w.extend(std::iter::repeat_n(v, K));
    }
    let dev = logits.device().clone();
    let shape = (batch, Const::<K>);
    let t = dev
        .try_tensor_from_vec(targets, shape)
        .map_err(device_err("copying the targets to the device"))?;
    let w = dev
        .try_tensor_from_vec(w, shape)
        .map_err(device_err("copying the sample weights to the device"))?;
    let err = device_err("computing the loss");
    let elementwise = match loss {
        Loss::SparseCategoricalCrossentropy | Loss::CategoricalCrossentropy { .. } => logits
            .try_log_softmax::<Axis<1>>()
            .and_then(|logp| logp.try_mul(t))
            .and_then(|x| x.try_negate()),
        Loss::BinaryCrossentropy => {
            // max(x, 0) - x t + ln(1 + exp(-|x|)): no overflow for any x.
            let relu = logits.retaped::<T>().try_relu();
            let xt = logits.retaped::<T>().try_mul(t);
            let softplus = logits
                .try_abs()
                .and_then(|a| a.try_negate())
                .and_then(|a| a.try_exp())
                .and_then(|a| a.try_add(E::one()))
                .and_then(|a| a.try_ln());
            match (relu, xt, softplus) {
                (Ok(r), Ok(xt), Ok(sp)) => r.try_sub(xt).and_then(|d| d.try_add(sp)),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
            }
        }
        Loss::MeanSquaredError => {
            let out = if ends_in_softmax {
                logits.try_softmax::<Axis<1>>()
            } else {
                Ok(logits)
            };
            out.and_then(|p| p.try_sub(t)).and_then(|d| d.try_square())
        }
    };
    elementwise
        .and_then(|x| x.try_mul(w))
        .and_then(|x| x.try_sum::<Rank0, _>())
        .map_err(err)
}

/// The mean over the batch of the softmax cross-entropy between `logits` `(B, K)` and
/// probability rows `targets` (`B * K` values, each row summing to 1, e.g. one-hot):
/// `mean_b(-sum_k targets[b, k] * log_softmax(logits)[b, k])` (Keras's
/// `categorical_crossentropy` from logits).
pub fn categorical_cross_entropy<
    B: Dim,
    const K: usize,
    E: Element,
    D: Device<E>,
    T: Tape<E, D>,
>(
    logits: Tensor<(B, Const<K>), E, D, T>,
    targets: Vec<E>,
) -> Result<Tensor<Rank0, E, D, T>, TrainError> {
    let b = logits.shape().0.size();
    let factors = vec![1.0 / b.max(1) as f64; b];
    weighted_loss(
        &Loss::CategoricalCrossentropy {
            label_smoothing: 0.0,
        },
        logits,
        targets,
        &factors,
        false,
    )
}

/// The mean binary cross-entropy of `logits` `(B, K)` (one sigmoid per output) against
/// 0/1 (or probability) `targets` (`B * K` values), computed stably from the logits.
pub fn binary_cross_entropy<B: Dim, const K: usize, E: Element, D: Device<E>, T: Tape<E, D>>(
    logits: Tensor<(B, Const<K>), E, D, T>,
    targets: Vec<E>,
) -> Result<Tensor<Rank0, E, D, T>, TrainError> {
    let b = logits.shape().0.size();
    let factors = vec![1.0 / b.max(1) as f64; b];
    weighted_loss(&Loss::BinaryCrossentropy, logits, targets, &factors, false)
}

/// The mean squared error between `outputs` `(B, K)` and `targets` (`B * K` values),
/// averaged over all elements.
pub fn mean_squared_error<B: Dim, const K: usize, E: Element, D: Device<E>, T: Tape<E, D>>(
    outputs: Tensor<(B, Const<K>), E, D, T>,
    targets: Vec<E>,
) -> Result<Tensor<Rank0, E, D, T>, TrainError> {
    let b = outputs.shape().0.size();
    let factors = vec![1.0 / b.max(1) as f64; b];
    weighted_loss(&Loss::MeanSquaredError, outputs, targets, &factors, false)
}

/// How many rows of `logits` (row-major, `classes` per row) have their label among their
/// `k` largest values (Keras's `top_k_categorical_accuracy` numerator). NaN never counts;
/// with one output, `k >= 1` counts every row.
pub fn count_top_k<E: Element>(logits: &[E], labels: &[usize], classes: usize, k: usize) -> usize {
    if classes == 0 {
        return 0;
    }
    logits
        .chunks(classes)
        .zip(labels)
        .filter(|(row, &label)| match row.get(label) {
            Some(&v) if !v.is_nan() => {
                let above = row.iter().filter(|&&x| x > v).count();
                above < k
            }
            _ => false,
        })
        .count()
}

/// The predicted class of each row: the argmax for `classes > 1`, `logit > 0` (sigmoid
/// above 0.5) for a single output. A row of NaN predicts class 0.
pub fn predicted_classes<E: Element>(logits: &[E], classes: usize) -> Vec<usize> {
    if classes == 1 {
        return logits.iter().map(|&x| usize::from(x > E::zero())).collect();
    }
    logits
        .chunks(classes.max(1))
        .map(|row| argmax(row).unwrap_or(0))
        .collect()
}

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

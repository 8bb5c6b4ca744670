//! Per-class metrics for classifiers: a [`ConfusionMatrix`] with per-class recall and
//! precision and the balanced accuracy, and [`balanced_class_weights`] for imbalanced data.

use std::fmt;

use super::TrainError;

/// Counts of (true class, predicted class) pairs: row = true class, column = predicted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// The matrix of `labels` (true classes) against `predicted`, both below `classes`.
    pub fn new(labels: &[usize], predicted: &[usize], classes: usize) -> Result<Self, TrainError> {
        if labels.len() != predicted.len() {
            return Err(TrainError::LabelCount {
                labels: labels.len(),
                batch: predicted.len(),
            });
        }
        let mut counts = vec![0u64; classes * classes];
        for (index, (&t, &p)) in labels.iter().zip(predicted).enumerate() {
            if t >= classes || p >= classes {
                return Err(TrainError::LabelOutOfRange {
                    set: "confusion matrix",
                    index,
                    label: t.max(p),
                    classes,
                });
            }
            counts[t * classes + p] += 1;
        }
        Ok(Self { classes, counts })
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// How many samples of class `truth` were predicted as `predicted` (0 out of range).
    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        if truth >= self.classes || predicted >= self.classes {
            return 0;
        }
        self.counts[truth * self.classes + predicted]
    }

    /// All samples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Samples of class `c`.
    pub fn support(&self, c: usize) -> u64 {
        (0..self.classes).map(|p| self.count(c, p)).sum()
    }

    /// The fraction of samples classified right.
    pub fn accuracy(&self) -> f64 {
        let right: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        right as f64 / self.total().max(1) as f64
    }

    /// Per class: the fraction of its samples predicted as it (`None` for a class without
    /// samples).
    pub fn recall(&self) -> Vec<Option<f64>> {
        (0..self.classes)
            .map(|c| {
                let n = self.support(c);
                (n > 0).then(|| self.count(c, c) as f64 / n as f64)
            })
            .collect()
    }

    /// Per class: the fraction of samples predicted as it that are of it (`None` when
    /// nothing was predicted as it).
    pub fn precision(&self) -> Vec<Option<f64>> {
        (0..self.classes)
            .map(|c| {
                let n: u64 = (0..self.classes).map(|t| self.count(t, c)).sum();
                (n > 0).then(|| self.count(c, c) as f64 / n as f64)
            })
            .collect()
    }

    /// The mean recall over the classes that have samples (scikit-learn's
    /// `balanced_accuracy_score`).
    pub fn balanced_accuracy(&self) -> f64 {
        let r: Vec<f64> = self.recall().into_iter().flatten().collect();
        if r.is_empty() {
            return 0.0;
        }
        r.iter().sum::<f64>() / r.len() as f64
    }
}

impl fmt::Display for ConfusionMatrix {
    /// A table: one row per true class with its counts per predicted class and its recall.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .counts
            .iter()
            .max()
            .map_or(1, |m| m.to_string().len())
            .max(self.classes.saturating_sub(1).to_string().len())
            .max(3);
        write!(f, "true\\pred")?;
        for p in 0..self.classes {
            write!(f, " {p:>width$}")?;
        }
        writeln!(f, "  recall")?;
        for (t, recall) in self.recall().into_iter().enumerate() {
            write!(f, "{t:>9}")?;
            for p in 0..self.classes {
                write!(f, " {:>width$}", self.count(t, p))?;
            }
            match recall {
                Some(r) => writeln!(f, "  {r:.4}")?,
                None => writeln!(f, "       -")?,
            }
        }
        write!(f, "balanced accuracy: {:.4}", self.balanced_accuracy())
    }
}

/// Keras/scikit-learn "balanced" class weights: `n / (classes * count[c])` for each class
/// `c` below `classes` (a class without samples gets 0). Rare classes weigh more, so
/// every class contributes the same total weight.
pub fn balanced_class_weights(labels: &[usize], classes: usize) -> Result<Vec<f64>, TrainError> {
    let mut counts = vec![0usize; classes];
    for (index, &l) in labels.iter().enumerate() {
        match counts.get_mut(l) {
            Some(c) => *c += 1,
            None => {
                return Err(TrainError::LabelOutOfRange {
                    set: "class weight",
                    index,
                    label: l,
                    classes,
                })
            }
        }
    }
    let n = labels.len() as f64;
    Ok(counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                n / (classes as f64 * c as f64)
            }
        })
        .collect())
}

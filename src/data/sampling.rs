//! Re-balancing a [`Dataset`] whose classes have very different sizes: random
//! over-sampling (duplicate samples of the smaller classes) and under-sampling (drop
//! samples of the larger classes), seeded; and [`subsample_classes`] to make a balanced
//! dataset imbalanced (for experiments).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{DataError, Dataset};
use crate::network::SampleShape;

/// The number of samples of each class `0..=max label`.
pub fn class_counts<S: SampleShape>(data: &Dataset<S>) -> Vec<usize> {
    let mut counts = vec![0usize; data.num_classes()];
    for &l in data.labels() {
        counts[l] += 1;
    }
    counts
}

fn indices_by_class<S: SampleShape>(data: &Dataset<S>) -> Vec<Vec<usize>> {
    let mut by = vec![Vec::new(); data.num_classes()];
    for (i, &l) in data.labels().iter().enumerate() {
        by[l].push(i);
    }
    by
}

/// Random over-sampling (imbalanced-learn's `RandomOverSampler`): every class that has
/// samples is brought up to the size of the largest by adding copies of its samples drawn
/// at random with replacement. The original samples come first, in order, then the copies
/// (class by class); the same seed gives the same result.
pub fn random_over_sample<S: SampleShape>(
    data: &Dataset<S>,
    seed: u64,
) -> Result<Dataset<S>, DataError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let by = indices_by_class(data);
    let target = by.iter().map(Vec::len).max().unwrap_or(0);
    let mut indices: Vec<usize> = (0..data.len()).collect();
    for class in by.iter().filter(|c| !c.is_empty()) {
        for _ in class.len()..target {
            indices.push(class[rng.gen_range(0..class.len())]);
        }
    }
    data.select(&indices)
}

/// Random under-sampling (imbalanced-learn's `RandomUnderSampler`): every class that has
/// samples is cut down to the size of the smallest such class by keeping a random subset
/// (without replacement). The kept samples stay in their original order; the same seed
/// gives the same result.
pub fn random_under_sample<S: SampleShape>(
    data: &Dataset<S>,
    seed: u64,
) -> Result<Dataset<S>, DataError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let by = indices_by_class(data);
    let target = by
        .iter()
        .map(Vec::len)
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(0);
    let mut keep: Vec<usize> = Vec::with_capacity(target * by.len());
    for class in &by {
        let mut class = class.clone();
        class.shuffle(&mut rng);
        class.truncate(target);
        keep.extend(class);
    }
    keep.sort_unstable();
    data.select(&keep)
}

/// Keeps a random `fractions[c]` of the samples of each class `c` (classes past the end of
/// `fractions` are kept whole; at least one sample of a class that has any is kept), in
/// their original order. E.g. `[0.05; 5]` keeps 5% of digits 0-4 of MNIST.
pub fn subsample_classes<S: SampleShape>(
    data: &Dataset<S>,
    fractions: &[f64],
    seed: u64,
) -> Result<Dataset<S>, DataError> {
    if let Some(&f) = fractions.iter().find(|f| !(0.0..=1.0).contains(*f)) {
        return Err(DataError::InvalidArgument(format!(
            "class fraction {f} is not in [0, 1]: give the fraction of each class to keep"
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut keep = Vec::new();
    for (c, mut class) in indices_by_class(data).into_iter().enumerate() {
        let fraction = fractions.get(c).copied().unwrap_or(1.0);
        let n = ((class.len() as f64 * fraction).round() as usize)
            .clamp(1.min(class.len()), class.len());
        class.shuffle(&mut rng);
        class.truncate(n);
        keep.extend(class);
    }
    keep.sort_unstable();
    data.select(&keep)
}

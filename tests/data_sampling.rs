//! Over- and under-sampling: class counts, determinism, and that every sample is real.

use dfdx::prelude::*;
use typenet::data::sampling::{
    class_counts, random_over_sample, random_under_sample, subsample_classes,
};
use typenet::data::Dataset;

/// 3 classes of 10, 4 and 1 samples; sample i has the single feature i.
fn skewed() -> Dataset<(Const<1>,)> {
    let labels: Vec<usize> = (0..15)
        .map(|i| {
            if i < 10 {
                0
            } else if i < 14 {
                1
            } else {
                2
            }
        })
        .collect();
    let features: Vec<f32> = (0..15).map(|i| i as f32).collect();
    Dataset::new(features, labels).unwrap()
}

fn is_real(data: &Dataset<(Const<1>,)>, original: &Dataset<(Const<1>,)>) -> bool {
    (0..data.len()).all(|i| {
        let (x, l) = data.get(i).unwrap();
        original.get(x[0] as usize).map(|(_, ol)| ol) == Some(l)
    })
}

#[test]
fn over_sampling_brings_every_class_to_the_largest() {
    let d = skewed();
    assert_eq!(class_counts(&d), vec![10, 4, 1]);
    let o = random_over_sample(&d, 7).unwrap();
    assert_eq!(class_counts(&o), vec![10, 10, 10]);
    assert_eq!(o.slice(0..15).unwrap(), d, "the originals come first");
    assert!(is_real(&o, &d));
    assert_eq!(
        o,
        random_over_sample(&d, 7).unwrap(),
        "same seed, same result"
    );
    assert_ne!(o, random_over_sample(&d, 8).unwrap());
}

#[test]
fn under_sampling_cuts_every_class_to_the_smallest() {
    let d = skewed();
    let u = random_under_sample(&d, 1).unwrap();
    assert_eq!(class_counts(&u), vec![1, 1, 1]);
    assert!(is_real(&u, &d));
    assert_eq!(u, random_under_sample(&d, 1).unwrap());
    let xs: Vec<f32> = u.features().to_vec();
    assert!(
        xs.windows(2).all(|w| w[0] < w[1]),
        "original order kept: {xs:?}"
    );
    assert_eq!(u.get(2).unwrap().0, &[14.0]);
    // Some seed picks another sample of class 0.
    assert!((0..20).any(|s| random_under_sample(&d, s).unwrap() != u));
}

#[test]
fn subsampling_classes_keeps_the_fraction() {
    let d = skewed();
    let s = subsample_classes(&d, &[0.5, 0.25], 3).unwrap();
    assert_eq!(class_counts(&s), vec![5, 1, 1]);
    assert!(is_real(&s, &d));
    let e = subsample_classes(&d, &[1.5], 3).unwrap_err();
    assert!(e.to_string().contains("not in [0, 1]"), "{e}");
    assert_eq!(d.select(&[14, 0, 0]).unwrap().labels(), &[2, 0, 0]);
    assert!(d.select(&[15]).is_err());
}

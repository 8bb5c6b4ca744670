//! `Dataset`: construction checks, subsets, and batch tensors.

use dfdx::prelude::*;
use typenet::data::{DataError, Dataset, MnistShape};

fn ramp(n: usize) -> Dataset<(Const<2>, Const<1>, Const<2>)> {
    let features: Vec<f32> = (0..n * 4).map(|i| i as f32).collect();
    let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
    Dataset::new(features, labels).expect("sizes match")
}

#[test]
fn new_checks_sizes() {
    let err = Dataset::<(Const<4>,)>::new(vec![0.0; 7], vec![0, 1]).unwrap_err();
    assert!(matches!(
        err,
        DataError::SampleSizeMismatch {
            features: 7,
            labels: 2,
            per_sample: 4
        }
    ));
    assert!(
        err.to_string()
            .contains("7 feature values do not make 2 samples of 4 values each (expected 8)"),
        "{err}"
    );
    assert_eq!(Dataset::<MnistShape>::SAMPLE_LEN, 784);
    let empty = Dataset::<(Const<4>,)>::new(vec![], vec![]).expect("empty is fine");
    assert!(empty.is_empty());
    assert_eq!(empty.num_classes(), 0);
}

#[test]
fn take_and_slice() {
    let d = ramp(5);
    assert_eq!(d.len(), 5);
    assert_eq!(d.num_classes(), 3);
    let t = d.take(2);
    assert_eq!(t.len(), 2);
    assert_eq!(t.features(), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    assert_eq!(d.take(100), d);

    let s = d.slice(3..5).expect("in range");
    assert_eq!(s.labels(), &[0, 1]);
    assert_eq!(s.get(0).expect("sample").0, &[12.0, 13.0, 14.0, 15.0]);
    assert!(s.get(2).is_none());

    let err = d.slice(3..6).unwrap_err();
    assert_eq!(
        err.to_string(),
        "samples 3..6 are out of range for a dataset of 5 samples"
    );
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = d.slice(4..2);
    assert!(backwards.is_err());

    let (a, b) = d.split_at(4).expect("in range");
    assert_eq!((a.len(), b.len()), (4, 1));
    assert!(d.split_at(6).is_err());
}

#[test]
fn batch_builds_one_tensor_in_index_order() {
    let dev = Cpu::default();
    let d = ramp(4);
    let x: Tensor<(usize, Const<2>, Const<1>, Const<2>), f32, Cpu> =
        d.batch(&dev, &[2, 0]).expect("batch");
    assert_eq!(x.shape().0, 2);
    assert_eq!(x.as_vec(), vec![8.0, 9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 3.0]);
    assert_eq!(d.batch_labels(&[2, 0]).expect("labels"), vec![2, 0]);

    // f64 models get f64 batches.
    let x64: Tensor<(usize, Const<2>, Const<1>, Const<2>), f64, Cpu> =
        d.batch(&dev, &[3]).expect("batch");
    assert_eq!(x64.as_vec(), vec![12.0, 13.0, 14.0, 15.0]);

    let err = d.batch::<f32, Cpu>(&dev, &[1, 4]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "samples 4..5 are out of range for a dataset of 4 samples"
    );
    assert!(d.batch_labels(&[9]).is_err());
}

#[test]
fn mnist_batch_shape() {
    let dev = Cpu::default();
    let d = Dataset::<MnistShape>::new(vec![0.5; 3 * 784], vec![1, 2, 3]).expect("sizes");
    let x = d.batch::<f32, Cpu>(&dev, &[0, 1, 2]).expect("batch");
    let _: &Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu> = &x;
    assert_eq!(x.shape().concrete(), [3, 1, 28, 28]);
}

//! `Embedding` against naive loops: the lookup and the table's gradient (a scatter-add,
//! repeated ids accumulating) on random batches, lengths, vocabularies and dimensions,
//! batched and unbatched; the `Cpu` op against the generic (CUDA) path; ids out of range
//! as errors (never a panic, never clamped), at the layer and at `Dataset::from_tokens`;
//! and the layer inside `network!`, trained with `fit` on token data.

use dfdx::nn::BuildModule;
use dfdx::optim::Adam;
use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::__private::ops::{cpu, generic};
use typenet::data::{DataError, Dataset, Tokens};
use typenet::layers::{Embedding, LayerParams};
use typenet::prelude::*;

/// `y[b][m][j] = table[ids[b][j]][m]`, and for the loss `sum(y * g)` the table's gradient.
fn naive(
    (b, l, v, m): (usize, usize, usize, usize),
    ids: &[usize],
    table: &[f64],
    g: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let (mut y, mut gt) = (vec![0.0; b * m * l], vec![0.0; v * m]);
    for bi in 0..b {
        for j in 0..l {
            let id = ids[bi * l + j];
            for c in 0..m {
                let yi = (bi * m + c) * l + j;
                y[yi] = table[id * m + c];
                gt[id * m + c] += g[yi];
            }
        }
    }
    (y, gt)
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "at {i}: {x} vs {y}");
    }
}

type Table = Tensor<(usize, usize), f64, Cpu>;
type Op = fn(
    Tensor<(usize, usize), f64, Cpu, OwnedTape<f64, Cpu>>,
    &Table,
) -> Result<Tensor<(usize, usize, usize), f64, Cpu, OwnedTape<f64, Cpu>>, CpuError>;

/// Runs `op` on random ids and a random table and compares output and table gradient
/// with [`naive`].
fn check_op(op: Op, (b, l, v, m): (usize, usize, usize, usize), seed: u64) {
    let dev = Cpu::seed_from_u64(seed);
    let ids: Vec<usize> = (0..b * l).map(|i| (i * 7919 + seed as usize) % v).collect();
    let tokens: Tensor<(usize, usize), f64, _> =
        dev.tensor_from_vec(ids.iter().map(|&i| i as f64).collect(), (b, l));
    let table: Table = dev.sample_normal_like(&(v, m));
    let y = op(tokens.leaky_trace(), &table).expect("embedding");
    assert_eq!(*y.shape(), (b, m, l));
    let g: Tensor<(usize, usize, usize), f64, _> = dev.sample_normal_like(&(b, m, l));
    let yv = y.as_vec();
    let grads = (y * g.clone()).sum().backward();
    let (want, gt) = naive((b, l, v, m), &ids, &table.as_vec(), &g.as_vec());
    close(&yv, &want, 0.0);
    close(&grads.get(&table).as_vec(), &gt, 1e-12);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn embedding_matches_naive_loops(
        b in 1usize..5, l in 1usize..40, v in 1usize..30, m in 1usize..9, seed in 0u64..1000,
    ) {
        check_op(cpu::embedding, (b, l, v, m), seed);
        check_op(generic::embedding, (b, l, v, m), seed);
    }

    #[test]
    fn bad_ids_are_errors_on_both_paths(bad in prop_oneof![
        Just(-1.0f64), Just(0.5), Just(7.0), Just(1e30), Just(f64::NAN), Just(f64::INFINITY),
    ]) {
        let dev = Cpu::default();
        let table: Table = dev.sample_normal_like(&(7, 3));
        let tokens: Tensor<(usize, usize), f64, _> =
            dev.tensor_from_vec(vec![1.0, bad, 2.0], (1, 3));
        prop_assert!(cpu::embedding(tokens.clone(), &table).is_err());
        prop_assert!(generic::embedding(tokens, &table).is_err());
    }
}

#[test]
fn the_layer_looks_up_batched_and_unbatched() {
    let dev = Cpu::seed_from_u64(3);
    let e = Embedding::<10, 4, f32, Cpu>::build(&dev);
    assert_eq!(<Embedding<10, 4, f32, Cpu> as LayerParams>::PARAMS, 40);
    let w = e.weight.as_vec();
    let x: Tensor<Rank2<2, 3>, f32, _> = dev.tensor([[0.0, 9.0, 3.0], [3.0, 3.0, 1.0]]);
    let y: Tensor<(Const<2>, Const<4>, Const<3>), f32, _> = e.forward(x.clone());
    let y = y.as_vec();
    let ids = [0, 9, 3, 3, 3, 1];
    for (p, &id) in ids.iter().enumerate() {
        let (b, j) = (p / 3, p % 3);
        for c in 0..4 {
            assert_eq!(y[(b * 4 + c) * 3 + j], w[id * 4 + c]);
        }
    }
    let x0: Tensor<Rank1<3>, f32, _> = dev.tensor([0.0, 9.0, 3.0]);
    let y0: Tensor<(Const<4>, Const<3>), f32, _> = e.forward(x0);
    assert_eq!(y0.as_vec(), y[..12].to_vec());
    let bad: Tensor<Rank2<1, 2>, f32, _> = dev.tensor([[1.0, 10.0]]);
    assert!(e.try_forward(bad).is_err());
}

#[test]
fn from_tokens_rejects_ids_out_of_range_with_their_place() {
    let err = Dataset::<Tokens<3>>::from_tokens(vec![1, 2, 3, 4, 300, 0], vec![0, 1], 256)
        .expect_err("300 >= 256");
    match &err {
        DataError::TokenOutOfRange {
            token,
            sample,
            position,
            vocab,
        } => assert_eq!((*token, *sample, *position, *vocab), (300, 1, 1, 256)),
        e => panic!("wrong error {e:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("token id 300 at position 1 of sample 1"),
        "{msg}"
    );
    assert!(msg.contains("vocabulary of 256"), "{msg}");
    assert!(matches!(
        Dataset::<Tokens<3>>::from_tokens(vec![1, 2], vec![0], 256),
        Err(DataError::SampleSizeMismatch { .. })
    ));
    assert!(matches!(
        Dataset::<Tokens<1>>::from_tokens(vec![0], vec![0], 0),
        Err(DataError::InvalidArgument(_))
    ));
    let d = Dataset::<Tokens<2>>::from_tokens(vec![5, 0, 255, 7], vec![1, 0], 256).expect("ok");
    assert_eq!(d.features(), &[5.0, 0.0, 255.0, 7.0]);
    assert_eq!(d.labels(), &[1, 0]);
}

network! {
    /// Whether a sequence of 24 ids below 16 holds id 7: Embedding, Conv1D, pools, Dense.
    pub struct Finder: (24) -> (2) {
        Embedding(16, 8),                                 // 16*8 = 128 -> (8, 24)
        Conv1D(16, 3, padding = same, activation = relu), // 3*8*16+16 = 400 -> (16, 24)
        MaxPool1D(2),                                     // (16, 12)
        GlobalMaxPool1D,                                  // (16)
        Dense(2),                                         // 34
    }
}

/// `n` sequences; label 1 when id 7 occurs. Deterministic.
fn finder_data(n: usize, seed: u64) -> Dataset<Tokens<24>> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    let (mut tokens, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut seq: Vec<u32> = (0..24)
            .map(|_| next() % 16)
            .map(|t| if t == 7 { 8 } else { t })
            .collect();
        if i % 2 == 0 {
            seq[(next() % 24) as usize] = 7;
        }
        labels.push(usize::from(seq.contains(&7)));
        tokens.extend(seq);
    }
    Dataset::from_tokens(tokens, labels, 16).expect("ids below 16")
}

#[test]
fn embedding_in_a_network_trains_with_fit() {
    assert_eq!(Finder::PARAMS, 128 + 400 + 34);
    let rows = Finder::summary().rows;
    assert_eq!(rows[0].layer, "embedding_0 (Embedding)");
    assert_eq!(
        (rows[0].output_shape.clone(), rows[0].params),
        (vec![8, 24], 128)
    );
    let dev = Cpu::seed_from_u64(1);
    let mut m = dev.build_module::<Finder, f32>();
    // The network's forward is the layers' one by one.
    let x = finder_data(4, 9)
        .batch::<f32, _>(&dev, &[0, 1, 2, 3])
        .expect("batch");
    let y = m.forward(x.clone());
    let h = m.embedding_0.forward(x.clone());
    let h = m.conv1d_1.forward(h).relu();
    let h = typenet::layers::MaxPool1D::<2, 2, 0>.forward(h);
    let h = typenet::layers::GlobalMaxPool1D.forward(h);
    let want = m.dense_4.forward(h);
    for (a, b) in y.as_vec().iter().zip(want.as_vec()) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    let (train, test) = (finder_data(256, 1), finder_data(128, 2));
    let before_table = m.embedding_0.weight.as_vec();
    let mut opt = Adam::new(
        &m,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    );
    let config = FitConfig {
        epochs: 6,
        batch_size: 16,
        verbose: Verbosity::Silent,
        ..Default::default()
    };
    let history = fit(&mut m, &mut opt, &train, None, &config).expect("fit");
    let loss = history.loss();
    assert!(loss[loss.len() - 1] < loss[0], "loss should fall: {loss:?}");
    assert_ne!(before_table, m.embedding_0.weight.as_vec());
    let eval = evaluate(&m, &test, 32).expect("evaluate");
    assert!(eval.accuracy > 0.9, "test accuracy {}", eval.accuracy);
}

//! `Concat` and `Add`: the CPU ops and the generic (CUDA) path against naive loops,
//! forward and every gradient, on random shapes of every rank, with one tensor coming in
//! twice; and the layers inside `network!`: nesting names, parameter counts, forward
//! against the fields run one by one, gradients against finite differences, training.

use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::__private::ops::{cpu, generic};
use typenet::prelude::*;

type Dyn4 = (usize, usize, usize, usize);

fn close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what} at {i}: {x} vs {y}"
        );
    }
}

/// `y[b] = a[b] ++ x[b]` per sample of `na` and `nb` values; for the loss `sum(y * g)` the
/// gradients of `a` and `b` are the two halves of each `g[b]`.
fn naive_concat(
    batch: usize,
    (na, nb): (usize, usize),
    a: &[f64],
    b: &[f64],
    g: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut y, mut ga, mut gb) = (Vec::new(), Vec::new(), Vec::new());
    for s in 0..batch {
        y.extend_from_slice(&a[s * na..(s + 1) * na]);
        y.extend_from_slice(&b[s * nb..(s + 1) * nb]);
        let row = &g[s * (na + nb)..(s + 1) * (na + nb)];
        ga.extend_from_slice(&row[..na]);
        gb.extend_from_slice(&row[na..]);
    }
    (y, ga, gb)
}

type Concat = fn(
    Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    Dyn4,
) -> Result<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>, CpuError>;

/// Runs `op` on random `(b, ca, h, w)` and `(b, cb, h, w)` (a sequence is `w = 1`, flat
/// `h = w = 1`), and checks output and both gradients against [`naive_concat`].
fn check_concat(op: Concat, (b, ca, cb, h, w): (usize, usize, usize, usize, usize), seed: u64) {
    let dev = Cpu::seed_from_u64(seed);
    let a: Tensor<Dyn4, f64, _> = dev.sample_normal_like(&(b, ca, h, w));
    let x: Tensor<Dyn4, f64, _> = dev.sample_normal_like(&(b, cb, h, w));
    let g: Tensor<Dyn4, f64, _> = dev.sample_normal_like(&(b, ca + cb, h, w));
    let y = op(a.leaky_trace(), x.clone().retaped(), (b, ca + cb, h, w)).expect("concat");
    let yv = y.as_vec();
    let grads = (y * g.clone()).sum().backward();
    let (want, ga, gb) = naive_concat(
        b,
        (ca * h * w, cb * h * w),
        &a.as_vec(),
        &x.as_vec(),
        &g.as_vec(),
    );
    close("y", &yv, &want, 0.0);
    close("grad a", &grads.get(&a).as_vec(), &ga, 1e-12);
    close("grad b", &grads.get(&x).as_vec(), &gb, 1e-12);

    // The same tensor on both sides: its gradient is the sum of both halves.
    let y = op(a.leaky_trace(), a.clone().retaped(), (b, 2 * ca, h, w)).expect("concat self");
    let g2: Tensor<Dyn4, f64, _> = dev.sample_normal_like(&(b, 2 * ca, h, w));
    let grads = (y * g2.clone()).sum().backward();
    let n = ca * h * w;
    let (_, g0, g1) = naive_concat(b, (n, n), &a.as_vec(), &a.as_vec(), &g2.as_vec());
    let want: Vec<f64> = g0.iter().zip(&g1).map(|(p, q)| p + q).collect();
    close("grad of a twice", &grads.get(&a).as_vec(), &want, 1e-12);
}

fn cpu_concat(
    a: Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    b: Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    out: Dyn4,
) -> Result<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>, CpuError> {
    cpu::concat(a, b, out)
}

fn generic_concat(
    a: Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    b: Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    out: Dyn4,
) -> Result<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>, CpuError> {
    generic::concat(a, b, out)
}

type Sum = fn(
    Vec<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>>,
) -> Result<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>, CpuError>;

/// Sums `n` random tensors where input `i` is tensor `pick[i]` (repeats allowed), and
/// checks the output and each tensor's gradient (`g` once per time it comes in).
fn check_sum(op: Sum, shape: Dyn4, pick: &[usize], seed: u64) {
    let dev = Cpu::seed_from_u64(seed);
    let k = pick.iter().max().map_or(0, |m| m + 1);
    let ts: Vec<Tensor<Dyn4, f64, _>> = (0..k).map(|_| dev.sample_normal_like(&shape)).collect();
    let g: Tensor<Dyn4, f64, _> = dev.sample_normal_like(&shape);
    let mut ins = vec![ts[pick[0]].leaky_trace()];
    ins.extend(pick[1..].iter().map(|&i| ts[i].clone().retaped()));
    let y = op(ins).expect("sum");
    let yv = y.as_vec();
    let grads = (y * g.clone()).sum().backward();
    let vals: Vec<Vec<f64>> = ts.iter().map(|t| t.as_vec()).collect();
    let mut want = vec![0.0; yv.len()];
    for &i in pick {
        for (w, v) in want.iter_mut().zip(&vals[i]) {
            *w += v;
        }
    }
    close("sum", &yv, &want, 1e-12);
    let gv = g.as_vec();
    for (i, t) in ts.iter().enumerate() {
        let times = pick.iter().filter(|&&p| p == i).count() as f64;
        let want: Vec<f64> = gv.iter().map(|v| v * times).collect();
        if times > 0.0 {
            close("grad", &grads.get(t).as_vec(), &want, 1e-12);
        }
    }
}

fn cpu_sum(
    xs: Vec<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>>,
) -> Result<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>, CpuError> {
    cpu::sum(xs)
}

fn generic_sum(
    xs: Vec<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>>,
) -> Result<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>, CpuError> {
    generic::sum(xs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn concat_matches_naive_loops(
        b in 1usize..4, ca in 1usize..5, cb in 1usize..5, h in 1usize..6, w in 1usize..6,
        rank in 0usize..3, seed in 0u64..1000,
    ) {
        // Flat (N), sequences (C, L) and images (C, H, W).
        let (h, w) = match rank { 0 => (1, 1), 1 => (h, 1), _ => (h, w) };
        check_concat(cpu_concat, (b, ca, cb, h, w), seed);
        check_concat(generic_concat, (b, ca, cb, h, w), seed);
    }

    #[test]
    fn sum_matches_naive_loops(
        b in 1usize..4, c in 1usize..4, h in 1usize..5, w in 1usize..5,
        pick in proptest::collection::vec(0usize..3, 2..5), seed in 0u64..1000,
    ) {
        check_sum(cpu_sum, (b, c, h, w), &pick, seed);
        check_sum(generic_sum, (b, c, h, w), &pick, seed);
    }
}

#[test]
fn concat_rejects_shapes_that_do_not_join() {
    let dev = Cpu::default();
    let a: Tensor<Dyn4, f64, _> = dev.zeros_like(&(2, 3, 4, 4));
    let b: Tensor<Dyn4, f64, _> = dev.zeros_like(&(2, 3, 4, 5));
    assert!(cpu::concat(a.clone(), b.clone(), (2, 6, 4, 4)).is_err());
    assert!(generic::concat(a.clone(), b, (2, 6, 4, 4)).is_err());
    assert!(cpu::concat(a.clone(), a.clone(), (2, 5, 4, 4)).is_err());
    assert!(cpu::sum(Vec::<Tensor<Dyn4, f64, Cpu>>::new()).is_err());
    let c: Tensor<Dyn4, f64, _> = dev.zeros_like(&(2, 3, 4, 5));
    assert!(cpu::sum(vec![a.clone(), c.clone()]).is_err());
    assert!(generic::sum(vec![a, c]).is_err());
}

network! {
    /// An inception block, a sum with an identity branch, and a flat Concat.
    pub struct Inception: (3, 8, 8) -> (6) {
        Conv2D(4, 1),
        Concat {
            [Conv2D(2, 1)],
            [Conv2D(3, 3, padding = same), Tanh],
            [AvgPool2D(3, stride = 1, padding = 1)],
            [],
        },
        Add { [Conv2D(13, 1)], [] },
        Add { [], [] },
        GlobalAvgPool2D,
        Concat { [Dense(4)], [Dense(2), Sigmoid] },
        Dense(6),
    }
}

#[test]
fn names_and_counts_follow_the_nesting() {
    let conv = |i: usize, o: usize, k: usize| i * o * k * k + o;
    let want = conv(3, 4, 1)
        + conv(4, 2, 1)
        + conv(4, 3, 3)
        + conv(13, 13, 1)
        + (13 * 4 + 4)
        + (13 * 2 + 2)
        + (6 * 6 + 6);
    assert_eq!(Inception::PARAMS, want);
    assert_eq!(Inception::OUTPUT_SHAPE, &[6]);
    let s = Inception::summary();
    let rows: Vec<(&str, &[usize], usize)> = s
        .rows
        .iter()
        .map(|r| (r.layer.as_str(), r.output_shape.as_slice(), r.params))
        .collect();
    assert!(rows.contains(&(
        "concat_1.branch_1.conv2d_0 (Conv2D)",
        &[3, 8, 8][..],
        conv(4, 3, 3)
    )));
    assert!(rows.contains(&("concat_1.branch_3 (Branch)", &[4, 8, 8][..], 0)));
    assert!(rows.contains(&("concat_1 (Concat)", &[13, 8, 8][..], 0)));
    assert!(rows.contains(&("add_2 (Add)", &[13, 8, 8][..], 0)));
    assert!(rows.contains(&("concat_5 (Concat)", &[6][..], 0)));
    let total: usize = s.rows.iter().map(|r| r.params).sum();
    assert_eq!(total, want);

    let dev = Cpu::default();
    let m = dev.build_module::<Inception, f32>();
    assert_eq!(m.num_trainable_params(), want);
    let path =
        std::env::temp_dir().join(format!("typenet_merge_{}.safetensors", std::process::id()));
    typenet::weights::save_weights(&m, &path).expect("save");
    let bytes = std::fs::read(&path).expect("read");
    std::fs::remove_file(&path).ok();
    let text = String::from_utf8_lossy(&bytes);
    for name in [
        "concat_1.branch_1.conv2d_0.weight",
        "concat_1.branch_0.conv2d_0.bias",
        "add_2.branch_0.conv2d_0.weight",
        "concat_5.branch_1.dense_0.weight",
    ] {
        assert!(text.contains(name), "{name} not in the safetensors header");
    }
}

/// The network's loss `sum(y * g)` at `x`.
fn loss(m: &InceptionModule<f64, Cpu>, x: &Tensor<Rank4<2, 3, 8, 8>, f64, Cpu>, g: &[f64]) -> f64 {
    let y = m.forward(x.clone()).as_vec();
    y.iter().zip(g).map(|(a, b)| a * b).sum()
}

#[test]
fn forward_and_gradients_in_a_network() {
    let dev = Cpu::seed_from_u64(3);
    let mut m = dev.build_module::<Inception, f64>();
    let x: Tensor<Rank4<2, 3, 8, 8>, f64, _> = dev.sample_normal();
    let y = m.forward(x.clone());

    // The same through the fields one by one, joined with dfdx's own ops.
    let h0 = m.conv2d_0.forward(x.clone());
    let c = &m.concat_1;
    let b0 = c.branch_0.conv2d_0.forward(h0.clone()).realize::<Dyn4>();
    let b1 = c
        .branch_1
        .conv2d_0
        .forward(h0.clone())
        .tanh()
        .realize::<Dyn4>();
    let b2 = c
        .branch_2
        .avg_pool2d_0
        .forward(h0.clone())
        .realize::<Dyn4>();
    let j = (b0, b1).concat_along(Axis::<1>);
    let j = (j, b2).concat_along(Axis::<1>);
    let j = (j, h0.realize::<Dyn4>()).concat_along(Axis::<1>);
    let j = j.reshape_like(&(Const::<2>, Const::<13>, Const::<8>, Const::<8>));
    let a = m
        .add_2
        .branch_0
        .conv2d_0
        .forward(j.clone())
        .reshape_like(j.shape())
        + j;
    let a = a.clone() + a;
    let p = a.mean::<_, Axes2<2, 3>>();
    let f = (
        m.concat_5
            .branch_0
            .dense_0
            .forward(p.clone())
            .realize::<(Const<2>, usize)>(),
        m.concat_5
            .branch_1
            .dense_0
            .forward(p)
            .sigmoid()
            .realize::<(Const<2>, usize)>(),
    )
        .concat_along(Axis::<1>)
        .reshape_like(&(Const::<2>, Const::<6>));
    let want = m.dense_6.forward(f);
    close("forward", &y.as_vec(), &want.as_vec(), 1e-10);

    // Gradients against central differences, for the input and a weight in each branch.
    let g: Vec<f64> = (0..12).map(|i| ((i * 7 % 5) as f64) - 2.0).collect();
    let gt: Tensor<Rank2<2, 6>, f64, _> = dev.tensor_from_vec(g.clone(), (Const, Const));
    let grads = (m.forward(x.leaky_trace()) * gt.clone()).sum().backward();
    let gx = grads.get(&x).as_vec();
    let eps = 1e-5;
    for i in [0, 17, 100, 383] {
        let mut v = x.as_vec();
        v[i] += eps;
        let up = loss(
            &m,
            &dev.tensor_from_vec(v.clone(), (Const, Const, Const, Const)),
            &g,
        );
        v[i] -= 2.0 * eps;
        let down = loss(
            &m,
            &dev.tensor_from_vec(v, (Const, Const, Const, Const)),
            &g,
        );
        close(
            "input gradient",
            &[gx[i]],
            &[(up - down) / (2.0 * eps)],
            1e-6,
        );
    }
    let mut tg = m.alloc_grads();
    tg = (m.forward_mut(x.trace(tg)) * gt).sum().backward();
    let w = tg.get(&m.concat_1.branch_1.conv2d_0.weight).as_vec();
    let mut wv = m.concat_1.branch_1.conv2d_0.weight.as_vec();
    for i in [0, 50, 107] {
        let orig = wv[i];
        wv[i] = orig + eps;
        m.concat_1.branch_1.conv2d_0.weight.copy_from(&wv);
        let up = loss(&m, &x, &g);
        wv[i] = orig - eps;
        m.concat_1.branch_1.conv2d_0.weight.copy_from(&wv);
        let down = loss(&m, &x, &g);
        wv[i] = orig;
        m.concat_1.branch_1.conv2d_0.weight.copy_from(&wv);
        close(
            "weight gradient",
            &[w[i]],
            &[(up - down) / (2.0 * eps)],
            1e-6,
        );
    }
    let gd = tg.get(&m.concat_5.branch_1.dense_0.weight).as_vec();
    assert!(gd.iter().any(|&v| v != 0.0));
}

#[test]
fn a_network_with_branches_trains() {
    let dev = Cpu::seed_from_u64(5);
    let mut m = dev.build_module::<Inception, f32>();
    let x: Tensor<Rank4<8, 3, 8, 8>, f32, _> = dev.sample_normal();
    let t: Tensor<Rank2<8, 6>, f32, _> = dev.sample_normal();
    let cfg = dfdx::optim::AdamConfig {
        lr: 1e-2,
        ..Default::default()
    };
    let mut opt = dfdx::optim::Adam::new(&m, cfg);
    let mut grads = m.alloc_grads();
    let mut losses = Vec::new();
    for _ in 0..30 {
        let y = m.forward_mut(x.trace(grads));
        let l = (y - t.clone()).square().mean();
        losses.push(l.array());
        grads = l.backward();
        opt.update(&mut m, &grads).expect("update");
        m.zero_grads(&mut grads);
    }
    assert!(losses[29] < 0.7 * losses[0], "{losses:?}");
}

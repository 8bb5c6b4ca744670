//! The dense op (`Backend::dense`: `x W^T + b`, optional ReLU, any batched input read as
//! flat), forward and every gradient, against naive f64 loops on random shapes — for the
//! fast f32 CPU path (AVX-512 products where the CPU has them) and for the generic dfdx-op
//! path (the one CUDA runs), in f32 and f64.

use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::__private::ops::{dense, DenseParams};
use typenet::Backend;

#[derive(Debug, Clone)]
struct Case {
    batch: usize,
    /// The input sample's shape: `(c, h, w)`, flattened by the op.
    sample: (usize, usize, usize),
    out: usize,
    bias: bool,
    relu: bool,
    input_grad: bool,
    seed: u64,
}

impl Case {
    fn inputs(&self) -> usize {
        self.sample.0 * self.sample.1 * self.sample.2
    }
}

struct Reference {
    y: Vec<f64>,
    gx: Vec<f64>,
    gw: Vec<f64>,
    gb: Vec<f64>,
}

/// y = relu?(x W^T + b); gradients of sum(y * r).
fn reference(c: &Case, x: &[f64], w: &[f64], b: &[f64], r: &[f64]) -> Reference {
    let (n, i_n, o_n) = (c.batch, c.inputs(), c.out);
    let mut y = vec![0.0; n * o_n];
    let mut gy = vec![0.0; n * o_n];
    for s in 0..n {
        for o in 0..o_n {
            let mut v = if c.bias { b[o] } else { 0.0 };
            for i in 0..i_n {
                v += x[s * i_n + i] * w[o * i_n + i];
            }
            let keep = !c.relu || v > 0.0;
            y[s * o_n + o] = if keep { v } else { 0.0 };
            gy[s * o_n + o] = if keep { r[s * o_n + o] } else { 0.0 };
        }
    }
    let mut gx = vec![0.0; n * i_n];
    let mut gw = vec![0.0; o_n * i_n];
    let mut gb = vec![0.0; o_n];
    for s in 0..n {
        for o in 0..o_n {
            let g = gy[s * o_n + o];
            gb[o] += g;
            for i in 0..i_n {
                gx[s * i_n + i] += g * w[o * i_n + i];
                gw[o * i_n + i] += g * x[s * i_n + i];
            }
        }
    }
    if !c.bias {
        gb.clear();
    }
    Reference { y, gx, gw, gb }
}

fn random(dev: &Cpu, n: usize) -> Vec<f64> {
    let t: Tensor<(usize,), f64, Cpu> = dev.sample_normal_like(&(n,));
    t.as_vec()
}

/// Runs the op in `E` (inputs rounded to `E`) and returns (y, gx, gw, gb) as f64.
fn run<E: typenet::Element>(
    c: &Case,
    fast: bool,
    (x, w, b, r): (&[f64], &[f64], &[f64], &[f64]),
) -> [Vec<f64>; 4]
where
    Cpu: Backend<E>,
{
    let dev = Cpu::default();
    let cast = |v: &[f64]| v.iter().map(|&a| E::from(a).unwrap()).collect::<Vec<E>>();
    let back = |v: Vec<E>| {
        v.into_iter()
            .map(|a| a.to_f64().unwrap())
            .collect::<Vec<f64>>()
    };
    let (ch, h, wd) = c.sample;
    let xt = dev.tensor_from_vec(cast(x), (c.batch, ch, h, wd));
    let wt = dev.tensor_from_vec(cast(w), (c.out, c.inputs()));
    let bt = dev.tensor_from_vec(cast(b), (c.out,));
    let bias = c.bias.then_some(&bt);
    let p = DenseParams::new().relu(c.relu).input_grad(c.input_grad);
    let y = if fast {
        Cpu::dense(xt.leaky_trace(), c.batch, &wt, bias, p)
    } else {
        dense::generic(xt.leaky_trace(), c.batch, &wt, bias, p)
    }
    .expect("dense runs");
    assert_eq!(*y.shape(), (c.batch, c.out));
    let yv = back(y.retaped::<NoneTape>().as_vec());
    let rt = dev.tensor_from_vec(cast(r), (c.batch, c.out));
    let g = (y * rt).sum().backward();
    let gb = if c.bias {
        back(g.get(&bt).as_vec())
    } else {
        vec![]
    };
    // The fast path skips the input gradient when asked to; the generic one always has it.
    let gx = if c.input_grad || !fast {
        back(g.get(&xt).as_vec())
    } else {
        vec![]
    };
    [yv, gx, back(g.get(&wt).as_vec()), gb]
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64, scale: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (scale + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

fn check(c: &Case) {
    let dev = Cpu::seed_from_u64(c.seed);
    let x = random(&dev, c.batch * c.inputs());
    let w = random(&dev, c.out * c.inputs());
    let b = random(&dev, c.out);
    let r = random(&dev, c.batch * c.out);
    let want = reference(c, &x, &w, &b, &r);
    let want = [want.y, want.gx, want.gw, want.gb];
    let names = ["y", "gx", "gw", "gb"];
    // Sums of `inputs` (or `batch`, `out`) products of unit normals: f32 rounding grows
    // with the square root of the length.
    let scale = ((c.inputs().max(c.batch).max(c.out)) as f64).sqrt();
    let data = (&x[..], &w[..], &b[..], &r[..]);
    let fast_want = |i: usize| {
        if i == 1 && !c.input_grad {
            &[][..]
        } else {
            &want[i][..]
        }
    };
    for (impl_name, got, tol) in [
        ("fast f32", run::<f32>(c, true, data), 1e-5),
        ("generic f32", run::<f32>(c, false, data), 1e-5),
        ("fast f64", run::<f64>(c, true, data), 1e-12),
        ("generic f64", run::<f64>(c, false, data), 1e-12),
    ] {
        for (i, (name, g)) in names.iter().zip(&got).enumerate() {
            let w = if impl_name.starts_with("fast") {
                fast_want(i)
            } else {
                &want[i][..]
            };
            assert_close(&format!("{impl_name} {name} in {c:?}"), g, w, tol, scale);
        }
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..20,
        (1usize..5, 1usize..7, 1usize..9),
        1usize..70,
        (any::<bool>(), any::<bool>(), any::<bool>()),
        any::<u64>(),
    )
        .prop_map(
            |(batch, sample, out, (bias, relu, input_grad), seed)| Case {
                batch,
                sample,
                out,
                bias,
                relu,
                input_grad,
                seed,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn dense_matches_reference(c in case()) {
        check(&c);
    }
}

/// MNIST's hidden layer (the flattened 32 x 13 x 13 pooled image to 128 units, with ReLU),
/// on a few images: several passes of the products' depth and every tail.
#[test]
fn mnist_hidden_layer_matches_reference() {
    check(&Case {
        batch: 9,
        sample: (32, 13, 13),
        out: 128,
        bias: true,
        relu: true,
        input_grad: true,
        seed: 7,
    });
}

#[test]
fn wrong_input_size_is_an_error_not_a_panic() {
    let dev = Cpu::default();
    let x: Tensor<(usize, usize), f32, Cpu> = dev.zeros_like(&(3, 5));
    let w: Tensor<(usize, usize), f32, Cpu> = dev.zeros_like(&(2, 4));
    assert!(Cpu::dense(x.clone(), 3, &w, None, DenseParams::new()).is_err());
    assert!(dense::generic(x, 3, &w, None, DenseParams::new()).is_err());
}

/// The gradient of an input used twice is the sum of both uses.
#[test]
fn gradient_accumulates_when_input_is_used_twice() {
    let dev = Cpu::seed_from_u64(3);
    let x: Tensor<(usize, usize), f32, Cpu> = dev.sample_normal_like(&(4, 37));
    let w: Tensor<(usize, usize), f32, Cpu> = dev.sample_normal_like(&(5, 37));
    let once = Cpu::dense(x.leaky_trace(), 4, &w, None, DenseParams::new())
        .unwrap()
        .sum()
        .backward();
    let xt = x.leaky_trace();
    let y1 = Cpu::dense(xt.with_empty_tape(), 4, &w, None, DenseParams::new()).unwrap();
    let y2 = Cpu::dense(xt, 4, &w, None, DenseParams::new()).unwrap();
    let twice = (y1 + y2).sum().backward();
    for (a, b) in once.get(&x).as_vec().iter().zip(twice.get(&x).as_vec()) {
        assert!((2.0 * a - b).abs() <= 1e-5 * (1.0 + b.abs()));
    }
    for (a, b) in once.get(&w).as_vec().iter().zip(twice.get(&w).as_vec()) {
        assert!((2.0 * a - b).abs() <= 1e-5 * (1.0 + b.abs()));
    }
}

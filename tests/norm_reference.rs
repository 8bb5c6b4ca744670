//! typenet's batch-norm op against naive f64 loops (training forward, running statistics,
//! inference forward, and the gradients of the input, scale and bias), its kernels on
//! every instruction set this CPU runs (the portable one always), and agreement with the
//! dfdx-op path (what typenet ran before, and what CUDA runs).

use dfdx::nn::modules::{BatchNorm1D, BatchNorm2D};
use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::__private::ops::kernels::{norm as kernels, Isa};
use typenet::__private::ops::{cpu, generic};
use typenet::__private::{batch_norm1d, batch_norm1d_train, batch_norm2d, batch_norm2d_train};
use typenet::{BatchNormArgs, NormStats};

fn close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: length");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Naive batch norm on `(outer, c, inner)` data: outputs, running statistics and the
/// gradients for an upstream gradient `r`.
struct Reference {
    y: Vec<f64>,
    running_mean: Vec<f64>,
    running_var: Vec<f64>,
    gx: Vec<f64>,
    gscale: Vec<f64>,
    gbias: Vec<f64>,
}

#[allow(clippy::too_many_arguments)]
fn reference(
    (outer, c, inner): (usize, usize, usize),
    x: &[f64],
    r: &[f64],
    (scale, bias, rm, rv): (&[f64], &[f64], &[f64], &[f64]),
    eps: f64,
    momentum: f64,
    train: bool,
) -> Reference {
    let at = |b: usize, ch: usize, i: usize| (b * c + ch) * inner + i;
    let n = (outer * inner) as f64;
    let mut out = Reference {
        y: vec![0.0; x.len()],
        running_mean: rm.to_vec(),
        running_var: rv.to_vec(),
        gx: vec![0.0; x.len()],
        gscale: vec![0.0; c],
        gbias: vec![0.0; c],
    };
    for ch in 0..c {
        let idx: Vec<usize> = (0..outer)
            .flat_map(|b| (0..inner).map(move |i| at(b, ch, i)))
            .collect();
        let (mean, var) = if train {
            let m = idx.iter().map(|&i| x[i]).sum::<f64>() / n;
            let v = idx.iter().map(|&i| (x[i] - m).powi(2)).sum::<f64>() / n;
            out.running_mean[ch] = rm[ch] * (1.0 - momentum) + m * momentum;
            let unbiased = v * n / (n - 1.0).max(1.0);
            out.running_var[ch] = rv[ch] * (1.0 - momentum) + unbiased * momentum;
            (m, v)
        } else {
            (rm[ch], rv[ch])
        };
        let inv = 1.0 / (var + eps).sqrt();
        let xhat = |i: usize| (x[i] - mean) * inv;
        let gb: f64 = idx.iter().map(|&i| r[i]).sum();
        let gs: f64 = idx.iter().map(|&i| r[i] * xhat(i)).sum();
        out.gbias[ch] = gb;
        out.gscale[ch] = gs;
        for &i in &idx {
            out.y[i] = scale[ch] * xhat(i) + bias[ch];
            out.gx[i] = if train {
                scale[ch] * inv * (r[i] - gb / n - xhat(i) * gs / n)
            } else {
                r[i] * scale[ch] * inv
            };
        }
    }
    out
}

macro_rules! randomised2d {
    ($name:ident, $e:ty) => {
        fn $name<const C: usize>(dev: &Cpu) -> BatchNorm2D<C, $e, Cpu> {
            let mut bn = BatchNorm2D::<C, $e, Cpu>::build(dev);
            bn.scale = dev.sample_normal();
            bn.bias = dev.sample_normal();
            bn.running_mean = dev.sample_normal();
            bn.running_var = dev.sample_uniform::<Rank1<C>>() + 0.5;
            bn.momentum = 0.3;
            bn.epsilon = 1e-3;
            bn
        }
    };
}
randomised2d!(randomised2d, f64);
randomised2d!(randomised2d_f32, f32);

/// `BatchNorm2D` on `(b, C, h, w)` in f64, training and inference, against [`reference`].
fn bn2d_matches_reference<const C: usize>((b, h, w): (usize, usize, usize), seed: u64) {
    let dev = Cpu::seed_from_u64(seed);
    let shape = (b, Const::<C>, h, w);
    let x: Tensor<_, f64, _> = dev.sample_normal_like(&shape) * 2.0 + 0.5;
    let r: Tensor<_, f64, _> = dev.sample_normal_like(&shape);
    for train in [true, false] {
        let mut bn = randomised2d::<C>(&dev);
        let p = (
            &bn.scale.as_vec()[..],
            &bn.bias.as_vec()[..],
            &bn.running_mean.as_vec()[..],
            &bn.running_var.as_vec()[..],
        );
        let want = reference((b, C, h * w), &x.as_vec(), &r.as_vec(), p, 1e-3, 0.3, train);
        let y = if train {
            batch_norm2d_train(&mut bn, x.leaky_trace()).unwrap()
        } else {
            batch_norm2d(&bn, x.leaky_trace()).unwrap()
        };
        close("y", &y.retaped::<NoneTape>().as_vec(), &want.y, 1e-10);
        let rm = bn.running_mean.as_vec();
        close("running_mean", &rm, &want.running_mean, 1e-10);
        close(
            "running_var",
            &bn.running_var.as_vec(),
            &want.running_var,
            1e-10,
        );
        let g = (y * r.clone()).sum::<Rank0, _>().backward();
        close("grad x", &g.get(&x).as_vec(), &want.gx, 1e-9);
        close("grad scale", &g.get(&bn.scale).as_vec(), &want.gscale, 1e-9);
        close("grad bias", &g.get(&bn.bias).as_vec(), &want.gbias, 1e-9);
    }
}

/// `BatchNorm1D` on `(b, C)` in f64 against [`reference`].
fn bn1d_matches_reference<const C: usize>(b: usize, seed: u64) {
    let dev = Cpu::seed_from_u64(seed);
    let x: Tensor<(usize, Const<C>), f64, _> = dev.sample_normal_like(&(b, Const)) - 1.0;
    let r: Tensor<(usize, Const<C>), f64, _> = dev.sample_normal_like(&(b, Const));
    for train in [true, false] {
        let mut bn = BatchNorm1D::<C, f64, Cpu>::build(&dev);
        bn.scale = dev.sample_normal();
        bn.running_var = dev.sample_uniform::<Rank1<C>>() + 0.5;
        let p = (
            &bn.scale.as_vec()[..],
            &bn.bias.as_vec()[..],
            &bn.running_mean.as_vec()[..],
            &bn.running_var.as_vec()[..],
        );
        let (eps, m) = (bn.epsilon, bn.momentum);
        let want = reference((b, C, 1), &x.as_vec(), &r.as_vec(), p, eps, m, train);
        let y = if train {
            batch_norm1d_train(&mut bn, x.leaky_trace()).unwrap()
        } else {
            batch_norm1d(&bn, x.leaky_trace()).unwrap()
        };
        close("y", &y.retaped::<NoneTape>().as_vec(), &want.y, 1e-10);
        close(
            "running_var",
            &bn.running_var.as_vec(),
            &want.running_var,
            1e-10,
        );
        let g = (y * r.clone()).sum::<Rank0, _>().backward();
        close("grad x", &g.get(&x).as_vec(), &want.gx, 1e-9);
        close("grad scale", &g.get(&bn.scale).as_vec(), &want.gscale, 1e-9);
        close("grad bias", &g.get(&bn.bias).as_vec(), &want.gbias, 1e-9);
    }
}

/// typenet's op against the dfdx-op path, f32, both modes: outputs, running statistics,
/// gradients.
fn cpu_matches_generic<const C: usize>((b, h, w): (usize, usize, usize), seed: u64) {
    let dev = Cpu::seed_from_u64(seed);
    let shape = (b, Const::<C>, h, w);
    let x: Tensor<_, f32, _> = dev.sample_normal_like(&shape) * 3.0 - 1.0;
    let r: Tensor<_, f32, _> = dev.sample_normal_like(&shape);
    for train in [true, false] {
        let mut bn1 = randomised2d_f32::<C>(&dev);
        let mut bn2 = bn1.clone();
        let run = |bn: &mut BatchNorm2D<C, f32, Cpu>, ours: bool| {
            let stats = if train {
                NormStats::Batch {
                    running_mean: &mut bn.running_mean,
                    running_var: &mut bn.running_var,
                    momentum: bn.momentum,
                }
            } else {
                NormStats::Running {
                    mean: &bn.running_mean,
                    var: &bn.running_var,
                }
            };
            let args = BatchNormArgs {
                scale: &bn.scale,
                bias: &bn.bias,
                stats,
                epsilon: bn.epsilon,
            };
            if ours {
                cpu::batch_norm(x.leaky_trace(), args).unwrap()
            } else {
                generic::batch_norm(x.leaky_trace(), args).unwrap()
            }
        };
        let (y1, y2) = (run(&mut bn1, true), run(&mut bn2, false));
        let v = |t: &Tensor<Rank1<C>, f32, Cpu>| f64s(&t.as_vec());
        let tol = 2e-5;
        close(
            "y",
            &f64s(&y1.retaped::<NoneTape>().as_vec()),
            &f64s(&y2.retaped::<NoneTape>().as_vec()),
            tol,
        );
        close("mean", &v(&bn1.running_mean), &v(&bn2.running_mean), tol);
        close("var", &v(&bn1.running_var), &v(&bn2.running_var), tol);
        let g1 = (y1 * r.clone()).sum().backward();
        let g2 = (y2 * r.clone()).sum().backward();
        let gx = |g: &Gradients<f32, Cpu>| f64s(&g.get(&x).as_vec());
        // Gradient sums over many elements: relative to their scale.
        close("grad x", &gx(&g1), &gx(&g2), 1e-4);
        close(
            "grad scale",
            &v(&g1.get(&bn1.scale)),
            &v(&g2.get(&bn2.scale)),
            1e-4,
        );
        close(
            "grad bias",
            &v(&g1.get(&bn1.bias)),
            &v(&g2.get(&bn2.bias)),
            1e-4,
        );
    }
}

/// The kernels on one instruction set against naive loops, `(outer, c, inner)`.
fn kernels_match<E: typenet::Element>(isa: Isa, l: kernels::Layout, x: &[E], gy: &[E], tol: f64) {
    let f = |v: E| v.to_f64().unwrap();
    let (o, c, n) = (l.outer, l.channels, l.inner);
    let at = |b: usize, ch: usize, i: usize| (b * c + ch) * n + i;
    let stats = kernels::batch_stats(isa, l, x);
    let mean: Vec<E> = stats.iter().map(|s| E::from_f64(s.0).unwrap()).collect();
    let a: Vec<E> = (0..c)
        .map(|ch| E::from_f64(0.5 + ch as f64).unwrap())
        .collect();
    let k: Vec<[E; 3]> = (0..c)
        .map(|ch| {
            [
                a[ch],
                E::from_f64(-0.25).unwrap(),
                E::from_f64(ch as f64).unwrap(),
            ]
        })
        .collect();
    let mut y = vec![E::zero(); x.len()];
    kernels::affine(isa, l, x, &a, &mean, &mut y);
    let sums = kernels::grad_sums(isa, l, x, gy, &mean);
    let mut gx = vec![E::one(); x.len()];
    kernels::input_grad(isa, l, x, gy, &k, &mut gx);
    let cnt = (o * n) as f64;
    for ch in 0..c {
        let idx: Vec<usize> = (0..o)
            .flat_map(|b| (0..n).map(move |i| at(b, ch, i)))
            .collect();
        let m = idx.iter().map(|&i| f(x[i])).sum::<f64>() / cnt;
        let v = idx.iter().map(|&i| (f(x[i]) - m).powi(2)).sum::<f64>() / cnt;
        close("mean", &[stats[ch].0], &[m], tol);
        close("var", &[stats[ch].1], &[v], tol);
        let mc = f(mean[ch]);
        let sg: f64 = idx.iter().map(|&i| f(gy[i])).sum();
        let sgx: f64 = idx.iter().map(|&i| f(gy[i]) * (f(x[i]) - mc)).sum();
        let scale = idx
            .iter()
            .map(|&i| f(gy[i]).abs() * (1.0 + f(x[i]).abs()))
            .sum::<f64>();
        assert!((sums[ch].0 - sg).abs() <= tol * (1.0 + scale), "sum gy");
        assert!((sums[ch].1 - sgx).abs() <= tol * (1.0 + scale), "sum gy x");
        for &i in &idx {
            close("affine", &[f(y[i])], &[f(a[ch]) * f(x[i]) + mc], tol);
            let [k1, k2, k3] = k[ch].map(f);
            let want = 1.0 + k1 * f(gy[i]) + k2 * f(x[i]) + k3;
            close("input grad", &[f(gx[i])], &[want], tol);
        }
    }
}

#[test]
fn kernels_on_every_isa_match_naive_loops() {
    let l = kernels::Layout {
        outer: 3,
        channels: 5,
        inner: 37,
    };
    let len = 3 * 5 * 37;
    let x: Vec<f64> = (0..len)
        .map(|i| ((i * 7919) % 101) as f64 * 0.03 - 1.2)
        .collect();
    let gy: Vec<f64> = (0..len)
        .map(|i| ((i * 31) % 17) as f64 * 0.1 - 0.8)
        .collect();
    for isa in Isa::all_available() {
        kernels_match(isa, l, &x, &gy, 1e-12);
        let (xf, gf): (Vec<f32>, Vec<f32>) = (
            x.iter().map(|&v| v as f32).collect(),
            gy.iter().map(|&v| v as f32).collect(),
        );
        kernels_match(isa, l, &xf, &gf, 2e-6);
    }
}

#[test]
fn bn2d_against_naive_loops_fixed_shapes() {
    bn2d_matches_reference::<3>((4, 5, 6), 1);
    bn2d_matches_reference::<1>((1, 1, 1), 2);
    bn2d_matches_reference::<8>((2, 9, 13), 3);
    bn1d_matches_reference::<7>(5, 4);
    bn1d_matches_reference::<2>(1, 5);
}

#[test]
fn bn2d_gradient_matches_finite_differences() {
    let dev = Cpu::seed_from_u64(9);
    let x: Tensor<Rank4<2, 2, 3, 3>, f64, _> = dev.sample_normal();
    let r: Tensor<Rank4<2, 2, 3, 3>, f64, _> = dev.sample_normal();
    let bn = randomised2d::<2>(&dev);
    let loss = |x: Tensor<Rank4<2, 2, 3, 3>, f64, Cpu>| {
        let y = batch_norm2d_train(&mut bn.clone(), x).unwrap();
        (y * r.clone()).sum::<Rank0, _>().array()
    };
    let y = batch_norm2d_train(&mut bn.clone(), x.leaky_trace()).unwrap();
    let g = (y * r.clone())
        .sum::<Rank0, _>()
        .backward()
        .get(&x)
        .as_vec();
    let xv = x.as_vec();
    for i in 0..xv.len() {
        let (mut up, mut down) = (xv.clone(), xv.clone());
        up[i] += 1e-6;
        down[i] -= 1e-6;
        let fd = (loss(dev.tensor_from_vec(up, *x.shape()))
            - loss(dev.tensor_from_vec(down, *x.shape())))
            / 2e-6;
        assert!((fd - g[i]).abs() <= 1e-6, "{i}: {fd} vs {}", g[i]);
    }
}

#[test]
fn large_batches_split_across_threads() {
    cpu_matches_generic::<16>((32, 8, 8), 7);
    cpu_matches_generic::<3>((65, 1, 3), 8);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_shapes_match_naive_loops_and_dfdx(
        b in 1usize..6, h in 1usize..7, w in 1usize..9, seed in 0u64..1000,
    ) {
        bn2d_matches_reference::<3>((b, h, w), seed);
        bn2d_matches_reference::<1>((b, h, w), seed + 1);
        bn1d_matches_reference::<4>(b, seed + 2);
        cpu_matches_generic::<5>((b, h, w), seed + 3);
    }

    #[test]
    fn kernels_match_anywhere(
        o in 1usize..5, c in 1usize..6, n in 1usize..50, seed in 0u64..1000,
    ) {
        let l = kernels::Layout { outer: o, channels: c, inner: n };
        let len = o * c * n;
        let dev = Cpu::seed_from_u64(seed);
        let x = dev.sample_normal_like::<(usize,)>(&(len,)).as_vec();
        let gy = dev.sample_normal_like::<(usize,)>(&(len,)).as_vec();
        for isa in Isa::all_available() {
            kernels_match::<f32>(isa, l, &x, &gy, 2e-6);
        }
    }
}

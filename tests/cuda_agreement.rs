//! On `Cuda`, convolution, pooling and dense layers run the generic dfdx-op path; they must
//! agree with the fast CPU kernels, forward and every gradient. Runs only with
//! `--features cuda` on a machine with a GPU (`scripts/gpu-check.sh`); `cuda-ci-check`
//! type-checks it.
#![cfg(feature = "cuda")]

use dfdx::prelude::*;
use typenet::backend::{Conv2DParams, Pool2DKind, Pool2DParams};
use typenet::Backend;

type T4<D, T = NoneTape> = Tensor<(usize, usize, usize, usize), f32, D, T>;

fn close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: length");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-3 * (1.0 + y.abs()),
            "{what}[{i}]: cuda {x}, cpu {y}"
        );
    }
}

fn conv_on<D: Backend<f32>>(
    x: &T4<D>,
    w: &T4<D>,
    b: &Tensor<(usize,), f32, D>,
    p: Conv2DParams,
) -> [Vec<f32>; 4]
where
    D::Err: std::fmt::Debug,
{
    let y = D::conv2d(x.leaky_trace(), w.retaped(), Some(b.retaped()), p).unwrap();
    let out = y.retaped::<NoneTape>().as_vec();
    let g = y.square().sum().backward();
    [out, g.get(x).as_vec(), g.get(w).as_vec(), g.get(b).as_vec()]
}

#[test]
fn conv2d_on_cuda_matches_cpu() {
    let cpu = Cpu::seed_from_u64(0);
    let cuda = Cuda::seed_from_u64(0);
    let pool = Some(Pool2DParams {
        window: 2,
        stride: 2,
        padding: 0,
    });
    for (shape, k, p) in [
        (
            (4, 1, 28, 28),
            3,
            Conv2DParams::new(1, 0, 1).relu(true).max_pool(pool),
        ),
        ((2, 3, 11, 9), 3, Conv2DParams::new(2, 1, 2)),
        ((3, 2, 8, 8), 1, Conv2DParams::new(1, 0, 1).relu(true)),
    ] {
        let x: T4<Cpu> = cpu.sample_normal_like(&shape);
        let w: T4<Cpu> = cpu.sample_normal_like(&(5, shape.1, k, k));
        let b: Tensor<(usize,), f32, Cpu> = cpu.sample_normal_like(&(5,));
        let want = conv_on(&x, &w, &b, p);
        let got = conv_on(
            &x.to_device(&cuda),
            &w.to_device(&cuda),
            &b.to_device(&cuda),
            p,
        );
        for (i, what) in ["y", "grad x", "grad w", "grad b"].iter().enumerate() {
            close(what, &got[i], &want[i]);
        }
    }
}

fn pool_on<D: Backend<f32>>(x: &T4<D>, kind: Pool2DKind, p: Pool2DParams) -> [Vec<f32>; 2]
where
    D::Err: std::fmt::Debug,
{
    let y = D::pool2d(x.leaky_trace(), kind, p).unwrap();
    let out = y.retaped::<NoneTape>().as_vec();
    let g = y.square().sum().backward();
    [out, g.get(x).as_vec()]
}

#[test]
fn pool2d_on_cuda_matches_cpu() {
    let cpu = Cpu::seed_from_u64(1);
    let cuda = Cuda::seed_from_u64(1);
    for (kind, p) in [
        (
            Pool2DKind::Max,
            Pool2DParams {
                window: 2,
                stride: 2,
                padding: 0,
            },
        ),
        (
            Pool2DKind::Max,
            Pool2DParams {
                window: 3,
                stride: 1,
                padding: 1,
            },
        ),
        (
            Pool2DKind::Avg,
            Pool2DParams {
                window: 3,
                stride: 2,
                padding: 1,
            },
        ),
    ] {
        let x: T4<Cpu> = cpu.sample_normal_like(&(2, 3, 9, 8));
        let want = pool_on(&x, kind, p);
        let got = pool_on(&x.to_device(&cuda), kind, p);
        close("y", &got[0], &want[0]);
        close("grad x", &got[1], &want[1]);
    }
}

type T2<D> = Tensor<(usize, usize), f32, D>;

/// (y, grad x, grad w, grad b) of `dense` (after the conv block when `conv` is given).
fn dense_on<D: Backend<f32>>(
    x: &T4<D>,
    conv: Option<(&T4<D>, Conv2DParams)>,
    w: &T2<D>,
    b: &Tensor<(usize,), f32, D>,
) -> [Vec<f32>; 4]
where
    D::Err: std::fmt::Debug,
{
    let batch = x.shape().0;
    let dp = typenet::backend::DenseParams::new().relu(true);
    let y = match conv {
        Some((cw, p)) => {
            D::conv2d_dense(x.leaky_trace(), cw.retaped(), None, p, w, Some(b), dp).unwrap()
        }
        None => D::dense(x.leaky_trace(), batch, w, Some(b), dp).unwrap(),
    };
    let out = y.retaped::<NoneTape>().as_vec();
    let g = y.square().sum().backward();
    [out, g.get(x).as_vec(), g.get(w).as_vec(), g.get(b).as_vec()]
}

#[test]
fn dense_and_conv_to_dense_on_cuda_match_cpu() {
    let cpu = Cpu::seed_from_u64(2);
    let cuda = Cuda::seed_from_u64(2);
    let x: T4<Cpu> = cpu.sample_normal_like(&(4, 2, 12, 12));
    let b: Tensor<(usize,), f32, Cpu> = cpu.sample_normal_like(&(16,));
    // Dense straight on the (flattened) images.
    let w: T2<Cpu> = cpu.sample_normal_like(&(16, 2 * 12 * 12));
    let want = dense_on(&x, None, &w, &b);
    let got = dense_on(
        &x.to_device(&cuda),
        None,
        &w.to_device(&cuda),
        &b.to_device(&cuda),
    );
    for (i, what) in ["y", "grad x", "grad w", "grad b"].iter().enumerate() {
        close(what, &got[i], &want[i]);
    }
    // Conv2D(3, 3) + ReLU + MaxPool2D(2) into Dense(16): 3 x 5 x 5 = 75 inputs.
    let p = Conv2DParams::new(1, 0, 1)
        .relu(true)
        .max_pool(Some(Pool2DParams {
            window: 2,
            stride: 2,
            padding: 0,
        }));
    let cw: T4<Cpu> = cpu.sample_normal_like(&(3, 2, 3, 3));
    let w: T2<Cpu> = cpu.sample_normal_like(&(16, 75));
    let want = dense_on(&x, Some((&cw, p)), &w, &b);
    let cw_gpu = cw.to_device(&cuda);
    let got = dense_on(
        &x.to_device(&cuda),
        Some((&cw_gpu, p)),
        &w.to_device(&cuda),
        &b.to_device(&cuda),
    );
    for (i, what) in ["y", "grad x", "grad w", "grad b"].iter().enumerate() {
        close(what, &got[i], &want[i]);
    }
}

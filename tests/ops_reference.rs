//! Convolution and pooling, forward and every gradient, checked against naive reference
//! loops on random shapes, strides, paddings and dilations, square or with one size per
//! axis (`1 x k` kernels and windows: the 1-d layers) — for both the fast CPU kernels and
//! the generic dfdx-op path (the one CUDA runs), which must also agree with each other.

use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::__private::ops::{self, out_size, Conv2DParams, Pool2DKind, Pool2DParams, PoolParams};

type T4 = Tensor<(usize, usize, usize, usize), f64, Cpu>;

/// Sizes per axis: `[rows, columns]`.
type Axes = [usize; 2];

/// A pooling window, stride and padding per axis.
type Window = (Axes, Axes, Axes);

#[derive(Debug, Clone)]
struct ConvCase {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: Axes,
    s: Axes,
    p: Axes,
    d: Axes,
    bias: bool,
    relu: bool,
    /// Max pooling fused after the convolution.
    pool: Option<Window>,
    input_grad: bool,
    seed: u64,
}

impl ConvCase {
    /// The convolution's output size per axis, when the kernel fits.
    fn out(&self) -> Option<Axes> {
        Some([
            out_size(self.h, self.k[0], self.s[0], self.p[0], self.d[0])?,
            out_size(self.w, self.k[1], self.s[1], self.p[1], self.d[1])?,
        ])
    }

    /// Whether every size is the same along both axes (then the tests use the square
    /// constructors).
    fn square(&self) -> bool {
        let sq = |a: Axes| a[0] == a[1];
        sq(self.k)
            && sq(self.s)
            && sq(self.p)
            && sq(self.d)
            && self.pool.is_none_or(|(k, s, p)| sq(k) && sq(s) && sq(p))
    }
}

/// Output size per axis of a pooling of `n`, when the window fits.
fn pool_out(n: Axes, (k, s, p): Window) -> Option<Axes> {
    if 2 * p[0] > k[0] || 2 * p[1] > k[1] {
        return None;
    }
    Some([
        out_size(n[0], k[0], s[0], p[0], 1)?,
        out_size(n[1], k[1], s[1], p[1], 1)?,
    ])
}

#[allow(clippy::too_many_arguments)]
fn case(
    (b, c, h, w, o): (usize, usize, usize, usize, usize),
    (k, s, p, d): (usize, usize, usize, usize),
    (bias, relu, pool, input_grad): (bool, bool, Option<(usize, usize, usize)>, bool),
    seed: u64,
) -> ConvCase {
    ConvCase {
        b,
        c,
        h,
        w,
        o,
        k: [k; 2],
        s: [s; 2],
        p: [p; 2],
        d: [d; 2],
        bias,
        relu,
        pool: pool.map(|(k, s, p)| ([k; 2], [s; 2], [p; 2])),
        input_grad,
        seed,
    }
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        (1usize..4, 1usize..4, 1usize..9, 1usize..9, 1usize..5),
        (1usize..4, 1usize..4, 0usize..3, 1usize..3),
        (
            any::<bool>(),
            any::<bool>(),
            proptest::option::of((1usize..4, 1usize..3, 0usize..2)),
            any::<bool>(),
        ),
        any::<u64>(),
    )
        .prop_map(|(dims, geom, flags, seed)| case(dims, geom, flags, seed))
        .prop_filter("kernel and pooling window must fit", fits)
}

/// Whether the kernel fits the input, and the pooling window (if any) the conv output.
fn fits(c: &ConvCase) -> bool {
    c.out()
        .is_some_and(|hw| c.pool.is_none_or(|pool| pool_out(hw, pool).is_some()))
}

/// Random sizes per axis, most of them rectangular; `1 x k` kernels (the 1-d convolution,
/// as `(C, 1, L)`) in about a third of the cases.
fn rect_conv_case() -> impl Strategy<Value = ConvCase> {
    let axes = |lo: usize, hi: usize| [lo..hi, lo..hi];
    (
        (1usize..4, 1usize..4, 1usize..9, 1usize..12, 1usize..5),
        (axes(1, 4), axes(1, 4), axes(0, 3), axes(1, 3)),
        (
            any::<bool>(),
            any::<bool>(),
            proptest::option::of((axes(1, 4), axes(1, 3), axes(0, 2))),
            any::<bool>(),
        ),
        (0usize..3, any::<u64>()),
    )
        .prop_map(
            |((b, ch, h, w, o), (k, s, p, d), (bias, relu, pool, input_grad), (one_d, seed))| {
                let mut c = ConvCase {
                    b,
                    c: ch,
                    h,
                    w,
                    o,
                    k,
                    s,
                    p,
                    d,
                    bias,
                    relu,
                    pool,
                    input_grad,
                    seed,
                };
                if one_d == 0 {
                    // A 1-d convolution: one row, a 1 x k kernel, no padding on the rows
                    // (and 1-d pooling after it).
                    (c.h, c.k[0], c.s[0], c.p[0], c.d[0]) = (1, 1, 1, 0, 1);
                    c.pool = c.pool.map(|(k, s, p)| ([1, k[1]], [1, s[1]], [0, p[1]]));
                }
                c
            },
        )
        .prop_filter("kernel and pooling window must fit", fits)
}

fn random(dev: &Cpu, n: usize) -> Vec<f64> {
    let t: Tensor<(usize,), f64, Cpu> = dev.sample_normal_like(&(n,));
    t.as_vec()
}

struct ConvRef {
    y: Vec<f64>,
    gx: Vec<f64>,
    gw: Vec<f64>,
    gb: Vec<f64>,
}

/// Direct loops: y = relu?(conv(x, w) + b); gradients of sum(y * r).
fn conv_reference(c: &ConvCase, x: &[f64], w: &[f64], b: &[f64], r: &[f64]) -> ConvRef {
    let [ho, wo] = c.out().unwrap();
    let [kh, kw] = c.k;
    let xi = |n: usize, ch: usize, i: usize, j: usize| ((n * c.c + ch) * c.h + i) * c.w + j;
    let wi = |o: usize, ch: usize, ki: usize, kj: usize| ((o * c.c + ch) * kh + ki) * kw + kj;
    let yi = |n: usize, o: usize, i: usize, j: usize| ((n * c.o + o) * ho + i) * wo + j;
    // Input index along `axis` of tap `ki` for output `oi`, or `None` in the padding.
    let tap = |axis: usize, oi: usize, ki: usize, n: usize| -> Option<usize> {
        let v = (oi * c.s[axis] + ki * c.d[axis]) as isize - c.p[axis] as isize;
        (v >= 0 && (v as usize) < n).then_some(v as usize)
    };
    let mut y = vec![0.0; c.b * c.o * ho * wo];
    for n in 0..c.b {
        for o in 0..c.o {
            for i in 0..ho {
                for j in 0..wo {
                    let mut s = if c.bias { b[o] } else { 0.0 };
                    for ch in 0..c.c {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                if let (Some(r_), Some(c_)) =
                                    (tap(0, i, ki, c.h), tap(1, j, kj, c.w))
                                {
                                    s += x[xi(n, ch, r_, c_)] * w[wi(o, ch, ki, kj)];
                                }
                            }
                        }
                    }
                    y[yi(n, o, i, j)] = if c.relu { s.max(0.0) } else { s };
                }
            }
        }
    }
    let (mut gx, mut gw, mut gb) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; c.o]);
    for n in 0..c.b {
        for o in 0..c.o {
            for i in 0..ho {
                for j in 0..wo {
                    let idx = yi(n, o, i, j);
                    let g = if c.relu && y[idx] <= 0.0 { 0.0 } else { r[idx] };
                    gb[o] += g;
                    for ch in 0..c.c {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                if let (Some(r_), Some(c_)) =
                                    (tap(0, i, ki, c.h), tap(1, j, kj, c.w))
                                {
                                    gx[xi(n, ch, r_, c_)] += g * w[wi(o, ch, ki, kj)];
                                    gw[wi(o, ch, ki, kj)] += g * x[xi(n, ch, r_, c_)];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    ConvRef { y, gx, gw, gb }
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-9 * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// Output values per image and channel (after the pooling, if any).
fn out_len(c: &ConvCase) -> usize {
    let hw = c.out().unwrap();
    let [h, w] = c.pool.map_or(hw, |pool| pool_out(hw, pool).unwrap());
    h * w
}

/// The reference for the whole op, with the pooling; and whether a pooling window tied.
fn reference(c: &ConvCase, x: &[f64], w: &[f64], b: &[f64], r: &[f64]) -> (ConvRef, bool) {
    let Some((k, s, p)) = c.pool else {
        return (conv_reference(c, x, w, b, r), false);
    };
    // Pool the reference convolution's output, then send the pooled gradient back.
    let [ho, wo] = c.out().unwrap();
    let y = conv_reference(c, x, w, b, &vec![0.0; c.b * c.o * ho * wo]).y;
    let pc = PoolCase {
        b: c.b,
        c: c.o,
        h: ho,
        w: wo,
        k,
        s,
        p,
        max: true,
        seed: 0,
    };
    let (y_pool, g_conv, tied) = pool_reference(&pc, &y, r);
    let mut want = conv_reference(c, x, w, b, &g_conv);
    want.y = y_pool;
    (want, tied)
}

fn check_conv(c: &ConvCase) {
    let dev = Cpu::seed_from_u64(c.seed);
    let x: T4 = dev.tensor_from_vec(random(&dev, c.b * c.c * c.h * c.w), (c.b, c.c, c.h, c.w));
    let (kh, kw) = (c.k[0], c.k[1]);
    let w: T4 = dev.tensor_from_vec(random(&dev, c.o * c.c * kh * kw), (c.o, c.c, kh, kw));
    let b = dev.tensor_from_vec(random(&dev, c.o), (c.o,));
    let (xv, wv, bv) = (x.as_vec(), w.as_vec(), b.as_vec());
    let r = random(&dev, c.b * c.o * out_len(c));
    let (want, tied) = reference(c, &xv, &wv, &bv, &r);
    for (name, f, fast) in [
        ("cpu", ops::cpu::conv2d as ConvFn<f64>, true),
        ("generic", ops::generic::conv2d as ConvFn<f64>, false),
    ] {
        let [y, gx, gw, gb] = run_conv(f, c, (&xv, &wv, &bv, &r), fast);
        assert_close(&format!("{name} y"), &y, &want.y);
        if tied && !fast {
            // Outputs that only see padding tie at the bias; dfdx's max splits differently.
            continue;
        }
        if !gx.is_empty() {
            assert_close(&format!("{name} grad x"), &gx, &want.gx);
        }
        assert_close(&format!("{name} grad w"), &gw, &want.gw);
        if c.bias {
            assert_close(&format!("{name} grad b"), &gb, &want.gb);
        }
    }
}

type T4e<E> = Tensor<(usize, usize, usize, usize), E, Cpu>;
type Taped<S, E> = Tensor<S, E, Cpu, OwnedTape<E, Cpu>>;
type ConvFn<E> = fn(
    Taped<(usize, usize, usize, usize), E>,
    Taped<(usize, usize, usize, usize), E>,
    Option<Taped<(usize,), E>>,
    Conv2DParams,
) -> Result<Taped<(usize, usize, usize, usize), E>, CpuError>;

/// Runs one implementation in `E` (inputs rounded to `E`) and returns (y, gx, gw, gb) as
/// f64; gx is empty when a `fast` kernel was asked to skip it.
fn run_conv<E: typenet::Element>(
    f: ConvFn<E>,
    c: &ConvCase,
    (x, w, b, r): (&[f64], &[f64], &[f64], &[f64]),
    fast: bool,
) -> [Vec<f64>; 4]
where
    Cpu: Device<E>,
{
    let dev = Cpu::default();
    let narrow = |v: &[f64]| v.iter().map(|&v| E::from(v).unwrap()).collect::<Vec<E>>();
    let x: T4e<E> = dev.tensor_from_vec(narrow(x), (c.b, c.c, c.h, c.w));
    let w: T4e<E> = dev.tensor_from_vec(narrow(w), (c.o, c.c, c.k[0], c.k[1]));
    let b = dev.tensor_from_vec(narrow(b), (c.o,));
    let p = if c.square() {
        // The square constructors, as `Conv2D` and `MaxPool2D` use them.
        let pool = c.pool.map(|(window, stride, padding)| Pool2DParams {
            window: window[0],
            stride: stride[0],
            padding: padding[0],
        });
        Conv2DParams::new(c.s[0], c.p[0], c.d[0]).max_pool(pool)
    } else {
        let pool = c.pool.map(|(k, s, p)| PoolParams::per_axis(k, s, p));
        Conv2DParams::per_axis(c.s, c.p, c.d).max_pool_per_axis(pool)
    };
    let p = p.relu(c.relu).input_grad(c.input_grad);
    let bias = c.bias.then(|| b.retaped::<OwnedTape<E, Cpu>>());
    let y = f(x.leaky_trace(), w.retaped(), bias, p).expect("conv runs");
    let yv = y.retaped::<NoneTape>().as_vec();
    let rt = dev.tensor_from_vec(narrow(r), *y.shape());
    let g = (y * rt).sum().backward();
    let wide = |v: Vec<E>| {
        v.into_iter()
            .map(|v| v.to_f64().unwrap())
            .collect::<Vec<f64>>()
    };
    let gb = if c.bias { g.get(&b).as_vec() } else { vec![] };
    // The fast kernels skip the input gradient when asked to; the generic path always has it.
    let gx = if c.input_grad || !fast {
        g.get(&x).as_vec()
    } else {
        vec![]
    };
    [wide(yv), wide(gx), wide(g.get(&w).as_vec()), wide(gb)]
}

/// [`assert_close`] with a tolerance for f32: relative to the element and to the largest
/// magnitude in `want` (sums with cancellation lose precision relative to their terms).
fn assert_close_f32(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * (1.0 + w.abs()) + 1e-5 * scale,
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// Runs `c` in f32 through the CPU op (the direct kernels where they apply) and through its
/// im2col path, and checks both against the f64 reference (on the same, f32-rounded,
/// inputs). With `quantize`, inputs are small multiples of 1/4, so that every f32 sum is
/// exact: pooling ties (and ReLU zeros) are then the same in f32 as in f64, and exercise
/// the first-maximum rule. Without, a near tie could pool differently in f32 than in f64.
fn check_conv_f32(c: &ConvCase, quantize: bool) {
    let dev = Cpu::seed_from_u64(c.seed);
    // The values the f32 op sees, in f64.
    let input = |n: usize| -> Vec<f64> {
        random(&dev, n)
            .into_iter()
            .map(|v| {
                if quantize {
                    (v * 4.0).round().clamp(-12.0, 12.0) / 4.0
                } else {
                    v as f32 as f64
                }
            })
            .collect()
    };
    let x = input(c.b * c.c * c.h * c.w);
    let w = input(c.o * c.c * c.k[0] * c.k[1]);
    let b = input(c.o);
    let r = input(c.b * c.o * out_len(c));
    let (want, _) = reference(c, &x, &w, &b, &r);
    let ins = (&x[..], &w[..], &b[..], &r[..]);
    let fast = run_conv::<f32>(ops::cpu::conv2d, c, ins, true);
    let im2col = run_conv::<f32>(ops::cpu::conv2d_im2col, c, ins, true);
    for (name, got) in [("f32 cpu", &fast), ("f32 im2col", &im2col)] {
        let [y, gx, gw, gb] = got;
        assert_close_f32(&format!("{name} y"), y, &want.y);
        if c.input_grad {
            assert_close_f32(&format!("{name} grad x"), gx, &want.gx);
        }
        assert_close_f32(&format!("{name} grad w"), gw, &want.gw);
        if c.bias {
            assert_close_f32(&format!("{name} grad b"), gb, &want.gb);
        }
    }
    // Up to 32 taps per output the im2col path sums them in the direct kernels' order, with
    // FMA: the outputs agree bit for bit, and so do the gradients that share the im2col
    // backward (pooled, with an input gradient), or whose sums are exact (`quantize`). The
    // direct gradients otherwise sum in another order.
    if c.c * c.k[0] * c.k[1] <= 32 {
        assert_eq!(fast[0], im2col[0], "f32 cpu y vs im2col y");
        if c.input_grad && (quantize || c.pool.is_some()) {
            assert_eq!(fast[1..], im2col[1..], "f32 cpu gradients vs im2col");
        }
    }
}

/// Cases that the direct f32 kernels take: stride 1, no dilation, `MaxPool2D(2)`; some
/// wide enough for several 16-lane blocks per pooled row.
fn direct_case() -> impl Strategy<Value = ConvCase> {
    (
        (
            1usize..4,
            1usize..4,
            2usize..12,
            prop_oneof![2usize..16, 30usize..48],
            1usize..10,
        ),
        (1usize..6, 0usize..3),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        any::<u64>(),
    )
        .prop_map(|(dims, (k, p), (bias, relu, input_grad), seed)| {
            case(
                dims,
                (k, 1, p, 1),
                (bias, relu, Some((2, 2, 0)), input_grad),
                seed,
            )
        })
        .prop_filter("the pooling window must fit", |c| {
            c.out().is_some_and(|[h, w]| h >= 2 && w >= 2)
        })
}

/// Cases that the unpooled direct f32 kernels take: stride 1, no dilation, no pooling; some
/// wide enough for several 16-lane blocks per row, some with more channels than a register
/// block (12).
fn direct_unpooled_case() -> impl Strategy<Value = ConvCase> {
    (
        (
            1usize..4,
            1usize..4,
            1usize..12,
            prop_oneof![1usize..16, 30usize..42],
            1usize..14,
        ),
        (1usize..6, 0usize..3),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        any::<u64>(),
    )
        .prop_map(|(dims, (k, p), (bias, relu, input_grad), seed)| {
            case(dims, (k, 1, p, 1), (bias, relu, None, input_grad), seed)
        })
        .prop_filter("the kernel must fit", |c| c.out().is_some())
}

#[derive(Debug, Clone)]
struct PoolCase {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    k: Axes,
    s: Axes,
    p: Axes,
    max: bool,
    seed: u64,
}

impl PoolCase {
    fn out(&self) -> Option<Axes> {
        pool_out([self.h, self.w], (self.k, self.s, self.p))
    }
}

fn pool_case() -> impl Strategy<Value = PoolCase> {
    (
        (1usize..4, 1usize..4, 1usize..9, 1usize..9),
        (1usize..4, 1usize..4, 0usize..2),
        (any::<bool>(), any::<u64>()),
    )
        .prop_map(|((b, c, h, w), (k, s, p), (max, seed))| PoolCase {
            b,
            c,
            h,
            w,
            k: [k; 2],
            s: [s; 2],
            p: [p; 2],
            max,
            seed,
        })
        .prop_filter("window must fit; padding at most half the window", |c| {
            c.out().is_some()
        })
}

/// Windows, strides and paddings per axis; a third of the cases 1-d (`1 x k` windows on
/// one row).
fn rect_pool_case() -> impl Strategy<Value = PoolCase> {
    let axes = |lo: usize, hi: usize| [lo..hi, lo..hi];
    (
        (1usize..4, 1usize..4, 1usize..9, 1usize..12),
        (axes(1, 5), axes(1, 4), axes(0, 2)),
        (0usize..3, any::<bool>(), any::<u64>()),
    )
        .prop_map(|((b, c, h, w), (k, s, p), (one_d, max, seed))| {
            let mut c = PoolCase {
                b,
                c,
                h,
                w,
                k,
                s,
                p,
                max,
                seed,
            };
            if one_d == 0 {
                (c.h, c.k[0], c.s[0], c.p[0]) = (1, 1, 1, 0);
            }
            c
        })
        .prop_filter("window must fit; padding at most half the window", |c| {
            c.out().is_some()
        })
}

/// Direct loops: max (first maximum wins the gradient) or mean with padding as zeros.
/// Also says whether some window's maximum is tied (then implementations may split its
/// gradient differently: dfdx's `max` gives it to every tied element).
fn pool_reference(c: &PoolCase, x: &[f64], r: &[f64]) -> (Vec<f64>, Vec<f64>, bool) {
    let mut tied = false;
    let [ho, wo] = c.out().unwrap();
    let mut y = vec![0.0; c.b * c.c * ho * wo];
    let mut gx = vec![0.0; x.len()];
    for plane in 0..c.b * c.c {
        for i in 0..ho {
            for j in 0..wo {
                let mut taps = vec![];
                for ki in 0..c.k[0] {
                    for kj in 0..c.k[1] {
                        let (ri, cj) = (
                            (i * c.s[0] + ki) as isize - c.p[0] as isize,
                            (j * c.s[1] + kj) as isize - c.p[1] as isize,
                        );
                        if ri >= 0 && cj >= 0 && (ri as usize) < c.h && (cj as usize) < c.w {
                            taps.push((plane * c.h + ri as usize) * c.w + cj as usize);
                        }
                    }
                }
                let yi = (plane * ho + i) * wo + j;
                if c.max {
                    let best = taps
                        .iter()
                        .copied()
                        .fold(taps[0], |a, t| if x[t] > x[a] { t } else { a });
                    y[yi] = x[best];
                    gx[best] += r[yi];
                    tied |= taps.iter().filter(|&&t| x[t] == x[best]).count() > 1;
                } else {
                    let n = (c.k[0] * c.k[1]) as f64;
                    y[yi] = taps.iter().map(|&t| x[t]).sum::<f64>() / n;
                    for &t in &taps {
                        gx[t] += r[yi] / n;
                    }
                }
            }
        }
    }
    (y, gx, tied)
}

type PoolFn =
    fn(
        Tensor<(usize, usize, usize, usize), f64, Cpu, OwnedTape<f64, Cpu>>,
        Pool2DKind,
        PoolParams,
    )
        -> Result<Tensor<(usize, usize, usize, usize), f64, Cpu, OwnedTape<f64, Cpu>>, CpuError>;

fn check_pool(c: &PoolCase) {
    let dev = Cpu::seed_from_u64(c.seed);
    let x: T4 = dev.tensor_from_vec(random(&dev, c.b * c.c * c.h * c.w), (c.b, c.c, c.h, c.w));
    let [ho, wo] = c.out().unwrap();
    let r = random(&dev, c.b * c.c * ho * wo);
    let (want_y, want_gx, _) = pool_reference(c, &x.as_vec(), &r);
    let kind = if c.max {
        Pool2DKind::Max
    } else {
        Pool2DKind::Avg
    };
    let p = match c.k[0] == c.k[1] && c.s[0] == c.s[1] && c.p[0] == c.p[1] {
        // The square parameters, as `MaxPool2D` and `AvgPool2D` pass them.
        true => Pool2DParams {
            window: c.k[0],
            stride: c.s[0],
            padding: c.p[0],
        }
        .into(),
        false => PoolParams::per_axis(c.k, c.s, c.p),
    };
    for (name, f) in [
        ("cpu", ops::cpu::pool2d as PoolFn),
        ("generic", ops::generic::pool2d as PoolFn),
    ] {
        let y = f(x.leaky_trace(), kind, p).expect("pool runs");
        assert_close(
            &format!("{name} y"),
            &y.retaped::<NoneTape>().as_vec(),
            &want_y,
        );
        let rt = dev.tensor_from_vec(r.clone(), *y.shape());
        let g = (y * rt).sum().backward();
        assert_close(&format!("{name} grad x"), &g.get(&x).as_vec(), &want_gx);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn conv2d_matches_reference(c in conv_case()) {
        check_conv(&c);
        // The same cases in f32 (mostly the im2col path: other strides, poolings, ...).
        check_conv_f32(&c, true);
    }

    #[test]
    fn conv2d_f32_direct_matches_reference(c in direct_case()) {
        check_conv_f32(&c, true);
    }

    #[test]
    fn conv2d_f32_direct_unpooled_matches_reference(c in direct_unpooled_case()) {
        check_conv_f32(&c, true);
    }

    #[test]
    fn pool2d_matches_reference(c in pool_case()) {
        check_pool(&c);
    }

    /// Kernels and (fused) pooling windows with one size per axis, `1 x k` ones (the 1-d
    /// layers) especially: every path falls back where its kernels are square-only.
    #[test]
    fn conv2d_rectangular_matches_reference(c in rect_conv_case()) {
        check_conv(&c);
        check_conv_f32(&c, true);
    }

    #[test]
    fn pool2d_rectangular_matches_reference(c in rect_pool_case()) {
        check_pool(&c);
    }
}

#[test]
fn conv1d_shapes_match_reference() {
    // Conv1D(8, 5) over (3, 40) as (3, 1, 40), stride 2, padding 2, dilation 2, ReLU and
    // MaxPool1D(2) fused; then kernel 3 at stride 1 with an input gradient, unpooled (the
    // shapes the direct kernels would take, were they not square-only).
    let one_d = |k: usize, s: usize, p: usize, d: usize| ([1, k], [1, s], [0, p], [1, d]);
    for (seed, (k, s, p, d), pool, input_grad) in [
        (20, one_d(5, 2, 2, 2), Some(([1, 2], [1, 2], [0, 0])), false),
        (21, one_d(3, 1, 0, 1), None, true),
        (22, one_d(3, 1, 1, 1), Some(([1, 3], [1, 1], [0, 1])), true),
    ] {
        let c = ConvCase {
            b: 3,
            c: 3,
            h: 1,
            w: 40,
            o: 8,
            k,
            s,
            p,
            d,
            bias: true,
            relu: true,
            pool,
            input_grad,
            seed,
        };
        check_conv(&c);
        check_conv_f32(&c, false);
    }
    // MaxPool1D(3, stride 2, padding 1) and AvgPool1D(4) over (2, 1, 33).
    for (max, k, s, p) in [(true, 3, 2, 1), (false, 4, 4, 0)] {
        check_pool(&PoolCase {
            b: 2,
            c: 2,
            h: 1,
            w: 33,
            k: [1, k],
            s: [1, s],
            p: [0, p],
            max,
            seed: 23,
        });
    }
}

#[test]
fn conv2d_mnist_shape_matches_reference() {
    check_conv(&case(
        (3, 1, 28, 28, 4),
        (3, 1, 0, 1),
        (true, true, None, true),
        7,
    ));
    // The MNIST block: Conv2D + ReLU + MaxPool2D fused, first layer (no input gradient).
    check_conv(&case(
        (3, 1, 28, 28, 4),
        (3, 1, 0, 1),
        (true, true, Some((2, 2, 0)), false),
        8,
    ));
}

#[test]
fn conv2d_f32_mnist_shape_matches_reference() {
    // The MNIST block in f32 (the direct kernels where the CPU has AVX-512), on unrounded
    // normal inputs: first layer, then with an input gradient.
    for input_grad in [false, true] {
        check_conv_f32(
            &case(
                (4, 1, 28, 28, 32),
                (3, 1, 0, 1),
                (true, true, Some((2, 2, 0)), input_grad),
                9,
            ),
            false,
        );
    }
    // Strided and dilated f32 convolutions keep the im2col path; they must still agree.
    check_conv_f32(
        &case(
            (2, 2, 13, 35, 5),
            (3, 2, 1, 1),
            (true, true, Some((2, 2, 0)), false),
            10,
        ),
        true,
    );
    check_conv_f32(
        &case(
            (2, 2, 13, 35, 5),
            (3, 1, 1, 2),
            (false, true, Some((2, 2, 0)), true),
            11,
        ),
        true,
    );
}

#[test]
fn conv2d_f32_unpooled_direct_shapes_match_reference() {
    // MNIST's first layer without pooling (`Conv2D(32, 3), ReLU`), unrounded inputs: the
    // outputs agree bit for bit with the im2col path (9 taps).
    for input_grad in [false, true] {
        check_conv_f32(
            &case(
                (4, 1, 28, 28, 32),
                (3, 1, 0, 1),
                (true, true, None, input_grad),
                12,
            ),
            false,
        );
    }
    // A second layer, 32 -> 64 channels, padded, with an input gradient (gemm in im2col).
    check_conv_f32(
        &case(
            (2, 32, 13, 13, 64),
            (3, 1, 1, 1),
            (true, true, None, true),
            13,
        ),
        false,
    );
    // No ReLU, no bias, wide rows, a 5x5 kernel.
    check_conv_f32(
        &case(
            (2, 3, 9, 37, 13),
            (5, 1, 2, 1),
            (false, false, None, true),
            14,
        ),
        true,
    );
}

#[test]
fn conv2d_strided_dilated_padded_matches_reference() {
    check_conv(&case(
        (2, 3, 11, 9, 5),
        (3, 2, 2, 2),
        (true, false, None, true),
        3,
    ));
    check_conv(&case(
        (2, 3, 11, 9, 5),
        (3, 1, 2, 2),
        (false, true, Some((3, 2, 1)), true),
        4,
    ));
}

#[test]
fn maxpool_mnist_shape_matches_reference() {
    check_pool(&PoolCase {
        b: 2,
        c: 3,
        h: 26,
        w: 26,
        k: [2; 2],
        s: [2; 2],
        p: [0; 2],
        max: true,
        seed: 1,
    });
}

/// Average pooling without padding (LeNet-5's): 2x2 windows with stride 2 on even and odd
/// planes, and 3x3 windows with stride 2 (the row loops' general case).
#[test]
fn avgpool_unpadded_shapes_match_reference() {
    for (h, w, k, s) in [(28, 28, 2, 2), (7, 9, 2, 2), (9, 8, 3, 2), (5, 11, 3, 1)] {
        check_pool(&PoolCase {
            b: 2,
            c: 3,
            h,
            w,
            k: [k; 2],
            s: [s; 2],
            p: [0; 2],
            max: false,
            seed: 3,
        });
    }
}

#[test]
fn conv_gradient_accumulates_when_input_is_used_twice() {
    // dfdx's CPU `slice` assigns instead of adding; our ops must add.
    let dev = Cpu::seed_from_u64(5);
    let x: T4 = dev.sample_normal_like(&(2, 2, 6, 6));
    let w: T4 = dev.sample_normal_like(&(3, 2, 3, 3));
    let p = Conv2DParams::new(1, 1, 1);
    let once = {
        let y = ops::cpu::conv2d(x.leaky_trace(), w.retaped(), None, p).unwrap();
        y.sum().backward().get(&x).as_vec()
    };
    let xt = x.leaky_trace();
    let y1 = ops::cpu::conv2d(xt.with_empty_tape(), w.retaped(), None, p).unwrap();
    let y2 = ops::cpu::conv2d(xt, w.retaped(), None, p).unwrap();
    let twice = (y1.sum() + y2.sum()).backward().get(&x).as_vec();
    let doubled: Vec<f64> = once.iter().map(|v| 2.0 * v).collect();
    assert_close("grad x used twice", &twice, &doubled);
}

#[test]
fn bad_geometry_is_an_error_not_a_panic() {
    let dev = Cpu::default();
    let x: T4 = dev.zeros_like(&(1, 2, 3, 3));
    let w: T4 = dev.zeros_like(&(1, 2, 5, 5));
    let p = Conv2DParams::new(1, 0, 1);
    assert!(ops::cpu::conv2d(x.clone(), w.clone(), None, p).is_err());
    assert!(ops::generic::conv2d(x.clone(), w, None, p).is_err());
    let wrong_channels: T4 = dev.zeros_like(&(1, 3, 1, 1));
    assert!(ops::cpu::conv2d(x.clone(), wrong_channels, None, p).is_err());
    let pool = Pool2DParams {
        window: 4,
        stride: 1,
        padding: 0,
    };
    assert!(ops::cpu::pool2d(x.clone(), Pool2DKind::Max, pool).is_err());
    assert!(ops::generic::pool2d(x, Pool2DKind::Avg, pool).is_err());
}

/// -0.0 and +0.0 are equal (IEEE, PyTorch): the first of them in the window is the
/// maximum and gets the gradient, in every max-pooling kernel.
#[test]
fn signed_zeros_tie_to_the_first() {
    let dev = Cpu::default();
    for (window, stride) in [(2, 2), (3, 1)] {
        let p = Pool2DParams {
            window,
            stride,
            padding: 0,
        };
        let x: T4 = dev.tensor_from_vec(
            vec![-0.0, 0.0, 0.0, -0.0, -0.0, 0.0, 0.0, 0.0, 0.0],
            (1, 1, 3, 3),
        );
        let y = ops::cpu::pool2d(x.leaky_trace(), Pool2DKind::Max, p).unwrap();
        let gx = y.sum().backward().get(&x).as_vec();
        assert_eq!(
            gx[0], 1.0,
            "window {window}: the gradient goes to the first zero"
        );
        assert_eq!(gx.iter().sum::<f64>(), 1.0);
    }
}

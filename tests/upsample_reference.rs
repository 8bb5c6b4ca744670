//! `UpSampling2D`: the CPU op and the generic (CUDA) path against naive loops, forward and
//! the input gradient, on random shapes and factors; and the layer inside `network!`
//! (shape, summary row, unbatched input, training through it).

use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::__private::ops::{cpu, generic};
use typenet::layers::{LayerParams, UpSampling2D};
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

/// `y[p][i][j] = x[p][i / fh][j / fw]` per plane `p`; for the loss `sum(y * g)`,
/// `gx[p][r][c]` sums `g` over the `fh x fw` block of `(r, c)`.
fn naive(
    planes: usize,
    (h, w): (usize, usize),
    (fh, fw): (usize, usize),
    x: &[f64],
    g: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let (ho, wo) = (h * fh, w * fw);
    let mut y = vec![0.0; planes * ho * wo];
    let mut gx = vec![0.0; x.len()];
    for p in 0..planes {
        for i in 0..ho {
            for j in 0..wo {
                let (o, s) = ((p * ho + i) * wo + j, (p * h + i / fh) * w + j / fw);
                y[o] = x[s];
                gx[s] += g[o];
            }
        }
    }
    (y, gx)
}

type Op = fn(
    Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    usize,
    usize,
) -> Result<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>, CpuError>;

fn check(op: Op, (b, c, h, w): Dyn4, (fh, fw): (usize, usize), seed: u64) {
    let dev = Cpu::seed_from_u64(seed);
    let x: Tensor<Dyn4, f64, _> = dev.sample_normal_like(&(b, c, h, w));
    let g: Tensor<Dyn4, f64, _> = dev.sample_normal_like(&(b, c, h * fh, w * fw));
    let y = op(x.leaky_trace(), fh, fw).expect("upsample");
    assert_eq!(*y.shape(), (b, c, h * fh, w * fw));
    let yv = y.as_vec();
    let grads = (y * g.clone()).sum().backward();
    let (want, gx) = naive(b * c, (h, w), (fh, fw), &x.as_vec(), &g.as_vec());
    close("y", &yv, &want, 0.0);
    close("grad x", &grads.get(&x).as_vec(), &gx, 1e-12);
}

fn cpu_op(
    x: Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    fh: usize,
    fw: usize,
) -> Result<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>, CpuError> {
    cpu::upsample2d(x, fh, fw)
}

fn generic_op(
    x: Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    fh: usize,
    fw: usize,
) -> Result<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>, CpuError> {
    generic::upsample2d(x, fh, fw)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn upsample2d_matches_naive_loops(
        b in 1usize..3, c in 1usize..4, h in 1usize..7, w in 1usize..7,
        fh in 1usize..4, fw in 1usize..4, seed in 0u64..1000,
    ) {
        check(cpu_op, (b, c, h, w), (fh, fw), seed);
        check(generic_op, (b, c, h, w), (fh, fw), seed);
    }
}

#[test]
fn upsample2d_rejects_a_zero_factor() {
    let dev = Cpu::default();
    let x: Tensor<Dyn4, f64, _> = dev.zeros_like(&(1, 1, 2, 2));
    assert!(cpu::upsample2d(x.clone(), 0, 2).is_err());
    assert!(generic::upsample2d(x, 2, 0).is_err());
}

network! {
    /// Down, up, and back to a flat output.
    pub struct UpNet: (2, 6, 6) -> (3) {
        Conv2D(4, 3, padding = same),
        MaxPool2D(2),
        UpSampling2D(2),
        UpSampling2D(1, 2),
        Conv2D(2, 3),
        Flatten,
        Dense(3),
    }
}

#[test]
fn upsample2d_in_a_network() {
    assert_eq!(<UpSampling2D<2, 2> as LayerParams>::PARAMS, 0);
    let s = UpNet::summary();
    let rows: Vec<(&str, &[usize], usize)> = s
        .rows
        .iter()
        .map(|r| (r.layer.as_str(), r.output_shape.as_slice(), r.params))
        .collect();
    assert_eq!(
        rows[2],
        ("up_sampling2d_2 (UpSampling2D)", &[4, 6, 6][..], 0)
    );
    assert_eq!(
        rows[3],
        ("up_sampling2d_3 (UpSampling2D)", &[4, 6, 12][..], 0)
    );
    assert_eq!(
        rows[4],
        ("conv2d_4 (Conv2D)", &[2, 4, 10][..], 4 * 2 * 9 + 2)
    );
    assert_eq!(
        UpNet::PARAMS,
        (2 * 4 * 9 + 4) + (4 * 2 * 9 + 2) + (80 * 3 + 3)
    );

    let dev = Cpu::seed_from_u64(1);
    let mut m = dev.build_module::<UpNet, f64>();
    let x: Tensor<Rank4<2, 2, 6, 6>, f64, _> = dev.sample_normal();
    let y = m.forward(x.clone());
    // Unbatched: the first sample alone.
    let x0: Tensor<Rank3<2, 6, 6>, f64, _> =
        dev.tensor_from_vec(x.as_vec()[..72].to_vec(), (Const, Const, Const));
    close(
        "unbatched",
        &m.forward(x0).as_vec(),
        &y.as_vec()[..3],
        1e-12,
    );
    // The same through the fields, upsampled by the naive loops.
    let h = m.conv2d_0.forward(x.clone());
    let h = m.max_pool2d_1.forward(h);
    let (hv, [b, c, hh, ww]) = (h.as_vec(), h.shape().concrete());
    let (u, _) = naive(
        b * c,
        (hh, ww),
        (2, 4),
        &hv,
        &vec![0.0; b * c * hh * ww * 8],
    );
    let u: Tensor<Rank4<2, 4, 6, 12>, f64, _> =
        dev.tensor_from_vec(u, (Const, Const, Const, Const));
    let h = m
        .conv2d_4
        .forward(u)
        .reshape_like(&(Const::<2>, Const::<80>));
    close(
        "forward",
        &y.as_vec(),
        &m.dense_6.forward(h).as_vec(),
        1e-10,
    );

    let mut grads = m.alloc_grads();
    grads = m.forward_mut(x.trace(grads)).square().sum().backward();
    assert!(grads
        .get(&m.conv2d_0.weight)
        .as_vec()
        .iter()
        .any(|&v| v != 0.0));
    let mut opt = dfdx::optim::Sgd::new(&m, Default::default());
    let before = m.conv2d_0.weight.as_vec();
    opt.update(&mut m, &grads).expect("update");
    assert_ne!(before, m.conv2d_0.weight.as_vec());
}

/// `y[b][o][i s - p + ki][j s - p + kj] += x[b][c][i][j] w[c][o][ki][kj]` (plus bias), and
/// for the loss `sum(y * g)` the gradients of x, w and bias.
#[allow(clippy::type_complexity)]
fn naive_transpose(
    (b, c, h, w, o, k): (usize, usize, usize, usize, usize, usize),
    (s, p, op): (usize, usize, usize),
    x: &[f64],
    wt: &[f64],
    bias: &[f64],
    g: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (ho, wo) = ((h - 1) * s + k + op - 2 * p, (w - 1) * s + k + op - 2 * p);
    let mut y = vec![0.0; b * o * ho * wo];
    for bi in 0..b {
        for oi in 0..o {
            for r in 0..ho * wo {
                y[(bi * o + oi) * ho * wo + r] = bias[oi];
            }
        }
    }
    let (mut gx, mut gw) = (vec![0.0; x.len()], vec![0.0; wt.len()]);
    let mut gb = vec![0.0; o];
    for bi in 0..b {
        for oi in 0..o {
            for r in 0..ho * wo {
                gb[oi] += g[(bi * o + oi) * ho * wo + r];
            }
        }
        for ci in 0..c {
            for i in 0..h {
                for j in 0..w {
                    let xi = ((bi * c + ci) * h + i) * w + j;
                    for oi in 0..o {
                        for ki in 0..k {
                            for kj in 0..k {
                                let (r, q) = (
                                    (i * s + ki) as isize - p as isize,
                                    (j * s + kj) as isize - p as isize,
                                );
                                if r < 0 || q < 0 || r as usize >= ho || q as usize >= wo {
                                    continue;
                                }
                                let yi = ((bi * o + oi) * ho + r as usize) * wo + q as usize;
                                let wi = ((ci * o + oi) * k + ki) * k + kj;
                                y[yi] += x[xi] * wt[wi];
                                gx[xi] += wt[wi] * g[yi];
                                gw[wi] += x[xi] * g[yi];
                            }
                        }
                    }
                }
            }
        }
    }
    (y, gx, gw, gb)
}

#[derive(Debug, Clone)]
struct TCase {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: usize,
    s: usize,
    p: usize,
    op: usize,
    seed: u64,
}

fn t_case() -> impl Strategy<Value = TCase> {
    (
        1usize..3,
        1usize..4,
        1usize..6,
        1usize..6,
        1usize..4,
        1usize..5,
        1usize..4,
        0usize..3,
        0usize..3,
        0u64..1000,
    )
        .prop_map(|(b, c, h, w, o, k, s, p, op, seed)| TCase {
            b,
            c,
            h,
            w,
            o,
            k,
            s,
            p,
            op: op % s,
            seed,
        })
        .prop_filter("a non-empty output", |t| {
            typenet::__private::ops::transpose_out_size(t.h, t.k, t.s, t.p, t.op).is_some()
                && typenet::__private::ops::transpose_out_size(t.w, t.k, t.s, t.p, t.op).is_some()
        })
}

type TOp = fn(
    Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    Option<Tensor<(usize,), f64, Cpu, OwnedTape<f64, Cpu>>>,
    typenet::__private::ops::Conv2DTransposeParams,
) -> Result<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>, CpuError>;

fn check_transpose(op: TOp, t: &TCase) {
    let dev = Cpu::seed_from_u64(t.seed);
    let x: Tensor<Dyn4, f64, _> = dev.sample_normal_like(&(t.b, t.c, t.h, t.w));
    let w: Tensor<Dyn4, f64, _> = dev.sample_normal_like(&(t.c, t.o, t.k, t.k));
    let bias: Tensor<(usize,), f64, _> = dev.sample_normal_like(&(t.o,));
    let p = typenet::__private::ops::Conv2DTransposeParams {
        stride: t.s,
        padding: t.p,
        output_padding: t.op,
    };
    let y = op(
        x.leaky_trace(),
        w.clone().retaped(),
        Some(bias.clone().retaped()),
        p,
    )
    .expect("conv2d_transpose");
    let (_, _, ho, wo) = *y.shape();
    let g: Tensor<Dyn4, f64, _> = dev.sample_normal_like(&(t.b, t.o, ho, wo));
    let yv = y.as_vec();
    let grads = (y * g.clone()).sum().backward();
    let (want, gx, gw, gb) = naive_transpose(
        (t.b, t.c, t.h, t.w, t.o, t.k),
        (t.s, t.p, t.op),
        &x.as_vec(),
        &w.as_vec(),
        &bias.as_vec(),
        &g.as_vec(),
    );
    close("y", &yv, &want, 1e-10);
    close("grad x", &grads.get(&x).as_vec(), &gx, 1e-10);
    close("grad w", &grads.get(&w).as_vec(), &gw, 1e-10);
    close("grad bias", &grads.get(&bias).as_vec(), &gb, 1e-10);
}

fn cpu_t(
    x: Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    w: Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    b: Option<Tensor<(usize,), f64, Cpu, OwnedTape<f64, Cpu>>>,
    p: typenet::__private::ops::Conv2DTransposeParams,
) -> Result<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>, CpuError> {
    cpu::conv2d_transpose(x, w, b, p)
}

fn generic_t(
    x: Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    w: Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>,
    b: Option<Tensor<(usize,), f64, Cpu, OwnedTape<f64, Cpu>>>,
    p: typenet::__private::ops::Conv2DTransposeParams,
) -> Result<Tensor<Dyn4, f64, Cpu, OwnedTape<f64, Cpu>>, CpuError> {
    generic::conv2d_transpose(x, w, b, p)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn conv2d_transpose_matches_naive_loops(t in t_case()) {
        check_transpose(cpu_t, &t);
        check_transpose(generic_t, &t);
    }
}

#[test]
fn conv2d_transpose_output_size_is_pytorchs() {
    use typenet::__private::ops::transpose_out_size;
    // torch.nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, output_padding=1): 7 -> 14.
    assert_eq!(transpose_out_size(7, 3, 2, 1, 1), Some(14));
    assert_eq!(transpose_out_size(14, 2, 2, 0, 0), Some(28));
    assert_eq!(transpose_out_size(4, 3, 1, 0, 0), Some(6));
    assert_eq!(transpose_out_size(4, 3, 2, 0, 2), None);
    assert_eq!(transpose_out_size(1, 1, 1, 1, 0), None);
}

network! {
    /// A decoder: transposed convolutions up to 1 x 12 x 12.
    pub struct Decoder: (4, 3, 3) -> (1, 12, 12) {
        Conv2DTranspose(8, 2, 2),                                         // (8, 6, 6)
        Conv2DTranspose(8 => 2, 3, stride = 2, padding = 1, output_padding = 1, activation = relu), // (2, 12, 12)
        Conv2DTranspose(1, 3, padding = 1, bias = false),                 // (1, 12, 12)
    }
}

#[test]
fn conv2d_transpose_in_a_network() {
    use typenet::layers::Conv2DTranspose;
    assert_eq!(
        <Conv2DTranspose<4, 8, 2, 2, 0, 0, true, f32, Cpu> as LayerParams>::PARAMS,
        4 * 8 * 4 + 8
    );
    assert_eq!(Decoder::PARAMS, (4 * 8 * 4 + 8) + (8 * 2 * 9 + 2) + 2 * 9);
    let s = Decoder::summary();
    let rows: Vec<(&str, &[usize])> = s
        .rows
        .iter()
        .map(|r| (r.layer.as_str(), r.output_shape.as_slice()))
        .collect();
    assert_eq!(
        rows[0],
        ("conv2d_transpose_0 (Conv2DTranspose)", &[8, 6, 6][..])
    );
    assert_eq!(
        rows[1],
        ("conv2d_transpose_1 (Conv2DTranspose)", &[2, 12, 12][..])
    );
    let dev = Cpu::seed_from_u64(2);
    let mut m = dev.build_module::<Decoder, f64>();
    assert_eq!(m.conv2d_transpose_0.weight.shape().concrete(), [4, 8, 2, 2]);
    let x: Tensor<Rank4<2, 4, 3, 3>, f64, _> = dev.sample_normal();
    let y = m.forward(x.clone());
    let h = m.conv2d_transpose_0.forward(x.clone());
    let h = m.conv2d_transpose_1.forward(h).relu();
    let want = m.conv2d_transpose_2.forward(h);
    close("forward", &y.as_vec(), &want.as_vec(), 1e-12);
    let mut grads = m.alloc_grads();
    grads = m.forward_mut(x.trace(grads)).square().sum().backward();
    let mut opt = dfdx::optim::Sgd::new(&m, Default::default());
    let before = m.conv2d_transpose_0.weight.as_vec();
    opt.update(&mut m, &grads).expect("update");
    assert_ne!(before, m.conv2d_transpose_0.weight.as_vec());
}

//! `Conv1D` against naive 1-d loops: forward and the gradients of input, weight and bias,
//! on random batches and lengths, for several kernels, strides, paddings and dilations,
//! batched and unbatched, f64 and f32; and the layer inside `network!`.

use dfdx::nn::BuildModule;
use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::layers::{Conv1D, LayerParams};
use typenet::prelude::*;

/// `y[b][o][j] = bias[o] + sum_{c,t} w[o][c][t] x[b][c][j s + t d - p]`, and for the loss
/// `sum(y * g)` the gradients of x, w and bias.
#[allow(clippy::type_complexity)]
fn naive(
    (b, c, l, o, k): (usize, usize, usize, usize, usize),
    (s, p, d): (usize, usize, usize),
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    g: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let lo = (l + 2 * p - d * (k - 1) - 1) / s + 1;
    let mut y = vec![0.0; b * o * lo];
    let (mut gx, mut gw, mut gb) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; o]);
    for bi in 0..b {
        for oi in 0..o {
            for j in 0..lo {
                let yi = (bi * o + oi) * lo + j;
                let mut acc = bias.map_or(0.0, |bs| bs[oi]);
                gb[oi] += g[yi];
                for ci in 0..c {
                    for t in 0..k {
                        let Some(src) = (j * s + t * d).checked_sub(p).filter(|&r| r < l) else {
                            continue;
                        };
                        let (xi, wi) = ((bi * c + ci) * l + src, (oi * c + ci) * k + t);
                        acc += w[wi] * x[xi];
                        gx[xi] += w[wi] * g[yi];
                        gw[wi] += x[xi] * g[yi];
                    }
                }
                y[yi] = acc;
            }
        }
    }
    (y, gx, gw, gb)
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "at {i}: {x} vs {y}");
    }
}

/// Builds the layer on random weights, runs it on a random batch `(b, C, l)` with a tape,
/// and compares output and gradients with [`naive`].
fn check<
    const C: usize,
    const O: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const DIL: usize,
    const BIAS: bool,
>(
    b: usize,
    l: usize,
    seed: u64,
) {
    let dev = Cpu::seed_from_u64(seed);
    let layer = Conv1D::<C, O, K, S, P, DIL, BIAS, f64, Cpu>::build(&dev);
    let x: Tensor<(usize, Const<C>, usize), f64, _> = dev.sample_normal_like(&(b, Const, l));
    let y = layer.forward(x.leaky_trace());
    let (_, _, lo) = *y.shape();
    let g: Tensor<(usize, Const<O>, usize), f64, _> = dev.sample_normal_like(&(b, Const, lo));
    let yv = y.as_vec();
    let grads = (y * g.clone()).sum().backward();
    let bias = layer.bias.as_ref().map(|t| t.as_vec());
    let (want, gx, gw, gb) = naive(
        (b, C, l, O, K),
        (S, P, DIL),
        &x.as_vec(),
        &layer.weight.as_vec(),
        bias.as_deref(),
        &g.as_vec(),
    );
    close(&yv, &want, 1e-10);
    close(&grads.get(&x).as_vec(), &gx, 1e-10);
    close(&grads.get(&layer.weight).as_vec(), &gw, 1e-10);
    if let Some(bt) = &layer.bias {
        close(&grads.get(bt).as_vec(), &gb, 1e-10);
    }
    // Unbatched: the first sample alone.
    let x0: Tensor<(Const<C>, usize), f64, _> =
        dev.tensor_from_vec(x.as_vec()[..C * l].to_vec(), (Const, l));
    let y0 = layer.forward(x0);
    close(&y0.as_vec(), &want[..O * lo], 1e-10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn conv1d_matches_naive_loops(b in 1usize..4, extra in 0usize..12, seed in 0u64..1000) {
        check::<3, 4, 3, 1, 1, 1, true>(b, 3 + extra, seed);
        check::<2, 5, 5, 2, 2, 1, false>(b, 5 + extra, seed);
        check::<1, 3, 3, 3, 0, 2, true>(b, 5 + extra, seed);
        check::<4, 2, 1, 1, 0, 1, true>(b, 1 + extra, seed);
    }
}

#[test]
fn conv1d_f32_agrees_with_f64() {
    let dev = Cpu::seed_from_u64(7);
    let l64 = Conv1D::<3, 8, 5, 1, 2, 1, true, f64, Cpu>::build(&dev);
    let mut l32 = Conv1D::<3, 8, 5, 1, 2, 1, true, f32, Cpu>::build(&dev);
    l32.weight.copy_from(
        &l64.weight
            .as_vec()
            .iter()
            .map(|&v| v as f32)
            .collect::<Vec<_>>(),
    );
    let b64 = l64.bias.as_ref().expect("bias").as_vec();
    l32.bias
        .as_mut()
        .expect("bias")
        .copy_from(&b64.iter().map(|&v| v as f32).collect::<Vec<_>>());
    let x: Tensor<Rank3<2, 3, 40>, f64, _> = dev.sample_normal();
    let x32 = x.clone().to_dtype::<f32>();
    let (y64, y32) = (l64.forward(x.clone()), l32.forward(x32));
    let y32: Vec<f64> = y32.as_vec().iter().map(|&v| v as f64).collect();
    close(&y32, &y64.as_vec(), 1e-5);
}

network! {
    /// A small 1-d convnet over 2-channel sequences of 64.
    pub struct SeqNet: (2, 64) -> (5) {
        Conv1D(8, 5, padding = same, activation = relu), // 5*2*8+8 = 88 -> (8, 64)
        Conv1D(8 => 4, 3, stride = 2),                  // 3*8*4+4 = 100 -> (4, 31)
        Conv1D(4, 3, dilation = 2, bias = false),       // 3*4*4 = 48 -> (4, 27)
        Flatten,                                        // 108
        Dense(5),                                       // 545
    }
}

#[test]
fn conv1d_in_a_network() {
    assert_eq!(SeqNet::OUTPUT_SHAPE, &[5]);
    assert_eq!(SeqNet::PARAMS, 88 + (3 * 8 * 4 + 4) + 48 + (108 * 5 + 5));
    assert_eq!(
        <Conv1D<2, 8, 5, 1, 2, 1, true, f32, Cpu> as LayerParams>::PARAMS,
        88
    );
    let s = SeqNet::summary();
    let rows: Vec<(&str, &[usize])> = s
        .rows
        .iter()
        .map(|r| (r.layer.as_str(), r.output_shape.as_slice()))
        .collect();
    assert_eq!(rows[0], ("conv1d_0 (Conv1D)", &[8, 64][..]));
    assert_eq!(rows[1], ("conv1d_1 (Conv1D)", &[4, 31][..]));
    assert_eq!(rows[2], ("conv1d_2 (Conv1D)", &[4, 27][..]));
    let dev = Cpu::default();
    let mut m = dev.build_module::<SeqNet, f32>();
    assert_eq!(m.num_trainable_params(), SeqNet::PARAMS);
    let x: Tensor<Rank3<3, 2, 64>, f32, _> = dev.sample_normal();
    let y: Tensor<Rank2<3, 5>, f32, _> = m.forward(x.clone());
    // The same through the layers one by one.
    let h = m.conv1d_0.forward(x.clone()).relu();
    let h = m.conv1d_1.forward(h);
    let h = m.conv1d_2.forward(h);
    let h = h
        .reshape_like(&(3usize, 108usize))
        .realize::<(usize, Const<108>)>();
    let want = m.dense_4.forward(h);
    close(
        &y.as_vec().iter().map(|&v| v as f64).collect::<Vec<_>>(),
        &want.as_vec().iter().map(|&v| v as f64).collect::<Vec<_>>(),
        1e-6,
    );
    // It trains: one step changes every weight.
    let mut grads = m.alloc_grads();
    let loss = m.forward_mut(x.trace(grads)).square().mean();
    grads = loss.backward();
    assert!(grads
        .get(&m.conv1d_0.weight)
        .as_vec()
        .iter()
        .any(|&g| g != 0.0));
    let mut opt = dfdx::optim::Sgd::new(&m, Default::default());
    let before = m.conv1d_0.weight.as_vec();
    opt.update(&mut m, &grads).expect("update");
    assert_ne!(before, m.conv1d_0.weight.as_vec());
}

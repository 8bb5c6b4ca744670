//! `--model seed --layers`: the seed model's forward / backward per layer, each group of
//! layers declared as its own `network!` (so it runs the kernels the whole model runs for
//! it) and timed on a fresh random batch, as `fit` runs it (training forward, no input
//! gradient for a first Conv2D).

use std::error::Error;
use std::time::Instant;

use dfdx::nn::modules::Module;
use dfdx::prelude::*;
use typenet::layers::Flatten;
use typenet::prelude::*;

use crate::say;
use crate::step::median;

network! {
    /// conv2d_0 .. relu_5: the chain `network!` runs as one op.
    struct Trunk: (1, 28, 28) -> (128) {
        Conv2D(32, 3), ReLU, MaxPool2D(2), Flatten, Dense(128), ReLU,
    }
}
network! {
    struct ConvReluPool: (1, 28, 28) -> (32, 13, 13) { Conv2D(32, 3), ReLU, MaxPool2D(2) }
}
network! {
    struct ConvRelu: (1, 28, 28) -> (32, 26, 26) { Conv2D(32, 3), ReLU }
}
network! {
    struct Pool: (32, 26, 26) -> (32, 13, 13) { MaxPool2D(2) }
}
network! {
    struct FlattenDenseRelu: (32, 13, 13) -> (128) { Flatten, Dense(128), ReLU }
}
network! {
    struct Head: (128) -> (10) { Dense(10) }
}

/// Median (forward, backward) ms over 7 runs of `forward` on a random `x` and the
/// backward of the sum of its output.
fn time<S: Shape, Y: Shape, F>(x: Tensor<S, f32, Cpu>, mut forward: F) -> (f64, f64)
where
    F: FnMut(Tensor<S, f32, Cpu, OwnedTape<f32, Cpu>>) -> Tensor<Y, f32, Cpu, OwnedTape<f32, Cpu>>,
{
    let (mut f, mut b) = (vec![], vec![]);
    for _ in 0..7 {
        let t = Instant::now();
        let y = forward(x.leaky_trace());
        f.push(t.elapsed().as_secs_f64() * 1e3);
        // dfdx's `sum` (single-threaded) is no part of the layer: only its backward (a
        // fill with ones) is timed.
        let s = y.sum::<Rank0, _>();
        let t = Instant::now();
        std::hint::black_box(s.backward());
        b.push(t.elapsed().as_secs_f64() * 1e3);
    }
    (median(&f), median(&b))
}

/// Times network `$net` on a random batch of `$n`: `first` as the model's first layers
/// (what `fit` runs: no input gradient after a Conv2D or Dense), `inner` as layers inside
/// the model (with the input gradient).
macro_rules! net_row {
    ($dev:expr, $net:ty, $n:expr, first) => {{
        let mut m = $dev.build_module::<$net, f32>();
        let shape = <<$net as NetworkSpec>::Input as SampleShape>::batched($n);
        time($dev.sample_normal_like(&shape), |x| {
            m.try_forward_logits_mut(x).expect("forward")
        })
    }};
    ($dev:expr, $net:ty, $n:expr, inner) => {{
        let mut m = $dev.build_module::<$net, f32>();
        let shape = <<$net as NetworkSpec>::Input as SampleShape>::batched($n);
        time($dev.sample_normal_like(&shape), |x| m.forward_mut(x))
    }};
}

pub fn print_layers(batch: usize) -> Result<(), Box<dyn Error>> {
    let dev = Cpu::seed_from_u64(0);
    let n = batch;
    let dense_4 = net_row!(dev, FlattenDenseRelu, n, inner);
    let linear = dev.build_module::<Linear<5408, 128>, f32>();
    let dfdx_dense = time(
        dev.sample_normal_like(&(n, Const::<32>, Const::<13>, Const::<13>)),
        |x| {
            linear
                .forward(Flatten.forward(x).realize::<(usize, Const<5408>)>())
                .relu()
        },
    );
    let rows = [
        (
            "conv2d_0 .. relu_5 (one op)",
            net_row!(dev, Trunk, n, first),
        ),
        (
            "  conv2d_0+relu_1+max_pool2d_2",
            net_row!(dev, ConvReluPool, n, first),
        ),
        (
            "  conv2d_0 + relu_1 only",
            net_row!(dev, ConvRelu, n, first),
        ),
        ("  max_pool2d_2 only", net_row!(dev, Pool, n, inner)),
        ("  flatten_3+dense_4+relu_5", dense_4),
        ("dense_6", net_row!(dev, Head, n, inner)),
        ("  dfdx: flatten, Linear, relu", dfdx_dense),
    ];
    say!("per layer (batch {n}):   forward ms   backward ms");
    for (name, (f, b)) in rows {
        say!("  {name:<30} {f:>9.3}   {b:>11.3}");
    }
    // dense_4's three products (forward, weight and input gradients), n x 128 x 5408 each.
    let flop = 3.0 * 2.0 * (n * 128 * 5408) as f64;
    say!(
        "dense_4 alone: {:.0} GFLOP/s (its three products, including copies and bias/ReLU)",
        flop / ((dense_4.0 + dense_4.1) * 1e-3) / 1e9
    );
    Ok(())
}

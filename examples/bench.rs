//! Throughput of the MNIST CNN on this machine: training and inference images per second,
//! the epoch time, and a per-layer forward / backward breakdown.
//!
//! `cargo run --release --example bench` (options: `--steps N`, `--batch N`, `--repeats N`,
//! `--warmup N`). It trains on the real MNIST batches of `data/mnist`, one model throughout:
//! `--warmup` steps first (the speed of the backward pass depends on how many hidden units
//! ReLU leaves dead, which changes in the first hundreds of steps), then `--repeats` timed
//! runs of `--steps` steps. `--data-dir PATH` reads MNIST from elsewhere.
//!
//! With `--features cuda` the training and inference numbers are the GPU's (`AutoDevice` is
//! `Cuda`, synchronised before each clock reading); the per-layer breakdown stays on the CPU.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use dfdx::nn::modules::Module;
use dfdx::optim::{Adam, Optimizer};
use dfdx::prelude::*;
use dfdx::tensor::Synchronize;
use typenet::layers::{Conv2D, Flatten, MaxPool2D};
use typenet::ops::DenseParams;
use typenet::prelude::*;

network! {
    /// The Keras MNIST convnet.
    pub struct MnistCnn: (1, 28, 28) -> (10) {
        Conv2D(32, 3),
        ReLU,
        MaxPool2D(2),
        Flatten,
        Dense(128),
        ReLU,
        Dense(10),
        Softmax,
    }
}

const TRAIN_IMAGES: usize = 60_000;
const TEST_IMAGES: usize = 10_000;

struct Args {
    steps: usize,
    batch: usize,
    repeats: usize,
    warmup: usize,
    data_dir: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        steps: 60,
        batch: 128,
        repeats: 5,
        warmup: 200,
        data_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist").into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        if flag == "--data-dir" {
            a.data_dir = value.into();
            continue;
        }
        let n: usize = value
            .parse()
            .ok()
            .filter(|n| *n > 0 || flag == "--warmup")
            .ok_or_else(|| format!("{flag} takes a positive integer, got {value:?}"))?;
        match flag.as_str() {
            "--steps" => a.steps = n,
            "--batch" => a.batch = n,
            "--repeats" => a.repeats = n,
            "--warmup" => a.warmup = n,
            _ => {
                return Err(format!(
                    "unknown flag {flag}; use --steps, --batch, --repeats, --warmup or --data-dir"
                ))
            }
        }
    }
    Ok(a)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The device training and inference are timed on: `Cuda` with `--features cuda`.
type Dev = AutoDevice;

type Img<B> = Tensor<(B, Const<1>, Const<28>, Const<28>), f32, Dev>;

/// One model trained with Adam on consecutive batches of the MNIST training set.
struct Trainer {
    model: MnistCnnModule<f32, Dev>,
    opt: Adam<MnistCnnModule<f32, Dev>, f32, Dev>,
    grads: Option<Gradients<f32, Dev>>,
    data: Dataset<(Const<1>, Const<28>, Const<28>)>,
    next: usize,
}

impl Trainer {
    fn new(dev: &Dev, data: Dataset<(Const<1>, Const<28>, Const<28>)>) -> Self {
        let model = dev.build_module::<MnistCnn, f32>();
        let opt = Adam::new(
            &model,
            AdamConfig {
                lr: 1e-3,
                ..Default::default()
            },
        );
        let grads = Some(model.alloc_grads());
        Self {
            model,
            opt,
            grads,
            data,
            next: 0,
        }
    }

    /// Seconds for `steps` training steps (batch, forward, loss, backward, Adam), in total
    /// and split into [forward + loss, backward, optimizer update].
    fn seconds(&mut self, dev: &Dev, steps: usize, n: usize) -> (f64, [f64; 3]) {
        let mut split = [0.0; 3];
        let start = Instant::now();
        for _ in 0..steps {
            if self.next + n > self.data.len() {
                self.next = 0;
            }
            let idx: Vec<usize> = (self.next..self.next + n).collect();
            self.next += n;
            let x = self.data.batch::<f32, Dev>(dev, &idx).expect("batch");
            let mut y = vec![0.0f32; n * 10];
            for (i, &l) in self
                .data
                .batch_labels(&idx)
                .expect("labels")
                .iter()
                .enumerate()
            {
                y[i * 10 + l] = 1.0;
            }
            let y = dev.tensor_from_vec(y, (n, Const::<10>));
            let t = Instant::now();
            let grads = self.grads.take().expect("gradients");
            let logits = self
                .model
                .try_forward_logits_mut(x.traced(grads))
                .expect("forward");
            let loss = cross_entropy_with_logits_loss(logits, y);
            dev.synchronize();
            split[0] += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut grads = loss.backward();
            dev.synchronize();
            split[1] += t.elapsed().as_secs_f64();
            let t = Instant::now();
            self.opt.update(&mut self.model, &grads).expect("update");
            self.model.zero_grads(&mut grads);
            self.grads = Some(grads);
            dev.synchronize();
            split[2] += t.elapsed().as_secs_f64();
        }
        (start.elapsed().as_secs_f64(), split)
    }
}

fn infer_seconds(m: &MnistCnnModule<f32, Dev>, x: &Img<usize>, images: usize) -> f64 {
    let n = x.shape().0;
    let start = Instant::now();
    let mut done = 0;
    while done < images {
        let y = m.forward(x.clone());
        std::hint::black_box(y);
        done += n;
    }
    x.device().synchronize();
    start.elapsed().as_secs_f64()
}

/// (forward, backward) milliseconds of one layer on a batch of `n`.
fn layer_ms<S: Shape, M, F>(dev: &Cpu, shape: S, m: &M, forward: F) -> (f64, f64)
where
    F: Fn(
        &M,
        Tensor<S, f32, Cpu, OwnedTape<f32, Cpu>>,
    ) -> Tensor<(usize, usize), f32, Cpu, OwnedTape<f32, Cpu>>,
{
    let x: Tensor<S, f32, Cpu> = dev.sample_normal_like(&shape);
    let (mut f, mut b) = (vec![], vec![]);
    for _ in 0..7 {
        let t = Instant::now();
        let y = forward(m, x.leaky_trace());
        f.push(t.elapsed().as_secs_f64());
        // dfdx's `sum` (single-threaded, ~0.5 ms for the first layer's output) is no part
        // of the layer: only its (cheap) backward is timed.
        let s = y.sum();
        let t = Instant::now();
        let g = s.backward();
        b.push(t.elapsed().as_secs_f64());
        std::hint::black_box(g);
    }
    (median(f) * 1e3, median(b) * 1e3)
}

/// `println!` that ends the program quietly when stdout is closed (`bench | head`).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        if writeln!(std::io::stdout(), $($t)*).is_err() {
            std::process::exit(1);
        }
    }};
}

#[cfg(feature = "cuda")]
fn train_device() -> Result<Dev, String> {
    common::cuda_device(0)
}

#[cfg(not(feature = "cuda"))]
fn train_device() -> Result<Dev, String> {
    Ok(Cpu::default())
}

#[cfg(feature = "cuda")]
fn device_name() -> String {
    "on the GPU (Cuda)".to_string()
}

#[cfg(not(feature = "cuda"))]
fn device_name() -> String {
    format!("{} threads", rayon::current_num_threads())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let train_dev = match train_device() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let dev = Cpu::default();
    let n = args.batch;
    say!(
        "MNIST CNN, batch {n}, {}, median of {} runs after {} warm-up steps",
        device_name(),
        args.repeats,
        args.warmup.max(3)
    );

    let mnist = match load_mnist(&args.data_dir) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let test = mnist.test;
    let mut trainer = Trainer::new(&train_dev, mnist.train);
    trainer.seconds(&train_dev, args.warmup.max(3), n);
    let runs: Vec<(f64, [f64; 3])> = (0..args.repeats)
        .map(|_| trainer.seconds(&train_dev, args.steps, n))
        .collect();
    let per_step = median(runs.iter().map(|r| r.0).collect()) / args.steps as f64;
    let part = |i: usize| median(runs.iter().map(|r| r.1[i]).collect()) / args.steps as f64 * 1e3;
    let train_ips = n as f64 / per_step;
    say!(
        "training:  {:>8.0} images/s  ({:.2} ms/step, epoch of {TRAIN_IMAGES} ~ {:.2} s)",
        train_ips,
        per_step * 1e3,
        TRAIN_IMAGES as f64 / train_ips
    );
    say!(
        "  per step: forward + loss {:.2} ms, backward {:.2} ms, Adam update {:.2} ms",
        part(0),
        part(1),
        part(2)
    );

    let infer_batch = 1000;
    let idx: Vec<usize> = (0..infer_batch.min(test.len())).collect();
    let x = test
        .batch::<f32, Dev>(&train_dev, &idx)
        .expect("test batch");
    infer_seconds(&trainer.model, &x, infer_batch);
    let inf: Vec<f64> = (0..args.repeats)
        .map(|_| infer_seconds(&trainer.model, &x, TEST_IMAGES))
        .collect();
    let inf = median(inf);
    say!(
        "inference: {:>8.0} images/s  ({TEST_IMAGES} test images in {:.3} s, batch {infer_batch})",
        TEST_IMAGES as f64 / inf,
        inf
    );

    if cfg!(feature = "cuda") {
        say!("(the per-layer times below are the CPU's)");
    }
    say!("per layer (batch {n}):   forward ms   backward ms");
    let conv = Conv2D::<1, 32, 3, 1, 0, 1, true, f32, Cpu>::build(&dev);
    let fused = typenet::layers::Fused {
        relu: true,
        max_pool: Some(typenet::ops::Pool2DParams {
            window: 2,
            stride: 2,
            padding: 0,
        }),
        input_grad: false,
    };
    let flat = |y: Tensor<(usize, Const<32>, usize, usize), f32, Cpu, OwnedTape<f32, Cpu>>| {
        let (b, c, h, w) = *y.shape();
        y.reshape_like(&(b, c.size() * h * w))
    };
    let dense_4 = dev.build_module::<Linear<5408, 128>, f32>();
    let dense_4_alone = layer_ms(
        &dev,
        (n, Const::<32>, Const::<13>, Const::<13>),
        &dense_4,
        |m, x| {
            let b = x.shape().0;
            Cpu::dense(
                x,
                b,
                &m.weight,
                Some(&m.bias),
                DenseParams::new().relu(true),
            )
            .unwrap()
            .realize()
        },
    );
    let rows: Vec<(&str, (f64, f64))> = vec![
        (
            "conv2d_0 .. relu_5 (one op)",
            layer_ms(
                &dev,
                (n, Const::<1>, Const::<28>, Const::<28>),
                &conv,
                |m, x| {
                    m.try_forward_dense(
                        x,
                        fused,
                        &dense_4.weight,
                        Some(&dense_4.bias),
                        DenseParams::new().relu(true),
                    )
                    .unwrap()
                    .realize()
                },
            ),
        ),
        (
            "  conv2d_0+relu_1+max_pool2d_2",
            layer_ms(
                &dev,
                (n, Const::<1>, Const::<28>, Const::<28>),
                &conv,
                |m, x| flat(m.try_forward_fused(x, fused).unwrap()),
            ),
        ),
        (
            "  conv2d_0 + relu_1 only",
            layer_ms(
                &dev,
                (n, Const::<1>, Const::<28>, Const::<28>),
                &conv,
                |m, x| flat(m.try_forward_relu(x).unwrap()),
            ),
        ),
        (
            "  max_pool2d_2 only",
            layer_ms(
                &dev,
                (n, Const::<32>, Const::<26>, Const::<26>),
                &MaxPool2D::<2, 2, 0>,
                |m, x| flat(m.forward(x)),
            ),
        ),
        ("  flatten_3+dense_4+relu_5", dense_4_alone),
        (
            "dense_6",
            layer_ms(
                &dev,
                (n, Const::<128>),
                &dev.build_module::<Linear<128, 10>, f32>(),
                |m, x| {
                    let b = x.shape().0;
                    Cpu::dense(x, b, &m.weight, Some(&m.bias), DenseParams::new())
                        .unwrap()
                        .realize()
                },
            ),
        ),
        (
            "  dfdx: flatten, Linear, relu",
            layer_ms(
                &dev,
                (n, Const::<32>, Const::<13>, Const::<13>),
                &dev.build_module::<Linear<5408, 128>, f32>(),
                |m, x| {
                    m.forward(Flatten.forward(x).realize::<(usize, Const<5408>)>())
                        .relu()
                        .realize()
                },
            ),
        ),
    ];
    for (name, (f, b)) in rows {
        say!("  {name:<30} {f:>9.3}   {b:>11.3}");
    }
    // dense_4's three products (forward, weight and input gradients), 128 x 128 x 5408 each.
    let flop = 3.0 * 2.0 * (n * 128 * 5408) as f64;
    say!(
        "dense_4 alone: {:.0} GFLOP/s (its three products, including copies and bias/ReLU)",
        flop / ((dense_4_alone.0 + dense_4_alone.1) * 1e-3) / 1e9
    );
}

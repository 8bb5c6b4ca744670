//! Training and inference speed of six models (the seed MNIST CNN, LeNet-5, an MLP, a
//! VGG-style and a ResNet-style CIFAR net, a strided conv net), optionally side by side
//! with the same models in PyTorch (`scripts/bench_torch.py`).
//!
//! ```text
//! cargo run --release --example bench -- --model vgg            # typenet only
//! cargo run --release --example bench -- --model all --vs-pytorch
//! cargo run --release --example bench -- --model seed --layers   # per-layer breakdown
//! ```
//!
//! Each model is measured in its own process (so its peak RSS is its own): `fit` itself
//! for up to `--warmup` steps (about 2 s at most), then `--repeats` timed runs of `fit`'s training step (batch
//! gather, training forward to the logits, sparse categorical cross-entropy from the
//! logits, backward, Adam 1e-3 update, zeroing the gradients) on synthetic data from a
//! fixed seed, and of inference on one batch. With `--vs-pytorch` the two frameworks'
//! processes alternate, `--rounds` of each per model, and the table gives the median over
//! the processes and their range. PyTorch: `scripts/setup-bench-venv.sh` once.

mod compare;
mod layers;
mod models;
mod step;

#[path = "../common/mod.rs"]
mod common;

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

/// `println!` that ends the program quietly when stdout is closed (`bench | head`).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        if writeln!(std::io::stdout(), $($t)*).is_err() {
            std::process::exit(1);
        }
    }};
}
pub(crate) use say;

/// A CPU-feature path for the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CpuPath {
    Avx2,
    Avx512,
    Auto,
}

impl CpuPath {
    fn env_value(self) -> &'static str {
        match self {
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
            Self::Auto => "auto",
        }
    }
}

/// Environment variable through which `--cpu` picks the kernels' CPU-feature path.
pub const CPU_ENV: &str = "TYPENET_CPU";

/// Training and inference speed of typenet's benchmark models, optionally against PyTorch.
#[derive(Debug, Parser)]
pub struct Args {
    /// seed, lenet5, mlp, vgg, resnet, strided, or all.
    #[arg(long, value_name = "NAME", default_value = "all")]
    pub model: String,
    /// Also run the same models in PyTorch (scripts/bench_torch.py from the venv that
    /// scripts/setup-bench-venv.sh creates) and print one table of both.
    #[arg(long)]
    pub vs_pytorch: bool,
    /// Processes per model and framework, interleaved [default: 3 with --vs-pytorch, else 1].
    #[arg(long, value_name = "N", value_parser = common::positive)]
    pub rounds: Option<usize>,
    /// At most N warm-up training steps (by `typenet::train::fit`) before timing, and
    /// only about 2 s of them.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = common::positive)]
    pub warmup: usize,
    /// Steps (and inference batches) per timed repeat [default: enough for --repeat-ms].
    #[arg(long, value_name = "N", value_parser = common::positive)]
    pub steps: Option<usize>,
    /// Timed repeats per process; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = common::positive)]
    pub repeats: usize,
    /// Target milliseconds of one timed repeat (when --steps is not given).
    #[arg(long, value_name = "MS", default_value_t = 500.0, value_parser = repeat_ms)]
    pub repeat_ms: f64,
    /// Force a CPU-feature path: sets TYPENET_CPU=avx2|avx512|auto for the kernels. `avx2`
    /// keeps the matrix product and the convolutions off AVX-512 on a CPU that has it (to
    /// measure what a laptop without AVX-512 runs); `avx512` and `auto` pick the best.
    #[arg(long, value_name = "PATH")]
    pub cpu: Option<CpuPath>,
    /// With --model seed: also a per-layer forward / backward breakdown.
    #[arg(long)]
    pub layers: bool,
    /// Train the 28x28 models on the real MNIST images in DIR instead of synthetic data
    /// (typenet only; the backward pass's speed depends on how many units ReLU leaves dead).
    #[arg(long, value_name = "DIR", num_args = 0..=1,
          default_missing_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist"))]
    pub mnist: Option<PathBuf>,
    /// The Python that has PyTorch, for --vs-pytorch.
    #[arg(long, value_name = "PATH",
          default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv-bench/bin/python"))]
    pub python: PathBuf,
    /// Also print every process's JSON line.
    #[arg(long)]
    pub json: bool,
    /// Measure one model in this process and print one JSON line (what the table runs).
    #[arg(long, hide = true)]
    pub worker: bool,
    /// With --worker: time training only (to profile the training step).
    #[arg(long, hide = true)]
    pub train_only: bool,
}

fn repeat_ms(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err("expected a positive number of milliseconds, e.g. 500".to_string()),
    }
}

impl Args {
    /// The models `--model` names.
    pub fn models(&self) -> Result<Vec<&'static str>, String> {
        if self.model == "all" {
            return Ok(models::MODELS.to_vec());
        }
        models::MODELS
            .iter()
            .find(|m| **m == self.model)
            .map(|m| vec![*m])
            .ok_or_else(|| {
                format!(
                    "unknown model `{}`: use one of {}, or all",
                    self.model,
                    models::MODELS.join(", ")
                )
            })
    }

    pub fn opts(&self) -> step::Opts {
        step::Opts {
            warmup: self.warmup,
            steps: self.steps,
            repeats: self.repeats,
            repeat_ms: self.repeat_ms,
            train_only: self.train_only,
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    if let Some(cpu) = args.cpu {
        // Before any kernel or thread starts; the worker processes inherit it.
        std::env::set_var(CPU_ENV, cpu.env_value());
    }
    let models = args.models()?;
    if args.layers && models != ["seed"] {
        return Err("--layers breaks down the seed model only: use --model seed --layers".into());
    }
    if let Some(m) = models.iter().find(|m| !models::takes_mnist(m)) {
        if args.mnist.is_some() {
            return Err(format!(
                "--mnist needs 1x28x28 models, and `{m}` takes 3x32x32: use --model seed, \
                 lenet5, mlp or strided"
            )
            .into());
        }
    }
    if args.worker {
        return compare::worker(args, models[0]);
    }
    compare::table(args, &models)?;
    if args.layers {
        layers::print_layers(models::batch_size("seed"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    common::cli_main(run)
}

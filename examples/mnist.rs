//! Trains the Keras MNIST convnet (Conv2D(32, 3), ReLU, MaxPool2D(2), Flatten, Dense(128),
//! ReLU, Dense(10), Softmax) with Adam, then reports the test loss and accuracy.
//!
//! ```text
//! cargo run --release --example mnist -- --epochs 10 --batch-size 128 --lr 0.001
//! cargo run --release --features cuda --example mnist   # on the GPU
//! ```
//!
//! The MNIST files (`train-images-idx3-ubyte.gz`, ...) are read from `--data-dir`
//! (default `data/mnist`, relative to the current directory).

use std::error::Error;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dfdx::optim::Adam;
use dfdx::prelude::*;
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

/// Train the Keras MNIST convnet with typenet and dfdx.
#[derive(Debug, Parser)]
struct Args {
    /// Passes over the 60,000 training images.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = positive, allow_negative_numbers = true)]
    epochs: usize,
    /// Images per optimizer step.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = positive, allow_negative_numbers = true)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, value_name = "X", default_value_t = 0.001, value_parser = learning_rate, allow_negative_numbers = true)]
    lr: f64,
    /// Seeds the initial weights and the shuffling.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = seed, allow_negative_numbers = true)]
    seed: u64,
    /// The directory holding the four MNIST files (gzipped or not).
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    data_dir: PathBuf,
}

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("expected a whole number of at least 1".to_string()),
    }
}

fn seed(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .map_err(|_| format!("expected a whole number from 0 to {}", u64::MAX))
}

fn learning_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err("expected a positive finite number, e.g. 0.001".to_string()),
    }
}

#[cfg(feature = "cuda")]
fn device(seed: u64) -> Result<AutoDevice, String> {
    Cuda::try_seed_from_u64(seed).map_err(|e| {
        format!("cannot start the CUDA device ({e}); build without `--features cuda` to train on the CPU")
    })
}

#[cfg(not(feature = "cuda"))]
fn device(seed: u64) -> Result<AutoDevice, String> {
    Ok(Cpu::seed_from_u64(seed))
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mnist = load_mnist(&args.data_dir)?;
    let dev = device(args.seed)?;
    // `writeln!` and `?`, not `println!`: a closed stdout is an error, not a panic.
    writeln!(io::stdout(), "{}", MnistCnn::summary())?;
    let mut model = dev
        .try_build_module::<MnistCnn, f32>()
        .map_err(|e| format!("cannot build the model on the device: {e}"))?;
    let mut opt = Adam::new(
        &model,
        AdamConfig {
            lr: args.lr,
            ..Default::default()
        },
    );
    let config = FitConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        verbose: true,
    };
    fit(
        &mut model,
        &mut opt,
        &mnist.train,
        Some(&mnist.test),
        &config,
    )?;
    let test = evaluate(&model, &mnist.test, args.batch_size)?;
    writeln!(io::stdout(), "Test loss: {:.4}", test.loss)?;
    writeln!(io::stdout(), "Test accuracy: {:.4}", test.accuracy)?;
    Ok(())
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        // --help and --version.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's first line, `error: invalid value '0' for '--epochs <N>': ...`.
            let rendered = e.render().to_string();
            let line = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("{line} (see --help)");
            return ExitCode::from(1);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

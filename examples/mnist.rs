//! Trains the Keras MNIST convnet (Conv2D(32, 3), ReLU, MaxPool2D(2), Flatten, Dense(128),
//! ReLU, Dense(10), Softmax) with a Keras optimizer, then reports the test loss and
//! accuracy; optionally checkpoints, resumes, logs a CSV and draws pictures.
//!
//! ```text
//! cargo run --release --example mnist -- --epochs 10 --batch-size 128
//! cargo run --release --example mnist -- --optimizer sgd --lr 0.05 --limit 6000 --epochs 2
//! cargo run --release --example mnist -- --epochs 3 --checkpoint run/mnist.safetensors --csv run/log.csv
//! cargo run --release --example mnist -- --epochs 6 --resume run/mnist.safetensors --csv run/log.csv
//! cargo run --release --example mnist -- --epochs 3 --plot run/pictures
//! cargo run --release --example mnist -- --init keras   # Glorot-uniform weights, zero biases
//! cargo run --release --features cuda --example mnist   # on the GPU
//! ```
//!
//! Expected output of the default run (10 epochs, seed 0; measured on a 2-core CPU, about
//! 5 s an epoch; the model summary comes first):
//!
//! ```text
//! Epoch 1/10 - 5.04s - loss: 0.2881 - accuracy: 0.9179 - val_loss: 0.1105 - val_accuracy: 0.9664
//! Epoch 2/10 - 5.57s - loss: 0.0869 - accuracy: 0.9750 - val_loss: 0.0813 - val_accuracy: 0.9739
//! ...
//! Epoch 9/10 - 4.99s - loss: 0.0129 - accuracy: 0.9964 - val_loss: 0.0377 - val_accuracy: 0.9875
//! Epoch 10/10 - 4.87s - loss: 0.0115 - accuracy: 0.9966 - val_loss: 0.0429 - val_accuracy: 0.9865
//! Test loss: 0.0429
//! Test accuracy: 0.9865
//! ```
//!
//! `--optimizer` is one of `sgd`, `momentum`, `nesterov`, `rmsprop`, `adam` (default),
//! `adamw`; `--lr` overrides Keras's default rate for it (0.01 for the SGD family, 0.001
//! for the others). `--checkpoint PATH` saves the weights after every epoch (atomically)
//! and the epoch number beside them in `PATH.epoch`; `--resume PATH` loads such weights
//! and continues the epoch count up to `--epochs` (the optimizer's moments start afresh).
//! `--plot DIR` writes `history.png`, `confusion_matrix.png` and `misclassified.png`.
//!
//! The MNIST files (`train-images-idx3-ubyte.gz`, ...) are read from `--data-dir`
//! (default `data/mnist`, relative to the current directory).

mod common;

use std::error::Error;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use common::{learning_rate, positive};
use dfdx::prelude::*;
use typenet::init::Init;
use typenet::models::MnistCnn;
use typenet::plot::plot_training_report;
use typenet::prelude::*;
use typenet::train::{
    fit_with, predict, read_checkpoint_epoch, Callback, CsvLogger, ModelCheckpoint,
};

/// Train the Keras MNIST convnet with typenet and dfdx.
#[derive(Debug, Parser)]
struct Args {
    /// The epoch to end at (with --resume, training continues up to it).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = positive, allow_negative_numbers = true)]
    epochs: usize,
    /// Images per optimizer step.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = positive, allow_negative_numbers = true)]
    batch_size: usize,
    /// sgd, momentum, nesterov, rmsprop, adam or adamw.
    #[arg(long, value_name = "NAME", default_value = "adam")]
    optimizer: OptimizerKind,
    /// The learning rate [default: Keras's for the optimizer: 0.01 for sgd, momentum and
    /// nesterov, 0.001 for the others].
    #[arg(long, value_name = "X", value_parser = learning_rate, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Seeds the initial weights and the shuffling.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = seed, allow_negative_numbers = true)]
    seed: u64,
    /// How the weights start: pytorch (uniform in ±1/sqrt(fan_in)) or keras
    /// (Glorot-uniform kernels, zero biases).
    #[arg(long, value_name = "NAME", default_value = "pytorch")]
    init: Init,
    /// Train on the first N training images only (quicker to try).
    #[arg(long, value_name = "N", value_parser = positive, allow_negative_numbers = true)]
    limit: Option<usize>,
    /// Save the weights after every epoch to PATH (and the epoch to PATH.epoch).
    #[arg(long, value_name = "PATH")]
    checkpoint: Option<PathBuf>,
    /// Load weights saved by --checkpoint and continue from the epoch they are from.
    #[arg(long, value_name = "PATH")]
    resume: Option<PathBuf>,
    /// Log one CSV row per epoch (appended to when resuming).
    #[arg(long, value_name = "PATH")]
    csv: Option<PathBuf>,
    /// Write training curves, the confusion matrix and misclassified digits as PNGs here.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// The directory holding the four MNIST files (gzipped or not).
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    data_dir: PathBuf,
}

fn seed(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .map_err(|_| format!("expected a whole number from 0 to {}", u64::MAX))
}

#[cfg(feature = "cuda")]
fn device(seed: u64) -> Result<AutoDevice, String> {
    common::cuda_device(seed)
}

#[cfg(not(feature = "cuda"))]
fn device(seed: u64) -> Result<AutoDevice, String> {
    Ok(Cpu::seed_from_u64(seed))
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mut mnist = load_mnist(&args.data_dir)?;
    // Move the training set out rather than copy it (188 MB as f32).
    let train = std::mem::replace(&mut mnist.train, Dataset::new(Vec::new(), Vec::new())?);
    let train = match args.limit {
        Some(n) => train.take(n),
        None => train,
    };
    let dev = device(args.seed)?;
    // `writeln!` and `?`, not `println!`: a closed stdout is an error, not a panic.
    writeln!(io::stdout(), "{}", MnistCnn::summary())?;
    let mut model = dev
        .try_build_module::<MnistCnn, f32>()
        .map_err(|e| format!("cannot build the model on the device: {e}"))?;
    if args.init != Init::PyTorch {
        args.init
            .apply(&mut model)
            .map_err(|e| format!("cannot initialise the model: {e}"))?;
    }
    let mut initial_epoch = 0;
    if let Some(path) = &args.resume {
        load_weights(&mut model, path)?;
        initial_epoch = read_checkpoint_epoch(path)?;
        if initial_epoch >= args.epochs {
            return Err(format!(
                "`{}` is from epoch {initial_epoch}, and --epochs is {}: pass a larger --epochs \
                 (the epoch to end at) to train more",
                path.display(),
                args.epochs
            )
            .into());
        }
        writeln!(
            io::stdout(),
            "Resuming from `{}` after epoch {initial_epoch}",
            path.display()
        )?;
    }
    let mut cfg = OptimizerConfig::new(args.optimizer);
    if let Some(lr) = args.lr {
        cfg = cfg.with_lr(lr);
    }
    let mut opt = AnyOptimizer::new(&model, cfg)?;
    writeln!(
        io::stdout(),
        "Optimizer: {} (lr {})",
        args.optimizer,
        cfg.lr
    )?;
    let config = FitConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        initial_epoch,
        ..Default::default()
    };
    let mut checkpoint = args.checkpoint.as_ref().map(ModelCheckpoint::new);
    let mut csv = args
        .csv
        .as_ref()
        .map(|p| CsvLogger::new(p).append(args.resume.is_some()));
    let mut callbacks: Vec<&mut dyn Callback<f32, AutoDevice, _>> = Vec::new();
    if let Some(c) = checkpoint.as_mut() {
        callbacks.push(c);
    }
    if let Some(c) = csv.as_mut() {
        callbacks.push(c);
    }
    let history = fit_with(
        &mut model,
        &mut opt,
        &train,
        Some(&mnist.test),
        &config,
        &mut callbacks,
    )?;
    let test = evaluate(&model, &mnist.test, args.batch_size)?;
    writeln!(io::stdout(), "Test loss: {:.4}", test.loss)?;
    writeln!(io::stdout(), "Test accuracy: {:.4}", test.accuracy)?;
    if let Some(dir) = &args.plot {
        let predictions = predict(&model, &mnist.test, 1000)?;
        for path in
            plot_training_report(dir, Some(&history), &mnist.test, &predictions.classes, 10)?
        {
            writeln!(io::stdout(), "Wrote {}", path.display())?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    common::cli_main(run)
}

//! What the MNIST examples share: flag parsing that ends in one readable error line, and
//! the Keras tutorial recipe (train on 90%, validate on 10%, test, optionally draw).
#![allow(dead_code)] // each example uses part of it

use std::error::Error;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dfdx::nn::BuildOnDevice;
use dfdx::prelude::*;
use typenet::data::MnistShape;
use typenet::plot::plot_training_report;
use typenet::prelude::*;
use typenet::train::{predict, split_validation};

/// A whole number of at least 1.
pub fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("expected a whole number of at least 1".to_string()),
    }
}

/// A positive, finite learning rate.
pub fn learning_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err("expected a positive finite number, e.g. 0.001".to_string()),
    }
}

/// The GPU, or one line that says why it could not be started (naming dfdx issue #870,
/// a zero-byte allocation some GPUs refuse, where the error looks like it).
#[cfg(feature = "cuda")]
pub fn cuda_device(seed: u64) -> Result<Cuda, String> {
    Cuda::try_seed_from_u64(seed).map_err(|e| {
        let hint = if format!("{e:?}").contains("CUDA_ERROR_INVALID_VALUE") {
            " (on some GPUs dfdx 0.13 fails this way allocating zero bytes, dfdx issue #870: \
             see README.md, CUDA)"
        } else {
            ""
        };
        format!("cannot start the CUDA device ({e}){hint}; build without `--features cuda` to use the CPU")
    })
}

/// Parses the flags and runs `run`. Bad flags and errors become one line on stderr
/// (`error: ...`) and exit status 1; never a panic or a backtrace.
pub fn cli_main<A: Parser>(run: impl FnOnce(&A) -> Result<(), Box<dyn Error>>) -> ExitCode {
    let args = match A::try_parse() {
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

/// Train a network on MNIST (the Keras tutorial recipe).
#[derive(Debug, Parser)]
pub struct TutorialArgs {
    /// Passes over the training images.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = positive)]
    pub epochs: usize,
    /// Images per optimizer step.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = positive)]
    pub batch_size: usize,
    /// sgd, momentum, nesterov, rmsprop, adam or adamw.
    #[arg(long, value_name = "NAME", default_value = "adam")]
    pub optimizer: OptimizerKind,
    /// The learning rate [default: Keras's for the optimizer].
    #[arg(long, value_name = "X", value_parser = learning_rate)]
    pub lr: Option<f64>,
    /// Train on the first N training images only (quicker to try).
    #[arg(long, value_name = "N", value_parser = positive)]
    pub limit: Option<usize>,
    /// Seeds the initial weights and the shuffling.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Write training curves, the confusion matrix and misclassified digits as PNGs here.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// The directory holding the four MNIST files (gzipped or not).
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    pub data_dir: PathBuf,
}

/// Trains `N` on 90% of the training images, validates on the last 10% (Keras's
/// `validation_split=0.1`), prints `Test loss:` and `Test accuracy:`, and with `--plot`
/// draws the training curves, the confusion matrix and misclassified digits.
pub fn train_and_test<N>(args: &TutorialArgs) -> Result<(), Box<dyn Error>>
where
    N: NetworkSpec<Input = MnistShape, Output = (Const<10>,)>
        + BuildOnDevice<Cpu, f32, Built = <N as NetworkSpec>::Module<f32, Cpu>>,
{
    let mnist = load_mnist(&args.data_dir)?;
    let train = match args.limit {
        Some(n) => mnist.train.take(n),
        None => mnist.train,
    };
    let (train, val) = split_validation(&train, 0.1)?;
    let mut out = io::stdout();
    writeln!(out, "{}", N::summary())?;
    let dev = Cpu::seed_from_u64(args.seed);
    let mut model = dev.build_module::<N, f32>();
    let mut cfg = OptimizerConfig::new(args.optimizer);
    if let Some(lr) = args.lr {
        cfg = cfg.with_lr(lr);
    }
    let mut opt = AnyOptimizer::new(&model, cfg)?;
    let config = FitConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        ..Default::default()
    };
    let history = fit(&mut model, &mut opt, &train, Some(&val), &config)?;
    let test = evaluate(&model, &mnist.test, 1000)?;
    writeln!(out, "Test loss: {:.4}", test.loss)?;
    writeln!(out, "Test accuracy: {:.4}", test.accuracy)?;
    if let Some(dir) = &args.plot {
        let predictions = predict(&model, &mnist.test, 1000)?;
        for path in
            plot_training_report(dir, Some(&history), &mnist.test, &predictions.classes, 10)?
        {
            writeln!(out, "Wrote {}", path.display())?;
        }
    }
    Ok(())
}

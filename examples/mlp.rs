//! A multi-layer perceptron on MNIST, the first model of most Keras tutorials:
//! Flatten, Dense(512), ReLU, Dropout(0.2), Dense(10), Softmax (407,050 parameters),
//! trained with Adam on 90% of the training images, validated on the last 10%
//! (`validation_split=0.1`), then tested.
//!
//! ```text
//! cargo run --release --example mlp                       # 5 epochs
//! cargo run --release --example mlp -- --epochs 2 --limit 12000 --plot run/mlp
//! ```
//!
//! Expected output (5 epochs, seed 0; measured on a 2-core CPU; about 11 s in all):
//!
//! ```text
//! Epoch 1/5 - 2.46s - loss: 0.3495 - accuracy: 0.9031 - val_loss: 0.1392 - val_accuracy: 0.9620
//! Epoch 2/5 - 2.26s - loss: 0.1501 - accuracy: 0.9565 - val_loss: 0.0984 - val_accuracy: 0.9732
//! Epoch 3/5 - 2.85s - loss: 0.1032 - accuracy: 0.9694 - val_loss: 0.0867 - val_accuracy: 0.9758
//! Epoch 4/5 - 2.57s - loss: 0.0773 - accuracy: 0.9772 - val_loss: 0.0741 - val_accuracy: 0.9783
//! Epoch 5/5 - 2.63s - loss: 0.0616 - accuracy: 0.9814 - val_loss: 0.0675 - val_accuracy: 0.9802
//! Test loss: 0.0672
//! Test accuracy: 0.9793
//! ```

use std::error::Error;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dfdx::prelude::*;
use typenet::plot::plot_training_report;
use typenet::prelude::*;
use typenet::train::{predict, split_validation};

network! {
    /// Flatten, Dense(512), ReLU, Dropout(0.2), Dense(10), Softmax.
    pub struct Mlp: (1, 28, 28) -> (10) {
        Flatten,
        Dense(512),
        ReLU,
        Dropout(0.2),
        Dense(10),
        Softmax,
    }
}
const EPOCHS: usize = 5;

/// Train Mlp on MNIST.
#[derive(Debug, Parser)]
struct Args {
    /// Passes over the training images.
    #[arg(long, value_name = "N", default_value_t = EPOCHS, value_parser = positive)]
    epochs: usize,
    /// Images per optimizer step.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = positive)]
    batch_size: usize,
    /// sgd, momentum, nesterov, rmsprop, adam or adamw.
    #[arg(long, value_name = "NAME", default_value = "adam")]
    optimizer: OptimizerKind,
    /// The learning rate [default: Keras's for the optimizer].
    #[arg(long, value_name = "X", value_parser = learning_rate)]
    lr: Option<f64>,
    /// Train on the first N training images only (quicker to try).
    #[arg(long, value_name = "N", value_parser = positive)]
    limit: Option<usize>,
    /// Seeds the initial weights and the shuffling.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Write training curves, the confusion matrix and misclassified digits as PNGs here.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// The directory holding the four MNIST files (gzipped or not).
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    data_dir: PathBuf,
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mnist = load_mnist(&args.data_dir)?;
    let train = match args.limit {
        Some(n) => mnist.train.take(n),
        None => mnist.train.clone(),
    };
    // Keras's `validation_split=0.1`: the last 10% of the training images.
    let (train, val) = split_validation(&train, 0.1)?;
    let mut out = io::stdout();
    writeln!(out, "{}", Mlp::summary())?;
    let dev = Cpu::seed_from_u64(args.seed);
    let mut model = dev.build_module::<Mlp, f32>();
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

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("expected a whole number of at least 1".to_string()),
    }
}

fn learning_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err("expected a positive finite number, e.g. 0.001".to_string()),
    }
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
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

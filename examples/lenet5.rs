//! LeNet-5 (LeCun et al., 1998) on MNIST, in its common Keras form: the 28x28 images
//! padded by `padding = same` in the first convolution (the original padded them to
//! 32x32), average pooling, tanh activations:
//! Conv2D(6, 5, same), Tanh, AvgPool2D(2), Conv2D(16, 5), Tanh, AvgPool2D(2), Flatten,
//! Dense(120), Tanh, Dense(84), Tanh, Dense(10), Softmax (61,706 parameters).
//! Trained with Adam on 90% of the training images, validated on the last 10%.
//!
//! ```text
//! cargo run --release --example lenet5                    # 5 epochs
//! cargo run --release --example lenet5 -- --epochs 1 --limit 12000 --plot run/lenet5
//! ```
//!
//! Expected output (5 epochs, seed 0; measured on a 2-core CPU; about 1 minute in all):
//!
//! ```text
//! Epoch 1/5 - 11.11s - loss: 0.4464 - accuracy: 0.8732 - val_loss: 0.1458 - val_accuracy: 0.9597
//! Epoch 2/5 - 10.08s - loss: 0.1404 - accuracy: 0.9569 - val_loss: 0.0903 - val_accuracy: 0.9742
//! Epoch 3/5 - 9.86s - loss: 0.0902 - accuracy: 0.9725 - val_loss: 0.0752 - val_accuracy: 0.9760
//! Epoch 4/5 - 10.94s - loss: 0.0664 - accuracy: 0.9801 - val_loss: 0.0636 - val_accuracy: 0.9792
//! Epoch 5/5 - 10.20s - loss: 0.0523 - accuracy: 0.9839 - val_loss: 0.0603 - val_accuracy: 0.9807
//! Test loss: 0.0545
//! Test accuracy: 0.9828
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
    /// LeNet-5 with same padding, average pooling and tanh.
    pub struct LeNet5: (1, 28, 28) -> (10) {
        Conv2D(6, 5, padding = same),
        Tanh,
        AvgPool2D(2),
        Conv2D(16, 5),
        Tanh,
        AvgPool2D(2),
        Flatten,
        Dense(120),
        Tanh,
        Dense(84),
        Tanh,
        Dense(10),
        Softmax,
    }
}
const EPOCHS: usize = 5;

/// Train LeNet5 on MNIST.
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
    writeln!(out, "{}", LeNet5::summary())?;
    let dev = Cpu::seed_from_u64(args.seed);
    let mut model = dev.build_module::<LeNet5, f32>();
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

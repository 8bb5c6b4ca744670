//! Loads a PyTorch-trained MNIST CNN (the twin of `typenet::models::MnistCnn`, trained and
//! saved by `scripts/train_torch_mnist.py`; the repo carries it in f16) and evaluates it on
//! the MNIST test set, beside PyTorch's own accuracy for the same file.
//!
//! ```text
//! cargo run --release --example from_pytorch
//! cargo run --release --example from_pytorch -- --weights my_model.safetensors --onnx mnist.onnx
//! ```

mod common;

use std::error::Error;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dfdx::prelude::*;
use typenet::interop::{export_onnx, load_pytorch};
use typenet::models::MnistCnn;
use typenet::prelude::*;

/// Evaluate PyTorch-trained weights in typenet.
#[derive(Debug, Parser)]
struct Args {
    /// A `state_dict` saved with `safetensors.torch.save_file` (keys `0.weight`, ...).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "tests/fixtures/mnist_cnn_torch.safetensors"
    )]
    weights: PathBuf,
    /// Also export the loaded model as ONNX here.
    #[arg(long, value_name = "PATH")]
    onnx: Option<PathBuf>,
    /// The directory holding the four MNIST files (gzipped or not).
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    data_dir: PathBuf,
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mnist = load_mnist(&args.data_dir)?;
    let dev = Cpu::default();
    let mut model = dev.try_build_module::<MnistCnn, f32>()?;
    load_pytorch(&mut model, &args.weights)?;
    let test = evaluate(&model, &mnist.test, 1000)?;
    let mut out = io::stdout();
    writeln!(out, "Loaded {}", args.weights.display())?;
    writeln!(
        out,
        "typenet test accuracy: {:.4} (loss {:.4})",
        test.accuracy, test.loss
    )?;
    // PyTorch's accuracy for the same file, written beside it by the training script.
    let meta = args.weights.with_extension("json");
    if let Ok(text) = std::fs::read_to_string(&meta) {
        let v: serde_json::Value = serde_json::from_str(&text)?;
        if let Some(a) = v["test_accuracy"].as_f64() {
            writeln!(out, "PyTorch test accuracy: {a:.4} ({})", meta.display())?;
        }
    }
    if let Some(p) = &args.onnx {
        export_onnx(&model, p)?;
        writeln!(out, "Wrote {}", p.display())?;
    }
    Ok(())
}

fn main() -> ExitCode {
    common::cli_main(run)
}

//! Exports the seed model (`typenet::models::MnistCnn`) as ONNX: trained here with the seed
//! recipe (Adam, batch 128; `--epochs`, default 1, about 5 s an epoch on 2 cores), or
//! loaded from a checkpoint of `examples/mnist.rs` (`--weights`). Check the file with
//! onnxruntime: `python scripts/check_onnx.py mnist.onnx`.
//!
//! ```text
//! cargo run --release --example to_onnx -- --out mnist.onnx
//! cargo run --release --example mnist -- --checkpoint run/mnist.safetensors
//! cargo run --release --example to_onnx -- --weights run/mnist.safetensors --out mnist.onnx
//! ```

mod common;

use std::error::Error;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use common::positive;
use dfdx::prelude::*;
use typenet::interop::export_onnx;
use typenet::models::MnistCnn;
use typenet::prelude::*;

/// Train (or load) the MNIST convnet and write it as ONNX.
#[derive(Debug, Parser)]
struct Args {
    /// Where to write the ONNX model.
    #[arg(long, value_name = "PATH", default_value = "mnist.onnx")]
    out: PathBuf,
    /// Weights saved by `examples/mnist.rs --checkpoint` (skips training).
    #[arg(long, value_name = "PATH")]
    weights: Option<PathBuf>,
    /// Epochs of the seed recipe when training here.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = positive, allow_negative_numbers = true)]
    epochs: usize,
    /// The directory holding the four MNIST files (gzipped or not).
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    data_dir: PathBuf,
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let mnist = load_mnist(&args.data_dir)?;
    let dev = Cpu::seed_from_u64(0);
    let mut model = dev.try_build_module::<MnistCnn, f32>()?;
    let mut out = io::stdout();
    match &args.weights {
        Some(p) => load_weights(&mut model, p)?,
        None => {
            let mut opt = AnyOptimizer::new(&model, OptimizerConfig::new(OptimizerKind::Adam))?;
            let config = FitConfig {
                epochs: args.epochs,
                batch_size: 128,
                ..Default::default()
            };
            fit(&mut model, &mut opt, &mnist.train, None, &config)?;
        }
    }
    let test = evaluate(&model, &mnist.test, 1000)?;
    writeln!(out, "typenet test accuracy: {:.4}", test.accuracy)?;
    export_onnx(&model, &args.out)?;
    writeln!(
        out,
        "Wrote {} (opset 17, input `input` [N, 1, 28, 28], output `output` [N, 10])",
        args.out.display()
    )?;
    Ok(())
}

fn main() -> ExitCode {
    common::cli_main(run)
}

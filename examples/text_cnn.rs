//! A 1-d convnet over bytes: which programming language is a 256-byte snippet of source
//! code? Five classes (C, JavaScript, Perl, Python, Rust), 6000 training and 1500 test
//! snippets taken from different files (`data/langid`, rebuilt offline by
//! `scripts/build_langid.py`; sources and licenses in `data/langid/README.md`).
//!
//! Each byte is a token (vocabulary 256) passed with `Dataset::from_tokens`; `Embedding`
//! turns the `(256)` ids into `(16, 256)`, channels first, for `Conv1D` and the 1-d pools.
//!
//! ```text
//! cargo run --release --example text_cnn                  # 8 epochs
//! cargo run --release --example text_cnn -- --epochs 2
//! ```

mod common;

use std::error::Error;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use dfdx::prelude::*;
use typenet::data::{DataError, Dataset, Tokens};
use typenet::prelude::*;

/// Bytes per snippet, and the classes in label order.
const LEN: usize = 256;
const LANGS: [&str; 5] = ["C", "JavaScript", "Perl", "Python", "Rust"];

network! {
    /// Embedding, two convolutions with pooling, a global max pool, a dense classifier.
    pub struct TextCnn: (LEN) -> (5) {
        Embedding(256, 16),                                // (16, 256)
        Conv1D(64, 5, padding = same, activation = relu),  // (64, 256)
        MaxPool1D(2),                                      // (64, 128)
        Conv1D(64, 5, padding = same, activation = relu),  // (64, 128)
        GlobalMaxPool1D,                                   // (64)
        Dense(5),
    }
}

/// Train the byte-level language classifier and report its test accuracy.
#[derive(Debug, Parser)]
struct Args {
    /// Passes over the training snippets.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = common::positive)]
    epochs: usize,
    /// Snippets per optimizer step.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = common::positive)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, value_name = "X", default_value_t = 2e-3, value_parser = common::learning_rate)]
    lr: f64,
    /// Seeds the initial weights and the shuffling.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// The directory holding `train.bin.gz` and `test.bin.gz`.
    #[arg(long, value_name = "PATH", default_value = "data/langid")]
    data_dir: PathBuf,
}

/// A split's records: one label byte, then `LEN` bytes of source, as tokens.
fn load(path: &Path) -> Result<Dataset<Tokens<LEN>>, Box<dyn Error>> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut raw = Vec::new();
    let file = std::fs::File::open(path).map_err(io)?;
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut raw)
        .map_err(|source| DataError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    if raw.len() % (LEN + 1) != 0 {
        let msg = format!(
            "`{}` holds {} bytes, not a whole number of {}-byte records: rebuild it with \
             `python3 scripts/build_langid.py`",
            path.display(),
            raw.len(),
            LEN + 1
        );
        return Err(msg.into());
    }
    let (mut tokens, mut labels) = (Vec::new(), Vec::new());
    for rec in raw.chunks_exact(LEN + 1) {
        let label = usize::from(rec[0]);
        if label >= LANGS.len() {
            return Err(format!("`{}`: label {label} is not a language", path.display()).into());
        }
        labels.push(label);
        tokens.extend(rec[1..].iter().map(|&b| u32::from(b)));
    }
    Ok(Dataset::from_tokens(tokens, labels, 256)?)
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let train = load(&args.data_dir.join("train.bin.gz"))?;
    let test = load(&args.data_dir.join("test.bin.gz"))?;
    println!("{}", TextCnn::summary());
    let mut counts = [0usize; LANGS.len()];
    for &l in train.labels() {
        counts[l] += 1;
    }
    let (majority, _) = counts
        .iter()
        .enumerate()
        .max_by_key(|(_, &c)| c)
        .unwrap_or((0, &0));
    let baseline =
        test.labels().iter().filter(|&&l| l == majority).count() as f64 / test.len().max(1) as f64;
    println!(
        "{} training and {} test snippets; majority class ({}) on test: {baseline:.4}",
        train.len(),
        test.len(),
        LANGS[majority]
    );
    let dev = Cpu::seed_from_u64(args.seed);
    let mut model = dev.build_module::<TextCnn, f32>();
    let mut opt = AnyOptimizer::new(
        &model,
        OptimizerConfig::new(OptimizerKind::Adam).with_lr(args.lr),
    )?;
    let config = FitConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        verbose: Verbosity::OneLine,
        ..Default::default()
    };
    fit(&mut model, &mut opt, &train, None, &config)?;
    let eval = evaluate(&model, &test, 500)?;
    println!("Test loss: {:.4}", eval.loss);
    println!("Test accuracy: {:.4}", eval.accuracy);
    Ok(())
}

fn main() -> ExitCode {
    common::cli_main(run)
}

//! A small U-Net that learns to denoise MNIST digits: Gaussian noise in, clean digit out,
//! trained with mean squared error. Its skips are `Concat` branches, its decoder
//! `UpSampling2D` and `Conv2DTranspose`; every shape is checked at compile time.
//!
//! ```text
//! cargo run --release --example unet
//! cargo run --release --example unet -- --train 20000 --epochs 3 --plot run/unet.png
//! ```
//!
//! Prints the summary, one line per epoch, then the test MSE of the noisy images and of
//! the denoised ones (against the clean digits). `--plot PATH` writes a PNG of noisy,
//! denoised and clean test digits, one row each. The MNIST files are read from
//! `--data-dir` (default `data/mnist`).

mod common;

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use common::{cli_main, learning_rate, positive};
use dfdx::optim::{Adam, AdamConfig};
use dfdx::prelude::*;
use typenet::data::{load_mnist, Dataset, MnistShape};
use typenet::plot::{plot_image_grid, ImageTile};
use typenet::prelude::*;
use typenet::train::BatchOrder;

network! {
    /// Two levels down and back up; each level's features skip across by a Concat.
    pub struct Unet: (1, 28, 28) -> (1, 28, 28) {
        Conv2D(16, 3, padding = same, activation = relu),            // (16, 28, 28)
        Concat {
            [],                                                      // the skip
            [
                MaxPool2D(2),                                        // (16, 14, 14)
                Conv2D(32, 3, padding = same, activation = relu),
                Concat {
                    [],
                    [
                        MaxPool2D(2),                                // (32, 7, 7)
                        Conv2D(32, 3, padding = same, activation = relu),
                        UpSampling2D(2),                             // (32, 14, 14)
                    ],
                },                                                   // (64, 14, 14)
                Conv2D(32, 3, padding = same, activation = relu),
                Conv2DTranspose(16, 2, 2),                           // (16, 28, 28)
            ],
        },                                                           // (32, 28, 28)
        Conv2D(16, 3, padding = same, activation = relu),
        Conv2D(1, 1),                                                // linear: MSE on pixels
    }
}

/// Train a small U-Net to denoise MNIST digits.
#[derive(Debug, Parser)]
struct Args {
    /// Passes over the training images.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = positive)]
    epochs: usize,
    /// Train on the first N training images.
    #[arg(long, value_name = "N", default_value_t = 4000, value_parser = positive)]
    train: usize,
    /// Test on the first N test images.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = positive)]
    test: usize,
    /// Images per optimizer step.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = positive)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, value_name = "X", default_value_t = 2e-3, value_parser = learning_rate)]
    lr: f64,
    /// The standard deviation of the Gaussian noise added to the pixels (in [0, 1]).
    #[arg(long, value_name = "X", default_value_t = 0.5, value_parser = learning_rate)]
    noise: f64,
    /// Seeds the weights, the noise and the shuffling.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Write noisy, denoised and clean test digits as a PNG here.
    #[arg(long, value_name = "PATH")]
    plot: Option<PathBuf>,
    /// The directory holding the four MNIST files (gzipped or not).
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    data_dir: PathBuf,
}

type Images = Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu>;

/// The clean images at `idx` and a noisy copy (clamped to [0, 1]).
fn noisy_batch(
    dev: &Cpu,
    data: &Dataset<MnistShape>,
    idx: &[usize],
    noise: f32,
) -> Result<(Images, Images), Box<dyn Error>> {
    let clean: Images = data.batch(dev, idx)?;
    let n: Images = dev.try_sample_like(clean.shape(), rand_distr::StandardNormal)?;
    let noisy = (clean.clone() + n * noise).try_clamp(0.0, 1.0)?;
    Ok((noisy, clean))
}

fn mse(a: &Images, b: &Images) -> f32 {
    (a.clone() - b.clone()).square().mean::<Rank0, _>().array()
}

fn main() -> ExitCode {
    cli_main(run)
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    println!("{}", Unet::summary());
    let mnist = load_mnist(&args.data_dir)?;
    let train = mnist.train.take(args.train);
    let test = mnist.test.take(args.test);
    let dev = Cpu::seed_from_u64(args.seed);
    let mut model = dev.build_module::<Unet, f32>();
    let cfg = AdamConfig {
        lr: args.lr,
        ..Default::default()
    };
    let mut opt = Adam::new(&model, cfg);
    let mut grads = model.alloc_grads();
    let mut order = BatchOrder::new(train.len(), args.batch_size, args.seed)?;
    let noise = args.noise as f32;
    for epoch in 1..=args.epochs {
        let start = Instant::now();
        let (mut total, mut steps) = (0.0, 0);
        for idx in order.next_epoch() {
            let (noisy, clean) = noisy_batch(&dev, &train, idx, noise)?;
            let out = model.try_forward_mut(noisy.traced(grads))?;
            let loss = (out - clean).try_square()?.try_mean()?;
            total += loss.array();
            steps += 1;
            grads = loss.try_backward()?;
            opt.update(&mut model, &grads)?;
            model.try_zero_grads(&mut grads)?;
        }
        println!(
            "Epoch {epoch}/{} - {:.1}s - loss (MSE): {:.4}",
            args.epochs,
            start.elapsed().as_secs_f32(),
            total / steps as f32
        );
    }
    let idx: Vec<usize> = (0..test.len()).collect();
    let (mut before, mut after, mut n) = (0.0, 0.0, 0.0);
    for chunk in idx.chunks(250) {
        let (noisy, clean) = noisy_batch(&dev, &test, chunk, noise)?;
        let out = model.try_forward(noisy.clone())?;
        let w = chunk.len() as f32;
        before += mse(&noisy, &clean) * w;
        after += mse(&out, &clean) * w;
        n += w;
    }
    println!("Test MSE, noisy vs clean:    {:.4}", before / n);
    println!("Test MSE, denoised vs clean: {:.4}", after / n);
    if let Some(path) = &args.plot {
        let shown: Vec<usize> = (0..test.len().min(8)).collect();
        let (noisy, clean) = noisy_batch(&dev, &test, &shown, noise)?;
        let out = model.try_forward(noisy.clone())?;
        let mut tiles = Vec::new();
        for (t, caption) in [(&noisy, "noisy"), (&out, "denoised"), (&clean, "clean")] {
            for px in t.as_vec().chunks(28 * 28) {
                tiles.push(ImageTile {
                    // The output layer is linear: show it in the pixels' range.
                    pixels: px.iter().map(|v| v.clamp(0.0, 1.0)).collect(),
                    caption: caption.to_string(),
                });
            }
        }
        let title = format!("U-Net denoising (noise sd {})", args.noise);
        plot_image_grid(&tiles, (28, 28), shown.len(), &title, path)?;
        println!("Wrote {}", path.display());
    }
    Ok(())
}

//! The six benchmark models. `scripts/bench_torch.py` builds the same layers in PyTorch;
//! change both together.

use std::error::Error;

use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use typenet::prelude::*;

use crate::step::{measure, Measured, Opts};

/// The Keras MNIST convnet (the model typenet was first tuned for), declared once for
/// the examples, tests and this bench.
pub use typenet::models::MnistCnn as Seed;

network! {
    /// LeNet-5 with same padding, tanh and average pooling.
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
    }
}

network! {
    /// 784-512-512-10 with dropout.
    pub struct Mlp: (1, 28, 28) -> (10) {
        Flatten,
        Dense(512),
        ReLU,
        Dropout(0.2),
        Dense(512),
        ReLU,
        Dropout(0.2),
        Dense(10),
    }
}

network! {
    /// VGG-style CIFAR net: two blocks of two same-padded 3x3 convs with batch norm.
    pub struct Vgg: (3, 32, 32) -> (10) {
        Conv2D(32, 3, padding = same),
        BatchNorm2D,
        ReLU,
        Conv2D(32, 3, padding = same),
        BatchNorm2D,
        ReLU,
        MaxPool2D(2),
        Conv2D(64, 3, padding = same),
        BatchNorm2D,
        ReLU,
        Conv2D(64, 3, padding = same),
        BatchNorm2D,
        ReLU,
        MaxPool2D(2),
        Flatten,
        Dense(256),
        ReLU,
        Dropout(0.5),
        Dense(10),
    }
}

network! {
    /// ResNet-style CIFAR net: three residual blocks, one strided conv between them.
    pub struct ResNet: (3, 32, 32) -> (10) {
        Conv2D(32, 3, padding = same),
        BatchNorm2D,
        ReLU,
        Residual {
            Conv2D(32, 3, padding = same),
            BatchNorm2D,
            ReLU,
            Conv2D(32, 3, padding = same),
            BatchNorm2D,
        },
        ReLU,
        Residual {
            Conv2D(32, 3, padding = same),
            BatchNorm2D,
            ReLU,
            Conv2D(32, 3, padding = same),
            BatchNorm2D,
        },
        ReLU,
        Conv2D(64, 3, stride = 2, padding = 1),
        BatchNorm2D,
        ReLU,
        Residual {
            Conv2D(64, 3, padding = same),
            BatchNorm2D,
            ReLU,
            Conv2D(64, 3, padding = same),
            BatchNorm2D,
        },
        ReLU,
        GlobalAvgPool2D,
        Dense(10),
    }
}

network! {
    /// Two stride-2 convs, no pooling.
    pub struct Strided: (1, 28, 28) -> (10) {
        Conv2D(32, 3, stride = 2, padding = 1),
        ReLU,
        Conv2D(64, 3, stride = 2, padding = 1),
        ReLU,
        Flatten,
        Dense(128),
        ReLU,
        Dense(10),
    }
}

/// The models `--model` accepts, in the order `all` runs them.
pub const MODELS: &[&str] = &["seed", "lenet5", "mlp", "vgg", "resnet", "strided"];

/// The batch size of a model: 128 for 28x28 inputs, 64 for 32x32.
pub fn batch_size(model: &str) -> usize {
    match model {
        "vgg" | "resnet" => 64,
        _ => 128,
    }
}

/// Whether the model takes 1x28x28 images (so it can train on MNIST).
pub fn takes_mnist(model: &str) -> bool {
    batch_size(model) == 128
}

/// Where the training batches come from.
pub enum Data {
    /// `batches` batches of normal noise with uniform labels, from a fixed seed.
    Synthetic { batches: usize },
    /// The real MNIST training images in this directory (28x28 models only).
    Mnist(std::path::PathBuf),
}

/// `samples` samples of normal noise with uniform labels 0..10 (seed 0).
pub fn synthetic<S: SampleShape>(samples: usize) -> Result<Dataset<S>, DataError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let features = (0..samples * S::NUMEL)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect();
    let labels = (0..samples).map(|_| rng.gen_range(0..10)).collect();
    Dataset::new(features, labels)
}

fn run<N>(model: &str, opts: &Opts, data: &Data) -> Result<Measured, Box<dyn Error>>
where
    N: NetworkSpec<Output = (Const<10>,)>
        + BuildOnDevice<Cpu, f32, Built = <N as NetworkSpec>::Module<f32, Cpu>>,
{
    let batch = batch_size(model);
    let set = match data {
        Data::Synthetic { batches } => synthetic::<N::Input>(batches * batch)?,
        Data::Mnist(dir) => {
            if N::INPUT_SHAPE != [1, 28, 28] {
                return Err(format!(
                    "--mnist needs a 1x28x28 model; `{model}` takes {:?}",
                    N::INPUT_SHAPE
                )
                .into());
            }
            let train = load_mnist(dir)?.train;
            // Same values, the network's shape type.
            Dataset::new(train.features().to_vec(), train.labels().to_vec())?
        }
    };
    measure::<N>(model, batch, &set, opts)
}

/// Measures `model` (one of [`MODELS`]).
pub fn run_model(model: &str, opts: &Opts, data: &Data) -> Result<Measured, Box<dyn Error>> {
    match model {
        "seed" => run::<Seed>(model, opts, data),
        "lenet5" => run::<LeNet5>(model, opts, data),
        "mlp" => run::<Mlp>(model, opts, data),
        "vgg" => run::<Vgg>(model, opts, data),
        "resnet" => run::<ResNet>(model, opts, data),
        "strided" => run::<Strided>(model, opts, data),
        _ => Err(format!("unknown model `{model}`: use one of {}", MODELS.join(", ")).into()),
    }
}

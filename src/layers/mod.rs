//! The layers typenet adds to dfdx on stable Rust. `network!` uses these and dfdx's own
//! modules (`Linear`, `ReLU`, `BatchNorm2D`, ...); each is also an ordinary dfdx module.

pub(crate) mod batch_norm;
mod conv1d;
mod conv2d;
pub(crate) mod conv_transpose;
mod dfdx_adapters;
mod embedding;
mod flatten;
pub(crate) mod merge;
mod pool1d;
mod pool2d;
mod upsample;

pub use conv1d::Conv1D;
pub use conv2d::{Conv2D, Fused};
pub use conv_transpose::Conv2DTranspose;
pub use embedding::{Embedding, MAX_VOCAB};
pub use flatten::Flatten;
pub use pool1d::{AvgPool1D, GlobalAvgPool1D, GlobalMaxPool1D, MaxPool1D};
pub use pool2d::{AvgPool2D, MaxPool2D};
pub use upsample::UpSampling2D;

/// A layer type's parameter counts, as Keras's `model.summary()` reports them. Every type
/// `network!` puts in a network's fields has one: typenet's layers, and dfdx's modules.
pub trait LayerParams {
    /// Keras's "Total params": every learned or tracked value (running statistics too).
    const PARAMS: usize;
    /// Keras's "Trainable params": those the optimizer updates.
    const TRAINABLE_PARAMS: usize;
}

//! Interoperability: PyTorch weights in and out (safetensors, [`load_pytorch`] and
//! [`save_pytorch`]) and ONNX export of the inference forward ([`export_onnx`]).
//!
//! **Names.** By default typenet's layer *i* is index *i* of a PyTorch `nn.Sequential`
//! listing the same layers in the same order, so `conv2d_0.weight` is `0.weight`; the
//! layers inside a `Residual` or a nested network get a nested prefix (`3.0.weight`).
//! A `Conv2D(32, 3, activation = relu)` is one index (PyTorch would list two modules);
//! use [`NameMap::custom`] for module trees that differ. BatchNorm maps `weight`, `bias`,
//! `running_mean`, `running_var`; `num_batches_tracked` is read and ignored, and written
//! (as 0) on save. LayerNorm's `gamma`/`beta` are PyTorch's `weight`/`bias`.
//!
//! **Element types.** A file's f16, bf16, f32 and f64 tensors convert to the model's
//! element type on load (f16/bf16 exactly, f64 to f32 by rounding to nearest); a save
//! writes the model's own type (f32 or f64).

mod error;
mod names;
pub mod onnx;
mod pytorch;

pub use error::InteropError;
pub use names::NameMap;
pub use onnx::{export_onnx, onnx_bytes, OnnxGraph, ToOnnx};
pub use pytorch::{load_pytorch, load_pytorch_with, save_pytorch, save_pytorch_with};

//! The layers typenet adds to dfdx on stable Rust. `network!` uses these and dfdx's own
//! modules (`Linear`, `ReLU`, `BatchNorm2D`, ...); each is also an ordinary dfdx module.

mod conv2d;
mod flatten;
mod params;
mod pool2d;

pub use conv2d::{Conv2D, Fused};
pub use flatten::Flatten;
pub use params::LayerParams;
pub use pool2d::{AvgPool2D, MaxPool2D};

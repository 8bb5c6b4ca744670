//! Convolution, pooling and dense layers as differentiable dfdx tensor ops, one folder (or
//! file) per op. Each op has a `cpu` function, the one place that chooses its CPU kernels
//! (direct, im2col, gemm, or the generic path where no kernel applies), and a `generic`
//! one built from dfdx ops that have CPU and CUDA kernels (the CUDA path). The tests
//! require the two to agree with each other and with naive reference loops.

pub(crate) mod activation;
pub(crate) mod chain;
pub(crate) mod conv2d;
pub(crate) mod dense;
pub(crate) mod dropout;
pub(crate) mod embedding;
pub(crate) mod gemm;
pub(crate) mod geom;
pub(crate) mod isa;
pub(crate) mod merge;
pub(crate) mod norm;
pub(crate) mod optim;
mod params;
pub(crate) mod pool2d;
pub(crate) mod resample;
pub(crate) mod scratch;
pub(crate) mod tape;

pub use activation::Activation;
pub use norm::{BatchNormArgs, NormStats};
pub use params::{out_size, Conv2DParams, DenseParams, Pool2DKind, Pool2DParams, PoolParams};

/// The elementwise, normalisation and dropout kernels on plain slices, with their
/// instruction set chosen by the caller: for the reference tests of each path.
#[doc(hidden)]
pub mod kernels {
    pub use super::activation::kernels as activation;
    pub use super::dropout::kernels as dropout;
    pub use super::isa::Isa;
    pub use super::norm::kernels as norm;
}

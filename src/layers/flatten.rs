//! `Flatten`: `(B, C, H, W)` to `(B, C*H*W)`.

use dfdx::nn::modules::{Module, NonMutableModule, ZeroSizedModule};
use dfdx::prelude::*;

use super::LayerParams;

/// Flattens each sample to a vector: `(B, C, H, W)` to `(B, C*H*W)` and `(C, H, W)` to
/// `(C*H*W,)`, in channel, row, column order (channels first, as in PyTorch). A flat
/// input `(B, N)` passes through unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flatten;

impl ZeroSizedModule for Flatten {}
impl NonMutableModule for Flatten {}

impl LayerParams for Flatten {
    const PARAMS: usize = 0;
    const TRAINABLE_PARAMS: usize = 0;
}

impl<B: Dim, C: Dim, H: Dim, W: Dim, E: Dtype, D: Device<E>, T: Tape<E, D>>
    Module<Tensor<(B, C, H, W), E, D, T>> for Flatten
{
    type Output = Tensor<(B, usize), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(B, C, H, W), E, D, T>) -> Result<Self::Output, D::Err> {
        let (b, c, h, w) = *x.shape();
        x.try_reshape_like(&(b, c.size() * h.size() * w.size()))
    }
}

impl<C: Dim, H: Dim, W: Dim, E: Dtype, D: Device<E>, T: Tape<E, D>>
    Module<Tensor<(C, H, W), E, D, T>> for Flatten
{
    type Output = Tensor<(usize,), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(C, H, W), E, D, T>) -> Result<Self::Output, D::Err> {
        let (c, h, w) = *x.shape();
        x.try_reshape_like(&(c.size() * h.size() * w.size(),))
    }
}

impl<B: Dim, N: Dim, E: Dtype, D: Device<E>, T: Tape<E, D>> Module<Tensor<(B, N), E, D, T>>
    for Flatten
{
    type Output = Tensor<(B, N), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(B, N), E, D, T>) -> Result<Self::Output, D::Err> {
        Ok(x)
    }
}

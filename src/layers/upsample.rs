//! `UpSampling2D`: nearest-neighbour upsampling of images.

use dfdx::nn::modules::{Module, NonMutableModule, ZeroSizedModule};
use dfdx::prelude::*;

use super::LayerParams;
use crate::backend::{realize, Backend, Element};

/// Nearest-neighbour upsampling: each pixel becomes an `FH x FW` block (Keras's
/// `UpSampling2D`, PyTorch's `Upsample(mode="nearest")`). Input `(B, C, H, W)` or
/// `(C, H, W)`; output `(B, C, H FH, W FW)`, its spatial dims `usize` (`network!` turns
/// them back into `Const`s).
#[derive(Debug, Clone, Copy, Default)]
pub struct UpSampling2D<const FH: usize, const FW: usize>;

impl<const FH: usize, const FW: usize> ZeroSizedModule for UpSampling2D<FH, FW> {}
impl<const FH: usize, const FW: usize> NonMutableModule for UpSampling2D<FH, FW> {}

impl<const FH: usize, const FW: usize> LayerParams for UpSampling2D<FH, FW> {
    const PARAMS: usize = 0;
    const TRAINABLE_PARAMS: usize = 0;
}

impl<
        const FH: usize,
        const FW: usize,
        B: Dim,
        C: Dim,
        H: Dim,
        W: Dim,
        E: Element,
        D: Backend<E>,
        T: Tape<E, D>,
    > Module<Tensor<(B, C, H, W), E, D, T>> for UpSampling2D<FH, FW>
{
    type Output = Tensor<(B, C, usize, usize), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(B, C, H, W), E, D, T>) -> Result<Self::Output, D::Err> {
        let x = realize::<_, (B, usize, usize, usize), E, D, T>(x)?;
        realize(D::upsample2d(x, FH, FW)?)
    }
}

impl<
        const FH: usize,
        const FW: usize,
        C: Dim,
        H: Dim,
        W: Dim,
        E: Element,
        D: Backend<E>,
        T: Tape<E, D>,
    > Module<Tensor<(C, H, W), E, D, T>> for UpSampling2D<FH, FW>
{
    type Output = Tensor<(C, usize, usize), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(C, H, W), E, D, T>) -> Result<Self::Output, D::Err> {
        let (c, h, w) = *x.shape();
        let y = self.try_forward(x.try_reshape_like(&(Const::<1>, c, h, w))?)?;
        let (_, c, ho, wo) = *y.shape();
        y.try_reshape_like(&(c, ho, wo))
    }
}

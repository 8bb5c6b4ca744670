//! `Conv2DTranspose`: transposed 2-d convolution (PyTorch's `ConvTranspose2d`, dilation 1).

use dfdx::nn::modules::{Module, NonMutableModule};
use dfdx::nn::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::prelude::*;

use super::conv2d::reset_uniform;
use super::LayerParams;
use crate::backend::{realize, Backend, Element};
use crate::ops::resample::{transpose_out_size, Conv2DTransposeParams};

/// A transposed convolution from `I` to `O` channels with a `K`x`K` kernel, stride `S`,
/// padding `P` and output padding `OP` (less than `S`); `BIAS` adds a learned bias per
/// output channel.
///
/// Input `(B, I, H, W)` (or unbatched `(I, H, W)`), output `(B, O, Ho, Wo)` with
/// `Ho = (H - 1) S - 2P + K + OP`. The spatial output dims are `usize` here; `network!`
/// turns them back into `Const`s. Weights start uniform in `±1/sqrt(O*K*K)`, as in PyTorch.
#[derive(Debug, Clone)]
pub struct Conv2DTranspose<
    const I: usize,
    const O: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OP: usize,
    const BIAS: bool,
    E: Dtype,
    D: Storage<E>,
> {
    /// Shape `(I, O, K, K)`, PyTorch's layout.
    pub weight: Tensor<Rank4<I, O, K, K>, E, D>,
    /// Shape `(O,)`; `None` exactly when `BIAS` is false.
    pub bias: Option<Tensor<Rank1<O>, E, D>>,
}

/// `K*K*I*O` weights plus `O` biases when `BIAS` (Keras's count), all trainable.
impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OP: usize,
        const BIAS: bool,
        E: Dtype,
        D: Storage<E>,
    > LayerParams for Conv2DTranspose<I, O, K, S, P, OP, BIAS, E, D>
{
    const PARAMS: usize = K * K * I * O + if BIAS { O } else { 0 };
    const TRAINABLE_PARAMS: usize = Self::PARAMS;
}

/// [`transpose_out_size`], 0 where it is `None` (a separate const assertion reports that).
pub const fn transpose_out_dim(n: usize, k: usize, s: usize, p: usize, op: usize) -> usize {
    match transpose_out_size(n, k, s, p, op) {
        Some(v) => v,
        None => 0,
    }
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OP: usize,
        const BIAS: bool,
        E: Element,
        D: Device<E>,
    > TensorCollection<E, D> for Conv2DTranspose<I, O, K, S, P, OP, BIAS, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = Conv2DTranspose<I, O, K, S, P, OP, BIAS, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        let weight = Self::tensor(
            "weight",
            |s| &s.weight,
            |s| &mut s.weight,
            TensorOptions::reset_with(|t| reset_uniform(t, O * K * K)),
        );
        if !BIAS {
            return visitor.visit_fields((weight,), |(weight,)| Conv2DTranspose {
                weight,
                bias: None,
            });
        }
        let bias = Self::tensor(
            "bias",
            // `bias` is `Some` whenever `BIAS` is true: it is built that way below.
            |s| {
                s.bias
                    .as_ref()
                    .expect("Conv2DTranspose with BIAS has a bias")
            },
            |s| {
                s.bias
                    .as_mut()
                    .expect("Conv2DTranspose with BIAS has a bias")
            },
            TensorOptions::reset_with(|t| reset_uniform(t, O * K * K)),
        );
        visitor.visit_fields((weight, bias), |(weight, bias)| Conv2DTranspose {
            weight,
            bias: Some(bias),
        })
    }
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OP: usize,
        const BIAS: bool,
        E: Dtype,
        D: Storage<E>,
    > NonMutableModule for Conv2DTranspose<I, O, K, S, P, OP, BIAS, E, D>
{
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OP: usize,
        const BIAS: bool,
        B: Dim,
        H: Dim,
        W: Dim,
        E: Element,
        D: Backend<E>,
        T: Tape<E, D>,
    > Module<Tensor<(B, Const<I>, H, W), E, D, T>>
    for Conv2DTranspose<I, O, K, S, P, OP, BIAS, E, D>
{
    type Output = Tensor<(B, Const<O>, usize, usize), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(B, Const<I>, H, W), E, D, T>) -> Result<Self::Output, D::Err> {
        let p = Conv2DTransposeParams {
            stride: S,
            padding: P,
            output_padding: OP,
        };
        let x = realize::<_, (B, usize, usize, usize), E, D, T>(x)?;
        let w = realize(self.weight.retaped::<T>())?;
        let b = match &self.bias {
            Some(b) => Some(realize(b.retaped::<T>())?),
            None => None,
        };
        realize(D::conv2d_transpose(x, w, b, p)?)
    }
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OP: usize,
        const BIAS: bool,
        H: Dim,
        W: Dim,
        E: Element,
        D: Backend<E>,
        T: Tape<E, D>,
    > Module<Tensor<(Const<I>, H, W), E, D, T>> for Conv2DTranspose<I, O, K, S, P, OP, BIAS, E, D>
{
    type Output = Tensor<(Const<O>, usize, usize), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(Const<I>, H, W), E, D, T>) -> Result<Self::Output, D::Err> {
        let (c, h, w) = *x.shape();
        let y = self.try_forward(x.try_reshape_like(&(Const::<1>, c, h, w))?)?;
        let (_, c, ho, wo) = *y.shape();
        y.try_reshape_like(&(c, ho, wo))
    }
}

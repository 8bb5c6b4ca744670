//! `Conv1D`: 1-d convolution over `(C, L)` sequences, with stride, zero padding and
//! dilation. It runs the 2-d convolution op on `(C, 1, L)` with a `1 x K` kernel, so it has
//! the same CPU kernels and CUDA path.

use dfdx::nn::modules::{Module, NonMutableModule};
use dfdx::nn::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::prelude::*;

use super::conv2d::reset_uniform;
use super::LayerParams;
use crate::backend::{realize, Backend, Element};
use crate::ops::Conv2DParams;

/// A 1-d convolution from `I` to `O` channels with a kernel of `K`, stride `S`, zero
/// padding `P` on each end and dilation `DIL`; `BIAS` adds a learned bias per output
/// channel (PyTorch's `Conv1d`, Keras's `Conv1D` channels first).
///
/// Input `(B, I, L)` (or an unbatched `(I, L)`), output `(B, O, Lo)` with
/// `Lo = (L + 2P - DIL(K-1) - 1) / S + 1`; the length is `usize` here, `network!` turns it
/// back into a `Const`. Weights and bias start uniform in `±1/sqrt(I*K)`, as in PyTorch.
#[derive(Debug, Clone)]
pub struct Conv1D<
    const I: usize,
    const O: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const DIL: usize,
    const BIAS: bool,
    E: Dtype,
    D: Storage<E>,
> {
    /// Shape `(O, I, K)`, as PyTorch's `Conv1d.weight`.
    pub weight: Tensor<Rank3<O, I, K>, E, D>,
    /// Shape `(O,)`; `None` exactly when `BIAS` is false.
    pub bias: Option<Tensor<Rank1<O>, E, D>>,
}

/// `K*I*O` weights plus `O` biases when `BIAS`, all trainable (Keras's count).
impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const DIL: usize,
        const BIAS: bool,
        E: Dtype,
        D: Storage<E>,
    > LayerParams for Conv1D<I, O, K, S, P, DIL, BIAS, E, D>
{
    const PARAMS: usize = K * I * O + if BIAS { O } else { 0 };
    const TRAINABLE_PARAMS: usize = Self::PARAMS;
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const DIL: usize,
        const BIAS: bool,
        E: Element,
        D: Device<E>,
    > TensorCollection<E, D> for Conv1D<I, O, K, S, P, DIL, BIAS, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = Conv1D<I, O, K, S, P, DIL, BIAS, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        let weight = Self::tensor(
            "weight",
            |s| &s.weight,
            |s| &mut s.weight,
            TensorOptions::reset_with(|t| reset_uniform(t, I * K)),
        );
        if !BIAS {
            return visitor.visit_fields((weight,), |(weight,)| Conv1D { weight, bias: None });
        }
        let bias = Self::tensor(
            "bias",
            // `bias` is `Some` whenever `BIAS` is true: it is built that way below.
            |s| s.bias.as_ref().expect("Conv1D with BIAS has a bias"),
            |s| s.bias.as_mut().expect("Conv1D with BIAS has a bias"),
            TensorOptions::reset_with(|t| reset_uniform(t, I * K)),
        );
        visitor.visit_fields((weight, bias), |(weight, bias)| Conv1D {
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
        const DIL: usize,
        const BIAS: bool,
        E: Dtype,
        D: Storage<E>,
    > NonMutableModule for Conv1D<I, O, K, S, P, DIL, BIAS, E, D>
{
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const DIL: usize,
        const BIAS: bool,
        B: Dim,
        L: Dim,
        E: Element,
        D: Backend<E>,
        T: Tape<E, D>,
    > Module<Tensor<(B, Const<I>, L), E, D, T>> for Conv1D<I, O, K, S, P, DIL, BIAS, E, D>
{
    type Output = Tensor<(B, Const<O>, usize), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(B, Const<I>, L), E, D, T>) -> Result<Self::Output, D::Err> {
        let (b, _, l) = *x.shape();
        // (B, I, L) as (B, I, 1, L), the weight (O, I, K) as (O, I, 1, K).
        let x = x.try_reshape_like(&(b, I, 1usize, l.size()))?;
        let w = self
            .weight
            .retaped::<T>()
            .try_reshape_like(&(O, I, 1usize, K))?;
        let bias = match &self.bias {
            Some(b) => Some(realize(b.retaped::<T>())?),
            None => None,
        };
        let p = Conv2DParams::per_axis([1, S], [0, P], [1, DIL]);
        let y = D::conv2d(x, w, bias, p)?;
        let (_, _, _, lo) = *y.shape();
        y.try_reshape_like(&(b, Const::<O>, lo))
    }
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const DIL: usize,
        const BIAS: bool,
        L: Dim,
        E: Element,
        D: Backend<E>,
        T: Tape<E, D>,
    > Module<Tensor<(Const<I>, L), E, D, T>> for Conv1D<I, O, K, S, P, DIL, BIAS, E, D>
{
    type Output = Tensor<(Const<O>, usize), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(Const<I>, L), E, D, T>) -> Result<Self::Output, D::Err> {
        let (c, l) = *x.shape();
        let y = self.try_forward(x.try_reshape_like(&(Const::<1>, c, l))?)?;
        let (_, o, lo) = *y.shape();
        y.try_reshape_like(&(o, lo))
    }
}

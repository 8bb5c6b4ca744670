//! `Conv2D`: 2-d convolution with square kernels, stride, zero padding and dilation.

use dfdx::nn::modules::{BatchNorm2D, Module, NonMutableModule};
use dfdx::nn::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::prelude::*;
use rand_distr::Uniform;

use super::LayerParams;
use crate::backend::{realize, Backend, Element, Tensor4};
use crate::ops::{Conv2DParams, DenseParams, Pool2DParams};

/// What runs fused into a [`Conv2D`]'s kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fused {
    /// ReLU after the convolution.
    pub relu: bool,
    /// Max pooling after that; on `Cpu` the un-pooled output then never exists in memory.
    pub max_pool: Option<Pool2DParams>,
    /// Whether the backward pass computes the input's gradient (a network's first layer
    /// needs none in training).
    pub input_grad: bool,
}

impl Default for Fused {
    /// Nothing fused; the input gradient computed.
    fn default() -> Self {
        Self {
            relu: false,
            max_pool: None,
            input_grad: true,
        }
    }
}

/// A 2-d convolution from `I` to `O` channels with a `K`x`K` kernel, stride `S`, zero
/// padding `P` and dilation `DIL`; `BIAS` adds a learned bias per output channel.
///
/// Input `(B, I, H, W)` (or an unbatched `(I, H, W)`), output `(B, O, Ho, Wo)` with
/// `Ho = (H + 2P - DIL(K-1) - 1) / S + 1`. The spatial output dims are `usize` here;
/// `network!` turns them back into `Const`s.
///
/// Weights and bias start uniform in `±1/sqrt(I*K*K)`, as in PyTorch.
#[derive(Debug, Clone)]
pub struct Conv2D<
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
    /// Shape `(O, I, K, K)`.
    pub weight: Tensor<Rank4<O, I, K, K>, E, D>,
    /// Shape `(O,)`; `None` exactly when `BIAS` is false.
    pub bias: Option<Tensor<Rank1<O>, E, D>>,
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
    > Conv2D<I, O, K, S, P, DIL, BIAS, E, D>
{
    fn params() -> Conv2DParams {
        Conv2DParams::new(S, P, DIL)
    }
}

/// `K*K*I*O` weights plus `O` biases when `BIAS`, all trainable.
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
    > LayerParams for Conv2D<I, O, K, S, P, DIL, BIAS, E, D>
{
    const PARAMS: usize = K * K * I * O + if BIAS { O } else { 0 };
    const TRAINABLE_PARAMS: usize = Self::PARAMS;
}

pub(super) fn reset_uniform<S: ConstShape, E: Element, D: Device<E>>(
    t: &mut Tensor<S, E, D>,
    fan_in: usize,
) -> Result<(), D::Err> {
    let b = E::one() / E::from(fan_in.max(1)).unwrap_or(E::one()).sqrt();
    t.try_fill_with_distr(Uniform::new(-b, b))
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
    > TensorCollection<E, D> for Conv2D<I, O, K, S, P, DIL, BIAS, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = Conv2D<I, O, K, S, P, DIL, BIAS, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        let weight = Self::tensor(
            "weight",
            |s| &s.weight,
            |s| &mut s.weight,
            TensorOptions::reset_with(|t| reset_uniform(t, I * K * K)),
        );
        if !BIAS {
            return visitor.visit_fields((weight,), |(weight,)| Conv2D { weight, bias: None });
        }
        let bias = Self::tensor(
            "bias",
            // `bias` is `Some` whenever `BIAS` is true: it is built that way below.
            |s| s.bias.as_ref().expect("Conv2D with BIAS has a bias"),
            |s| s.bias.as_mut().expect("Conv2D with BIAS has a bias"),
            TensorOptions::reset_with(|t| reset_uniform(t, I * K * K)),
        );
        visitor.visit_fields((weight, bias), |(weight, bias)| Conv2D {
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
        E: Element,
        D: Backend<E>,
    > Conv2D<I, O, K, S, P, DIL, BIAS, E, D>
{
    /// The convolution followed by ReLU, fused into one kernel where the backend has one.
    pub fn try_forward_relu<B: Dim, H: Dim, W: Dim, T: Tape<E, D>>(
        &self,
        x: Tensor<(B, Const<I>, H, W), E, D, T>,
    ) -> Result<Tensor<(B, Const<O>, usize, usize), E, D, T>, D::Err> {
        self.try_forward_fused(
            x,
            Fused {
                relu: true,
                ..Fused::default()
            },
        )
    }

    /// The convolution with what follows it fused in (see [`Fused`]).
    pub fn try_forward_fused<B: Dim, H: Dim, W: Dim, T: Tape<E, D>>(
        &self,
        x: Tensor<(B, Const<I>, H, W), E, D, T>,
        fused: Fused,
    ) -> Result<Tensor<(B, Const<O>, usize, usize), E, D, T>, D::Err> {
        let (x, w, b, p) = self.op_inputs(x, fused)?;
        realize(D::conv2d(x, w, b, p)?)
    }

    /// The input, weight and bias as the backend's ops take them, and the op's parameters.
    #[allow(clippy::type_complexity)]
    fn op_inputs<B: Dim, H: Dim, W: Dim, T: Tape<E, D>>(
        &self,
        x: Tensor<(B, Const<I>, H, W), E, D, T>,
        fused: Fused,
    ) -> Result<
        (
            Tensor4<B, E, D, T>,
            Tensor4<usize, E, D, T>,
            Option<Tensor<(usize,), E, D, T>>,
            Conv2DParams,
        ),
        D::Err,
    > {
        let p = Self::params()
            .relu(fused.relu)
            .max_pool(fused.max_pool)
            .input_grad(fused.input_grad);
        let x = realize::<_, (B, usize, usize, usize), E, D, T>(x)?;
        let w = realize(self.weight.retaped::<T>())?;
        let b = match &self.bias {
            Some(b) => Some(realize(b.retaped::<T>())?),
            None => None,
        };
        Ok((x, w, b, p))
    }

    /// The convolution followed by `bn` with its running statistics (inference), folded
    /// into the weights and bias — `w' = w s`, `b' = (b - mean) s + beta` with
    /// `s = gamma / sqrt(var + eps)` — then `fused` as in [`Self::try_forward_fused`]:
    /// one pass over the output instead of three (conv, batch norm, ReLU). The folded
    /// weights are computed with dfdx ops on every call (`O * I * K * K` elements), so
    /// gradients through them are exact on any tape.
    pub fn try_forward_folded<B: Dim, H: Dim, W: Dim, T: Tape<E, D>>(
        &self,
        x: Tensor<(B, Const<I>, H, W), E, D, T>,
        bn: &BatchNorm2D<O, E, D>,
        fused: Fused,
    ) -> Result<Tensor<(B, Const<O>, usize, usize), E, D, T>, D::Err> {
        let p = Self::params()
            .relu(fused.relu)
            .max_pool(fused.max_pool)
            .input_grad(fused.input_grad);
        let eps = <E as num_traits::NumCast>::from(bn.epsilon).unwrap_or_else(E::epsilon);
        let inv_std = bn
            .running_var
            .clone()
            .try_add(eps)?
            .try_sqrt()?
            .try_recip()?;
        let s = bn.scale.retaped::<T>().try_mul(inv_std)?;
        let w = self
            .weight
            .retaped::<T>()
            .try_mul(s.retaped::<T>().try_broadcast::<Rank4<O, I, K, K>, _>()?)?;
        let neg_mean = bn.running_mean.clone().try_negate()?;
        let centered = match &self.bias {
            Some(b) => b.retaped::<T>().try_add(neg_mean)?,
            None => neg_mean.retaped::<T>(),
        };
        let b = centered.try_mul(s)?.try_add(bn.bias.retaped::<T>())?;
        let x = realize::<_, (B, usize, usize, usize), E, D, T>(x)?;
        realize(D::conv2d(x, realize(w)?, Some(realize(b)?), p)?)
    }

    /// [`Self::try_forward_fused`] flattened into a dense layer with weight `dense_w`
    /// `(U, N)` and optional bias (`Conv2D, ReLU, MaxPool2D, Flatten, Dense` as one op; see
    /// [`Backend::conv2d_dense`]).
    pub fn try_forward_dense<
        B: Dim,
        H: Dim,
        W: Dim,
        T: Tape<E, D>,
        const N: usize,
        const U: usize,
    >(
        &self,
        x: Tensor<(B, Const<I>, H, W), E, D, T>,
        fused: Fused,
        dense_w: &Tensor<Rank2<U, N>, E, D>,
        dense_bias: Option<&Tensor<Rank1<U>, E, D>>,
        dense: DenseParams,
    ) -> Result<Tensor<(B, Const<U>), E, D, T>, D::Err> {
        let (x, w, b, p) = self.op_inputs(x, fused)?;
        D::conv2d_dense(x, w, b, p, dense_w, dense_bias, dense)
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
    > NonMutableModule for Conv2D<I, O, K, S, P, DIL, BIAS, E, D>
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
        H: Dim,
        W: Dim,
        E: Element,
        D: Backend<E>,
        T: Tape<E, D>,
    > Module<Tensor<(B, Const<I>, H, W), E, D, T>> for Conv2D<I, O, K, S, P, DIL, BIAS, E, D>
{
    type Output = Tensor<(B, Const<O>, usize, usize), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(B, Const<I>, H, W), E, D, T>) -> Result<Self::Output, D::Err> {
        self.try_forward_fused(x, Fused::default())
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
        H: Dim,
        W: Dim,
        E: Element,
        D: Backend<E>,
        T: Tape<E, D>,
    > Module<Tensor<(Const<I>, H, W), E, D, T>> for Conv2D<I, O, K, S, P, DIL, BIAS, E, D>
{
    type Output = Tensor<(Const<O>, usize, usize), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(Const<I>, H, W), E, D, T>) -> Result<Self::Output, D::Err> {
        let (c, h, w) = *x.shape();
        let y = self.try_forward_fused(
            x.try_reshape_like(&(Const::<1>, c, h, w))?,
            Fused::default(),
        )?;
        let (_, o, ho, wo) = *y.shape();
        y.try_reshape_like(&(o, ho, wo))
    }
}

//! Parameter counts as Keras reports them, as constants of every layer type `network!`
//! puts in a network (the generated code sums these; nothing counts twice).

use dfdx::nn::modules as dm;
use dfdx::prelude::*;

use super::{AvgPool2D, Conv2D, Flatten, MaxPool2D};

/// A layer type's parameter counts (Keras's "Param #": trainable and not).
pub trait LayerParams {
    /// All parameters, e.g. a `BatchNorm2D`'s scale, bias and running statistics.
    const PARAMS: usize;
    /// The ones an optimiser updates.
    const TRAINABLE_PARAMS: usize;
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
    > LayerParams for Conv2D<I, O, K, S, P, DIL, BIAS, E, D>
{
    const PARAMS: usize = K * K * I * O + if BIAS { O } else { 0 };
    const TRAINABLE_PARAMS: usize = Self::PARAMS;
}

impl<const I: usize, const O: usize, E: Dtype, D: Storage<E>> LayerParams
    for dm::Linear<I, O, E, D>
{
    const PARAMS: usize = I * O + O;
    const TRAINABLE_PARAMS: usize = Self::PARAMS;
}

impl<const I: usize, const O: usize, E: Dtype, D: Storage<E>> LayerParams
    for dm::UnbiasedLinear<I, O, E, D>
{
    const PARAMS: usize = I * O;
    const TRAINABLE_PARAMS: usize = Self::PARAMS;
}

impl<const C: usize, E: Dtype, D: Storage<E>> LayerParams for dm::BatchNorm2D<C, E, D> {
    const PARAMS: usize = 4 * C;
    const TRAINABLE_PARAMS: usize = 2 * C;
}

impl<const C: usize, E: Dtype, D: Storage<E>> LayerParams for dm::BatchNorm1D<C, E, D> {
    const PARAMS: usize = 4 * C;
    const TRAINABLE_PARAMS: usize = 2 * C;
}

impl<const N: usize, E: Dtype, D: Storage<E>> LayerParams for dm::LayerNorm1D<N, E, D> {
    const PARAMS: usize = 2 * N;
    const TRAINABLE_PARAMS: usize = 2 * N;
}

impl<E: Dtype> LayerParams for dm::LeakyReLU<E> {
    const PARAMS: usize = 0;
    const TRAINABLE_PARAMS: usize = 0;
}

impl<const K: usize, const S: usize, const P: usize> LayerParams for MaxPool2D<K, S, P> {
    const PARAMS: usize = 0;
    const TRAINABLE_PARAMS: usize = 0;
}

impl<const K: usize, const S: usize, const P: usize> LayerParams for AvgPool2D<K, S, P> {
    const PARAMS: usize = 0;
    const TRAINABLE_PARAMS: usize = 0;
}

/// Layers without parameters.
macro_rules! no_params {
    ($($t:ty),*) => {$(
        impl LayerParams for $t {
            const PARAMS: usize = 0;
            const TRAINABLE_PARAMS: usize = 0;
        }
    )*};
}
no_params!(
    Flatten,
    dm::ReLU,
    dm::Sigmoid,
    dm::Tanh,
    dm::FastGeLU,
    dm::Softmax,
    dm::Dropout,
    dm::AvgPoolGlobal,
    dm::MaxPoolGlobal
);

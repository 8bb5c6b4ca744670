//! What typenet needs to know about the dfdx modules `network!` uses: their parameter
//! counts, as Keras counts them.

use dfdx::nn::modules::{
    AvgPoolGlobal, BatchNorm1D, BatchNorm2D, Dropout, FastGeLU, LayerNorm1D, LeakyReLU, Linear,
    MaxPoolGlobal, ReLU, Sigmoid, Softmax, Tanh, UnbiasedLinear,
};
use dfdx::prelude::{Dtype, Storage};

use super::LayerParams;

/// `Dense(O)`: `I * O` weights and `O` biases.
impl<const I: usize, const O: usize, E: Dtype, D: Storage<E>> LayerParams for Linear<I, O, E, D> {
    const PARAMS: usize = I * O + O;
    const TRAINABLE_PARAMS: usize = Self::PARAMS;
}

/// `Dense(O, bias = false)`: `I * O` weights.
impl<const I: usize, const O: usize, E: Dtype, D: Storage<E>> LayerParams
    for UnbiasedLinear<I, O, E, D>
{
    const PARAMS: usize = I * O;
    const TRAINABLE_PARAMS: usize = Self::PARAMS;
}

/// Scale and bias (trainable) and the running mean and variance, per channel.
impl<const C: usize, E: Dtype, D: Storage<E>> LayerParams for BatchNorm2D<C, E, D> {
    const PARAMS: usize = 4 * C;
    const TRAINABLE_PARAMS: usize = 2 * C;
}

/// As [`BatchNorm2D`]'s.
impl<const C: usize, E: Dtype, D: Storage<E>> LayerParams for BatchNorm1D<C, E, D> {
    const PARAMS: usize = 4 * C;
    const TRAINABLE_PARAMS: usize = 2 * C;
}

/// Gamma and beta per feature.
impl<const N: usize, E: Dtype, D: Storage<E>> LayerParams for LayerNorm1D<N, E, D> {
    const PARAMS: usize = 2 * N;
    const TRAINABLE_PARAMS: usize = 2 * N;
}

/// Modules without parameters.
macro_rules! no_params {
    ($($t:ty),* $(,)?) => {$(
        impl LayerParams for $t {
            const PARAMS: usize = 0;
            const TRAINABLE_PARAMS: usize = 0;
        }
    )*};
}
no_params!(
    ReLU,
    Sigmoid,
    Tanh,
    FastGeLU,
    Softmax,
    Dropout,
    AvgPoolGlobal,
    MaxPoolGlobal
);

impl<E: Dtype> LayerParams for LeakyReLU<E> {
    const PARAMS: usize = 0;
    const TRAINABLE_PARAMS: usize = 0;
}

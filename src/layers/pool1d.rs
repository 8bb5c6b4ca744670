//! `MaxPool1D`, `AvgPool1D`, `GlobalMaxPool1D` and `GlobalAvgPool1D` on `(C, L)` sequences.
//! Each runs the 2-d pooling op on `(C, 1, L)` with a `1 x K` window (a global pool's
//! window is the whole length), so they share its CPU kernels and CUDA path.

use dfdx::nn::modules::{Module, NonMutableModule, ZeroSizedModule};
use dfdx::prelude::*;

use super::LayerParams;
use crate::backend::{Backend, Element};
use crate::ops::{Pool2DKind, PoolParams};

/// Pools `(B, C, L)` with a `1 x k` window, stride `s` and padding `p` along the length.
fn pool1d<B: Dim, C: Dim, L: Dim, E: Element, D: Backend<E>, T: Tape<E, D>>(
    x: Tensor<(B, C, L), E, D, T>,
    kind: Pool2DKind,
    (k, s, p): (usize, usize, usize),
) -> Result<Tensor<(B, C, usize), E, D, T>, D::Err> {
    let (b, c, l) = *x.shape();
    let x = x.try_reshape_like(&(b, c.size(), 1usize, l.size()))?;
    let y = D::pool2d(x, kind, PoolParams::per_axis([1, k], [1, s], [0, p]))?;
    let (_, _, _, lo) = *y.shape();
    y.try_reshape_like(&(b, c, lo))
}

macro_rules! pool1d_layer {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        ///
        /// `K`: window, `S`: stride, `P`: zero padding on each end (at most `K / 2`).
        /// Input `(B, C, L)` or `(C, L)`; output `(B, C, Lo)` with `Lo = (L + 2P - K) / S + 1`
        /// (Keras's `MaxPooling1D(pool_size=K, strides=S)` channels first, PyTorch's
        /// `MaxPool1d(K, S, P)`). The length is `usize` here; `network!` turns it back into a
        /// `Const`.
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name<const K: usize, const S: usize, const P: usize>;

        impl<const K: usize, const S: usize, const P: usize> ZeroSizedModule for $name<K, S, P> {}
        impl<const K: usize, const S: usize, const P: usize> NonMutableModule for $name<K, S, P> {}

        impl<const K: usize, const S: usize, const P: usize> LayerParams for $name<K, S, P> {
            const PARAMS: usize = 0;
            const TRAINABLE_PARAMS: usize = 0;
        }

        impl<const K: usize, const S: usize, const P: usize, B: Dim, C: Dim, L: Dim, E: Element, D: Backend<E>, T: Tape<E, D>>
            Module<Tensor<(B, C, L), E, D, T>> for $name<K, S, P>
        {
            type Output = Tensor<(B, C, usize), E, D, T>;
            type Error = D::Err;

            fn try_forward(&self, x: Tensor<(B, C, L), E, D, T>) -> Result<Self::Output, D::Err> {
                pool1d(x, $kind, (K, S, P))
            }
        }

        impl<const K: usize, const S: usize, const P: usize, C: Dim, L: Dim, E: Element, D: Backend<E>, T: Tape<E, D>>
            Module<Tensor<(C, L), E, D, T>> for $name<K, S, P>
        {
            type Output = Tensor<(C, usize), E, D, T>;
            type Error = D::Err;

            fn try_forward(&self, x: Tensor<(C, L), E, D, T>) -> Result<Self::Output, D::Err> {
                let (c, l) = *x.shape();
                let y = self.try_forward(x.try_reshape_like(&(Const::<1>, c, l))?)?;
                let (_, c, lo) = *y.shape();
                y.try_reshape_like(&(c, lo))
            }
        }
    };
}

pool1d_layer!(
    /// 1-d max pooling: each output is the largest input in its window (padding never
    /// wins).
    MaxPool1D,
    Pool2DKind::Max
);
pool1d_layer!(
    /// 1-d average pooling: each output is the mean of its window, padding counted as
    /// zeros (PyTorch's `count_include_pad=True`).
    AvgPool1D,
    Pool2DKind::Avg
);

macro_rules! global_pool1d_layer {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        ///
        /// Input `(B, C, L)` or `(C, L)`, output `(B, C)` or `(C)`. One pass over each
        /// channel, channels of the whole batch in parallel (on `Cpu`).
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl ZeroSizedModule for $name {}
        impl NonMutableModule for $name {}

        impl LayerParams for $name {
            const PARAMS: usize = 0;
            const TRAINABLE_PARAMS: usize = 0;
        }

        impl<B: Dim, C: Dim, L: Dim, E: Element, D: Backend<E>, T: Tape<E, D>>
            Module<Tensor<(B, C, L), E, D, T>> for $name
        {
            type Output = Tensor<(B, C), E, D, T>;
            type Error = D::Err;

            fn try_forward(&self, x: Tensor<(B, C, L), E, D, T>) -> Result<Self::Output, D::Err> {
                let (b, c, l) = *x.shape();
                let l = l.size();
                pool1d(x, $kind, (l, l, 0))?.try_reshape_like(&(b, c))
            }
        }

        impl<C: Dim, L: Dim, E: Element, D: Backend<E>, T: Tape<E, D>>
            Module<Tensor<(C, L), E, D, T>> for $name
        {
            type Output = Tensor<(C,), E, D, T>;
            type Error = D::Err;

            fn try_forward(&self, x: Tensor<(C, L), E, D, T>) -> Result<Self::Output, D::Err> {
                let (c, l) = *x.shape();
                let y = self.try_forward(x.try_reshape_like(&(Const::<1>, c, l))?)?;
                y.try_reshape_like(&(c,))
            }
        }
    };
}

global_pool1d_layer!(
    /// The largest value of each channel over the whole length (Keras's
    /// `GlobalMaxPooling1D`, channels first).
    GlobalMaxPool1D,
    Pool2DKind::Max
);
global_pool1d_layer!(
    /// The mean of each channel over the whole length (Keras's `GlobalAveragePooling1D`,
    /// channels first).
    GlobalAvgPool1D,
    Pool2DKind::Avg
);

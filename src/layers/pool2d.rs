//! `MaxPool2D` and `AvgPool2D`: pooling over square windows.

use dfdx::nn::modules::{Module, NonMutableModule, ZeroSizedModule};
use dfdx::prelude::*;

use super::LayerParams;
use crate::backend::{realize, Backend, Element};
use crate::ops::{Pool2DKind, Pool2DParams};

macro_rules! pool_layer {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        ///
        /// `K`: window, `S`: stride, `P`: padding on each side (at most `K / 2`).
        /// Input `(B, C, H, W)` or `(C, H, W)`; output `(B, C, Ho, Wo)` with
        /// `Ho = (H + 2P - K) / S + 1`. The spatial output dims are `usize` here; `network!`
        /// turns them back into `Const`s.
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name<const K: usize, const S: usize, const P: usize>;

        impl<const K: usize, const S: usize, const P: usize> ZeroSizedModule for $name<K, S, P> {}
        impl<const K: usize, const S: usize, const P: usize> NonMutableModule for $name<K, S, P> {}

        impl<const K: usize, const S: usize, const P: usize> LayerParams for $name<K, S, P> {
            const PARAMS: usize = 0;
            const TRAINABLE_PARAMS: usize = 0;
        }

        impl<const K: usize, const S: usize, const P: usize> $name<K, S, P> {
            const POOL: Pool2DParams = Pool2DParams { window: K, stride: S, padding: P };
        }

        impl<const K: usize, const S: usize, const P: usize, B: Dim, C: Dim, H: Dim, W: Dim, E: Element, D: Backend<E>, T: Tape<E, D>>
            Module<Tensor<(B, C, H, W), E, D, T>> for $name<K, S, P>
        {
            type Output = Tensor<(B, C, usize, usize), E, D, T>;
            type Error = D::Err;

            fn try_forward(&self, x: Tensor<(B, C, H, W), E, D, T>) -> Result<Self::Output, D::Err> {
                let x = realize::<_, (B, usize, usize, usize), E, D, T>(x)?;
                realize(D::pool2d(x, $kind, Self::POOL)?)
            }
        }

        impl<const K: usize, const S: usize, const P: usize, C: Dim, H: Dim, W: Dim, E: Element, D: Backend<E>, T: Tape<E, D>>
            Module<Tensor<(C, H, W), E, D, T>> for $name<K, S, P>
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
    };
}

pool_layer!(
    /// Max pooling: each output is the largest input in its window (padding never wins).
    MaxPool2D,
    Pool2DKind::Max
);
pool_layer!(
    /// Average pooling: each output is the mean of its window, padding counted as zeros
    /// (PyTorch's `count_include_pad=True`).
    AvgPool2D,
    Pool2DKind::Avg
);

//! Which devices and element types typenet's layers run on.
//!
//! Every layer works on any [`Backend`]: dfdx's `Cpu` (with typenet's fast kernels) and,
//! with the `cuda` feature, dfdx's `Cuda` (with convolution and pooling built from dfdx ops
//! that have CUDA kernels, the same generic code that the tests run on `Cpu`).

use dfdx::prelude::*;

use crate::ops::{self, Conv2DParams, DenseParams, Pool2DKind, Pool2DParams};

/// An element type the layers can compute in: `f32` or `f64`.
pub trait Element:
    Dtype
    + num_traits::Float
    + rand_distr::uniform::SampleUniform
    + crate::ops::scratch::Reuse
    + Send
    + Sync
    + 'static
{
    /// An integer that orders like the float (IEEE total order, except that -0.0 and +0.0
    /// are equal; a positive NaN is above +inf). Integer compares let kernels select
    /// without branches.
    fn order_key(self) -> i64;
}

impl Element for f32 {
    #[inline(always)]
    fn order_key(self) -> i64 {
        // `+ 0.0` turns -0.0 into +0.0: the two zeros compare equal, as in IEEE.
        let b = (self + 0.0).to_bits() as i32;
        (b ^ (((b >> 31) as u32) >> 1) as i32) as i64
    }
}

impl Element for f64 {
    #[inline(always)]
    fn order_key(self) -> i64 {
        let b = (self + 0.0).to_bits() as i64;
        b ^ (((b >> 63) as u64) >> 1) as i64
    }
}

/// A 4-d tensor whose dimensions other than the batch are only known at run time.
pub type Tensor4<B, E, D, T> = Tensor<(B, usize, usize, usize), E, D, T>;

/// A dfdx device that typenet's layers run on.
pub trait Backend<E: Element>: Device<E> {
    /// 2-d convolution (cross-correlation, as in PyTorch and Keras) of `x` `(B, C, H, W)`
    /// with `w` `(O, C, K, K)`, plus `bias` `(O,)`, optionally followed by ReLU.
    fn conv2d<B: Dim, T: Tape<E, Self> + Merge<T>>(
        x: Tensor4<B, E, Self, T>,
        w: Tensor4<usize, E, Self, T>,
        bias: Option<Tensor<(usize,), E, Self, T>>,
        p: Conv2DParams,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err>;

    /// Max or average pooling over square windows of `x` `(B, C, H, W)`.
    fn pool2d<B: Dim, T: Tape<E, Self>>(
        x: Tensor4<B, E, Self, T>,
        kind: Pool2DKind,
        p: Pool2DParams,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err>;

    /// A dense layer, `x W^T + bias`, with what `p` fuses: `x` is any tensor of `batch`
    /// rows of `I` values (a `(B, C, H, W)` image batch is read as flattened).
    fn dense<S: Shape, B: Dim, I: Dim, O: Dim, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        batch: B,
        w: &Tensor<(O, I), E, Self>,
        bias: Option<&Tensor<(O,), E, Self>>,
        p: DenseParams,
    ) -> Result<Tensor<(B, O), E, Self, T>, Self::Err>;

    /// A convolution block ([`Backend::conv2d`]) flattened straight into a dense layer
    /// ([`Backend::dense`]): `Conv2D, ReLU, MaxPool2D, Flatten, Dense`. On `Cpu` the
    /// block's output then never exists as a tensor (where the direct kernels apply).
    #[allow(clippy::too_many_arguments)]
    fn conv2d_dense<B: Dim, I: Dim, O: Dim, T: Tape<E, Self> + Merge<T>>(
        x: Tensor4<B, E, Self, T>,
        w: Tensor4<usize, E, Self, T>,
        bias: Option<Tensor<(usize,), E, Self, T>>,
        p: Conv2DParams,
        dense_w: &Tensor<(O, I), E, Self>,
        dense_bias: Option<&Tensor<(O,), E, Self>>,
        dp: DenseParams,
    ) -> Result<Tensor<(B, O), E, Self, T>, Self::Err> {
        conv2d_then_dense(x, w, bias, p, dense_w, dense_bias, dp)
    }

    /// The device's error for a shape that does not fit (an internal invariant broken).
    fn shape_error() -> Self::Err;
}

impl<E: Element> Backend<E> for Cpu
where
    Cpu: Device<E>,
{
    fn conv2d<B: Dim, T: Tape<E, Self> + Merge<T>>(
        x: Tensor4<B, E, Self, T>,
        w: Tensor4<usize, E, Self, T>,
        bias: Option<Tensor<(usize,), E, Self, T>>,
        p: Conv2DParams,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err> {
        ops::cpu::conv2d(x, w, bias, p)
    }

    fn pool2d<B: Dim, T: Tape<E, Self>>(
        x: Tensor4<B, E, Self, T>,
        kind: Pool2DKind,
        p: Pool2DParams,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err> {
        ops::cpu::pool2d(x, kind, p)
    }

    fn dense<S: Shape, B: Dim, I: Dim, O: Dim, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        batch: B,
        w: &Tensor<(O, I), E, Self>,
        bias: Option<&Tensor<(O,), E, Self>>,
        p: DenseParams,
    ) -> Result<Tensor<(B, O), E, Self, T>, Self::Err> {
        if ops::dense::cpu_runs::<E>() {
            ops::dense::cpu(x, batch, w, bias, p)
        } else {
            ops::dense::generic(x, batch, w, bias, p)
        }
    }

    fn conv2d_dense<B: Dim, I: Dim, O: Dim, T: Tape<E, Self> + Merge<T>>(
        x: Tensor4<B, E, Self, T>,
        w: Tensor4<usize, E, Self, T>,
        bias: Option<Tensor<(usize,), E, Self, T>>,
        p: Conv2DParams,
        dense_w: &Tensor<(O, I), E, Self>,
        dense_bias: Option<&Tensor<(O,), E, Self>>,
        dp: DenseParams,
    ) -> Result<Tensor<(B, O), E, Self, T>, Self::Err> {
        if ops::chain::applies::<E>(x.shape(), w.shape(), p, dense_w.shape().1.size()) {
            return ops::chain::conv2d_dense(x, w, bias, p, dense_w, dense_bias, dp);
        }
        conv2d_then_dense(x, w, bias, p, dense_w, dense_bias, dp)
    }

    fn shape_error() -> Self::Err {
        CpuError::WrongNumElements
    }
}

#[cfg(feature = "cuda")]
impl<E: Element> Backend<E> for Cuda
where
    Cuda: Device<E>,
{
    fn conv2d<B: Dim, T: Tape<E, Self> + Merge<T>>(
        x: Tensor4<B, E, Self, T>,
        w: Tensor4<usize, E, Self, T>,
        bias: Option<Tensor<(usize,), E, Self, T>>,
        p: Conv2DParams,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err> {
        ops::generic::conv2d(x, w, bias, p)
    }

    fn pool2d<B: Dim, T: Tape<E, Self>>(
        x: Tensor4<B, E, Self, T>,
        kind: Pool2DKind,
        p: Pool2DParams,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err> {
        ops::generic::pool2d(x, kind, p)
    }

    fn dense<S: Shape, B: Dim, I: Dim, O: Dim, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        batch: B,
        w: &Tensor<(O, I), E, Self>,
        bias: Option<&Tensor<(O,), E, Self>>,
        p: DenseParams,
    ) -> Result<Tensor<(B, O), E, Self, T>, Self::Err> {
        ops::dense::generic(x, batch, w, bias, p)
    }

    fn shape_error() -> Self::Err {
        CudaError::Cpu(CpuError::WrongNumElements)
    }
}

/// [`Backend::conv2d_dense`] as its two ops.
#[allow(clippy::too_many_arguments)]
fn conv2d_then_dense<
    B: Dim,
    I: Dim,
    O: Dim,
    E: Element,
    D: Backend<E>,
    T: Tape<E, D> + Merge<T>,
>(
    x: Tensor4<B, E, D, T>,
    w: Tensor4<usize, E, D, T>,
    bias: Option<Tensor<(usize,), E, D, T>>,
    p: Conv2DParams,
    dense_w: &Tensor<(O, I), E, D>,
    dense_bias: Option<&Tensor<(O,), E, D>>,
    dp: DenseParams,
) -> Result<Tensor<(B, O), E, D, T>, D::Err> {
    let batch = x.shape().0;
    let h = D::conv2d(x, w, bias, p)?;
    D::dense(h, batch, dense_w, dense_bias, dp)
}

/// Changes a tensor's shape type to an equal shape (`usize` to `Const` dims or back),
/// without copying. A mismatch is an internal error of typenet, reported as the device's error.
pub fn realize<
    Src: RealizeShapeTo<Dst>,
    Dst: Shape<Concrete = Src::Concrete>,
    E: Element,
    D: Backend<E>,
    T: Tape<E, D>,
>(
    t: Tensor<Src, E, D, T>,
) -> Result<Tensor<Dst, E, D, T>, D::Err> {
    t.try_realize::<Dst>().map_err(|_| D::shape_error())
}

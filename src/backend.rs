//! Which devices and element types typenet's layers run on, and the parameters of their
//! ops.
//!
//! Every layer works on any [`Backend`]: dfdx's `Cpu` (with typenet's fast kernels) and,
//! with the `cuda` feature, dfdx's `Cuda` (with convolution and pooling built from dfdx ops
//! that have CUDA kernels, the same generic code that the tests run on `Cpu`).

use dfdx::prelude::*;

pub use crate::ops::optim::{new_update_state, UpdateRule, UpdateState};
use crate::ops::{
    activation, chain, conv2d, dense, dropout, embedding, merge, norm, optim, pool2d, resample,
};

pub use crate::element::{Element, Tensor4};
pub use crate::ops::resample::Conv2DTransposeParams;

pub use crate::ops::{Activation, BatchNormArgs, NormStats};
pub use crate::ops::{Conv2DParams, DenseParams, Pool2DKind, Pool2DParams, PoolParams};

/// A dfdx device that typenet's layers run on. Each method is one op; on `Cpu` the op
/// chooses its kernels itself.
pub trait Backend<E: Element>: Device<E> {
    /// 2-d convolution (cross-correlation, as in PyTorch and Keras) of `x` `(B, C, H, W)`
    /// with `w` `(O, C, KH, KW)`, plus `bias` `(O,)`, with what `p` fuses (ReLU, max
    /// pooling).
    fn conv2d<B: Dim, T: Tape<E, Self> + Merge<T>>(
        x: Tensor4<B, E, Self, T>,
        w: Tensor4<usize, E, Self, T>,
        bias: Option<Tensor<(usize,), E, Self, T>>,
        p: Conv2DParams,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err>;

    /// Max or average pooling of `x` `(B, C, H, W)` over windows of `p` ([`Pool2DParams`]
    /// for square ones, [`PoolParams`] for one size per axis).
    fn pool2d<B: Dim, T: Tape<E, Self>>(
        x: Tensor4<B, E, Self, T>,
        kind: Pool2DKind,
        p: impl Into<PoolParams>,
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
    ) -> Result<Tensor<(B, O), E, Self, T>, Self::Err>;

    /// `a` and `b` joined along axis 1 (channels of `(B, C, ...)`, features of `(B, N)`)
    /// into `out`; every other dim must agree.
    fn concat<A: Shape, Bs: Shape, O: Shape, T: Tape<E, Self> + Merge<T>>(
        a: Tensor<A, E, Self, T>,
        b: Tensor<Bs, E, Self, T>,
        out: O,
    ) -> Result<Tensor<O, E, Self, T>, Self::Err>;

    /// The sum of tensors of one shape (one tensor may come in more than once).
    fn sum<S: Shape, T: Tape<E, Self> + Merge<T>>(
        xs: Vec<Tensor<S, E, Self, T>>,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err>;

    /// Nearest-neighbour upsampling of `x` `(B, C, H, W)` by `fh` rows and `fw` columns.
    fn upsample2d<B: Dim, T: Tape<E, Self>>(
        x: Tensor4<B, E, Self, T>,
        fh: usize,
        fw: usize,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err>;

    /// Transposed convolution of `x` `(B, C, H, W)` with `w` `(C, O, K, K)` (PyTorch's
    /// layout), plus `bias` `(O,)`.
    fn conv2d_transpose<B: Dim, T: Tape<E, Self> + Merge<T>>(
        x: Tensor4<B, E, Self, T>,
        w: Tensor4<usize, E, Self, T>,
        bias: Option<Tensor<(usize,), E, Self, T>>,
        p: Conv2DTransposeParams,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err>;

    /// Embedding lookup: token ids `tokens` `(B, L)` (exact integers in `E`) pick rows of
    /// `table` `(V, M)`, giving `(B, M, L)` (channels first); the backward pass adds into
    /// the table's gradient. An id that is not an integer below `V` is the device's
    /// error ([`Backend::shape_error`]), never clamped.
    fn embedding<B: Dim, L: Dim, V: Dim, M: Dim, T: Tape<E, Self>>(
        tokens: Tensor<(B, L), E, Self, T>,
        table: &Tensor<(V, M), E, Self>,
    ) -> Result<Tensor<(B, M, L), E, Self, T>, Self::Err>;

    /// An elementwise activation of `x` (any shape).
    fn activation<S: Shape, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        act: Activation,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err>;

    /// Batch normalisation of `x` `(B, C, ...)` over all axes but the channels (axis 1),
    /// with the statistics `args` names (updating the running ones in training).
    fn batch_norm<const C: usize, S: Shape, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        args: BatchNormArgs<'_, C, E, Self>,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err>;

    /// Dropout: each element zeroed with probability `rate`, the rest scaled by
    /// `1 / (1 - rate)`; the mask's seed comes from the device's generator.
    fn dropout<S: Shape, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        rate: f64,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err>;

    /// One optimizer step of `rule` on parameter `p` with its gradient `g`; `state` keeps
    /// the rule's buffers for every parameter. On `Cpu` over chunks on rayon's threads.
    /// With `zero_grad` the device may leave `g` zero in the same pass: it returns whether
    /// it did (`Cpu` does; `Cuda` leaves that to dfdx's `zero_grads`).
    fn optimizer_step<S: Shape>(
        rule: &UpdateRule,
        p: &mut Tensor<S, E, Self>,
        g: &mut <Self as Storage<E>>::Vec,
        state: &mut UpdateState<E, Self>,
        zero_grad: bool,
    ) -> Result<bool, Self::Err>;

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
        conv2d::cpu(x, w, bias, p)
    }

    fn pool2d<B: Dim, T: Tape<E, Self>>(
        x: Tensor4<B, E, Self, T>,
        kind: Pool2DKind,
        p: impl Into<PoolParams>,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err> {
        pool2d::cpu(x, kind, p)
    }

    fn dense<S: Shape, B: Dim, I: Dim, O: Dim, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        batch: B,
        w: &Tensor<(O, I), E, Self>,
        bias: Option<&Tensor<(O,), E, Self>>,
        p: DenseParams,
    ) -> Result<Tensor<(B, O), E, Self, T>, Self::Err> {
        dense::cpu(x, batch, w, bias, p)
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
        chain::cpu(x, w, bias, p, dense_w, dense_bias, dp)
    }

    fn concat<A: Shape, Bs: Shape, O: Shape, T: Tape<E, Self> + Merge<T>>(
        a: Tensor<A, E, Self, T>,
        b: Tensor<Bs, E, Self, T>,
        out: O,
    ) -> Result<Tensor<O, E, Self, T>, Self::Err> {
        merge::cpu_concat(a, b, out)
    }

    fn sum<S: Shape, T: Tape<E, Self> + Merge<T>>(
        xs: Vec<Tensor<S, E, Self, T>>,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err> {
        merge::cpu_sum(xs)
    }

    fn upsample2d<B: Dim, T: Tape<E, Self>>(
        x: Tensor4<B, E, Self, T>,
        fh: usize,
        fw: usize,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err> {
        resample::cpu_upsample2d(x, fh, fw)
    }

    fn conv2d_transpose<B: Dim, T: Tape<E, Self> + Merge<T>>(
        x: Tensor4<B, E, Self, T>,
        w: Tensor4<usize, E, Self, T>,
        bias: Option<Tensor<(usize,), E, Self, T>>,
        p: Conv2DTransposeParams,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err> {
        resample::cpu_conv2d_transpose(x, w, bias, p)
    }

    fn embedding<B: Dim, L: Dim, V: Dim, M: Dim, T: Tape<E, Self>>(
        tokens: Tensor<(B, L), E, Self, T>,
        table: &Tensor<(V, M), E, Self>,
    ) -> Result<Tensor<(B, M, L), E, Self, T>, Self::Err> {
        embedding::cpu(tokens, table)
    }

    fn activation<S: Shape, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        act: Activation,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err> {
        activation::cpu(x, act)
    }

    fn batch_norm<const C: usize, S: Shape, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        args: BatchNormArgs<'_, C, E, Self>,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err> {
        norm::cpu(x, args)
    }

    fn dropout<S: Shape, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        rate: f64,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err> {
        dropout::cpu(x, rate)
    }

    fn optimizer_step<S: Shape>(
        rule: &UpdateRule,
        p: &mut Tensor<S, E, Self>,
        g: &mut <Self as Storage<E>>::Vec,
        state: &mut UpdateState<E, Self>,
        zero_grad: bool,
    ) -> Result<bool, Self::Err> {
        optim::cpu(rule, p, g, state, zero_grad)?;
        Ok(zero_grad)
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
        conv2d::generic(x, w, bias, p)
    }

    fn pool2d<B: Dim, T: Tape<E, Self>>(
        x: Tensor4<B, E, Self, T>,
        kind: Pool2DKind,
        p: impl Into<PoolParams>,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err> {
        pool2d::generic(x, kind, p)
    }

    fn dense<S: Shape, B: Dim, I: Dim, O: Dim, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        batch: B,
        w: &Tensor<(O, I), E, Self>,
        bias: Option<&Tensor<(O,), E, Self>>,
        p: DenseParams,
    ) -> Result<Tensor<(B, O), E, Self, T>, Self::Err> {
        dense::generic(x, batch, w, bias, p)
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
        chain::generic(x, w, bias, p, dense_w, dense_bias, dp)
    }

    fn concat<A: Shape, Bs: Shape, O: Shape, T: Tape<E, Self> + Merge<T>>(
        a: Tensor<A, E, Self, T>,
        b: Tensor<Bs, E, Self, T>,
        out: O,
    ) -> Result<Tensor<O, E, Self, T>, Self::Err> {
        merge::concat_generic(a, b, out)
    }

    fn sum<S: Shape, T: Tape<E, Self> + Merge<T>>(
        xs: Vec<Tensor<S, E, Self, T>>,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err> {
        merge::sum_generic(xs)
    }

    fn upsample2d<B: Dim, T: Tape<E, Self>>(
        x: Tensor4<B, E, Self, T>,
        fh: usize,
        fw: usize,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err> {
        resample::upsample2d_generic(x, fh, fw)
    }

    fn conv2d_transpose<B: Dim, T: Tape<E, Self> + Merge<T>>(
        x: Tensor4<B, E, Self, T>,
        w: Tensor4<usize, E, Self, T>,
        bias: Option<Tensor<(usize,), E, Self, T>>,
        p: Conv2DTransposeParams,
    ) -> Result<Tensor4<B, E, Self, T>, Self::Err> {
        resample::conv2d_transpose_generic(x, w, bias, p)
    }

    fn embedding<B: Dim, L: Dim, V: Dim, M: Dim, T: Tape<E, Self>>(
        tokens: Tensor<(B, L), E, Self, T>,
        table: &Tensor<(V, M), E, Self>,
    ) -> Result<Tensor<(B, M, L), E, Self, T>, Self::Err> {
        embedding::generic(tokens, table)
    }

    fn activation<S: Shape, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        act: Activation,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err> {
        activation::generic(x, act)
    }

    fn batch_norm<const C: usize, S: Shape, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        args: BatchNormArgs<'_, C, E, Self>,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err> {
        norm::generic(x, args)
    }

    fn dropout<S: Shape, T: Tape<E, Self>>(
        x: Tensor<S, E, Self, T>,
        rate: f64,
    ) -> Result<Tensor<S, E, Self, T>, Self::Err> {
        dropout::generic(x, rate)
    }

    fn optimizer_step<S: Shape>(
        rule: &UpdateRule,
        p: &mut Tensor<S, E, Self>,
        g: &mut <Self as Storage<E>>::Vec,
        state: &mut UpdateState<E, Self>,
        _zero_grad: bool,
    ) -> Result<bool, Self::Err> {
        optim::generic(rule, p, g, state)?;
        Ok(false)
    }

    fn shape_error() -> Self::Err {
        CudaError::Cpu(CpuError::WrongNumElements)
    }
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

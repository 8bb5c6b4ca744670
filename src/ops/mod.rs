//! Convolution, pooling and dense layers as differentiable dfdx tensor ops.
//!
//! [`generic`] (and [`dense::generic`]) build them from dfdx ops that have both CPU and
//! CUDA kernels; [`cpu`] and the private kernels beside it (direct convolution, matrix
//! products, the conv-to-dense chain) are the fast CPU implementation. The tests require
//! the two to agree with each other and with naive reference loops.

pub(crate) mod chain;
pub mod conv2d;
pub mod dense;
pub(crate) mod gemm;
pub mod generic;
pub mod scratch;

// The CPU ops' old path, until the op folders are split out.
pub use conv2d as cpu;

/// Hyper-parameters of a 2-d convolution, and what is fused into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2DParams {
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    /// Apply ReLU to the output.
    pub relu: bool,
    /// Max-pool the (ReLU'd) output; the un-pooled output is never materialised on `Cpu`.
    pub max_pool: Option<Pool2DParams>,
    /// Compute the input's gradient. A network's first layer needs none in training.
    pub input_grad: bool,
}

impl Conv2DParams {
    /// A plain convolution: no ReLU, no pooling, input gradient computed.
    pub const fn new(stride: usize, padding: usize, dilation: usize) -> Self {
        Self {
            stride,
            padding,
            dilation,
            relu: false,
            max_pool: None,
            input_grad: true,
        }
    }
    /// Followed by ReLU.
    pub const fn relu(mut self, relu: bool) -> Self {
        self.relu = relu;
        self
    }
    /// Followed by max pooling.
    pub const fn max_pool(mut self, pool: Option<Pool2DParams>) -> Self {
        self.max_pool = pool;
        self
    }
    /// Whether the backward pass computes the input's gradient.
    pub const fn input_grad(mut self, input_grad: bool) -> Self {
        self.input_grad = input_grad;
        self
    }
}

/// What a dense layer fuses, and whether it computes its input's gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseParams {
    /// Apply ReLU to the output.
    pub relu: bool,
    /// Compute the input's gradient (a network's first layer needs none in training; the
    /// generic path always computes it).
    pub input_grad: bool,
}

impl DenseParams {
    /// No ReLU, input gradient computed.
    pub const fn new() -> Self {
        Self {
            relu: false,
            input_grad: true,
        }
    }
    /// Followed by ReLU.
    pub const fn relu(mut self, relu: bool) -> Self {
        self.relu = relu;
        self
    }
    /// Whether the backward pass computes the input's gradient.
    pub const fn input_grad(mut self, input_grad: bool) -> Self {
        self.input_grad = input_grad;
        self
    }
}

impl Default for DenseParams {
    fn default() -> Self {
        Self::new()
    }
}

/// Hyper-parameters of a 2-d pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2DParams {
    pub window: usize,
    pub stride: usize,
    pub padding: usize,
}

/// Which reduction a pooling layer applies to each window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool2DKind {
    /// The largest value; padding never wins (it counts as `-inf`).
    Max,
    /// The mean over the whole window, padding counted as zeros (PyTorch's default).
    Avg,
}

/// Output size along one spatial axis: `(n + 2p - d(k-1) - 1) / s + 1`, or `None` when
/// the (dilated) kernel does not fit the padded input or a size is zero.
pub const fn out_size(n: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    if k == 0 || s == 0 || d == 0 {
        return None;
    }
    let span = d * (k - 1) + 1;
    let padded = n + 2 * p;
    if span > padded {
        return None;
    }
    Some((padded - span) / s + 1)
}

/// Sizes of one convolution, all known at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub dil: usize,
    pub h_out: usize,
    pub w_out: usize,
}

impl ConvGeom {
    /// Input row and column of kernel tap (`ki`, `kj`) for output (`oi`, `oj`), or `None` in
    /// the padding.
    #[inline(always)]
    pub fn src(&self, oi: usize, oj: usize, ki: usize, kj: usize) -> Option<(usize, usize)> {
        let r = (oi * self.stride + ki * self.dil).checked_sub(self.pad)?;
        let c = (oj * self.stride + kj * self.dil).checked_sub(self.pad)?;
        (r < self.h && c < self.w).then_some((r, c))
    }
}

/// Sizes of one pooling, all known at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolGeom {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub h_out: usize,
    pub w_out: usize,
}

impl PoolGeom {
    #[inline(always)]
    pub fn src(&self, oi: usize, oj: usize, ki: usize, kj: usize) -> Option<(usize, usize)> {
        let r = (oi * self.stride + ki).checked_sub(self.pad)?;
        let c = (oj * self.stride + kj).checked_sub(self.pad)?;
        (r < self.h && c < self.w).then_some((r, c))
    }
}

//! The ops' hyper-parameters, as the layers and [`crate::Backend`] pass them.

/// Hyper-parameters of a 2-d convolution, per axis `[rows, columns]`, and what is fused
/// into it. [`Conv2DParams::new`] is the square case (Keras's `Conv2D`);
/// [`Conv2DParams::per_axis`] gives each axis its own stride, padding and dilation (a 1-d
/// convolution over `(C, L)` is the 2-d one over `(C, 1, L)` with a `(O, C, 1, K)` weight,
/// `per_axis([1, s], [0, p], [1, d])`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2DParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    /// Apply ReLU to the output.
    pub relu: bool,
    /// Max-pool the (ReLU'd) output; the un-pooled output is never materialised on `Cpu`.
    pub max_pool: Option<PoolParams>,
    /// Compute the input's gradient. A network's first layer needs none in training.
    pub input_grad: bool,
}

impl Conv2DParams {
    /// A plain convolution with the same stride, padding and dilation along both axes: no
    /// ReLU, no pooling, input gradient computed.
    pub const fn new(stride: usize, padding: usize, dilation: usize) -> Self {
        Self::per_axis([stride; 2], [padding; 2], [dilation; 2])
    }
    /// A plain convolution with a stride, padding and dilation per axis `[rows, columns]`.
    pub const fn per_axis(stride: [usize; 2], padding: [usize; 2], dilation: [usize; 2]) -> Self {
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
    /// Followed by max pooling over square windows.
    pub const fn max_pool(self, pool: Option<Pool2DParams>) -> Self {
        self.max_pool_per_axis(match pool {
            Some(p) => Some(p.axes()),
            None => None,
        })
    }
    /// Followed by max pooling with a window, stride and padding per axis.
    pub const fn max_pool_per_axis(mut self, pool: Option<PoolParams>) -> Self {
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

/// Hyper-parameters of a 2-d pooling over square windows (Keras's `MaxPool2D(window,
/// stride, padding)`). The ops take [`PoolParams`]; this converts into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2DParams {
    pub window: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Pool2DParams {
    /// The same pooling, per axis.
    pub const fn axes(self) -> PoolParams {
        PoolParams::per_axis([self.window; 2], [self.stride; 2], [self.padding; 2])
    }
}

/// Hyper-parameters of a 2-d pooling per axis `[rows, columns]`: what the pooling ops
/// take. A 1-d pooling over `(C, L)` is the 2-d one over `(C, 1, L)` with
/// `PoolParams::per_axis([1, k], [1, s], [0, p])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolParams {
    pub window: [usize; 2],
    pub stride: [usize; 2],
    /// Padding on each side, at most half the window.
    pub padding: [usize; 2],
}

impl PoolParams {
    /// A window, stride and padding per axis `[rows, columns]`.
    pub const fn per_axis(window: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Self {
        Self {
            window,
            stride,
            padding,
        }
    }
}

impl From<Pool2DParams> for PoolParams {
    fn from(p: Pool2DParams) -> Self {
        p.axes()
    }
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

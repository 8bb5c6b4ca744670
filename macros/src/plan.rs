//! What `check` produces and `expand` turns into code: the layers with their resolved
//! arguments and shapes.

use proc_macro2::{Span, TokenStream};
use syn::{Ident, Path};

use crate::shape::{Shape, Size};

pub struct Plan {
    pub layers: Vec<Planned>,
    pub output: Shape,
    /// An error left the output shape unknown: checks against it would only cascade.
    pub poisoned: bool,
}

pub struct Planned {
    /// The struct field: snake-case kind and position, e.g. `conv2d_0`.
    pub field: Ident,
    /// The kind as the summary shows it, e.g. `Conv2D`.
    pub kind: String,
    pub span: Span,
    pub op: Op,
    /// When set, the incoming tensor is first converted to this shape by a compile-time
    /// checked cast (sizes the macro cannot compare itself).
    pub cast_in: Option<Shape>,
    pub output: Shape,
    /// `activation = ...`, applied after the layer.
    pub act: Option<Act>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Act {
    ReLU,
    Sigmoid,
    Tanh,
    Gelu,
    Softmax,
}

pub enum Op {
    Conv {
        cin: Size,
        filters: Size,
        k: Size,
        s: Size,
        p: Size,
        d: Size,
        bias: bool,
        fuse_relu: bool,
    },
    Pool {
        max: bool,
        k: Size,
        s: Size,
        p: Size,
    },
    GlobalPool {
        max: bool,
    },
    Flatten,
    Dense {
        inp: Size,
        units: Size,
        bias: bool,
    },
    /// A stateless activation; `skip` when fused into the `Conv2D` before it.
    Act {
        act: Act,
        skip: bool,
    },
    LeakyReLU {
        alpha: TokenStream,
    },
    Dropout {
        rate: TokenStream,
    },
    BatchNorm2D(Size),
    BatchNorm1D(Size),
    LayerNorm(Size),
    Residual(Plan),
    Nested(Path),
}

/// A compile-time check the macro cannot do itself (a size is a constant): emitted as
/// `const _: () = assert!(cond, msg);` spanned at the layer.
pub struct ConstCheck {
    pub span: Span,
    pub cond: TokenStream,
    pub msg: String,
}

//! What `check` produces and `expand` turns into code: the layers with their resolved
//! arguments and shapes, and what code generation asks of a layer ([`Layer`]).

use proc_macro2::{Span, TokenStream};
use syn::Ident;

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
    pub layer: Box<dyn Layer>,
    /// When set, the incoming tensor is first converted to this shape by a compile-time
    /// checked cast (sizes the macro cannot compare itself).
    pub cast_in: Option<Shape>,
    pub output: Shape,
    /// `activation = ...`: a layer without a field, run after this one.
    pub act: Option<Box<dyn Layer>>,
}

impl Planned {
    /// The role of its `activation = ...`, if it has one.
    pub fn act_role(&self) -> Option<Role> {
        self.act.as_ref().map(|a| a.role())
    }
}

/// A checked layer, as code generation sees it.
pub trait Layer {
    /// The struct field of this layer (`field`, spanned at the layer).
    fn field(&self, field: &Ident, span: Span, structs: &mut dyn Structs) -> Field;

    /// What the fusion pass may fold into or around this layer.
    fn role(&self) -> Role {
        Role::Other
    }

    /// The forward statements: they take the batch in `x` and leave the result in `x`.
    fn forward(&self, step: &Step<'_>) -> TokenStream;

    /// The layers inside this one, each with a summary row of its own (a `Residual`'s);
    /// this layer's own row then counts no parameters.
    fn inner(&self) -> Option<&Plan> {
        None
    }

    /// The ONNX export statements: append this layer's nodes to the graph `__g`. By
    /// default the field's `ToOnnx` (a runtime `Unsupported` error where it has none).
    fn onnx(&self, step: &OnnxStep<'_>) -> TokenStream {
        step.field_to_onnx()
    }
}

/// What a layer's ONNX export works with.
pub struct OnnxStep<'a> {
    /// Reaches the struct holding the field: `self`, or `self.residual_3`.
    pub acc: &'a TokenStream,
    pub field: &'a Ident,
    /// The layer as an error names it: `conv2d_0 (Conv2D)`.
    pub label: String,
    /// Writes the export of a layer list inside this layer, reached by the given path.
    pub inner: &'a dyn Fn(&Plan, &TokenStream) -> TokenStream,
}

impl OnnxStep<'_> {
    /// `ToOnnx` on the layer's field, or `InteropError::Unsupported` when its type has none.
    pub fn field_to_onnx(&self) -> TokenStream {
        let (tn, acc, f, label) = (crate::paths::tn(), self.acc, self.field, &self.label);
        quote::quote! {{
            use #tn::{ViaToOnnx as _, ViaUnsupported as _};
            (&#tn::OnnxProbe(&#acc.#f, #label)).__onnx(__g)?;
        }}
    }
}

/// A layer's struct field.
pub struct Field {
    pub ty: TokenStream,
    /// How a built module gets it: `None` for a field with tensors (built, visited and
    /// named by dfdx's `TensorCollection`), else the expression it is built from.
    pub init: Option<TokenStream>,
}

/// Makes the struct that holds a layer list inside a layer (a `Residual`'s).
pub trait Structs {
    /// Declares the struct for `plan`'s layers and returns its type (generic in `__E`, `__D`).
    fn inner_struct(&mut self, plan: &Plan, field: &Ident) -> TokenStream;
}

/// What the fusion pass (`fuse.rs`) may do with a layer.
pub enum Role {
    /// A 2-d convolution: a ReLU after it, then a 2-d max pooling, then `Flatten, Dense`
    /// can run inside its op.
    Conv,
    /// A 2-d batch norm, which inference folds into a Conv2D before it.
    BatchNorm2D,
    /// A plain ReLU.
    Relu,
    /// A plain softmax.
    Softmax,
    /// A 2-d max pooling.
    MaxPool(Box<FusedPool>),
    /// A flatten, which a dense layer right after reads in place.
    Flatten,
    /// A dense layer: a ReLU after it runs inside its op.
    Dense,
    Other,
}

/// The three forward passes the generated module has.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// `forward`: dropout off, batch-norm running statistics.
    Infer,
    /// `forward_mut`: dropout and batch statistics on.
    Train,
    /// What `fit` runs: as `Train`, but the layer receiving the network's input skips
    /// its gradient.
    Fit,
}

impl Pass {
    pub fn train(self) -> bool {
        self != Pass::Infer
    }
    /// The pass of a layer list inside a layer: no layer there receives the input.
    pub fn inner(self) -> Pass {
        match self {
            Pass::Fit => Pass::Train,
            p => p,
        }
    }
}

/// What the fusion pass folded into one layer's op.
#[derive(Default)]
pub struct Fused {
    /// A `BatchNorm2D` right after a Conv2D, folded into its weights (inference only):
    /// the batch norm's field.
    pub bn: Option<Ident>,
    /// A ReLU after it (the layer, or `activation = relu`).
    pub relu: bool,
    /// A 2-d max pooling after that.
    pub max_pool: Option<Box<FusedPool>>,
    /// `Flatten, Dense` after that.
    pub dense: Option<FusedDense>,
    /// A flatten: the dense layer after it reads its input in place.
    pub into_dense: bool,
}

/// A 2-d max pooling's window, stride and padding.
pub struct FusedPool {
    pub k: Size,
    pub s: Size,
    pub p: Size,
}

pub struct FusedDense {
    pub field: Ident,
    /// A ReLU after the dense layer.
    pub relu: bool,
}

/// What a layer's forward step works with.
pub struct Step<'a> {
    /// Reaches the struct holding the field: `self`, or `self.residual_3`.
    pub acc: &'a TokenStream,
    pub field: &'a Ident,
    pub span: Span,
    pub pass: Pass,
    /// What reaches the layer (after its `cast_in`).
    pub input: &'a Shape,
    /// What comes out: its own output, or that of the last layer fused into it.
    pub output: &'a Shape,
    pub fused: &'a Fused,
    /// Whether the backward pass needs this layer's input gradient.
    pub input_grad: bool,
    /// Writes the steps of a layer list inside this layer.
    pub inner: &'a dyn Fn(&Plan, &TokenStream, &Shape, Pass) -> TokenStream,
}

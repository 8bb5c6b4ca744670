//! What `check` produces and `expand` turns into code: the layers with their resolved
//! arguments and shapes.

use proc_macro2::Span;
use syn::Ident;

use crate::layers::activation::Act;
use crate::layers::Layer;
use crate::shape::Shape;

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
    /// `activation = ...`, applied after the layer.
    pub act: Option<Act>,
}

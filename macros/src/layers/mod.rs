//! The layer registry. Each file here is one layer family and owns everything about its
//! layers: their names and aliases, argument specs, shape rules and error messages, field
//! types, and forward steps. The drivers (`check`, `fuse`, `expand`, `forward`) only go
//! through [`Kind`] and [`Layer`]; adding a layer to a family touches that family's file.

pub mod activation;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod flatten;
pub mod merge;
pub mod nested;
pub mod norm;
pub mod pool;
pub mod resample;
pub mod residual;
pub mod window;

use crate::ctxt::Ctxt;
use crate::flow::Flow;
use crate::parse::LayerAst;
use crate::plan::{Layer, Plan};
use crate::shape::Shape;

/// One layer name of the DSL.
pub struct Kind {
    /// As written in a declaration, e.g. `Conv2D`.
    pub name: &'static str,
    /// The field-name stem, e.g. `conv2d` (fields are `conv2d_0`, ...).
    pub stem: &'static str,
    /// Whether it takes layers in braces (`Residual { ... }`) rather than arguments.
    pub braces: bool,
    /// Its shape rule: reads the arguments, checks and updates the flow, and returns the
    /// planned layer, or `None` after reporting an error.
    pub rule: fn(&mut Cx<'_>, &LayerAst) -> Option<Box<dyn Layer>>,
}

/// Every layer kind of every family.
pub fn kinds() -> impl Iterator<Item = &'static Kind> {
    [
        conv::KINDS,
        pool::KINDS,
        flatten::KINDS,
        dense::KINDS,
        activation::KINDS,
        dropout::KINDS,
        norm::KINDS,
        residual::KINDS,
        merge::KINDS,
        resample::KINDS,
        embedding::KINDS,
    ]
    .into_iter()
    .flatten()
}

/// Names from dfdx and Keras a user may reach for, and the layer to suggest for each.
pub fn aliases() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    [
        conv::ALIASES,
        pool::ALIASES,
        flatten::ALIASES,
        dense::ALIASES,
        activation::ALIASES,
        norm::ALIASES,
        merge::ALIASES,
        resample::ALIASES,
    ]
    .into_iter()
    .flatten()
}

/// What a shape rule works with.
pub struct Cx<'a> {
    pub ctxt: &'a mut Ctxt,
    pub flow: &'a mut Flow,
    /// Set by the rule when the input must first be cast to a shape the macro cannot
    /// compare itself (sizes from constants, a nested network's output).
    pub cast_in: Option<Shape>,
    /// `activation = ...`, set by the rule: a layer without a field, run after this one.
    pub act: Option<Box<dyn Layer>>,
    /// Checks a layer list inside this one (a `Residual`'s).
    pub inner: &'a dyn Fn(&mut Ctxt, &[LayerAst], &Flow) -> Plan,
}

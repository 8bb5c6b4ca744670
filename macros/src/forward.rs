//! The forward passes: one block of statements per layer (or per group of fused layers),
//! each spanned at its layer so that a type error lands there.

use proc_macro2::TokenStream;

use crate::cast::cast;
use crate::fuse::{fuse, Fusion};
use crate::plan::{Pass, Plan, Step};
use crate::shape::Shape;

/// The statements of a layer list with fusions `fusion`, from `input`; `acc` reaches the
/// struct holding its fields.
pub fn steps(
    plan: &Plan,
    fusion: &Fusion,
    input: &Shape,
    acc: &TokenStream,
    pass: Pass,
) -> TokenStream {
    let mut cur = input.clone();
    let mut out = TokenStream::new();
    let inner = |p: &Plan, acc: &TokenStream, input: &Shape, pass: Pass| {
        steps(p, &fuse(p, input, false, pass), input, acc, pass)
    };
    for (i, l) in plan.layers.iter().enumerate() {
        if fusion.absorbed[i] {
            cur = l.output.clone();
            continue;
        }
        if let Some(to) = &l.cast_in {
            out.extend(cast(&cur, to, l.span));
            cur = to.clone();
        }
        let step = Step {
            acc,
            field: &l.field,
            span: l.span,
            pass,
            input: &cur,
            output: &plan.layers[fusion.last[i]].output,
            fused: &fusion.fused[i],
            input_grad: !(pass == Pass::Fit && fusion.input_layer == Some(i)),
            inner: &inner,
        };
        out.extend(l.layer.forward(&step));
        if let (Some(a), false) = (&l.act, fusion.act_inside[i]) {
            out.extend(a.forward(&step));
        }
        cur = l.output.clone();
    }
    out
}

//! `Residual { LAYER, ... }`: `layers(x) + x`; the inner layers must keep the shape.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use super::{Cx, Kind};
use crate::cast::cast;
use crate::parse::LayerAst;
use crate::paths::{dfdx, tn};
use crate::plan::Plan;
use crate::plan::{Field, Layer, OnnxStep, Step, Structs};

pub const KINDS: &[Kind] = &[Kind {
    name: "Residual",
    stem: "residual",
    braces: true,
    rule,
}];

fn rule(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<Box<dyn Layer>> {
    let Some(body) = &layer.body else {
        cx.ctxt.err(
            &layer.tokens,
            "Residual takes its layers in braces: Residual { Conv2D(32, 3, padding = same), ReLU }",
        );
        return None;
    };
    let inner = (cx.inner)(cx.ctxt, body, cx.flow);
    if inner.output.same_as(&cx.flow.shape) == Some(false) && !cx.flow.poisoned {
        cx.ctxt.err(
            &layer.tokens,
            format!(
                "Residual changes the shape: its layers turn {} into {}, but a Residual adds its input to their output\nhelp: the layers inside a Residual must keep the shape (e.g. Conv2D with padding = same and as many filters as input channels)",
                cx.flow.shape.text(),
                inner.output.text()
            ),
        );
    }
    Some(Box::new(Residual(inner)))
}

struct Residual(Plan);

impl Layer for Residual {
    fn field(&self, field: &Ident, _: Span, structs: &mut dyn Structs) -> Field {
        Field {
            ty: structs.inner_struct(&self.0, field),
            init: None,
        }
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        let (dfdx, tn, acc, f, span) = (dfdx(), tn(), step.acc, step.field, step.span);
        let inner = &self.0;
        let body = (step.inner)(inner, &quote!(#acc.#f), step.input, step.pass.inner());
        let back = if inner.output.same_as(step.input) == Some(true) {
            quote!()
        } else {
            cast(&inner.output, step.input, span)
        };
        quote_spanned! {span=>
            let x = {
                let input = x;
                let x = #dfdx::tensor::WithEmptyTape::with_empty_tape(&input);
                #body
                #back
                #tn::sum(::std::vec![x, input])?
            };
        }
    }

    fn inner(&self) -> Option<&Plan> {
        Some(&self.0)
    }

    /// The inner layers, then an `Add` of the input.
    fn onnx(&self, step: &OnnxStep<'_>) -> TokenStream {
        let (acc, f) = (step.acc, step.field);
        let body = (step.inner)(&self.0, &quote!(#acc.#f));
        quote! {{
            let __skip = __g.current();
            #body
            __g.add(__skip);
        }}
    }
}

//! `Flatten`: `(C, H, W)` or `(C, L)` to `(C*H*W)` or `(C*L)`; a flat input passes unchanged.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use super::{Cx, Kind};
use crate::args::Spec;
use crate::parse::LayerAst;
use crate::paths::{dfdx, tn};
use crate::plan::{Field, Layer, Role, Step, Structs};
use crate::shape::{Rank, Shape};

pub const KINDS: &[Kind] = &[Kind {
    name: "Flatten",
    stem: "flatten",
    braces: false,
    rule,
}];

pub const ALIASES: &[(&str, &str)] = &[("Flatten2D", "Flatten")];

fn rule(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<Box<dyn Layer>> {
    cx.ctxt.args(layer, "Flatten", &Spec::NONE)?;
    let flow = &mut *cx.flow;
    match flow.shape.rank() {
        // Nothing changes, nor does the layer that made the shape (for messages).
        Some(Rank::Flat) => {}
        Some(_) => {
            let parts: Vec<&str> = flow.shape.sizes().iter().map(|s| s.text.as_str()).collect();
            let note = parts.join(" x ");
            let n = flow.shape.numel("output");
            flow.set(Shape::flat(n), layer);
            flow.note = Some(note);
        }
        None => {
            let n = flow.shape.numel("output");
            flow.set(Shape::flat(n), layer);
        }
    }
    Some(Box::new(Flatten))
}

struct Flatten;

impl Layer for Flatten {
    fn field(&self, _: &Ident, _: Span, _: &mut dyn Structs) -> Field {
        let tn = tn();
        Field {
            ty: quote!(#tn::layers::Flatten),
            init: Some(quote!(#tn::layers::Flatten)),
        }
    }

    fn role(&self) -> Role {
        Role::Flatten
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        let (dfdx, tn, acc, f) = (dfdx(), tn(), step.acc, step.field);
        let out_ty = step.output.tensor_ty();
        let span = step.span;
        match step.input {
            // The dense layer right after reads the batch as flat itself (no copy, and no
            // reshape in the backward pass).
            Shape::Sized(s) if step.fused.into_dense || s.len() == 1 => quote!(),
            Shape::Sized(s) if s.len() == 3 => quote_spanned! {span=>
                let x = #dfdx::nn::Module::try_forward(&#acc.#f, x)?;
                let x: #out_ty = #tn::realize(x)?;
            },
            Shape::Sized(_) => quote_spanned! {span=>
                let b = #dfdx::shapes::HasShape::shape(&x).0;
                let x: #out_ty = #dfdx::tensor_ops::ReshapeTo::try_reshape_like(x, &(b, #dfdx::shapes::Const))?;
            },
            Shape::Opaque { ty, .. } => quote_spanned! {span=>
                let b = <#ty as #tn::SampleShape>::batch_of::<__B>(#dfdx::shapes::HasShape::shape(&x));
                let x: #out_ty = #dfdx::tensor_ops::ReshapeTo::try_reshape_like(x, &(b, #dfdx::shapes::Const))?;
            },
        }
    }
}

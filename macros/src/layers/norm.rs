//! Normalisation: `BatchNorm2D` on `(C, H, W)`, `BatchNorm1D` and `LayerNorm` on `(N)`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use super::{Cx, Kind};
use crate::args::Spec;
use crate::parse::LayerAst;
use crate::paths::{dfdx, tn};
use crate::plan::{Field, Layer, Role, Step, Structs};
use crate::shape::{Rank, Size};

pub const KINDS: &[Kind] = &[
    Kind {
        name: "BatchNorm2D",
        stem: "batch_norm2d",
        braces: false,
        rule: batch_norm2d,
    },
    Kind {
        name: "BatchNorm1D",
        stem: "batch_norm1d",
        braces: false,
        rule: |cx, layer| flat(cx, layer, Norm::Batch1D),
    },
    Kind {
        name: "LayerNorm",
        stem: "layer_norm",
        braces: false,
        rule: |cx, layer| flat(cx, layer, Norm::Layer),
    },
];

pub const ALIASES: &[(&str, &str)] = &[
    ("LayerNorm1D", "LayerNorm"),
    ("LayerNormalization", "LayerNorm"),
    ("BatchNormalization", "BatchNorm2D` or `BatchNorm1D"),
    ("BatchNorm", "BatchNorm2D` or `BatchNorm1D"),
];

#[derive(Clone, Copy)]
enum Norm {
    Batch2D,
    Batch1D,
    Layer,
}

struct Normalise {
    norm: Norm,
    /// Channels (or features) normalised.
    n: Size,
}

fn batch_norm2d(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<Box<dyn Layer>> {
    cx.ctxt.args(layer, "BatchNorm2D", &Spec::NONE)?;
    let help = |got| match got {
        Rank::Flat => "\nhelp: use BatchNorm1D on flat inputs".to_string(),
        _ => String::new(),
    };
    let sizes = cx
        .flow
        .expect(cx.ctxt, layer, Rank::Image, help, &mut cx.cast_in)?;
    Some(Box::new(Normalise {
        norm: Norm::Batch2D,
        n: sizes[0].clone(),
    }))
}

fn flat(cx: &mut Cx<'_>, layer: &LayerAst, norm: Norm) -> Option<Box<dyn Layer>> {
    let kind = layer.ident()?.to_string();
    cx.ctxt.args(layer, &kind, &Spec::NONE)?;
    let help = |_| format!("\nhelp: add Flatten before {kind}");
    let sizes = cx
        .flow
        .expect(cx.ctxt, layer, Rank::Flat, help, &mut cx.cast_in)?;
    Some(Box::new(Normalise {
        norm,
        n: sizes[0].clone(),
    }))
}

impl Layer for Normalise {
    fn role(&self) -> Role {
        match self.norm {
            Norm::Batch2D => Role::BatchNorm2D,
            _ => Role::Other,
        }
    }

    fn field(&self, _: &Ident, span: Span, _: &mut dyn Structs) -> Field {
        let (dfdx, n) = (dfdx(), self.n.arg());
        let ty = match self.norm {
            Norm::Batch2D => quote_spanned!(span=> #dfdx::nn::modules::BatchNorm2D<#n, __E, __D>),
            Norm::Batch1D => quote_spanned!(span=> #dfdx::nn::modules::BatchNorm1D<#n, __E, __D>),
            Norm::Layer => quote_spanned!(span=> #dfdx::nn::modules::LayerNorm1D<#n, __E, __D>),
        };
        Field { ty, init: None }
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        let (tn, dfdx, acc, f) = (tn(), dfdx(), step.acc, step.field);
        let func = match (self.norm, step.pass.train()) {
            (Norm::Layer, _) => {
                let out_ty = step.output.tensor_ty();
                return quote_spanned!(step.span=> let x: #out_ty = #dfdx::nn::Module::try_forward(&#acc.#f, x)?;);
            }
            (Norm::Batch2D, false) => quote!(batch_norm2d),
            (Norm::Batch2D, true) => quote!(batch_norm2d_train),
            (Norm::Batch1D, false) => quote!(batch_norm1d),
            (Norm::Batch1D, true) => quote!(batch_norm1d_train),
        };
        let r = if step.pass.train() {
            quote!(&mut)
        } else {
            quote!(&)
        };
        quote_spanned!(step.span=> let x = #tn::#func(#r #acc.#f, x)?;)
    }
}

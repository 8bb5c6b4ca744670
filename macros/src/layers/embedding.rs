//! `Embedding(vocab, dim)`: token ids `(L)` to learned vectors `(dim, L)`, channels first
//! so that `Conv1D` and the 1-d pools follow directly.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use super::{Cx, Kind};
use crate::args::Spec;
use crate::parse::LayerAst;
use crate::paths::{dfdx, tn};
use crate::plan::{Field, Layer, Step, Structs};
use crate::shape::{Rank, Shape, Size};

pub const KINDS: &[Kind] = &[Kind {
    name: "Embedding",
    stem: "embedding",
    braces: false,
    rule,
}];

/// Token ids travel as floats: f32 holds every integer up to 2^24 exactly.
const MAX_VOCAB: usize = 1 << 24;

const HELP: &str = "help: Embedding reads one token id per position: declare the input as \
                    (L) and pass the ids with `Dataset::from_tokens`; it gives (dim, L), \
                    channels first, for Conv1D and the 1-d pools";

struct Embedding {
    vocab: Size,
    dim: Size,
}

fn rule(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<Box<dyn Layer>> {
    let spec = Spec {
        positional: &["vocab", "dim"],
        required: 2,
        named: &[],
        arrow: false,
    };
    let ctxt = &mut *cx.ctxt;
    let a = ctxt.args(layer, "Embedding", &spec)?;
    let vocab = ctxt.positive(a.get("vocab")?, "the vocabulary", layer);
    let dim = ctxt.positive(a.get("dim")?, "the dimension", layer);
    let (vocab, dim) = (vocab?, dim?);
    match vocab.val {
        Some(v) if v > MAX_VOCAB => {
            let msg = format!(
                "{}: a vocabulary of {v} is too large: token ids travel as exact f32 values, \
                 so at most {MAX_VOCAB} (2^24) tokens",
                layer.text
            );
            ctxt.err(a.get("vocab")?, msg);
            return None;
        }
        Some(_) => {}
        None => {
            let e = &vocab.expr;
            ctxt.check(
                layer.span(),
                quote!(#e <= #MAX_VOCAB),
                format!(
                    "{}: the vocabulary is too large: token ids travel as exact f32 values, \
                     so at most 16777216 (2^24) tokens",
                    layer.text
                ),
            );
        }
    }
    if cx.flow.source != "the input" && !cx.flow.poisoned {
        let msg = format!(
            "{} reads token ids, so it must be the network's first layer, but it comes \
             after {}\n{HELP}",
            layer.text, cx.flow.source
        );
        ctxt.err(&layer.tokens, msg);
        return None;
    }
    let len = match (cx.flow.shape.rank(), cx.flow.shape.sizes()) {
        (Some(Rank::Flat), [len]) => len.clone(),
        (got, _) => {
            let noun = got.map_or("not token ids", Rank::noun);
            let msg = format!(
                "{} needs token ids (L), but {}, which is {noun}\n{HELP}",
                layer.text,
                cx.flow.gives()
            );
            ctxt.err(&layer.tokens, msg);
            return None;
        }
    };
    cx.flow.set(Shape::Sized(vec![dim.clone(), len]), layer);
    Some(Box::new(Embedding { vocab, dim }))
}

impl Layer for Embedding {
    fn field(&self, _: &Ident, span: Span, _: &mut dyn Structs) -> Field {
        let (tn, v, m) = (tn(), self.vocab.arg(), self.dim.arg());
        Field {
            ty: quote_spanned!(span=> #tn::layers::Embedding<#v, #m, __E, __D>),
            init: None,
        }
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        let (dfdx, tn, acc, f, out_ty) =
            (dfdx(), tn(), step.acc, step.field, step.output.tensor_ty());
        quote_spanned! {step.span=>
            let x = #dfdx::nn::Module::try_forward(&#acc.#f, x)?;
            let x: #out_ty = #tn::realize(x)?;
        }
    }
}

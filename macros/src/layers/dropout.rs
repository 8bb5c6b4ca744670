//! `Dropout(rate)`: active in the training passes only.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use super::{Cx, Kind};
use crate::args::Spec;
use crate::parse::LayerAst;
use crate::paths::{dfdx, tn};
use crate::plan::{Field, Layer, Step, Structs};

pub const KINDS: &[Kind] = &[Kind {
    name: "Dropout",
    stem: "dropout",
    braces: false,
    rule,
}];

fn rule(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<Box<dyn Layer>> {
    let spec = Spec {
        positional: &["rate"],
        required: 1,
        named: &[],
        arrow: false,
    };
    let a = cx.ctxt.args(layer, "Dropout", &spec)?;
    let e = a.get("rate")?;
    let (rate, v) = cx.ctxt.float_arg(e, "the rate")?;
    match v {
        Some(v) if !(0.0..1.0).contains(&v) => {
            cx.ctxt.err(
                e,
                format!(
                    "{}: the rate is the fraction of inputs dropped and must be in [0, 1), found {v}",
                    layer.text
                ),
            );
            return None;
        }
        Some(_) => {}
        None => cx.ctxt.check(
            layer.span(),
            quote!(#rate >= 0.0 && #rate < 1.0),
            format!("{}: the rate must be in [0, 1)", layer.text),
        ),
    }
    Some(Box::new(Dropout { rate }))
}

struct Dropout {
    rate: TokenStream,
}

impl Layer for Dropout {
    fn field(&self, _: &Ident, _: Span, _: &mut dyn Structs) -> Field {
        let (dfdx, rate) = (dfdx(), &self.rate);
        Field {
            ty: quote!(#dfdx::nn::modules::Dropout),
            init: Some(quote!(#dfdx::nn::modules::Dropout { p: (#rate) as f32 })),
        }
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        let (acc, f) = (step.acc, step.field);
        if step.pass.train() {
            let tn = tn();
            quote_spanned!(step.span=> let x = #tn::dropout(&#acc.#f, x)?;)
        } else {
            quote!()
        }
    }
}

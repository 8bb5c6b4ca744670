//! `Dense(units)`: a fully connected layer on flat inputs (dfdx's `Linear` or
//! `UnbiasedLinear`), run as one op with a ReLU after it and a `Flatten` before it fused.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use super::{activation, Cx, Kind};
use crate::args::Spec;
use crate::parse::LayerAst;
use crate::paths::{dfdx, tn};
use crate::plan::{Field, Layer, Role, Step, Structs};
use crate::shape::{Rank, Shape, Size};

pub const KINDS: &[Kind] = &[Kind {
    name: "Dense",
    stem: "dense",
    braces: false,
    rule,
}];

pub const ALIASES: &[(&str, &str)] = &[
    ("Linear", "Dense"),
    ("UnbiasedLinear", "Dense(units, bias = false)"),
];

struct Dense {
    inp: Size,
    units: Size,
    bias: bool,
}

fn rule(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<Box<dyn Layer>> {
    let spec = Spec {
        positional: &["units"],
        required: 1,
        named: &["bias", "activation"],
        arrow: true,
    };
    let a = cx.ctxt.args(layer, "Dense", &spec)?;
    let units = cx.ctxt.positive(a.get("units")?, "units", layer);
    let bias = match a.get("bias") {
        Some(e) => cx.ctxt.bool_arg(e, "bias"),
        None => Some(true),
    };
    let act = a
        .get("activation")
        .map(|e| activation::parse_arg(cx.ctxt, e));
    let help = |_| "\nhelp: add Flatten before Dense".to_string();
    let inferred = cx
        .flow
        .expect(cx.ctxt, layer, Rank::Flat, help, &mut cx.cast_in)?
        .remove(0);
    let mut inp = inferred.clone();
    if let Some(e) = a.arrow {
        let declared = cx.ctxt.positive(e, "the input size", layer)?;
        match (declared.val, inferred.val) {
            (Some(d), Some(n)) if d != n && !cx.flow.poisoned => {
                let msg = format!("{} expects {d} inputs, but {}", layer.text, cx.flow.gives());
                cx.ctxt.err(&layer.tokens, msg);
            }
            (Some(_), Some(_)) => {}
            _ => cx.cast_in = Some(Shape::flat(declared.clone())),
        }
        inp = declared;
    }
    let (units, bias) = (units?, bias?);
    cx.act = match act {
        Some(a) => Some(a?),
        None => None,
    };
    cx.flow.set(Shape::flat(units.clone()), layer);
    cx.flow.poisoned = false;
    Some(Box::new(Dense { inp, units, bias }))
}

impl Layer for Dense {
    fn field(&self, _: &Ident, span: Span, _: &mut dyn Structs) -> Field {
        let (dfdx, i, o) = (dfdx(), self.inp.arg(), self.units.arg());
        let t = if self.bias {
            quote!(Linear)
        } else {
            quote!(UnbiasedLinear)
        };
        Field {
            ty: quote_spanned!(span=> #dfdx::nn::modules::#t<#i, #o, __E, __D>),
            init: None,
        }
    }

    fn role(&self) -> Role {
        Role::Dense
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        let (dfdx, tn, acc, f) = (dfdx(), tn(), step.acc, step.field);
        let (relu, ig, out_ty) = (step.fused.relu, step.input_grad, step.output.tensor_ty());
        quote_spanned! {step.span=>
            let b = #dfdx::shapes::HasShape::shape(&x).0;
            let x: #out_ty = #tn::dense(&#acc.#f, x, b, #tn::DenseParams {
                relu: #relu,
                input_grad: #ig,
            })?;
        }
    }
}

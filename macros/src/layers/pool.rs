//! Pooling: `MaxPool2D(window)`, `AvgPool2D(window)` and the global pools on `(C, H, W)`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use super::window::{padding, slide, Window};
use super::{Cx, Kind};
use crate::args::Spec;
use crate::flow::spatial_help;
use crate::parse::LayerAst;
use crate::paths::{dfdx, tn};
use crate::plan::{Field, FusedPool, Layer, Role, Step, Structs};
use crate::shape::{Rank, Shape, Size};

pub const KINDS: &[Kind] = &[
    Kind {
        name: "MaxPool2D",
        stem: "max_pool2d",
        braces: false,
        rule: |cx, layer| pool(cx, layer, Reduce::Max),
    },
    Kind {
        name: "AvgPool2D",
        stem: "avg_pool2d",
        braces: false,
        rule: |cx, layer| pool(cx, layer, Reduce::Avg),
    },
    Kind {
        name: "GlobalAvgPool2D",
        stem: "global_avg_pool2d",
        braces: false,
        rule: |cx, layer| global(cx, layer, Reduce::Avg),
    },
    Kind {
        name: "GlobalMaxPool2D",
        stem: "global_max_pool2d",
        braces: false,
        rule: |cx, layer| global(cx, layer, Reduce::Max),
    },
];

pub const ALIASES: &[(&str, &str)] = &[
    ("AvgPoolGlobal", "GlobalAvgPool2D"),
    ("MaxPoolGlobal", "GlobalMaxPool2D"),
    ("GlobalAveragePooling2D", "GlobalAvgPool2D"),
    ("GlobalMaxPooling2D", "GlobalMaxPool2D"),
    ("MaxPooling2D", "MaxPool2D"),
    ("AveragePooling2D", "AvgPool2D"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reduce {
    Max,
    Avg,
}

struct Pool2D {
    reduce: Reduce,
    k: Size,
    s: Size,
    p: Size,
}

fn pool(cx: &mut Cx<'_>, layer: &LayerAst, reduce: Reduce) -> Option<Box<dyn Layer>> {
    let kind = layer.ident()?.to_string();
    let spec = Spec {
        positional: &["window"],
        required: 1,
        named: &["stride", "padding"],
        arrow: false,
    };
    let ctxt = &mut *cx.ctxt;
    let a = ctxt.args(layer, &kind, &spec)?;
    let k = ctxt.positive(a.get("window")?, "the window", layer)?;
    let s = match a.get("stride") {
        Some(e) => ctxt.positive(e, "the stride", layer)?,
        None => k.clone(),
    };
    let one = Size::lit(1);
    let pad = padding(ctxt, layer, a.get("padding"), (&k, &s, &one), (false, 2))?;
    match (pad.val, k.val) {
        (Some(pv), Some(kv)) if pv > kv / 2 => {
            let at = a
                .get("padding")
                .map_or(layer.tokens.clone(), |e| quote!(#e));
            let msg = format!(
                "{}: padding can be at most half the window ({}), found {pv}",
                layer.text,
                kv / 2
            );
            ctxt.err(at, msg);
            return None;
        }
        (Some(_), Some(_)) => {}
        _ => {
            let (pe, ke) = (&pad.expr, &k.expr);
            ctxt.check(
                layer.span(),
                quote!(#pe <= #ke / 2),
                format!("{}: padding can be at most half the window", layer.text),
            );
        }
    }
    let help = |got| spatial_help(Rank::Image, got, None);
    let sizes = cx
        .flow
        .expect(ctxt, layer, Rank::Image, help, &mut cx.cast_in)?;
    let win = Window {
        k: &k,
        s: &s,
        p: &pad,
        d: &one,
    };
    let out = slide(
        ctxt,
        cx.flow,
        layer,
        "window",
        &[&sizes[1], &sizes[2]],
        &win,
    );
    let shape = vec![sizes[0].clone(), out[0].clone(), out[1].clone()];
    cx.flow.set(Shape::Sized(shape), layer);
    Some(Box::new(Pool2D {
        reduce,
        k,
        s,
        p: pad,
    }))
}

impl Layer for Pool2D {
    fn field(&self, _: &Ident, span: Span, _: &mut dyn Structs) -> Field {
        let tn = tn();
        let (k, s, p) = (self.k.arg(), self.s.arg(), self.p.arg());
        let t = match self.reduce {
            Reduce::Max => quote!(MaxPool2D),
            Reduce::Avg => quote!(AvgPool2D),
        };
        Field {
            ty: quote_spanned!(span=> #tn::layers::#t<#k, #s, #p>),
            init: Some(quote!(::core::default::Default::default())),
        }
    }

    fn role(&self) -> Role {
        match self.reduce {
            Reduce::Max => Role::MaxPool(Box::new(FusedPool {
                k: self.k.clone(),
                s: self.s.clone(),
                p: self.p.clone(),
            })),
            Reduce::Avg => Role::Other,
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

fn global(cx: &mut Cx<'_>, layer: &LayerAst, reduce: Reduce) -> Option<Box<dyn Layer>> {
    let kind = layer.ident()?.to_string();
    cx.ctxt.args(layer, &kind, &Spec::NONE)?;
    let help = |got| spatial_help(Rank::Image, got, None);
    let sizes = cx
        .flow
        .expect(cx.ctxt, layer, Rank::Image, help, &mut cx.cast_in)?;
    cx.flow.set(Shape::flat(sizes[0].clone()), layer);
    Some(Box::new(GlobalPool2D(reduce)))
}

struct GlobalPool2D(Reduce);

impl Layer for GlobalPool2D {
    fn field(&self, _: &Ident, _: Span, _: &mut dyn Structs) -> Field {
        let dfdx = dfdx();
        let t = match self.0 {
            Reduce::Max => quote!(MaxPoolGlobal),
            Reduce::Avg => quote!(AvgPoolGlobal),
        };
        Field {
            ty: quote!(#dfdx::nn::modules::#t),
            init: Some(quote!(#dfdx::nn::modules::#t)),
        }
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        let (dfdx, acc, f, out_ty) = (dfdx(), step.acc, step.field, step.output.tensor_ty());
        quote_spanned!(step.span=> let x: #out_ty = #dfdx::nn::Module::try_forward(&#acc.#f, x)?;)
    }
}

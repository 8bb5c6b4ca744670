//! Pooling: `MaxPool2D(window)`, `AvgPool2D(window)` and the global pools on `(C, H, W)`;
//! `MaxPool1D(window)`, `AvgPool1D(window)` and the global pools on `(C, L)`.

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
        rule: |cx, layer| pool(cx, layer, Reduce::Max, Rank::Image),
    },
    Kind {
        name: "AvgPool2D",
        stem: "avg_pool2d",
        braces: false,
        rule: |cx, layer| pool(cx, layer, Reduce::Avg, Rank::Image),
    },
    Kind {
        name: "GlobalAvgPool2D",
        stem: "global_avg_pool2d",
        braces: false,
        rule: |cx, layer| global(cx, layer, Reduce::Avg, Rank::Image),
    },
    Kind {
        name: "GlobalMaxPool2D",
        stem: "global_max_pool2d",
        braces: false,
        rule: |cx, layer| global(cx, layer, Reduce::Max, Rank::Image),
    },
    Kind {
        name: "MaxPool1D",
        stem: "max_pool1d",
        braces: false,
        rule: |cx, layer| pool(cx, layer, Reduce::Max, Rank::Seq),
    },
    Kind {
        name: "AvgPool1D",
        stem: "avg_pool1d",
        braces: false,
        rule: |cx, layer| pool(cx, layer, Reduce::Avg, Rank::Seq),
    },
    Kind {
        name: "GlobalAvgPool1D",
        stem: "global_avg_pool1d",
        braces: false,
        rule: |cx, layer| global(cx, layer, Reduce::Avg, Rank::Seq),
    },
    Kind {
        name: "GlobalMaxPool1D",
        stem: "global_max_pool1d",
        braces: false,
        rule: |cx, layer| global(cx, layer, Reduce::Max, Rank::Seq),
    },
];

pub const ALIASES: &[(&str, &str)] = &[
    ("AvgPoolGlobal", "GlobalAvgPool2D"),
    ("MaxPoolGlobal", "GlobalMaxPool2D"),
    ("GlobalAveragePooling2D", "GlobalAvgPool2D"),
    ("GlobalMaxPooling2D", "GlobalMaxPool2D"),
    ("MaxPooling2D", "MaxPool2D"),
    ("AveragePooling2D", "AvgPool2D"),
    ("GlobalAveragePooling1D", "GlobalAvgPool1D"),
    ("GlobalMaxPooling1D", "GlobalMaxPool1D"),
    ("MaxPooling1D", "MaxPool1D"),
    ("AveragePooling1D", "AvgPool1D"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reduce {
    Max,
    Avg,
}

struct Pool2D {
    reduce: Reduce,
    /// `Image` for the 2-d pools, `Seq` for the 1-d ones.
    rank: Rank,
    k: Size,
    s: Size,
    p: Size,
}

/// The same pooling over the other rank, for the help of a rank mistake.
fn other(rank: Rank, global: bool, reduce: Reduce) -> &'static str {
    match (rank, global, reduce) {
        (Rank::Seq, false, Reduce::Max) => "MaxPool2D",
        (Rank::Seq, false, Reduce::Avg) => "AvgPool2D",
        (Rank::Seq, true, Reduce::Max) => "GlobalMaxPool2D",
        (Rank::Seq, true, Reduce::Avg) => "GlobalAvgPool2D",
        (_, false, Reduce::Max) => "MaxPool1D",
        (_, false, Reduce::Avg) => "AvgPool1D",
        (_, true, Reduce::Max) => "GlobalMaxPool1D",
        (_, true, Reduce::Avg) => "GlobalAvgPool1D",
    }
}

fn pool(cx: &mut Cx<'_>, layer: &LayerAst, reduce: Reduce, rank: Rank) -> Option<Box<dyn Layer>> {
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
    let axes = if rank == Rank::Seq { 1 } else { 2 };
    let pad = padding(ctxt, layer, a.get("padding"), (&k, &s, &one), (false, axes))?;
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
    let help = |got| spatial_help(rank, got, Some(other(rank, false, reduce)));
    let sizes = cx.flow.expect(ctxt, layer, rank, help, &mut cx.cast_in)?;
    let win = Window {
        k: &k,
        s: &s,
        p: &pad,
        d: &one,
    };
    let spatial: Vec<&Size> = sizes[1..].iter().collect();
    let out = slide(ctxt, cx.flow, layer, "window", &spatial, &win);
    let mut shape = vec![sizes[0].clone()];
    shape.extend(out);
    cx.flow.set(Shape::Sized(shape), layer);
    Some(Box::new(Pool2D {
        reduce,
        rank,
        k,
        s,
        p: pad,
    }))
}

impl Layer for Pool2D {
    fn field(&self, _: &Ident, span: Span, _: &mut dyn Structs) -> Field {
        let tn = tn();
        let (k, s, p) = (self.k.arg(), self.s.arg(), self.p.arg());
        let t = match (self.reduce, self.rank) {
            (Reduce::Max, Rank::Seq) => quote!(MaxPool1D),
            (Reduce::Avg, Rank::Seq) => quote!(AvgPool1D),
            (Reduce::Max, _) => quote!(MaxPool2D),
            (Reduce::Avg, _) => quote!(AvgPool2D),
        };
        Field {
            ty: quote_spanned!(span=> #tn::layers::#t<#k, #s, #p>),
            init: Some(quote!(::core::default::Default::default())),
        }
    }

    fn role(&self) -> Role {
        // Only the 2-d max pooling fuses into a convolution's op.
        match (self.reduce, self.rank) {
            (Reduce::Max, Rank::Image) => Role::MaxPool(Box::new(FusedPool {
                k: self.k.clone(),
                s: self.s.clone(),
                p: self.p.clone(),
            })),
            _ => Role::Other,
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

fn global(cx: &mut Cx<'_>, layer: &LayerAst, reduce: Reduce, rank: Rank) -> Option<Box<dyn Layer>> {
    let kind = layer.ident()?.to_string();
    cx.ctxt.args(layer, &kind, &Spec::NONE)?;
    let help = |got| spatial_help(rank, got, Some(other(rank, true, reduce)));
    let sizes = cx
        .flow
        .expect(cx.ctxt, layer, rank, help, &mut cx.cast_in)?;
    cx.flow.set(Shape::flat(sizes[0].clone()), layer);
    match rank {
        Rank::Seq => Some(Box::new(GlobalPool1D(reduce))),
        _ => Some(Box::new(GlobalPool2D(reduce))),
    }
}

/// `GlobalMaxPool1D` / `GlobalAvgPool1D`: typenet's one-pass op (`(B, C, L)` to `(B, C)`).
struct GlobalPool1D(Reduce);

impl Layer for GlobalPool1D {
    fn field(&self, _: &Ident, span: Span, _: &mut dyn Structs) -> Field {
        let tn = tn();
        let t = match self.0 {
            Reduce::Max => quote!(GlobalMaxPool1D),
            Reduce::Avg => quote!(GlobalAvgPool1D),
        };
        Field {
            ty: quote_spanned!(span=> #tn::layers::#t),
            init: Some(quote!(::core::default::Default::default())),
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

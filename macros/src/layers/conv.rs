//! Convolutions: `Conv2D(filters, kernel)` on `(C, H, W)`, `Conv1D(filters, kernel)` on
//! `(C, L)`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use super::window::{padding, slide, Window};
use super::{activation, Cx, Kind};
use crate::args::Spec;
use crate::flow::spatial_help;
use crate::parse::LayerAst;
use crate::paths::{dfdx, tn};
use crate::plan::{Field, Layer, Role, Step, Structs};
use crate::shape::{Rank, Shape, Size};

pub const KINDS: &[Kind] = &[
    Kind {
        name: "Conv2D",
        stem: "conv2d",
        braces: false,
        rule: conv2d,
    },
    Kind {
        name: "Conv1D",
        stem: "conv1d",
        braces: false,
        rule: conv1d,
    },
];

pub const ALIASES: &[(&str, &str)] = &[("Convolution1D", "Conv1D"), ("Convolution2D", "Conv2D")];

const SPEC: Spec = Spec {
    positional: &["filters", "kernel"],
    required: 2,
    named: &["stride", "padding", "dilation", "bias", "activation"],
    arrow: true,
};

/// A convolution's arguments, checked.
struct Conv {
    cin: Size,
    filters: Size,
    k: Size,
    s: Size,
    p: Size,
    d: Size,
    bias: bool,
}

/// Reads the arguments of a convolution over `rank`'s spatial axes and infers its output.
fn conv(cx: &mut Cx<'_>, layer: &LayerAst, kind: &str, rank: Rank) -> Option<Conv> {
    let ctxt = &mut *cx.ctxt;
    let a = ctxt.args(layer, kind, &SPEC)?;
    let filters = ctxt.positive(a.get("filters")?, "filters", layer);
    let k = ctxt.positive(a.get("kernel")?, "the kernel size", layer);
    let s = a.get("stride").map_or(Some(Size::lit(1)), |e| {
        ctxt.positive(e, "the stride", layer)
    });
    let d = a.get("dilation").map_or(Some(Size::lit(1)), |e| {
        ctxt.positive(e, "the dilation", layer)
    });
    let bias = a
        .get("bias")
        .map_or(Some(true), |e| ctxt.bool_arg(e, "bias"));
    let act = match a.get("activation") {
        Some(e) => Some(activation::parse_arg(ctxt, e)?),
        None => None,
    };
    let (filters, k, s, d, bias) = (filters?, k?, s?, d?, bias?);
    let axes = rank_axes(rank);
    let p = padding(ctxt, layer, a.get("padding"), (&k, &s, &d), (true, axes))?;
    let other = if rank == Rank::Seq {
        "Conv2D"
    } else {
        "Conv1D"
    };
    let help = |got| spatial_help(rank, got, Some(other));
    let sizes = cx.flow.expect(ctxt, layer, rank, help, &mut cx.cast_in)?;
    let (c, spatial) = (&sizes[0], &sizes[1..]);
    let mut cin = c.clone();
    if let Some(e) = a.arrow {
        let declared = ctxt.positive(e, "the number of input channels", layer)?;
        match (declared.val, c.val) {
            (Some(x), Some(y)) if x != y && !cx.flow.poisoned => {
                let msg = format!(
                    "{} expects {x} input channels, but {} with {y} channel{}",
                    layer.text,
                    cx.flow.gives(),
                    if y == 1 { "" } else { "s" }
                );
                ctxt.err(&layer.tokens, msg);
            }
            (Some(_), Some(_)) => {}
            _ => {
                let mut s = vec![declared.clone()];
                s.extend(spatial.iter().cloned());
                cx.cast_in = Some(Shape::Sized(s));
            }
        }
        cin = declared;
    }
    let axes: Vec<&Size> = spatial.iter().collect();
    let win = Window {
        k: &k,
        s: &s,
        p: &p,
        d: &d,
    };
    let out = slide(ctxt, cx.flow, layer, "kernel", &axes, &win);
    cx.act = act;
    let mut shape = vec![filters.clone()];
    shape.extend(out);
    cx.flow.set(Shape::Sized(shape), layer);
    Some(Conv {
        cin,
        filters,
        k,
        s,
        p,
        d,
        bias,
    })
}

/// Spatial axes of a rank: 1 for `(C, L)`, 2 for `(C, H, W)`.
fn rank_axes(rank: Rank) -> usize {
    match rank {
        Rank::Flat => 0,
        Rank::Seq => 1,
        Rank::Image => 2,
    }
}

fn conv2d(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<Box<dyn Layer>> {
    conv(cx, layer, "Conv2D", Rank::Image).map(|c| Box::new(Conv2D(c)) as Box<dyn Layer>)
}

struct Conv2D(Conv);

impl Conv {
    /// The const generic arguments of the runtime type, `I, O, K, S, P, DIL, BIAS`.
    fn generics(&self) -> TokenStream {
        let (i, o, k, s, p, d) = (
            self.cin.arg(),
            self.filters.arg(),
            self.k.arg(),
            self.s.arg(),
            self.p.arg(),
            self.d.arg(),
        );
        let bias = self.bias;
        quote!(#i, #o, #k, #s, #p, #d, #bias)
    }
}

fn conv1d(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<Box<dyn Layer>> {
    conv(cx, layer, "Conv1D", Rank::Seq).map(|c| Box::new(Conv1D(c)) as Box<dyn Layer>)
}

struct Conv1D(Conv);

impl Layer for Conv1D {
    fn field(&self, _: &Ident, span: Span, _: &mut dyn Structs) -> Field {
        let (tn, g) = (tn(), self.0.generics());
        Field {
            ty: quote_spanned!(span=> #tn::layers::Conv1D<#g, __E, __D>),
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

impl Layer for Conv2D {
    fn field(&self, _: &Ident, span: Span, _: &mut dyn Structs) -> Field {
        let (tn, g) = (tn(), self.0.generics());
        Field {
            ty: quote_spanned!(span=> #tn::layers::Conv2D<#g, __E, __D>),
            init: None,
        }
    }

    fn role(&self) -> Role {
        Role::Conv
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        let (dfdx, tn, acc, f, span) = (dfdx(), tn(), step.acc, step.field, step.span);
        let (fused, ig, out_ty) = (step.fused, step.input_grad, step.output.tensor_ty());
        let relu = fused.relu;
        if fused.max_pool.is_none() && ig && fused.bn.is_none() {
            let call = if relu {
                quote_spanned!(span=> #acc.#f.try_forward_relu(x)?)
            } else {
                quote_spanned!(span=> #dfdx::nn::Module::try_forward(&#acc.#f, x)?)
            };
            return quote_spanned!(span=> let x = #call; let x: #out_ty = #tn::realize(x)?;);
        }
        let max_pool = match &fused.max_pool {
            Some(p) => {
                let (k, s, pad) = (&p.k.expr, &p.s.expr, &p.p.expr);
                quote_spanned! {span=>
                    ::core::option::Option::Some(#tn::Pool2DParams { window: #k, stride: #s, padding: #pad })
                }
            }
            None => quote!(::core::option::Option::None),
        };
        let fused_arg = quote_spanned! {span=>
            #tn::layers::Fused {
                relu: #relu,
                max_pool: #max_pool,
                input_grad: #ig,
            }
        };
        if let Some(bn) = &fused.bn {
            return quote_spanned! {span=>
                let x = #acc.#f.try_forward_folded(x, &#acc.#bn, #fused_arg)?;
                let x: #out_ty = #tn::realize(x)?;
            };
        }
        match &fused.dense {
            Some(dense) => {
                let (df, drelu) = (&dense.field, dense.relu);
                quote_spanned! {span=>
                    let x: #out_ty = #acc.#f.try_forward_dense(
                        x,
                        #fused_arg,
                        #tn::DenseLayer::weight(&#acc.#df),
                        #tn::DenseLayer::bias(&#acc.#df),
                        #tn::DenseParams { relu: #drelu, input_grad: true },
                    )?;
                }
            }
            None => quote_spanned! {span=>
                let x = #acc.#f.try_forward_fused(x, #fused_arg)?;
                let x: #out_ty = #tn::realize(x)?;
            },
        }
    }
}

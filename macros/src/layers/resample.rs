//! Upsampling on `(C, H, W)`: `UpSampling2D(factor)` (or `(fh, fw)`), nearest; and
//! `Conv2DTranspose(filters, kernel, stride, padding, output_padding)`, PyTorch's
//! `ConvTranspose2d` with its output size `(H - 1) stride - 2 padding + kernel + output_padding`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use super::{activation, Cx, Kind};
use crate::args::Spec;
use crate::flow::spatial_help;
use crate::parse::LayerAst;
use crate::paths::{dfdx, tn};
use crate::plan::{Field, Layer, Step, Structs};
use crate::shape::{Rank, Shape, Size};

pub const KINDS: &[Kind] = &[
    Kind {
        name: "UpSampling2D",
        stem: "up_sampling2d",
        braces: false,
        rule: upsample,
    },
    Kind {
        name: "Conv2DTranspose",
        stem: "conv2d_transpose",
        braces: false,
        rule: transpose,
    },
];

pub const ALIASES: &[(&str, &str)] = &[
    ("Upsample", "UpSampling2D"),
    ("UpSample2D", "UpSampling2D"),
    ("ConvTranspose2d", "Conv2DTranspose"),
    ("ConvTrans2D", "Conv2DTranspose"),
];

fn upsample(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<Box<dyn Layer>> {
    let spec = Spec {
        positional: &["factor", "factor_w"],
        required: 1,
        named: &[],
        arrow: false,
    };
    let ctxt = &mut *cx.ctxt;
    let a = ctxt.args(layer, "UpSampling2D", &spec)?;
    let fh = ctxt.positive(a.get("factor")?, "the factor", layer)?;
    let fw = match a.get("factor_w") {
        Some(e) => ctxt.positive(e, "the width factor", layer)?,
        None => fh.clone(),
    };
    let help = |got| spatial_help(Rank::Image, got, None);
    let sizes = cx
        .flow
        .expect(ctxt, layer, Rank::Image, help, &mut cx.cast_in)?;
    let shape = vec![sizes[0].clone(), sizes[1].mul(&fh), sizes[2].mul(&fw)];
    cx.flow.set(Shape::Sized(shape), layer);
    Some(Box::new(UpSampling2D { fh, fw }))
}

struct UpSampling2D {
    fh: Size,
    fw: Size,
}

impl Layer for UpSampling2D {
    fn field(&self, _: &Ident, span: Span, _: &mut dyn Structs) -> Field {
        let (tn, fh, fw) = (tn(), self.fh.arg(), self.fw.arg());
        Field {
            ty: quote_spanned!(span=> #tn::layers::UpSampling2D<#fh, #fw>),
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

const TRANSPOSE: Spec = Spec {
    positional: &["filters", "kernel", "stride", "padding", "output_padding"],
    required: 2,
    named: &["bias", "activation"],
    arrow: true,
};

struct Conv2DTranspose {
    cin: Size,
    filters: Size,
    k: Size,
    s: Size,
    p: Size,
    op: Size,
    bias: bool,
}

fn transpose(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<Box<dyn Layer>> {
    let ctxt = &mut *cx.ctxt;
    let a = ctxt.args(layer, "Conv2DTranspose", &TRANSPOSE)?;
    let filters = ctxt.positive(a.get("filters")?, "filters", layer);
    let k = ctxt.positive(a.get("kernel")?, "the kernel size", layer);
    let s = a.get("stride").map_or(Some(Size::lit(1)), |e| {
        ctxt.positive(e, "the stride", layer)
    });
    let p = a
        .get("padding")
        .map_or(Some(Size::lit(0)), |e| ctxt.size(e, "the padding"));
    let op = a
        .get("output_padding")
        .map_or(Some(Size::lit(0)), |e| ctxt.size(e, "the output padding"));
    let bias = a
        .get("bias")
        .map_or(Some(true), |e| ctxt.bool_arg(e, "bias"));
    let act = match a.get("activation") {
        Some(e) => Some(activation::parse_arg(ctxt, e)?),
        None => None,
    };
    let (filters, k, s, p, op, bias) = (filters?, k?, s?, p?, op?, bias?);
    match (op.val, s.val) {
        (Some(o), Some(sv)) if o >= sv => {
            let at = a
                .get("output_padding")
                .map_or(layer.tokens.clone(), |e| quote!(#e));
            let msg = format!(
                "{}: output_padding must be less than the stride ({sv}), found {o}\nhelp: output_padding picks one of the stride's output sizes; PyTorch has the same rule",
                layer.text
            );
            ctxt.err(at, msg);
            return None;
        }
        (Some(_), Some(_)) => {}
        _ => {
            let (oe, se) = (&op.expr, &s.expr);
            ctxt.check(
                layer.span(),
                quote!(#oe < #se),
                format!(
                    "{}: output_padding must be less than the stride",
                    layer.text
                ),
            );
        }
    }
    let help = |got| spatial_help(Rank::Image, got, None);
    let sizes = cx
        .flow
        .expect(ctxt, layer, Rank::Image, help, &mut cx.cast_in)?;
    let mut cin = sizes[0].clone();
    if let Some(e) = a.arrow {
        let declared = ctxt.positive(e, "the number of input channels", layer)?;
        match (declared.val, cin.val) {
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
                let s = vec![declared.clone(), sizes[1].clone(), sizes[2].clone()];
                cx.cast_in = Some(Shape::Sized(s));
            }
        }
        cin = declared;
    }
    let mut shape = vec![filters.clone()];
    let mut reported = cx.flow.poisoned;
    for n in &sizes[1..] {
        match (n.val, k.val, s.val, p.val, op.val) {
            (Some(nv), Some(kv), Some(sv), Some(pv), Some(ov)) => {
                let full = (nv - 1) * sv + kv + ov;
                if full > 2 * pv {
                    shape.push(Size::lit(full - 2 * pv));
                    continue;
                }
                if !reported {
                    let msg = format!(
                        "{}: the output would be empty: (H - 1) x stride + kernel + output_padding = ({nv} - 1) x {sv} + {kv} + {ov} = {full}, but 2 x padding = {} ({})\nhelp: use padding below {}",
                        layer.text,
                        2 * pv,
                        cx.flow.gives(),
                        full.div_ceil(2)
                    );
                    ctxt.err(&layer.tokens, msg);
                }
                reported = true;
                shape.push(Size::lit(1));
            }
            _ => {
                let tn = tn();
                let (ne, ke, se, pe, oe) = (&n.expr, &k.expr, &s.expr, &p.expr, &op.expr);
                let args = quote!(#ne, #ke, #se, #pe, #oe);
                // `op >= s` has its own assertion above.
                ctxt.check(
                    layer.span(),
                    quote!(#tn::transpose_out_size(#args).is_some() || #oe >= #se),
                    format!(
                        "{}: the output would be empty ((H - 1) x stride + kernel + output_padding must exceed 2 x padding), or a size is zero",
                        layer.text
                    ),
                );
                shape.push(Size::symbolic(
                    quote!(#tn::transpose_out_dim(#args)),
                    format!("({} after {})", n.text, layer.text),
                ));
            }
        }
    }
    if reported {
        cx.flow.poisoned = true;
    }
    cx.act = act;
    cx.flow.set(Shape::Sized(shape), layer);
    Some(Box::new(Conv2DTranspose {
        cin,
        filters,
        k,
        s,
        p,
        op,
        bias,
    }))
}

impl Layer for Conv2DTranspose {
    fn field(&self, _: &Ident, span: Span, _: &mut dyn Structs) -> Field {
        let tn = tn();
        let (i, o, k, s, p, op) = (
            self.cin.arg(),
            self.filters.arg(),
            self.k.arg(),
            self.s.arg(),
            self.p.arg(),
            self.op.arg(),
        );
        let bias = self.bias;
        Field {
            ty: quote_spanned!(span=> #tn::layers::Conv2DTranspose<#i, #o, #k, #s, #p, #op, #bias, __E, __D>),
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

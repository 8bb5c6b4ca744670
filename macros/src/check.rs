//! Shape inference and every check of a declaration. Errors are collected, not returned
//! early: after a mistake, inference goes on with the shape the user evidently meant, so
//! each independent mistake gives exactly one error.

use crate::args::Spec;

use proc_macro2::Span;
use quote::{format_ident, quote, quote_spanned};
use syn::Expr;

use crate::formula::out_size;
use crate::names::closest;
use crate::parse::{path_text, LayerAst, ShapeAst};
use crate::plan::{Act, ConstCheck, Op, Plan, Planned};
use crate::shape::{Shape, Size};

/// Every layer kind: its name in the DSL and its field-name stem.
pub const KINDS: &[(&str, &str)] = &[
    ("Conv2D", "conv2d"),
    ("MaxPool2D", "max_pool2d"),
    ("AvgPool2D", "avg_pool2d"),
    ("GlobalAvgPool2D", "global_avg_pool2d"),
    ("GlobalMaxPool2D", "global_max_pool2d"),
    ("Flatten", "flatten"),
    ("Dense", "dense"),
    ("ReLU", "relu"),
    ("Sigmoid", "sigmoid"),
    ("Tanh", "tanh"),
    ("GELU", "gelu"),
    ("Softmax", "softmax"),
    ("LeakyReLU", "leaky_relu"),
    ("Dropout", "dropout"),
    ("BatchNorm2D", "batch_norm2d"),
    ("BatchNorm1D", "batch_norm1d"),
    ("LayerNorm", "layer_norm"),
    ("Residual", "residual"),
];

/// Other names for layers: dfdx's module names and Keras's.
const ALIASES: &[(&str, &str)] = &[
    ("Linear", "Dense"),
    ("UnbiasedLinear", "Dense(units, bias = false)"),
    ("Flatten2D", "Flatten"),
    ("AvgPoolGlobal", "GlobalAvgPool2D"),
    ("MaxPoolGlobal", "GlobalMaxPool2D"),
    ("GlobalAveragePooling2D", "GlobalAvgPool2D"),
    ("GlobalMaxPooling2D", "GlobalMaxPool2D"),
    ("MaxPooling2D", "MaxPool2D"),
    ("AveragePooling2D", "AvgPool2D"),
    ("FastGeLU", "GELU"),
    ("AccurateGeLU", "GELU"),
    ("LayerNorm1D", "LayerNorm"),
    ("LayerNormalization", "LayerNorm"),
    ("BatchNormalization", "BatchNorm2D` or `BatchNorm1D"),
    ("BatchNorm", "BatchNorm2D` or `BatchNorm1D"),
    ("Activation", "ReLU"),
];

#[derive(Default)]
pub struct Checker {
    pub errors: Vec<syn::Error>,
    pub checks: Vec<ConstCheck>,
}

/// Where inference stands between two layers.
struct State {
    shape: Shape,
    /// The layer that made the current shape, e.g. `Flatten`, or `the input`.
    source: String,
    /// How a flat size came about, e.g. `32 x 13 x 13`.
    note: Option<String>,
    /// An earlier mistake left the shape unknown: skip shape checks until it is known again.
    poisoned: bool,
}

impl State {
    /// `Flatten gives 5408 (= 32 x 13 x 13)`, `the input is (1, 28, 28)`.
    fn gives(&self) -> String {
        let shape = match (&self.shape, &self.note) {
            (Shape::Flat(n), Some(note)) => format!("{} (= {note})", n.text),
            (s, _) => s.text(),
        };
        if self.source == "the input" {
            format!("the input is {shape}")
        } else {
            format!("{} gives {shape}", self.source)
        }
    }

    fn set(&mut self, shape: Shape, layer: &LayerAst) {
        self.shape = shape;
        self.source = layer.text.clone();
        self.note = None;
    }
}

fn fmt_hw(h: &Size, w: &Size) -> String {
    format!("{} x {}", h.text, w.text)
}

impl Checker {
    pub fn shape(&mut self, s: &ShapeAst, what: &str) -> Option<Shape> {
        let sizes: Vec<Option<Size>> = s.dims.iter().map(|d| self.size(d, "a size")).collect();
        let sizes: Vec<Size> = sizes.into_iter().collect::<Option<_>>()?;
        for (d, sz) in s.dims.iter().zip(&sizes) {
            if sz.val == Some(0) {
                self.err(d, format!("{what}: sizes must be at least 1, found 0"));
                return None;
            }
        }
        match sizes.as_slice() {
            [n] => Some(Shape::Flat(n.clone())),
            [c, h, w] => Some(Shape::Image(c.clone(), h.clone(), w.clone())),
            _ => {
                self.err(
                    &s.tokens,
                    format!(
                        "{what} must be (C, H, W) for images or (N) for vectors, found {} sizes{}",
                        sizes.len(),
                        if sizes.len() == 2 {
                            "; for a one-channel image write (1, H, W)"
                        } else {
                            ""
                        }
                    ),
                );
                None
            }
        }
    }

    pub fn layers(&mut self, list: &[LayerAst], input: Shape, source: &str) -> Plan {
        let mut st = State {
            shape: input,
            source: source.to_string(),
            note: None,
            poisoned: false,
        };
        let mut out = Vec::new();
        let mut skip_relu = false;
        for (i, layer) in list.iter().enumerate() {
            let next_is_relu = list.get(i + 1).is_some_and(|n| {
                n.args.is_none() && n.body.is_none() && n.ident().is_some_and(|i| i == "ReLU")
            });
            if let Some(p) = self.layer(layer, i, &mut st, next_is_relu, skip_relu) {
                skip_relu = matches!(
                    p.op,
                    Op::Conv {
                        fuse_relu: true,
                        ..
                    }
                ) && p.act.is_none()
                    && next_is_relu;
                out.push(p);
            } else {
                skip_relu = false;
            }
        }
        Plan {
            layers: out,
            output: st.shape,
            poisoned: st.poisoned,
        }
    }

    fn field(stem: &str, i: usize, span: Span) -> syn::Ident {
        format_ident!("{}_{}", stem, i, span = span)
    }

    fn layer(
        &mut self,
        layer: &LayerAst,
        i: usize,
        st: &mut State,
        next_is_relu: bool,
        skip_relu: bool,
    ) -> Option<Planned> {
        let span = layer.span();
        let name = match layer.ident() {
            Some(id) => id.to_string(),
            None => return self.nested(layer, i, st),
        };
        let kinds: Vec<&str> = KINDS.iter().map(|k| k.0).collect();
        let Some(&(kind, stem)) = KINDS.iter().find(|k| k.0 == name) else {
            // Names from dfdx and Keras a user may reach for (some are types in scope).
            let alias = ALIASES
                .iter()
                .find(|a| a.0.eq_ignore_ascii_case(&name))
                .map(|a| a.1);
            let guess = alias.or_else(|| closest(&name, &kinds));
            if layer.args.is_none() && layer.body.is_none() && guess.is_none() {
                return self.nested(layer, i, st);
            }
            let hint = match guess {
                Some(g) => format!("; did you mean `{g}`?"),
                None => format!("\nhelp: the layers are {}", kinds.join(", ")),
            };
            self.err(&layer.path, format!("unknown layer `{name}`{hint}"));
            st.poisoned = true;
            return None;
        };
        if kind != "Residual" && layer.body.is_some() {
            self.err(
                &layer.tokens,
                format!("{kind} takes arguments in parentheses, not braces"),
            );
            return None;
        }
        let field = Self::field(stem, i, span);
        let mut planned = Planned {
            field,
            kind: kind.to_string(),
            span,
            op: Op::Flatten,
            cast_in: None,
            output: st.shape.clone(),
            act: None,
        };
        let none = Spec {
            positional: &[],
            required: 0,
            named: &[],
            arrow: false,
        };
        let op = match kind {
            "Conv2D" => self.conv(layer, st, &mut planned, next_is_relu)?,
            "MaxPool2D" | "AvgPool2D" => self.pool(layer, kind == "MaxPool2D", st, &mut planned)?,
            "GlobalAvgPool2D" | "GlobalMaxPool2D" => {
                self.args(layer, kind, &none)?;
                let (c, _, _) = self.image(layer, kind, st, &mut planned)?;
                st.set(Shape::Flat(c), layer);
                Op::GlobalPool {
                    max: kind == "GlobalMaxPool2D",
                }
            }
            "Flatten" => {
                self.args(layer, kind, &none)?;
                match st.shape.clone() {
                    Shape::Image(c, h, w) => {
                        let note = format!("{} x {} x {}", c.text, h.text, w.text);
                        st.set(Shape::Flat(c.mul(&h).mul(&w)), layer);
                        st.note = Some(note);
                    }
                    Shape::Flat(_) => {}
                    Shape::Opaque { dims, name, .. } => {
                        let n = Size::symbolic(
                            quote!(::typenet::__private::numel(#dims)),
                            format!("the size of `{name}`'s output"),
                        );
                        st.set(Shape::Flat(n), layer);
                    }
                }
                Op::Flatten
            }
            "Dense" => self.dense(layer, st, &mut planned)?,
            "ReLU" | "Sigmoid" | "Tanh" | "GELU" | "Softmax" => {
                self.args(layer, kind, &none)?;
                let act = match kind {
                    "ReLU" => Act::ReLU,
                    "Sigmoid" => Act::Sigmoid,
                    "Tanh" => Act::Tanh,
                    "GELU" => Act::Gelu,
                    _ => Act::Softmax,
                };
                Op::Act {
                    act,
                    skip: act == Act::ReLU && skip_relu,
                }
            }
            "LeakyReLU" => {
                let spec = Spec {
                    positional: &["alpha"],
                    required: 0,
                    named: &[],
                    arrow: false,
                };
                let a = self.args(layer, kind, &spec)?;
                let alpha = match a.get("alpha") {
                    Some(e) => self.float_arg(e, "alpha")?.0,
                    None => quote!(0.01f64),
                };
                Op::LeakyReLU { alpha }
            }
            "Dropout" => {
                let spec = Spec {
                    positional: &["rate"],
                    required: 1,
                    named: &[],
                    arrow: false,
                };
                let a = self.args(layer, kind, &spec)?;
                let e = a.get("rate")?;
                let (rate, v) = self.float_arg(e, "the rate")?;
                match v {
                    Some(v) if !(0.0..1.0).contains(&v) => {
                        self.err(e, format!("{}: the rate is the fraction of inputs dropped and must be in [0, 1), found {v}", layer.text));
                        return None;
                    }
                    Some(_) => {}
                    None => self.check(
                        span,
                        quote!(#rate >= 0.0 && #rate < 1.0),
                        format!("{}: the rate must be in [0, 1)", layer.text),
                    ),
                }
                Op::Dropout { rate }
            }
            "BatchNorm2D" => {
                self.args(layer, kind, &none)?;
                let (c, _, _) = self.image(layer, kind, st, &mut planned)?;
                Op::BatchNorm2D(c)
            }
            "BatchNorm1D" | "LayerNorm" => {
                self.args(layer, kind, &none)?;
                let n = self.flat(layer, kind, st, &mut planned)?;
                if kind == "LayerNorm" {
                    Op::LayerNorm(n)
                } else {
                    Op::BatchNorm1D(n)
                }
            }
            "Residual" => {
                let Some(body) = &layer.body else {
                    self.err(&layer.tokens, "Residual takes its layers in braces: Residual { Conv2D(32, 3, padding = same), ReLU }");
                    return None;
                };
                let inner = self.layers(body, st.shape.clone(), &st.source.clone());
                if let Some(false) = inner.output.same_as(&st.shape) {
                    if !st.poisoned {
                        self.err(
                            &layer.tokens,
                            format!(
                                "Residual changes the shape: its layers turn {} into {}, but a Residual adds its input to their output\nhelp: the layers inside a Residual must keep the shape (e.g. Conv2D with padding = same and as many filters as input channels)",
                                st.shape.text(),
                                inner.output.text()
                            ),
                        );
                    }
                }
                Op::Residual(inner)
            }
            _ => unreachable!("every kind is handled"),
        };
        planned.op = op;
        planned.output = st.shape.clone();
        Some(planned)
    }

    fn nested(&mut self, layer: &LayerAst, i: usize, st: &mut State) -> Option<Planned> {
        if layer.args.is_some() || layer.body.is_some() {
            self.err(
                &layer.tokens,
                format!("unknown layer `{}`", path_text(&layer.path)),
            );
            return None;
        }
        let path = layer.path.clone();
        let name = path_text(&path);
        let last = path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        let field = Self::field(&crate::names::snake(&last), i, layer.span());
        // Spanned at the layer: a type that is no network is reported there (once).
        let span = layer.span();
        let output = Shape::Opaque {
            ty: quote_spanned!(span=> <#path as ::typenet::NetworkSpec>::Output),
            dims: quote_spanned!(span=> <#path as ::typenet::NetworkSpec>::OUTPUT_SHAPE),
            name: name.clone(),
        };
        st.set(output.clone(), layer);
        st.poisoned = false;
        Some(Planned {
            field,
            kind: last,
            span: layer.span(),
            op: Op::Nested(path),
            cast_in: None,
            output,
            act: None,
        })
    }

    /// The incoming shape as an image, or an error for a flat one.
    fn image(
        &mut self,
        layer: &LayerAst,
        kind: &str,
        st: &mut State,
        p: &mut Planned,
    ) -> Option<(Size, Size, Size)> {
        match st.shape.clone() {
            Shape::Image(c, h, w) => Some((c, h, w)),
            Shape::Flat(_) => {
                if !st.poisoned {
                    let help = match kind {
                        "BatchNorm2D" => "\nhelp: use BatchNorm1D on flat inputs",
                        _ => "\nhelp: image layers go before Flatten and Dense",
                    };
                    self.err(
                        &layer.tokens,
                        format!(
                            "{} needs an image input (C, H, W), but {}, which is flat{help}",
                            layer.text,
                            st.gives()
                        ),
                    );
                }
                st.poisoned = true;
                Some((Size::lit(1), Size::lit(1), Size::lit(1)))
            }
            Shape::Opaque { ty, .. } => {
                let part = |n: &str| {
                    let id = format_ident!("{n}");
                    Size::symbolic(
                        quote!(<#ty as ::typenet::__private::ImageShape>::#id),
                        n.to_string(),
                    )
                };
                let (c, h, w) = (part("C"), part("H"), part("W"));
                p.cast_in = Some(Shape::Image(c.clone(), h.clone(), w.clone()));
                st.shape = Shape::Image(c.clone(), h.clone(), w.clone());
                Some((c, h, w))
            }
        }
    }

    /// The incoming shape as a flat size, or an error for an image.
    fn flat(
        &mut self,
        layer: &LayerAst,
        kind: &str,
        st: &mut State,
        p: &mut Planned,
    ) -> Option<Size> {
        match st.shape.clone() {
            Shape::Flat(n) => Some(n),
            Shape::Image(c, h, w) => {
                if !st.poisoned {
                    self.err(
                        &layer.tokens,
                        format!(
                            "{} needs a flat input (N), but {}, which is an image\nhelp: add Flatten before {kind}",
                            layer.text,
                            st.gives()
                        ),
                    );
                }
                // Go on as if Flatten were there.
                Some(c.mul(&h).mul(&w))
            }
            Shape::Opaque { ty, .. } => {
                let n = Size::symbolic(
                    quote!(<#ty as ::typenet::__private::FlatShape>::N),
                    "N".into(),
                );
                p.cast_in = Some(Shape::Flat(n.clone()));
                st.shape = Shape::Flat(n.clone());
                Some(n)
            }
        }
    }

    fn dense(&mut self, layer: &LayerAst, st: &mut State, p: &mut Planned) -> Option<Op> {
        let spec = Spec {
            positional: &["units"],
            required: 1,
            named: &["bias", "activation"],
            arrow: true,
        };
        let a = self.args(layer, "Dense", &spec)?;
        let units = self.positive(a.get("units")?, "units", layer);
        let bias = match a.get("bias") {
            Some(e) => self.bool_arg(e, "bias"),
            None => Some(true),
        };
        let act = a.get("activation").map(|e| self.activation(e));
        let inferred = self.flat(layer, "Dense", st, p)?;
        let mut inp = inferred.clone();
        if let Some(e) = a.arrow {
            let declared = self.positive(e, "the input size", layer)?;
            match (declared.val, inferred.val) {
                (Some(d), Some(n)) if d != n && !st.poisoned => {
                    self.err(
                        &layer.tokens,
                        format!("{} expects {d} inputs, but {}", layer.text, st.gives()),
                    );
                }
                (Some(_), Some(_)) => {}
                _ => p.cast_in = Some(Shape::Flat(declared.clone())),
            }
            inp = declared;
        }
        let (units, bias) = (units?, bias?);
        p.act = match act {
            Some(a) => Some(a?),
            None => None,
        };
        st.set(Shape::Flat(units.clone()), layer);
        st.poisoned = false;
        Some(Op::Dense { inp, units, bias })
    }

    fn conv(
        &mut self,
        layer: &LayerAst,
        st: &mut State,
        p: &mut Planned,
        next_is_relu: bool,
    ) -> Option<Op> {
        let spec = Spec {
            positional: &["filters", "kernel"],
            required: 2,
            named: &["stride", "padding", "dilation", "bias", "activation"],
            arrow: true,
        };
        let a = self.args(layer, "Conv2D", &spec)?;
        let filters = self.positive(a.get("filters")?, "filters", layer);
        let k = self.positive(a.get("kernel")?, "the kernel size", layer);
        let s = a.get("stride").map_or(Some(Size::lit(1)), |e| {
            self.positive(e, "the stride", layer)
        });
        let d = a.get("dilation").map_or(Some(Size::lit(1)), |e| {
            self.positive(e, "the dilation", layer)
        });
        let bias = a
            .get("bias")
            .map_or(Some(true), |e| self.bool_arg(e, "bias"));
        let act = match a.get("activation") {
            Some(e) => Some(self.activation(e)?),
            None => None,
        };
        let (filters, k, s, d, bias) = (filters?, k?, s?, d?, bias?);
        let pad = self.padding(layer, a.get("padding"), &k, &s, &d, true)?;
        let (c, h, w) = self.image(layer, "Conv2D", st, p)?;
        let mut cin = c.clone();
        if let Some(e) = a.arrow {
            let declared = self.positive(e, "the number of input channels", layer)?;
            match (declared.val, c.val) {
                (Some(x), Some(y)) if x != y && !st.poisoned => {
                    self.err(
                        &layer.tokens,
                        format!(
                            "{} expects {x} input channels, but {} with {y} channel{}",
                            layer.text,
                            st.gives(),
                            if y == 1 { "" } else { "s" }
                        ),
                    );
                }
                (Some(_), Some(_)) => {}
                _ => p.cast_in = Some(Shape::Image(declared.clone(), h.clone(), w.clone())),
            }
            cin = declared;
        }
        let (ho, wo) = self.spatial(layer, "kernel", st, (&h, &w), (&k, &s, &pad, &d))?;
        p.act = act;
        let fuse_relu = act == Some(Act::ReLU) || (act.is_none() && next_is_relu);
        st.set(Shape::Image(filters.clone(), ho, wo), layer);
        Some(Op::Conv {
            cin,
            filters,
            k,
            s,
            p: pad,
            d,
            bias,
            fuse_relu,
        })
    }

    fn pool(&mut self, layer: &LayerAst, max: bool, st: &mut State, p: &mut Planned) -> Option<Op> {
        let kind = if max { "MaxPool2D" } else { "AvgPool2D" };
        let spec = Spec {
            positional: &["window"],
            required: 1,
            named: &["stride", "padding"],
            arrow: false,
        };
        let a = self.args(layer, kind, &spec)?;
        let k = self.positive(a.get("window")?, "the window", layer)?;
        let s = match a.get("stride") {
            Some(e) => self.positive(e, "the stride", layer)?,
            None => k.clone(),
        };
        let one = Size::lit(1);
        let pad = self.padding(layer, a.get("padding"), &k, &s, &one, false)?;
        match (pad.val, k.val) {
            (Some(pv), Some(kv)) if pv > kv / 2 => {
                self.err(
                    a.get("padding")
                        .map_or(layer.tokens.clone(), |e| quote!(#e)),
                    format!(
                        "{}: padding can be at most half the window ({}), found {pv}",
                        layer.text,
                        kv / 2
                    ),
                );
                return None;
            }
            (Some(_), Some(_)) => {}
            _ => {
                let (pe, ke) = (&pad.expr, &k.expr);
                self.check(
                    layer.span(),
                    quote!(#pe <= #ke / 2),
                    format!("{}: padding can be at most half the window", layer.text),
                );
            }
        }
        let (c, h, w) = self.image(layer, kind, st, p)?;
        let (ho, wo) = self.spatial(layer, "window", st, (&h, &w), (&k, &s, &pad, &one))?;
        st.set(Shape::Image(c, ho, wo), layer);
        Some(Op::Pool { max, k, s, p: pad })
    }

    /// `padding = N | same | valid`.
    fn padding(
        &mut self,
        layer: &LayerAst,
        e: Option<&Expr>,
        k: &Size,
        s: &Size,
        d: &Size,
        conv: bool,
    ) -> Option<Size> {
        let Some(e) = e else {
            return Some(Size::lit(0));
        };
        let word = match e {
            Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
            _ => None,
        };
        match word.as_deref() {
            Some("valid") => Some(Size::lit(0)),
            Some("same") => {
                if !conv {
                    self.err(
                        e,
                        format!(
                            "{}: `padding = same` is for Conv2D; give pooling a number",
                            layer.text
                        ),
                    );
                    return None;
                }
                match (k.val, s.val) {
                    (Some(kv), _) if kv % 2 == 0 => {
                        self.err(e, format!("{}: `padding = same` needs an odd kernel, but the kernel is {kv} x {kv}\nhelp: use an odd kernel or a number for padding", layer.text));
                        return None;
                    }
                    (_, Some(sv)) if sv != 1 => {
                        self.err(e, format!("{}: `padding = same` needs stride 1, but the stride is {sv}\nhelp: use a number for padding", layer.text));
                        return None;
                    }
                    (Some(_), Some(_)) => {}
                    _ => {
                        let (ke, se) = (&k.expr, &s.expr);
                        self.check(
                            layer.span(),
                            quote!(#ke % 2 == 1 && #se == 1),
                            format!(
                                "{}: `padding = same` needs an odd kernel and stride 1",
                                layer.text
                            ),
                        );
                    }
                }
                Some(same_pad(k, d))
            }
            _ => self.size(e, "the padding"),
        }
    }

    /// Output height and width of a window sliding over `(h, w)`.
    fn spatial(
        &mut self,
        layer: &LayerAst,
        what: &str,
        st: &mut State,
        (h, w): (&Size, &Size),
        (k, s, p, d): (&Size, &Size, &Size, &Size),
    ) -> Option<(Size, Size)> {
        let mut out = Vec::new();
        let mut reported = false;
        for n in [h, w] {
            match (n.val, k.val, s.val, p.val, d.val) {
                (Some(nv), Some(kv), Some(sv), Some(pv), Some(dv)) => {
                    match out_size(nv, kv, sv, pv, dv) {
                        Some(o) => out.push(Size::lit(o)),
                        None => {
                            if !reported && !st.poisoned {
                                let span = dv * (kv - 1) + 1;
                                let win = if dv > 1 {
                                    format!("its {kv} x {kv} {what} with dilation {dv} spans {span} x {span} (= d(k-1)+1)")
                                } else {
                                    format!("its {what} is {kv} x {kv}")
                                };
                                let padded = if pv > 0 {
                                    format!(", {} x {} with padding {pv}", h.text, w.text)
                                } else {
                                    String::new()
                                };
                                let hw = match (h.val, w.val) {
                                    (Some(hv), Some(wv)) if pv > 0 => {
                                        format!("{} x {}{padded}", hv + 2 * pv, wv + 2 * pv)
                                    }
                                    _ => fmt_hw(h, w),
                                };
                                self.err(
                                    &layer.tokens,
                                    format!(
                                        "{}: {win}, larger than its {hw} input ({})",
                                        layer.text,
                                        st.gives()
                                    ),
                                );
                            }
                            reported = true;
                            out.push(Size::lit(1));
                        }
                    }
                }
                _ => {
                    let (ne, ke, se, pe, de) = (&n.expr, &k.expr, &s.expr, &p.expr, &d.expr);
                    let args = quote!(#ne, #ke, #se, #pe, #de);
                    self.check(
                        layer.span(),
                        quote!(::typenet::__private::out_size(#args).is_some()),
                        format!(
                            "{}: the {what} is larger than its (padded) input, or a size is zero",
                            layer.text
                        ),
                    );
                    out.push(Size::symbolic(
                        quote!(::typenet::__private::out_dim(#args)),
                        format!("({} after {})", n.text, layer.text),
                    ));
                }
            }
        }
        if reported {
            st.poisoned = true;
        }
        Some((out[0].clone(), out[1].clone()))
    }
}

/// `padding = same`: `d(k-1)/2` on each side.
fn same_pad(k: &Size, d: &Size) -> Size {
    if let (Some(kv), Some(dv)) = (k.val, d.val) {
        return Size::lit(dv * (kv.saturating_sub(1)) / 2);
    }
    let ke = &k.expr;
    let km1 = Size::symbolic(quote!(#ke - 1), format!("{} - 1", k.text));
    let e = d.mul(&km1).expr;
    Size::symbolic(quote!(#e / 2), format!("{} * ({} - 1) / 2", d.text, k.text))
}

//! Shape inference over a declaration, driving each layer's rule from the registry. Errors
//! are collected in the [`Ctxt`]: after a mistake, inference goes on with the shape the
//! user evidently meant, so each independent mistake gives exactly one error.

use quote::format_ident;

use crate::ctxt::Ctxt;
use crate::flow::Flow;
use crate::layers::{self, nested, Cx};
use crate::names::{closest, snake};
use crate::parse::{Decl, LayerAst, ShapeAst};
use crate::plan::{Plan, Planned};
use crate::shape::{Rank, Shape, Size};

/// A declaration's checked parts: its input, its output (declared or inferred) and its layers.
pub struct Checked {
    pub input: Shape,
    pub output: Shape,
    pub plan: Plan,
}

/// Checks a whole declaration; `None` when an error made its shapes unknown.
pub fn declaration(cx: &mut Ctxt, decl: &Decl) -> Option<Checked> {
    let input = shape(cx, &decl.input, "INPUT");
    let declared = decl.output.as_ref().map(|o| shape(cx, o, "OUTPUT"));
    let start = input.clone().unwrap_or(Shape::flat(Size::lit(1)));
    let plan = layers(cx, &decl.layers, &Flow::new(start, "the input"));
    let output = match declared {
        Some(Some(d)) => {
            let differs = plan.output.same_as(&d) == Some(false) && !plan.poisoned;
            if let (true, Some(o)) = (differs, &decl.output) {
                let last = decl
                    .layers
                    .last()
                    .map_or("the input".to_string(), |l| l.text.clone());
                let msg = format!(
                    "OUTPUT is {}, but the layers give {} (after {last})",
                    d.text(),
                    plan.output.text()
                );
                cx.err(&o.tokens, msg);
            }
            Some(d)
        }
        Some(None) => None,
        None => Some(plan.output.clone()),
    };
    Some(Checked {
        input: input?,
        output: output?,
        plan,
    })
}

/// INPUT or OUTPUT: `(N)`, `(C, L)` or `(C, H, W)`.
fn shape(cx: &mut Ctxt, s: &ShapeAst, what: &str) -> Option<Shape> {
    let sizes: Vec<Option<Size>> = s.dims.iter().map(|d| cx.size(d, "a size")).collect();
    let sizes: Vec<Size> = sizes.into_iter().collect::<Option<_>>()?;
    for (d, sz) in s.dims.iter().zip(&sizes) {
        if sz.val == Some(0) {
            cx.err(d, format!("{what}: sizes must be at least 1, found 0"));
            return None;
        }
    }
    if Rank::of(sizes.len()).is_none() {
        cx.err(
            &s.tokens,
            format!(
                "{what} must be (C, H, W) for images, (C, L) for sequences or (N) for vectors, found {} sizes",
                sizes.len()
            ),
        );
        return None;
    }
    Some(Shape::Sized(sizes))
}

/// Checks a layer list, starting from `flow`'s shape (a `Residual`'s layers start from
/// the shape that reaches it).
pub fn layers(cx: &mut Ctxt, list: &[LayerAst], flow: &Flow) -> Plan {
    let mut flow = Flow::new(flow.shape.clone(), &flow.source);
    let mut out = Vec::new();
    for (i, layer) in list.iter().enumerate() {
        if let Some(p) = one(cx, layer, i, &mut flow) {
            out.push(p);
        }
    }
    Plan {
        layers: out,
        output: flow.shape,
        poisoned: flow.poisoned,
    }
}

/// One layer: a kind from the registry, else a nested network, else an error.
fn one(ctxt: &mut Ctxt, layer: &LayerAst, i: usize, flow: &mut Flow) -> Option<Planned> {
    let span = layer.span();
    let found = match layer.ident() {
        Some(id) => {
            let name = id.to_string();
            let kind = layers::kinds().find(|k| k.name == name);
            if kind.is_none() && !unknown(ctxt, layer, &name, flow) {
                return None;
            }
            kind
        }
        None => None,
    };
    let mut cx = Cx {
        ctxt,
        flow,
        cast_in: None,
        act: None,
        inner: &layers,
    };
    let (layer_box, label, stem) = match found {
        Some(kind) => {
            if !kind.braces && (layer.body.is_some() || layer.branches.is_some()) {
                let msg = format!("{} takes arguments in parentheses, not braces", kind.name);
                cx.ctxt.err(&layer.tokens, msg);
                return None;
            }
            let l = (kind.rule)(&mut cx, layer)?;
            (l, kind.name.to_string(), kind.stem.to_string())
        }
        None => {
            let (l, label) = nested::rule(&mut cx, layer)?;
            let stem = snake(&label);
            (l, label, stem)
        }
    };
    Some(Planned {
        field: format_ident!("{}_{}", stem, i, span = span),
        kind: label,
        span,
        layer: layer_box,
        cast_in: cx.cast_in,
        output: cx.flow.shape.clone(),
        act: cx.act,
    })
}

/// A name that is no layer kind: a nested network (`true`), unless it looks like a typo of
/// a layer or is dfdx's or Keras's name for one, or has arguments (an error, `false`).
fn unknown(cx: &mut Ctxt, layer: &LayerAst, name: &str, flow: &mut Flow) -> bool {
    let kinds: Vec<&str> = layers::kinds().map(|k| k.name).collect();
    let alias = layers::aliases()
        .find(|a| a.0.eq_ignore_ascii_case(name))
        .map(|a| a.1);
    let guess = alias.or_else(|| closest(name, &kinds));
    if layer.args.is_none() && layer.body.is_none() && guess.is_none() {
        return true;
    }
    let hint = match guess {
        Some(g) => format!("; did you mean `{g}`?"),
        None => format!("\nhelp: the layers are {}", kinds.join(", ")),
    };
    cx.err(&layer.path, format!("unknown layer `{name}`{hint}"));
    flow.poisoned = true;
    false
}

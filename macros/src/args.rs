//! A layer's arguments: their count and names, and their values (sizes, flags, rates,
//! activations), each mistake reported where it was written.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, Lit};

use crate::ctxt::Ctxt;
use crate::names::closest;
use crate::parse::{expr_text, path_text, Arg, LayerAst};
use crate::shape::Size;

/// A layer's arguments by name, after arity and name checks.
pub struct Args<'a> {
    pub vals: HashMap<&'static str, &'a Expr>,
    pub arrow: Option<&'a Expr>,
}

impl<'a> Args<'a> {
    pub fn get(&self, name: &str) -> Option<&'a Expr> {
        self.vals.get(name).copied()
    }
}

/// What a layer accepts: positional names (the first `required` of them needed), named-only
/// arguments, and whether the first may give the input size with `=>`.
pub struct Spec {
    pub positional: &'static [&'static str],
    pub required: usize,
    pub named: &'static [&'static str],
    pub arrow: bool,
}

impl Spec {
    /// A layer without arguments.
    pub const NONE: Spec = Spec {
        positional: &[],
        required: 0,
        named: &[],
        arrow: false,
    };
}

impl Ctxt {
    /// A size: an integer literal or a path to a `usize` constant.
    pub fn size(&mut self, e: &Expr, what: &str) -> Option<Size> {
        match e {
            Expr::Lit(l) => match &l.lit {
                Lit::Int(i) => match i.base10_parse::<usize>() {
                    Ok(v) => Some(Size::lit(v)),
                    Err(_) => {
                        self.err(
                            e,
                            format!("{what} must be a `usize`, found `{}`", expr_text(e)),
                        );
                        None
                    }
                },
                _ => {
                    self.err(
                        e,
                        format!("expected {what} as an integer, found `{}`", expr_text(e)),
                    );
                    None
                }
            },
            Expr::Path(p) if p.qself.is_none() => {
                let path = &p.path;
                Some(Size::symbolic(quote!(#path), path_text(path)))
            }
            Expr::Paren(p) => self.size(&p.expr, what),
            Expr::Group(g) => self.size(&g.expr, what),
            _ => {
                self.err(
                    e,
                    format!(
                        "expected {what} as an integer literal or a path to a `usize` constant, found `{}`",
                        expr_text(e)
                    ),
                );
                None
            }
        }
    }

    /// A size that must be at least 1.
    pub fn positive(&mut self, e: &Expr, what: &str, layer: &LayerAst) -> Option<Size> {
        let s = self.size(e, what)?;
        match s.val {
            Some(0) => {
                self.err(
                    e,
                    format!(
                        "{}: {what} must be at least 1, found 0 (the output would be empty)",
                        layer.text
                    ),
                );
                None
            }
            Some(_) => Some(s),
            None => {
                let x = &s.expr;
                self.check(
                    layer.span(),
                    quote!(#x > 0),
                    format!("{}: {what} must be at least 1", layer.text),
                );
                Some(s)
            }
        }
    }

    pub fn bool_arg(&mut self, e: &Expr, what: &str) -> Option<bool> {
        match e {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Bool(b), ..
            }) => Some(b.value),
            _ => {
                self.err(
                    e,
                    format!(
                        "expected `{what} = true` or `{what} = false`, found `{}`",
                        expr_text(e)
                    ),
                );
                None
            }
        }
    }

    /// A float argument (Dropout rate, LeakyReLU alpha): a literal or a path to a constant.
    pub fn float_arg(&mut self, e: &Expr, what: &str) -> Option<(TokenStream, Option<f64>)> {
        match e {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Float(f), ..
            }) => {
                let v: f64 = f.base10_parse().ok()?;
                Some((quote!(#v), Some(v)))
            }
            Expr::Lit(syn::ExprLit {
                lit: Lit::Int(i), ..
            }) => {
                let v: f64 = i.base10_parse::<u64>().ok()? as f64;
                Some((quote!(#v), Some(v)))
            }
            Expr::Path(p) => {
                let path = &p.path;
                Some((quote!((#path as f64)), None))
            }
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Neg(_),
                expr,
                ..
            }) => {
                let (_, v) = self.float_arg(expr, what)?;
                let v = -v?;
                Some((quote!(#v), Some(v)))
            }
            _ => {
                self.err(
                    e,
                    format!("expected {what} as a number, found `{}`", expr_text(e)),
                );
                None
            }
        }
    }

    /// Sorts a layer's arguments by name and checks their count and names.
    pub fn args<'a>(&mut self, layer: &'a LayerAst, kind: &str, spec: &Spec) -> Option<Args<'a>> {
        let mut out = Args {
            vals: HashMap::new(),
            arrow: None,
        };
        let list: &[Arg] = layer.args.as_deref().unwrap_or(&[]);
        let mut ok = true;
        let mut pos = 0;
        let usage = format!("{kind}({})", spec.positional.join(", "));
        for a in list {
            if let Some(name) = &a.name {
                let n = name.to_string();
                let known: Vec<&'static str> =
                    spec.positional.iter().chain(spec.named).copied().collect();
                match known.iter().find(|k| **k == n) {
                    Some(k) => {
                        if out.vals.insert(k, &a.value).is_some() {
                            self.err(a.tokens(), format!("{kind}: `{n}` is given twice"));
                            ok = false;
                        }
                    }
                    None => {
                        let hint = match closest(&n, &known) {
                            Some(c) => format!("; did you mean `{c}`?"),
                            None if known.is_empty() => format!("; {kind} takes no arguments"),
                            None => format!(" (it takes {})", known.join(", ")),
                        };
                        self.err(name, format!("unknown argument `{n}` for {kind}{hint}"));
                        ok = false;
                    }
                }
                continue;
            }
            if pos >= spec.positional.len() {
                let msg = if spec.positional.is_empty() && spec.named.is_empty() {
                    format!("{kind} takes no arguments: write `{kind}`")
                } else if spec.positional.is_empty() {
                    format!("{kind} takes no positional arguments")
                } else {
                    let named = if spec.named.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; name the others: {}",
                            spec.named
                                .iter()
                                .map(|n| format!("{n} = ..."))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    format!(
                        "{kind} takes {} positional argument{}: {usage}{named}",
                        spec.positional.len(),
                        if spec.positional.len() == 1 { "" } else { "s" }
                    )
                };
                self.err(a.tokens(), msg);
                ok = false;
                break;
            }
            if let Some(i) = &a.input {
                if pos == 0 && spec.arrow {
                    out.arrow = Some(i);
                } else {
                    self.err(
                        a.tokens(),
                        format!(
                            "{kind}: `=>` gives the input size, and only on the first argument"
                        ),
                    );
                    ok = false;
                }
            }
            if out.vals.insert(spec.positional[pos], &a.value).is_some() {
                self.err(
                    a.tokens(),
                    format!("{kind}: `{}` is given twice", spec.positional[pos]),
                );
                ok = false;
            }
            pos += 1;
        }
        if ok {
            for name in &spec.positional[..spec.required] {
                if !out.vals.contains_key(name) {
                    self.err(
                        &layer.tokens,
                        format!("{kind} needs `{name}`: write {usage}"),
                    );
                    ok = false;
                    break;
                }
            }
        }
        ok.then_some(out)
    }
}

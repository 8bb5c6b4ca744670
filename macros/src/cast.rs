//! Compile-time checked casts between sample shapes whose sizes the macro cannot compare
//! itself (constants, nested networks), spanned where a mismatch should be reported.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::quote;

use crate::paths::tn;
use crate::shape::Shape;

/// `let x = ...cast(x);` from `from` to `to`; a mismatch is a type error at `span` that
/// names both shapes.
pub fn cast(from: &Shape, to: &Shape, span: Span) -> TokenStream {
    let tn = tn();
    let stmt = match (from, to) {
        (Shape::Sized(a), Shape::Sized(b)) if a.len() == b.len() && from.rank().is_some() => {
            let f = from.rank().map(|r| r.cast_fn());
            let d = b.iter().chain(a.iter()).map(|s| s.arg());
            quote!(let x = #tn::#f::<#(#d,)* __B, __E, __D, __T>(x)?;)
        }
        _ => {
            let (f, t) = (from.sample_ty(), to.sample_ty());
            quote!(let x = <#f as #tn::SameShape<#t>>::cast::<__B, __E, __D, __T>(x);)
        }
    };
    // Every token at the layer, or rustc blames the whole macro call.
    respan(stmt, span)
}

/// Whether the token was written by the user (a constant's or a network's name): it keeps
/// its own span, so an error about it is reported there once.
fn from_user(t: &TokenTree) -> bool {
    matches!(t, TokenTree::Ident(_)) && t.span().source_text().is_some_and(|s| s == t.to_string())
}

fn respan(ts: TokenStream, span: Span) -> TokenStream {
    ts.into_iter()
        .map(|mut t| {
            if let TokenTree::Group(g) = &t {
                let mut ng = Group::new(g.delimiter(), respan(g.stream(), span));
                ng.set_span(span);
                t = TokenTree::Group(ng);
            } else if !from_user(&t) {
                t.set_span(span);
            }
            t
        })
        .collect()
}

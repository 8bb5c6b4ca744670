//! The `network!` macro of typenet; see the `typenet` crate for its documentation.
//!
//! `parse` reads the declaration; `check` infers every shape through each layer's rule in
//! the registry (`layers/`), collecting errors in a `Ctxt`; `fuse` decides which layers run
//! inside another's op; `expand` and `forward` write the code.

mod args;
mod cast;
mod check;
mod ctxt;
mod expand;
mod flow;
mod formula;
mod forward;
mod fuse;
mod layers;
mod names;
mod parse;
mod paths;
mod plan;
mod shape;

use proc_macro::TokenStream;
use quote::ToTokens;

/// Declares a typed network; documented in the `typenet` crate.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    let decl = match syn::parse::<parse::Decl>(input) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error().into(),
    };
    run(&decl).into()
}

fn run(decl: &parse::Decl) -> proc_macro2::TokenStream {
    let mut cx = ctxt::Ctxt::default();
    let checked = check::declaration(&mut cx, decl);
    match (cx.finish(), checked) {
        (Ok(checks), Some(c)) => quiet(expand::expand(decl, &c, checks)),
        (Err(errors), _) => expand::stub(decl, errors),
        // An unknown shape always comes with an error.
        (Ok(_), None) => expand::stub(decl, proc_macro2::TokenStream::new()),
    }
}

/// Generated code carries the user's spans (so errors point at layers), which also exposes it
/// to lints about its own style: silence those on every generated item.
fn quiet(code: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let Ok(mut file) = syn::parse2::<syn::File>(code.clone()) else {
        return code;
    };
    for item in &mut file.items {
        let attr: syn::Attribute = syn::parse_quote!(#[allow(unused_parens, clippy::all)]);
        match item {
            syn::Item::Struct(i) => i.attrs.push(attr),
            syn::Item::Impl(i) => i.attrs.push(attr),
            syn::Item::Const(i) => i.attrs.push(attr),
            _ => {}
        }
    }
    file.into_token_stream()
}

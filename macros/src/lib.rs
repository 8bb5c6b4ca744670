//! The `network!` macro of typenet; see the `typenet` crate for its documentation.
//!
//! `parse` reads the declaration, `check` infers every shape and collects every error,
//! `expand` writes the code.

mod args;
mod check;
mod expand;
mod formula;
mod forward;
mod names;
mod parse;
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
    let mut ck = check::Checker::default();
    let input = ck.shape(&decl.input, "INPUT");
    let declared = decl.output.as_ref().map(|o| ck.shape(o, "OUTPUT"));
    let plan = ck.layers(
        &decl.layers,
        input
            .clone()
            .unwrap_or(shape::Shape::Flat(shape::Size::lit(1))),
        "the input",
    );
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
                ck.errors.push(syn::Error::new_spanned(&o.tokens, msg));
            }
            Some(d)
        }
        Some(None) => None,
        None => Some(plan.output.clone()),
    };
    let errors = std::mem::take(&mut ck.errors);
    if let (Some(input), Some(output), true) = (input, output, errors.is_empty()) {
        let code = expand::Expander::new(decl).expand(&input, &plan, &output, &ck.checks);
        return quiet(code);
    }
    let mut all = proc_macro2::TokenStream::new();
    for e in errors {
        e.to_compile_error().to_tokens(&mut all);
    }
    expand::stub(decl, all)
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

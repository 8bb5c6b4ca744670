//! The one place errors go (serde_derive's `Ctxt`): every mistake is collected, not
//! returned early, so each independent mistake gives exactly one error; checks the macro
//! cannot do itself (sizes from constants) are collected beside them as const assertions.

use proc_macro2::{Span, TokenStream};
use quote::{quote_spanned, ToTokens};

/// A compile-time check on sizes the macro cannot see: `const _: () = assert!(cond, msg);`
/// spanned at the layer.
pub struct ConstCheck {
    pub span: Span,
    pub cond: TokenStream,
    pub msg: String,
}

#[derive(Default)]
pub struct Ctxt {
    errors: Vec<syn::Error>,
    checks: Vec<ConstCheck>,
}

impl Ctxt {
    /// An error spanning `at`.
    pub fn err(&mut self, at: impl ToTokens, msg: impl std::fmt::Display) {
        self.errors.push(syn::Error::new_spanned(at, msg));
    }

    /// A check for generated code: `cond` must hold at compile time, else `msg` at `span`.
    pub fn check(&mut self, span: Span, cond: TokenStream, msg: String) {
        self.checks.push(ConstCheck { span, cond, msg });
    }

    /// The errors as `compile_error!`s, or `Ok` with the const assertions when there are none.
    pub fn finish(self) -> Result<TokenStream, TokenStream> {
        if self.errors.is_empty() {
            let checks = self.checks.iter().map(|c| {
                let (cond, msg) = (&c.cond, &c.msg);
                quote_spanned!(c.span=> const _: () = ::core::assert!(#cond, #msg);)
            });
            return Ok(checks.collect());
        }
        let mut all = TokenStream::new();
        for e in self.errors {
            e.to_compile_error().to_tokens(&mut all);
        }
        Err(all)
    }
}

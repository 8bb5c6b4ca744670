//! Every path into typenet that generated code uses. Generated code reaches typenet only
//! through `::typenet::__private`, so the crate's public API can change without breaking it.

use proc_macro2::TokenStream;
use quote::quote;

/// `::typenet::__private`: the root of every generated path.
pub fn tn() -> TokenStream {
    quote!(::typenet::__private)
}

/// dfdx as typenet re-exports it (users need not depend on the same version by name).
pub fn dfdx() -> TokenStream {
    quote!(::typenet::__private::dfdx)
}

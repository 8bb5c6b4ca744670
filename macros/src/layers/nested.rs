//! A network declared with `network!` used as a layer: its OUTPUT is what comes out, and
//! what reaches it must equal its INPUT (checked by a trait bound at the layer).

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;
use syn::{Ident, Path};

use super::Cx;
use crate::cast::cast;
use crate::parse::{path_text, LayerAst};
use crate::paths::tn;
use crate::plan::{Field, Layer, Step, Structs};
use crate::shape::Shape;

/// The layer, and its name for the summary (the path's last segment).
pub fn rule(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<(Box<dyn Layer>, String)> {
    if layer.args.is_some() || layer.body.is_some() {
        cx.ctxt.err(
            &layer.tokens,
            format!("unknown layer `{}`", path_text(&layer.path)),
        );
        return None;
    }
    let (path, tn) = (layer.path.clone(), tn());
    let last = path
        .segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default();
    // Spanned at the layer: a type that is no network is reported there (once).
    let span = layer.span();
    let output = Shape::Opaque {
        ty: quote_spanned!(span=> <#path as #tn::NetworkSpec>::Output),
        dims: quote_spanned!(span=> <#path as #tn::NetworkSpec>::OUTPUT_SHAPE),
        name: path_text(&path),
    };
    cx.flow.set(output, layer);
    cx.flow.poisoned = false;
    Some((Box::new(Nested(path)), last))
}

struct Nested(Path);

impl Layer for Nested {
    fn field(&self, _: &Ident, span: Span, _: &mut dyn Structs) -> Field {
        let (path, tn) = (&self.0, tn());
        Field {
            ty: quote_spanned!(span=> <#path as #tn::ModuleOf<__E, __D>>::Module),
            init: None,
        }
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        let (path, tn, acc, f, span) = (&self.0, tn(), step.acc, step.field, step.span);
        let to = Shape::Opaque {
            ty: quote_spanned!(span=> <#path as #tn::NetworkSpec>::Input),
            dims: TokenStream::new(),
            name: String::new(),
        };
        let c = cast(step.input, &to, span);
        let call = if step.pass.train() {
            quote_spanned!(span=> #tn::Network::<__E, __D>::try_forward_batch_mut(&mut #acc.#f, x)?)
        } else {
            quote_spanned!(span=> #tn::Network::<__E, __D>::try_forward_batch(&#acc.#f, x)?)
        };
        quote_spanned!(span=> #c let x = #call;)
    }
}

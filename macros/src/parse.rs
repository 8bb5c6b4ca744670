//! The syntax tree of a `network!` declaration, with spans for error reporting.

use proc_macro2::{Delimiter, Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{braced, Attribute, Expr, Ident, Path, Token, Visibility};

/// `[attrs] [vis] struct NAME : INPUT [-> OUTPUT] { LAYER, ... }`
pub struct Decl {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub input: ShapeAst,
    pub output: Option<ShapeAst>,
    pub layers: Vec<LayerAst>,
}

/// `(C, H, W)`, `(N)` or a bare `N`.
pub struct ShapeAst {
    pub dims: Vec<Expr>,
    /// The shape as written, for errors spanning all of it.
    pub tokens: TokenStream,
}

/// One argument of a layer: `value`, `name = value` or `input => value`.
pub struct Arg {
    pub name: Option<Ident>,
    pub input: Option<Expr>,
    pub value: Expr,
}

impl Arg {
    /// The argument's tokens, for errors spanning all of it.
    pub fn tokens(&self) -> TokenStream {
        let v = &self.value;
        match (&self.name, &self.input) {
            (Some(n), _) => quote::quote!(#n = #v),
            (None, Some(i)) => quote::quote!(#i => #v),
            _ => quote::quote!(#v),
        }
    }
}

/// `Kind`, `Kind(args)`, `Residual { layers }` or a path to a nested network.
pub struct LayerAst {
    pub path: Path,
    pub args: Option<Vec<Arg>>,
    pub body: Option<Vec<LayerAst>>,
    /// `Concat { [layers], [layers] }`: the branches in brackets.
    pub branches: Option<Vec<BranchAst>>,
    /// The whole layer as written, for errors spanning all of it.
    pub tokens: TokenStream,
    /// The layer as written, e.g. `Dense(5408 => 128)`, for messages.
    pub text: String,
}

/// One branch of a merging layer: `[LAYER, ...]`.
pub struct BranchAst {
    pub layers: Vec<LayerAst>,
    /// The brackets and all in them, for errors spanning the branch.
    pub tokens: TokenStream,
    pub span: Span,
}

impl Parse for BranchAst {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let content;
        let br = syn::bracketed!(content in input);
        let layers = parse_layers(&content)?;
        let span = Span::call_site().located_at(br.span.join());
        let tokens = quote::quote_spanned!(span=> [#(#layers),*]);
        Ok(BranchAst {
            layers,
            tokens,
            span,
        })
    }
}

impl quote::ToTokens for LayerAst {
    fn to_tokens(&self, out: &mut TokenStream) {
        out.extend(self.tokens.clone());
    }
}

impl LayerAst {
    /// The single identifier naming the layer kind, when the path is one.
    pub fn ident(&self) -> Option<&Ident> {
        self.path.get_ident()
    }
    /// Where generated code for this layer points: its name. The span resolves at the
    /// call site, so the `let x` bindings of the generated forward stay visible to each
    /// other when `network!` is invoked from another macro with the user's layer tokens.
    pub fn span(&self) -> Span {
        Span::call_site().located_at(self.path.span())
    }
}

impl Parse for Decl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let in_shape: ShapeAst = input.parse()?;
        let output = if input.peek(Token![->]) {
            input.parse::<Token![->]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        let content;
        braced!(content in input);
        let layers = parse_layers(&content)?;
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the layer list"));
        }
        Ok(Decl {
            attrs,
            vis,
            name,
            input: in_shape,
            output,
            layers,
        })
    }
}

fn parse_layers(input: ParseStream) -> syn::Result<Vec<LayerAst>> {
    let list = Punctuated::<LayerAst, Token![,]>::parse_terminated(input)?;
    Ok(list.into_iter().collect())
}

impl Parse for ShapeAst {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(syn::token::Paren) {
            let group: proc_macro2::Group = input.parse()?;
            let dims = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(group.stream())?;
            let dims: Vec<Expr> = dims.into_iter().collect();
            let tokens = proc_macro2::TokenTree::Group(group).into();
            if dims.is_empty() {
                return Err(syn::Error::new_spanned(
                    &tokens,
                    "a shape needs at least one size",
                ));
            }
            Ok(ShapeAst { dims, tokens })
        } else {
            // A bare size: a literal or a path (not a general expression: `{` follows).
            let e: Expr = if input.peek(syn::LitInt) {
                Expr::Lit(input.parse()?)
            } else {
                Expr::Path(input.parse()?)
            };
            let tokens = quote::quote!(#e);
            Ok(ShapeAst {
                dims: vec![e],
                tokens,
            })
        }
    }
}

impl Parse for LayerAst {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let path: Path = input.call(Path::parse_mod_style)?;
        let mut tokens = quote::quote!(#path);
        let mut args = None;
        let mut body = None;
        let mut branches = None;
        let mut text = path_text(&path);
        if input.peek(syn::token::Paren) || input.peek(syn::token::Brace) {
            let group: proc_macro2::Group = input.parse()?;
            tokens.extend(std::iter::once(proc_macro2::TokenTree::Group(
                group.clone(),
            )));
            if group.delimiter() == Delimiter::Parenthesis {
                let list = Punctuated::<Arg, Token![,]>::parse_terminated.parse2(group.stream())?;
                let parts: Vec<String> = list.iter().map(arg_text).collect();
                text = format!("{text}({})", parts.join(", "));
                args = Some(list.into_iter().collect());
            } else if group.stream().into_iter().next().is_some_and(
                |t| matches!(t, proc_macro2::TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket),
            ) {
                let list = Punctuated::<BranchAst, Token![,]>::parse_terminated
                    .parse2(group.stream())?;
                branches = Some(list.into_iter().collect());
            } else {
                body = Some(parse_layers.parse2(group.stream())?);
            }
        }
        Ok(LayerAst {
            path,
            args,
            body,
            branches,
            tokens,
            text,
        })
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![=>]) {
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            return Ok(Arg {
                name: Some(name),
                input: None,
                value,
            });
        }
        let first: Expr = input.parse()?;
        if input.peek(Token![=>]) {
            input.parse::<Token![=>]>()?;
            let value: Expr = input.parse()?;
            return Ok(Arg {
                name: None,
                input: Some(first),
                value,
            });
        }
        Ok(Arg {
            name: None,
            input: None,
            value: first,
        })
    }
}

pub fn path_text(p: &Path) -> String {
    let segs: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
    segs.join("::")
}

pub fn expr_text(e: &Expr) -> String {
    match e {
        Expr::Path(p) => path_text(&p.path),
        Expr::Unary(u) => format!(
            "{}{}",
            quote::ToTokens::to_token_stream(&u.op),
            expr_text(&u.expr)
        ),
        Expr::Lit(l) => match &l.lit {
            syn::Lit::Int(i) => i.base10_digits().to_string(),
            syn::Lit::Float(f) => f.base10_digits().to_string(),
            syn::Lit::Bool(b) => b.value.to_string(),
            _ => quote::quote!(#e).to_string(),
        },
        _ => quote::quote!(#e).to_string(),
    }
}

fn arg_text(a: &Arg) -> String {
    match (&a.name, &a.input) {
        (Some(n), _) => format!("{n} = {}", expr_text(&a.value)),
        (None, Some(i)) => format!("{} => {}", expr_text(i), expr_text(&a.value)),
        _ => expr_text(&a.value),
    }
}

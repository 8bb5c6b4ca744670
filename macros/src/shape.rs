//! Sizes and shapes as the macro tracks them: a known value where the sizes are literals,
//! an expression otherwise (a constant's value is invisible to a proc-macro).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::paths::{dfdx, tn};

/// One size: `val` when known, and always an expression of type `usize` for generated code.
#[derive(Clone)]
pub struct Size {
    pub val: Option<usize>,
    pub expr: TokenStream,
    pub text: String,
}

impl Size {
    pub fn lit(v: usize) -> Size {
        let l = proc_macro2::Literal::usize_suffixed(v);
        Size {
            val: Some(v),
            expr: quote!(#l),
            text: v.to_string(),
        }
    }

    pub fn symbolic(expr: TokenStream, text: String) -> Size {
        Size {
            val: None,
            expr: quote!((#expr)),
            text,
        }
    }

    fn bin(a: &Size, b: &Size, op: &str, f: fn(usize, usize) -> Option<usize>) -> Size {
        if let (Some(x), Some(y)) = (a.val, b.val) {
            if let Some(v) = f(x, y) {
                return Size::lit(v);
            }
        }
        // Identities keep the generated expressions short (and clippy quiet).
        let unit = if op == "*" { 1 } else { 0 };
        if a.val == Some(unit) {
            return b.clone();
        }
        if b.val == Some(unit) {
            return a.clone();
        }
        let (ea, eb) = (&a.expr, &b.expr);
        let e = match op {
            "*" => quote!(#ea * #eb),
            _ => quote!(#ea + #eb),
        };
        Size::symbolic(e, format!("{} {op} {}", a.text, b.text))
    }

    pub fn add(&self, b: &Size) -> Size {
        Size::bin(self, b, "+", usize::checked_add)
    }

    pub fn mul(&self, b: &Size) -> Size {
        Size::bin(self, b, "*", usize::checked_mul)
    }

    /// The size as a `Const` type.
    pub fn const_ty(&self) -> TokenStream {
        let (e, dfdx) = (&self.expr, dfdx());
        match self.val {
            Some(_) => quote!(#dfdx::shapes::Const<#e>),
            None => quote!(#dfdx::shapes::Const<{ #e }>),
        }
    }

    /// As a const generic argument.
    pub fn arg(&self) -> TokenStream {
        let e = &self.expr;
        match self.val {
            Some(_) => quote!(#e),
            None => quote!({ #e }),
        }
    }
}

/// How many sizes a sample has, and what they mean.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rank {
    /// `(N)`: a feature vector.
    Flat,
    /// `(C, L)`: channels by length.
    Seq,
    /// `(C, H, W)`: channels by height by width.
    Image,
}

impl Rank {
    pub fn of(sizes: usize) -> Option<Rank> {
        match sizes {
            1 => Some(Rank::Flat),
            2 => Some(Rank::Seq),
            3 => Some(Rank::Image),
            _ => None,
        }
    }

    /// `(C, H, W)`.
    pub fn dims(self) -> &'static str {
        match self {
            Rank::Flat => "(N)",
            Rank::Seq => "(C, L)",
            Rank::Image => "(C, H, W)",
        }
    }

    /// `an image input`, as a layer needs it.
    pub fn input(self) -> &'static str {
        match self {
            Rank::Flat => "a flat input",
            Rank::Seq => "a sequence input",
            Rank::Image => "an image input",
        }
    }

    /// `which is an image`, as a shape is described.
    pub fn noun(self) -> &'static str {
        match self {
            Rank::Flat => "flat",
            Rank::Seq => "a sequence",
            Rank::Image => "an image",
        }
    }

    /// The `__private` trait that reads a sample shape type of this rank, and its consts.
    fn view(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Rank::Flat => ("FlatShape", &["N"]),
            Rank::Seq => ("SeqShape", &["C", "L"]),
            Rank::Image => ("ImageShape", &["C", "H", "W"]),
        }
    }

    /// The `__private` function that casts between two shapes of this rank, naming both.
    pub fn cast_fn(self) -> syn::Ident {
        match self {
            Rank::Flat => format_ident!("flat_cast"),
            Rank::Seq => format_ident!("seq_cast"),
            Rank::Image => format_ident!("image_cast"),
        }
    }
}

/// One sample's shape.
#[derive(Clone)]
pub enum Shape {
    /// Sizes of a known rank.
    Sized(Vec<Size>),
    /// The output of a nested network: only its type and dims expression are known.
    Opaque {
        ty: TokenStream,
        dims: TokenStream,
        name: String,
    },
}

impl Shape {
    pub fn flat(n: Size) -> Shape {
        Shape::Sized(vec![n])
    }

    pub fn rank(&self) -> Option<Rank> {
        match self {
            Shape::Sized(s) => Rank::of(s.len()),
            Shape::Opaque { .. } => None,
        }
    }

    /// The sizes (none for an opaque shape).
    pub fn sizes(&self) -> &[Size] {
        match self {
            Shape::Sized(s) => s,
            Shape::Opaque { .. } => &[],
        }
    }

    /// An opaque shape read as `rank` through the `__private` trait of that rank (a bound
    /// that fails at compile time, at the layer, if the rank is another).
    pub fn view_as(ty: &TokenStream, rank: Rank) -> Vec<Size> {
        let (tr, consts) = rank.view();
        let (tn, tr) = (tn(), format_ident!("{tr}"));
        consts
            .iter()
            .map(|c| {
                let id = format_ident!("{c}");
                Size::symbolic(quote!(<#ty as #tn::#tr>::#id), c.to_string())
            })
            .collect()
    }

    /// The number of values in one sample.
    pub fn numel(&self, what: &str) -> Size {
        match self {
            Shape::Sized(s) => s.iter().fold(Size::lit(1), |a, b| a.mul(b)),
            Shape::Opaque { dims, name, .. } => {
                let tn = tn();
                Size::symbolic(
                    quote!(#tn::numel(#dims)),
                    format!("the size of `{name}`'s {what}"),
                )
            }
        }
    }

    /// The sample shape type, e.g. `(Const<1>, Const<28>, Const<28>)`.
    pub fn sample_ty(&self) -> TokenStream {
        match self {
            Shape::Sized(s) => {
                let d = s.iter().map(Size::const_ty);
                quote!((#(#d,)*))
            }
            Shape::Opaque { ty, .. } => ty.clone(),
        }
    }

    /// The batched shape type with batch dimension `__B`.
    pub fn batched_ty(&self) -> TokenStream {
        match self {
            Shape::Sized(s) => {
                let d = s.iter().map(Size::const_ty);
                quote!((__B, #(#d),*))
            }
            Shape::Opaque { ty, .. } => {
                let tn = tn();
                quote!(<#ty as #tn::SampleShape>::Batched<__B>)
            }
        }
    }

    /// `Tensor<batched, __E, __D, __T>`.
    pub fn tensor_ty(&self) -> TokenStream {
        let (b, dfdx) = (self.batched_ty(), dfdx());
        quote!(#dfdx::tensor::Tensor<#b, __E, __D, __T>)
    }

    /// A `&'static [usize]` const expression.
    pub fn dims_slice(&self) -> TokenStream {
        match self {
            Shape::Opaque { dims, .. } => dims.clone(),
            Shape::Sized(s) => {
                let d = s.iter().map(|s| &s.expr);
                quote!(&[#(#d),*])
            }
        }
    }

    /// Whether every size is known.
    pub fn known(&self) -> bool {
        matches!(self, Shape::Sized(s) if s.iter().all(|s| s.val.is_some()))
    }

    /// `(32, 13, 13)`.
    pub fn text(&self) -> String {
        match self {
            Shape::Opaque { name, .. } => format!("the output of `{name}`"),
            Shape::Sized(s) => {
                let d: Vec<&str> = s.iter().map(|s| s.text.as_str()).collect();
                format!("({})", d.join(", "))
            }
        }
    }

    /// Equal as far as the macro can tell: `Some` only when every size is known.
    pub fn same_as(&self, o: &Shape) -> Option<bool> {
        if !self.known() || !o.known() {
            return None;
        }
        let vals = |s: &Shape| s.sizes().iter().map(|s| s.val).collect::<Vec<_>>();
        Some(vals(self) == vals(o))
    }
}

//! Sizes and shapes as the macro tracks them: a known value where the sizes are literals,
//! an expression otherwise (a constant's value is invisible to a proc-macro).

use proc_macro2::TokenStream;
use quote::quote;

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

    pub fn mul(&self, b: &Size) -> Size {
        Size::bin(self, b, "*", usize::checked_mul)
    }
    pub fn add(&self, b: &Size) -> Size {
        Size::bin(self, b, "+", usize::checked_add)
    }

    /// The size as a `Const` type.
    pub fn const_ty(&self) -> TokenStream {
        let e = &self.expr;
        match self.val {
            Some(_) => quote!(::typenet::__private::dfdx::shapes::Const<#e>),
            None => quote!(::typenet::__private::dfdx::shapes::Const<{ #e }>),
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

/// One sample's shape.
#[derive(Clone)]
pub enum Shape {
    Flat(Size),
    Image(Size, Size, Size),
    /// The output of a nested network: only its type and dims expression are known.
    Opaque {
        ty: TokenStream,
        dims: TokenStream,
        name: String,
    },
}

impl Shape {
    /// The sample shape type, e.g. `(Const<1>, Const<28>, Const<28>)`.
    pub fn sample_ty(&self) -> TokenStream {
        match self {
            Shape::Flat(n) => {
                let n = n.const_ty();
                quote!((#n,))
            }
            Shape::Image(c, h, w) => {
                let (c, h, w) = (c.const_ty(), h.const_ty(), w.const_ty());
                quote!((#c, #h, #w))
            }
            Shape::Opaque { ty, .. } => ty.clone(),
        }
    }

    /// The batched shape type with batch dimension `B`.
    pub fn batched_ty(&self) -> TokenStream {
        match self {
            Shape::Flat(n) => {
                let n = n.const_ty();
                quote!((__B, #n))
            }
            Shape::Image(c, h, w) => {
                let (c, h, w) = (c.const_ty(), h.const_ty(), w.const_ty());
                quote!((__B, #c, #h, #w))
            }
            Shape::Opaque { ty, .. } => quote!(<#ty as ::typenet::SampleShape>::Batched<__B>),
        }
    }

    /// `Tensor<batched, E, D, T>`.
    pub fn tensor_ty(&self) -> TokenStream {
        let b = self.batched_ty();
        quote!(::typenet::__private::dfdx::tensor::Tensor<#b, __E, __D, __T>)
    }

    /// A `&'static [usize]` const expression.
    pub fn dims_slice(&self) -> TokenStream {
        match self {
            Shape::Opaque { dims, .. } => dims.clone(),
            _ => {
                let d = self.sizes().into_iter().map(|s| s.expr);
                quote!(&[#(#d),*])
            }
        }
    }

    pub fn sizes(&self) -> Vec<Size> {
        match self {
            Shape::Flat(n) => vec![n.clone()],
            Shape::Image(c, h, w) => vec![c.clone(), h.clone(), w.clone()],
            Shape::Opaque { .. } => vec![],
        }
    }

    /// Whether every size is known.
    pub fn known(&self) -> bool {
        !matches!(self, Shape::Opaque { .. }) && self.sizes().iter().all(|s| s.val.is_some())
    }

    /// `(32, 13, 13)`.
    pub fn text(&self) -> String {
        match self {
            Shape::Opaque { name, .. } => format!("the output of `{name}`"),
            _ => {
                let d: Vec<String> = self.sizes().into_iter().map(|s| s.text).collect();
                format!("({})", d.join(", "))
            }
        }
    }

    /// Equal as far as the macro can tell: `Some` only when every size is known.
    pub fn same_as(&self, o: &Shape) -> Option<bool> {
        if !self.known() || !o.known() {
            return None;
        }
        let a: Vec<_> = self.sizes().into_iter().map(|s| s.val).collect();
        let b: Vec<_> = o.sizes().into_iter().map(|s| s.val).collect();
        Some(a == b)
    }
}

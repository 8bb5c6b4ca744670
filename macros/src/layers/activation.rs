//! Activations: `ReLU`, `Sigmoid`, `Tanh`, `GELU`, `Softmax`, `LeakyReLU(alpha)`, and the
//! `activation = ...` argument of `Conv2D` and `Dense`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Expr, Ident};

use super::{Cx, Kind};
use crate::args::Spec;
use crate::ctxt::Ctxt;
use crate::names::closest;
use crate::parse::{expr_text, LayerAst};
use crate::paths::{dfdx, tn};
use crate::plan::{Field, Layer, OnnxStep, Role, Step, Structs};

pub const KINDS: &[Kind] = &[
    act_kind("ReLU", "relu"),
    act_kind("Sigmoid", "sigmoid"),
    act_kind("Tanh", "tanh"),
    act_kind("GELU", "gelu"),
    act_kind("Softmax", "softmax"),
    Kind {
        name: "LeakyReLU",
        stem: "leaky_relu",
        braces: false,
        rule: leaky_relu,
    },
];

pub const ALIASES: &[(&str, &str)] = &[
    ("FastGeLU", "GELU"),
    ("AccurateGeLU", "GELU"),
    ("Activation", "ReLU"),
];

const fn act_kind(name: &'static str, stem: &'static str) -> Kind {
    Kind {
        name,
        stem,
        braces: false,
        rule: unit,
    }
}

/// A stateless activation: a layer, or the `activation = ...` of `Conv2D` and `Dense`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Act {
    ReLU,
    Sigmoid,
    Tanh,
    Gelu,
    Softmax,
}

/// The argument names of `activation = ...`, with their activations.
const ARG_NAMES: &[(&str, Act)] = &[
    ("relu", Act::ReLU),
    ("sigmoid", Act::Sigmoid),
    ("tanh", Act::Tanh),
    ("gelu", Act::Gelu),
    ("softmax", Act::Softmax),
];

impl Act {
    fn of_layer(name: &str) -> Option<Act> {
        let lower = name.to_ascii_lowercase();
        ARG_NAMES.iter().find(|(n, _)| *n == lower).map(|(_, a)| *a)
    }

    /// The dfdx unit module computing it.
    fn unit(self) -> TokenStream {
        let dfdx = dfdx();
        match self {
            Act::ReLU => quote!(#dfdx::nn::modules::ReLU),
            Act::Sigmoid => quote!(#dfdx::nn::modules::Sigmoid),
            Act::Tanh => quote!(#dfdx::nn::modules::Tanh),
            Act::Gelu => quote!(#dfdx::nn::modules::FastGeLU),
            Act::Softmax => quote!(#dfdx::nn::modules::Softmax),
        }
    }

    /// `let x = act(x);`: typenet's op, except softmax (dfdx's module).
    fn step(self, span: Span) -> TokenStream {
        let (dfdx, tn, unit) = (dfdx(), tn(), self.unit());
        let op = match self {
            Act::ReLU => quote!(ReLU),
            Act::Sigmoid => quote!(Sigmoid),
            Act::Tanh => quote!(Tanh),
            Act::Gelu => quote!(Gelu),
            Act::Softmax => {
                return quote_spanned!(span=> let x = #dfdx::nn::Module::try_forward(&#unit, x)?;)
            }
        };
        quote_spanned!(span=> let x = #tn::activation(x, #tn::Activation::#op)?;)
    }
}

/// The softmax a network's `forward` applies to its logits when it ends in one.
pub fn final_softmax() -> TokenStream {
    Act::Softmax.step(Span::call_site())
}

/// `activation = relu | sigmoid | tanh | gelu | softmax`: the activation, as a layer
/// without a field that runs after the one it is given to.
pub fn parse_arg(cx: &mut Ctxt, e: &Expr) -> Option<Box<dyn Layer>> {
    let name = match e {
        Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
        _ => None,
    };
    if let Some(a) = ARG_NAMES.iter().find(|(n, _)| Some(*n) == name.as_deref()) {
        return Some(Box::new(Unit(a.1)));
    }
    let names: Vec<&str> = ARG_NAMES.iter().map(|(n, _)| *n).collect();
    let found = expr_text(e);
    let hint = match closest(&found, &names) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => format!(" (one of {})", names.join(", ")),
    };
    cx.err(e, format!("unknown activation `{found}`{hint}"));
    None
}

/// `ReLU`, `Sigmoid`, `Tanh`, `GELU`, `Softmax`.
fn unit(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<Box<dyn Layer>> {
    let name = layer.ident()?.to_string();
    cx.ctxt.args(layer, &name, &Spec::NONE)?;
    Some(Box::new(Unit(Act::of_layer(&name)?)))
}

struct Unit(Act);

impl Layer for Unit {
    fn field(&self, _: &Ident, _: Span, _: &mut dyn Structs) -> Field {
        let u = self.0.unit();
        Field {
            ty: u.clone(),
            init: Some(u),
        }
    }

    fn role(&self) -> Role {
        match self.0 {
            Act::ReLU => Role::Relu,
            Act::Softmax => Role::Softmax,
            _ => Role::Other,
        }
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        self.0.step(step.span)
    }

    /// On the unit value: as `activation = ...` it has no field.
    fn onnx(&self, _: &OnnxStep<'_>) -> TokenStream {
        let (tn, u) = (tn(), self.0.unit());
        quote!(#tn::ToOnnx::to_onnx(&#u, __g)?;)
    }
}

/// `LeakyReLU` or `LeakyReLU(alpha)`, alpha 0.01 as in Keras and PyTorch.
fn leaky_relu(cx: &mut Cx<'_>, layer: &LayerAst) -> Option<Box<dyn Layer>> {
    let spec = Spec {
        positional: &["alpha"],
        required: 0,
        named: &[],
        arrow: false,
    };
    let a = cx.ctxt.args(layer, "LeakyReLU", &spec)?;
    let alpha = match a.get("alpha") {
        Some(e) => cx.ctxt.float_arg(e, "alpha")?.0,
        None => quote!(0.01f64),
    };
    Some(Box::new(LeakyReLU { alpha }))
}

struct LeakyReLU {
    alpha: TokenStream,
}

impl Layer for LeakyReLU {
    fn field(&self, _: &Ident, _: Span, _: &mut dyn Structs) -> Field {
        let (dfdx, tn, alpha) = (dfdx(), tn(), &self.alpha);
        Field {
            ty: quote!(#dfdx::nn::modules::LeakyReLU<__E>),
            init: Some(quote!(#tn::leaky_relu(#alpha))),
        }
    }

    fn forward(&self, step: &Step<'_>) -> TokenStream {
        let (tn, acc, f, out_ty) = (tn(), step.acc, step.field, step.output.tensor_ty());
        quote_spanned!(step.span=> let x: #out_ty = #tn::leaky_relu_forward(&#acc.#f, x)?;)
    }
}

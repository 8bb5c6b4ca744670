//! Where shape inference stands between two layers, and what a layer can ask of it: the
//! incoming shape in the rank it needs, with the error when it is another.

use crate::ctxt::Ctxt;
use crate::parse::LayerAst;
use crate::shape::{Rank, Shape, Size};

pub struct Flow {
    pub shape: Shape,
    /// The layer that made the current shape, e.g. `Flatten`, or `the input`.
    pub source: String,
    /// How a flat size came about, e.g. `32 x 13 x 13`.
    pub note: Option<String>,
    /// An earlier mistake left the shape unknown: skip shape checks until it is known again.
    pub poisoned: bool,
}

impl Flow {
    pub fn new(shape: Shape, source: &str) -> Self {
        Flow {
            shape,
            source: source.to_string(),
            note: None,
            poisoned: false,
        }
    }

    /// `Flatten gives 5408 (= 32 x 13 x 13)`, `the input is (1, 28, 28)`.
    pub fn gives(&self) -> String {
        let shape = match (self.shape.sizes(), &self.note) {
            ([n], Some(note)) => format!("{} (= {note})", n.text),
            _ => self.shape.text(),
        };
        if self.source == "the input" {
            format!("the input is {shape}")
        } else {
            format!("{} gives {shape}", self.source)
        }
    }

    /// The layer's output becomes the current shape.
    pub fn set(&mut self, shape: Shape, layer: &LayerAst) {
        self.shape = shape;
        self.source = layer.text.clone();
        self.note = None;
    }

    /// The incoming shape's sizes in rank `want`. Another rank is an error at the layer
    /// (`help` gets the rank that came); inference then goes on as if the user had written
    /// what evidently was meant: a flat layer on an image reads it flattened, anything else
    /// poisons the shape. A nested network's output is read through a trait bound, and
    /// `cast_in` set to the shape so read.
    pub fn expect(
        &mut self,
        cx: &mut Ctxt,
        layer: &LayerAst,
        want: Rank,
        help: impl Fn(Rank) -> String,
        cast_in: &mut Option<Shape>,
    ) -> Option<Vec<Size>> {
        let got = match &self.shape {
            Shape::Opaque { ty, .. } => {
                let sizes = Shape::view_as(ty, want);
                *cast_in = Some(Shape::Sized(sizes.clone()));
                self.shape = Shape::Sized(sizes.clone());
                return Some(sizes);
            }
            s => s.rank()?,
        };
        if got == want {
            return Some(self.shape.sizes().to_vec());
        }
        if !self.poisoned {
            cx.err(
                &layer.tokens,
                format!(
                    "{} needs {} {}, but {}, which is {}{}",
                    layer.text,
                    want.input(),
                    want.dims(),
                    self.gives(),
                    got.noun(),
                    help(got)
                ),
            );
        }
        if want == Rank::Flat {
            return Some(vec![self.shape.numel("output")]);
        }
        self.poisoned = true;
        Some(match want {
            Rank::Flat => vec![Size::lit(1)],
            Rank::Seq => vec![Size::lit(1), Size::lit(1)],
            Rank::Image => vec![Size::lit(1), Size::lit(1), Size::lit(1)],
        })
    }
}

/// The usual help for a layer that needs `(C, H, W)` or `(C, L)` and got another rank;
/// `other` is the layer of the other rank that does the same (`Conv1D` for `Conv2D`).
pub fn spatial_help(want: Rank, got: Rank, other: Option<&str>) -> String {
    let other = other.unwrap_or("the layer of that rank");
    match (want, got) {
        (Rank::Image, Rank::Flat) => "\nhelp: image layers go before Flatten and Dense".into(),
        (Rank::Seq, Rank::Flat) => "\nhelp: sequence layers go before Flatten and Dense".into(),
        (Rank::Image, Rank::Seq) => format!("\nhelp: use {other} on sequences (C, L)"),
        (Rank::Seq, Rank::Image) => format!("\nhelp: use {other} on images (C, H, W)"),
        _ => String::new(),
    }
}

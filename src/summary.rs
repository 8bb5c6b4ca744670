//! `Net::summary()`: a Keras-style table of a network's layers.

use std::fmt;

/// One row of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// The layer's field name and kind, as Keras shows them: `conv2d_0 (Conv2D)`; layers
    /// inside a `Residual` are prefixed by its field: `residual_3.conv2d_0 (Conv2D)`.
    pub layer: String,
    /// The layer's type, e.g. `Conv2D`.
    pub kind: String,
    /// One sample's output shape, e.g. `[32, 26, 26]`.
    pub output_shape: Vec<usize>,
    /// Parameters (trainable and not).
    pub params: usize,
    /// Trainable parameters.
    pub trainable: usize,
}

/// The layers of a network with their output shapes and parameter counts; its `Display`
/// is a table like Keras's `model.summary()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The declared name.
    pub name: String,
    /// One sample's input shape.
    pub input_shape: Vec<usize>,
    /// One row per layer, in order.
    pub rows: Vec<SummaryRow>,
}

impl Summary {
    /// Keras's "Total params".
    pub fn total_params(&self) -> usize {
        self.rows.iter().map(|r| r.params).sum()
    }
    /// Keras's "Trainable params".
    pub fn trainable_params(&self) -> usize {
        self.rows.iter().map(|r| r.trainable).sum()
    }
}

fn shape(s: &[usize]) -> String {
    let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("(None, {})", dims.join(", "))
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 3]> = self
            .rows
            .iter()
            .map(|r| [r.layer.clone(), shape(&r.output_shape), thousands(r.params)])
            .collect();
        let head = [
            "Layer (type)".to_string(),
            "Output Shape".into(),
            "Param #".into(),
        ];
        let mut w = [0usize; 3];
        for r in rows.iter().chain(std::iter::once(&head)) {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let total = w[0] + w[1] + w[2] + 6;
        writeln!(f, "Model: \"{}\"", self.name)?;
        writeln!(f, "{}", "━".repeat(total))?;
        let line = |f: &mut fmt::Formatter<'_>, r: &[String; 3]| {
            writeln!(
                f,
                "{:<a$}   {:<b$}   {:>c$}",
                r[0],
                r[1],
                r[2],
                a = w[0],
                b = w[1],
                c = w[2]
            )
        };
        line(f, &head)?;
        writeln!(f, "{}", "━".repeat(total))?;
        for (i, r) in rows.iter().enumerate() {
            line(f, r)?;
            if i + 1 < rows.len() {
                writeln!(f, "{}", "─".repeat(total))?;
            }
        }
        writeln!(f, "{}", "━".repeat(total))?;
        let (t, tr) = (self.total_params(), self.trainable_params());
        writeln!(f, " Total params: {}", thousands(t))?;
        writeln!(f, " Trainable params: {}", thousands(tr))?;
        write!(f, " Non-trainable params: {}", thousands(t - tr))
    }
}

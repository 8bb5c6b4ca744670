//! How a built model's parameters start: PyTorch's defaults (what `build_module` gives)
//! or Keras's (Glorot-uniform weights, zero biases), for side-by-side comparisons.

use std::str::FromStr;

use dfdx::nn::tensor_collection::{
    RecursiveWalker, ScalarOptions, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut,
    ViewTensorName,
};
use dfdx::prelude::*;
use rand_distr::Uniform;

use crate::backend::Element;

/// An initialiser for every parameter of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Init {
    /// PyTorch's: weights and biases uniform in `±1/sqrt(fan_in)` (Kaiming-uniform with
    /// `a = sqrt(5)`), batch-norm scale 1 and shift 0. What `build_module` already does.
    #[default]
    PyTorch,
    /// Keras's: kernels Glorot-uniform in `±sqrt(6 / (fan_in + fan_out))`, embedding
    /// tables uniform in `±0.05`, biases 0, batch-norm and layer-norm scale 1 and shift 0,
    /// running mean 0 and variance 1.
    Keras,
}

/// An initialiser name that is neither `keras` nor `pytorch`.
#[derive(Debug, thiserror::Error)]
#[error("unknown initialiser `{0}`: use `keras` or `pytorch`")]
pub struct UnknownInit(pub String);

impl FromStr for Init {
    type Err = UnknownInit;
    fn from_str(s: &str) -> Result<Self, UnknownInit> {
        match s.to_ascii_lowercase().as_str() {
            "pytorch" | "torch" => Ok(Init::PyTorch),
            "keras" => Ok(Init::Keras),
            _ => Err(UnknownInit(s.into())),
        }
    }
}

impl Init {
    /// Re-initialises every parameter of `model` from the device's random numbers (so a
    /// seeded device gives the same start every time).
    pub fn apply<E: Element, D: Device<E>, M: TensorCollection<E, D>>(
        self,
        model: &mut M,
    ) -> Result<(), D::Err> {
        match self {
            Init::PyTorch => model.try_reset_params(),
            Init::Keras => M::iter_tensors(&mut RecursiveWalker {
                m: (model, String::new()),
                f: &mut Keras,
            })
            .map(|_| ()),
        }
    }
}

/// Glorot-uniform bounds of a kernel `[out, in, k...]` (conv) or `[out, in]` (dense).
fn glorot(shape: &[usize]) -> f64 {
    let field: usize = shape[2..].iter().product();
    let (fan_in, fan_out) = (shape[1] * field, shape[0] * field);
    (6.0 / (fan_in + fan_out).max(1) as f64).sqrt()
}

struct Keras;

impl<E: Element, D: Device<E>> TensorVisitor<E, D> for Keras {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = D::Err;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, D>,
        (t, name): (&mut Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, D::Err> {
        let shape: Vec<usize> = t.shape().concrete().into();
        let mut parts = name.rsplit('.');
        let leaf = parts.next().unwrap_or("");
        let layer = parts.next().unwrap_or("");
        if layer.starts_with("embedding") {
            let b = <E as num_traits::NumCast>::from(0.05).unwrap_or(E::one());
            t.try_fill_with_distr(Uniform::new_inclusive(-b, b))?;
        } else if shape.len() >= 2 {
            let b = <E as num_traits::NumCast>::from(glorot(&shape)).unwrap_or(E::one());
            t.try_fill_with_distr(Uniform::new_inclusive(-b, b))?;
        } else if matches!(leaf, "scale" | "gamma" | "running_var") {
            t.try_fill_with_ones()?;
        } else {
            t.try_fill_with_zeros()?;
        }
        Ok(None)
    }

    fn visit_scalar<N: num_traits::NumCast>(
        &mut self,
        _: ScalarOptions<N>,
        _: (&mut N, String),
    ) -> Result<Option<N>, D::Err> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glorot_bounds() {
        // Keras: Conv2D(32, 3) on 1 channel: fan_in 9, fan_out 288.
        assert!((glorot(&[32, 1, 3, 3]) - (6.0f64 / 297.0).sqrt()).abs() < 1e-12);
        assert!((glorot(&[10, 128]) - (6.0f64 / 138.0).sqrt()).abs() < 1e-12);
        assert_eq!("Keras".parse::<Init>().unwrap(), Init::Keras);
        assert!("xavier".parse::<Init>().is_err());
    }
}

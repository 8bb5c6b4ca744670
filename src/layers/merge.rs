//! The joins of `Concat` and `Add` (what `network!` generates calls), on any [`Backend`].

use dfdx::prelude::*;

use crate::backend::{Backend, Element};
use crate::network::SampleShape;

/// Batches of samples `A` and `Bs` joined along channels (features for flat samples) into
/// samples `O`; the other sizes must agree (`network!` checks that at compile time).
pub fn concat<
    O: SampleShape,
    A: SampleShape,
    Bs: SampleShape,
    B: Dim,
    E: Element,
    D: Backend<E>,
    T: Tape<E, D> + Merge<T>,
>(
    a: Tensor<A::Batched<B>, E, D, T>,
    b: Tensor<Bs::Batched<B>, E, D, T>,
) -> Result<Tensor<O::Batched<B>, E, D, T>, D::Err> {
    let out = O::batched(A::batch_of(a.shape()));
    D::concat(a, b, out)
}

/// The sum of tensors of one shape; one tensor may come in more than once.
pub fn sum<S: Shape, E: Element, D: Backend<E>, T: Tape<E, D> + Merge<T>>(
    xs: Vec<Tensor<S, E, D, T>>,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    D::sum(xs)
}

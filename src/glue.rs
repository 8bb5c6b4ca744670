//! Helpers for the code `network!` generates (reached through `typenet::__private`): the
//! compile-time shape checks for sizes the macro cannot see, and forward passes that dfdx
//! only offers for one kind of tape.

// Tensor types with all their generics are long; aliases would only hide them.
#![allow(clippy::type_complexity)]

use dfdx::nn::modules::LeakyReLU;
use dfdx::prelude::*;

use crate::network::SampleShape;

/// The built module of a `network!` type, for any dtype and storage (the struct field type
/// of a nested network).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a network declared with `network!`",
    label = "not a `network!` type",
    note = "a bare name in a layer list that is no layer kind is a nested network; the layers are listed in the docs of `network!`"
)]
pub trait ModuleOf<E: Dtype, D: Storage<E>> {
    type Module: crate::layers::LayerParams;
}

/// Proof that two sample shapes are equal, checked where a size comes from a constant or a
/// nested network.
#[diagnostic::on_unimplemented(
    message = "shape mismatch: a sample of shape `{Self}` reaches a layer that expects `{S}`",
    label = "expects `{S}`, gets `{Self}`"
)]
pub trait SameShape<S: SampleShape>: SampleShape {
    fn cast<B: Dim, E: Dtype, D: Storage<E>, T>(
        x: Tensor<Self::Batched<B>, E, D, T>,
    ) -> Tensor<S::Batched<B>, E, D, T>;
}

impl<S: SampleShape> SameShape<S> for S {
    fn cast<B: Dim, E: Dtype, D: Storage<E>, T>(
        x: Tensor<S::Batched<B>, E, D, T>,
    ) -> Tensor<S::Batched<B>, E, D, T> {
        x
    }
}

/// A flat sample shape `(N)`.
#[diagnostic::on_unimplemented(
    message = "this layer needs a flat input (N), but gets `{Self}`",
    note = "add Flatten before it"
)]
pub trait FlatShape: SampleShape {
    const N: usize;
}
impl<const N: usize> FlatShape for (Const<N>,) {
    const N: usize = N;
}

/// A sequence sample shape `(C, L)`.
#[diagnostic::on_unimplemented(
    message = "this layer needs a sequence input (C, L), but gets `{Self}`",
    note = "sequence layers go before Flatten and Dense"
)]
pub trait SeqShape: SampleShape {
    const C: usize;
    const L: usize;
}
impl<const C: usize, const L: usize> SeqShape for (Const<C>, Const<L>) {
    const C: usize = C;
    const L: usize = L;
}

/// An image sample shape `(C, H, W)`.
#[diagnostic::on_unimplemented(
    message = "this layer needs an image input (C, H, W), but gets `{Self}`",
    note = "image layers go before Flatten and Dense"
)]
pub trait ImageShape: SampleShape {
    const C: usize;
    const H: usize;
    const W: usize;
}
impl<const C: usize, const H: usize, const W: usize> ImageShape for (Const<C>, Const<H>, Const<W>) {
    const C: usize = C;
    const H: usize = H;
    const W: usize = W;
}

/// The number of elements of a sample shape.
pub const fn numel(dims: &[usize]) -> usize {
    let mut n = 1;
    let mut i = 0;
    while i < dims.len() {
        n *= dims[i];
        i += 1;
    }
    n
}

/// [`crate::ops::out_size`], 0 where it is `None` (a separate const assertion reports that).
pub const fn out_dim(n: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    match crate::ops::out_size(n, k, s, p, d) {
        Some(v) => v,
        None => 0,
    }
}

/// `LeakyReLU(alpha)` in any dtype.
pub fn leaky_relu<E: Dtype>(alpha: f64) -> LeakyReLU<E> {
    LeakyReLU(E::from_f64(alpha).unwrap_or_default())
}

/// Where a check on sizes hangs: see [`flat_cast`] and [`image_cast`].
pub struct Sizes;

/// Two flat shapes are equal.
#[diagnostic::on_unimplemented(
    message = "shape mismatch: expected ({A}), found ({B})",
    label = "expects ({A}), gets ({B})"
)]
pub trait FlatIs<const A: usize, const B: usize> {}
impl<const N: usize> FlatIs<N, N> for Sizes {}

/// Two sequence shapes are equal.
#[diagnostic::on_unimplemented(
    message = "shape mismatch: expected ({C}, {L}), found ({C2}, {L2})",
    label = "expects ({C}, {L}), gets ({C2}, {L2})"
)]
pub trait SeqIs<const C: usize, const L: usize, const C2: usize, const L2: usize> {}
impl<const C: usize, const L: usize> SeqIs<C, L, C, L> for Sizes {}

/// Two image shapes are equal.
#[diagnostic::on_unimplemented(
    message = "shape mismatch: expected ({C}, {H}, {W}), found ({C2}, {H2}, {W2})",
    label = "expects ({C}, {H}, {W}), gets ({C2}, {H2}, {W2})"
)]
pub trait ImageIs<
    const C: usize,
    const H: usize,
    const W: usize,
    const C2: usize,
    const H2: usize,
    const W2: usize,
>
{
}
impl<const C: usize, const H: usize, const W: usize> ImageIs<C, H, W, C, H, W> for Sizes {}

/// `(B, Const<N>)` as `(B, Const<A>)`, where a bound proves `A == N` at compile time (sizes
/// from constants), with the sizes in the error.
pub fn flat_cast<
    const A: usize,
    const N: usize,
    B: Dim,
    E: crate::Element,
    D: crate::Backend<E>,
    T: Tape<E, D>,
>(
    x: Tensor<(B, Const<N>), E, D, T>,
) -> Result<Tensor<(B, Const<A>), E, D, T>, D::Err>
where
    Sizes: FlatIs<A, N>,
{
    crate::backend::realize(x)
}

/// The image version of [`flat_cast`].
pub fn image_cast<
    const C: usize,
    const H: usize,
    const W: usize,
    const C2: usize,
    const H2: usize,
    const W2: usize,
    B: Dim,
    E: crate::Element,
    D: crate::Backend<E>,
    T: Tape<E, D>,
>(
    x: Tensor<(B, Const<C2>, Const<H2>, Const<W2>), E, D, T>,
) -> Result<Tensor<(B, Const<C>, Const<H>, Const<W>), E, D, T>, D::Err>
where
    Sizes: ImageIs<C, H, W, C2, H2, W2>,
{
    crate::backend::realize(x)
}

/// The sequence version of [`flat_cast`].
pub fn seq_cast<
    const C: usize,
    const L: usize,
    const C2: usize,
    const L2: usize,
    B: Dim,
    E: crate::Element,
    D: crate::Backend<E>,
    T: Tape<E, D>,
>(
    x: Tensor<(B, Const<C2>, Const<L2>), E, D, T>,
) -> Result<Tensor<(B, Const<C>, Const<L>), E, D, T>, D::Err>
where
    Sizes: SeqIs<C, L, C2, L2>,
{
    crate::backend::realize(x)
}

/// A dense layer's parameters: dfdx's `Linear` or `UnbiasedLinear`.
pub trait DenseLayer<const I: usize, const O: usize, E: Dtype, D: Storage<E>> {
    fn weight(&self) -> &Tensor<Rank2<O, I>, E, D>;
    fn bias(&self) -> Option<&Tensor<Rank1<O>, E, D>>;
}

impl<const I: usize, const O: usize, E: Dtype, D: Storage<E>> DenseLayer<I, O, E, D>
    for dfdx::nn::modules::Linear<I, O, E, D>
{
    fn weight(&self) -> &Tensor<Rank2<O, I>, E, D> {
        &self.weight
    }
    fn bias(&self) -> Option<&Tensor<Rank1<O>, E, D>> {
        Some(&self.bias)
    }
}

impl<const I: usize, const O: usize, E: Dtype, D: Storage<E>> DenseLayer<I, O, E, D>
    for dfdx::nn::modules::UnbiasedLinear<I, O, E, D>
{
    fn weight(&self) -> &Tensor<Rank2<O, I>, E, D> {
        &self.weight
    }
    fn bias(&self) -> Option<&Tensor<Rank1<O>, E, D>> {
        None
    }
}

/// `Dense` (with its ReLU, and a `Flatten` before it, fused): `x` holds `batch` samples of
/// `I` values in any shape.
pub fn dense<
    const I: usize,
    const O: usize,
    L: DenseLayer<I, O, E, D>,
    S: Shape,
    B: Dim,
    E: crate::Element,
    D: crate::Backend<E>,
    T: Tape<E, D>,
>(
    layer: &L,
    x: Tensor<S, E, D, T>,
    batch: B,
    p: crate::ops::DenseParams,
) -> Result<Tensor<(B, Const<O>), E, D, T>, D::Err> {
    D::dense(x, batch, layer.weight(), layer.bias(), p)
}

/// An activation layer ([`crate::Backend::activation`]).
pub fn activation<S: Shape, E: crate::Element, D: crate::Backend<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
    act: crate::Activation,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    D::activation(x, act)
}

/// `LeakyReLU(alpha)`, with dfdx's module holding alpha.
pub fn leaky_relu_forward<S: Shape, E: crate::Element, D: crate::Backend<E>, T: Tape<E, D>>(
    layer: &LeakyReLU<E>,
    x: Tensor<S, E, D, T>,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    let alpha = layer.0.to_f64().unwrap_or(f64::NAN);
    D::activation(x, crate::Activation::LeakyReLU(alpha))
}

/// `Dropout(rate)` in a training pass ([`crate::Backend::dropout`]).
pub fn dropout<S: Shape, E: crate::Element, D: crate::Backend<E>, T: Tape<E, D>>(
    layer: &dfdx::nn::modules::Dropout,
    x: Tensor<S, E, D, T>,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    D::dropout(x, layer.p as f64)
}

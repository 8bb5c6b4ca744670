//! The traits every `network!` declaration implements.

use dfdx::nn::TensorCollection;
use dfdx::prelude::*;

use crate::backend::{Backend, Element};
use crate::summary::Summary;

/// The shape of one sample (no batch dimension): `(Const<N>,)`, `(Const<C>, Const<L>)` or
/// `(Const<C>, Const<H>, Const<W>)`.
pub trait SampleShape: ConstShape {
    /// The same shape with a batch dimension `B` in front.
    type Batched<B: Dim>: Shape;
    /// The batched shape for a batch of `b`.
    fn batched<B: Dim>(b: B) -> Self::Batched<B>;
    /// The batch dimension of a batched shape.
    fn batch_of<B: Dim>(s: &Self::Batched<B>) -> B;
}

impl<const N: usize> SampleShape for (Const<N>,) {
    type Batched<B: Dim> = (B, Const<N>);
    fn batched<B: Dim>(b: B) -> Self::Batched<B> {
        (b, Const)
    }
    fn batch_of<B: Dim>(s: &Self::Batched<B>) -> B {
        s.0
    }
}

impl<const C: usize, const L: usize> SampleShape for (Const<C>, Const<L>) {
    type Batched<B: Dim> = (B, Const<C>, Const<L>);
    fn batched<B: Dim>(b: B) -> Self::Batched<B> {
        (b, Const, Const)
    }
    fn batch_of<B: Dim>(s: &Self::Batched<B>) -> B {
        s.0
    }
}

impl<const C: usize, const H: usize, const W: usize> SampleShape
    for (Const<C>, Const<H>, Const<W>)
{
    type Batched<B: Dim> = (B, Const<C>, Const<H>, Const<W>);
    fn batched<B: Dim>(b: B) -> Self::Batched<B> {
        (b, Const, Const, Const)
    }
    fn batch_of<B: Dim>(s: &Self::Batched<B>) -> B {
        s.0
    }
}

/// A batch of samples of shape `S`.
pub type Batch<S, B, E, D, T = NoneTape> = Tensor<<S as SampleShape>::Batched<B>, E, D, T>;

#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a network declared with `network!`",
    label = "not a `network!` type"
)]
/// The type `network! { struct Net: ... }` declares (`Net`): a zero-sized description of
/// the network that `dev.build_module::<Net, E>()` turns into a [`Network`] module.
pub trait NetworkSpec {
    /// The declared name.
    const NAME: &'static str;
    /// One sample's shape, channels first.
    const INPUT_SHAPE: &'static [usize];
    /// What one sample becomes.
    const OUTPUT_SHAPE: &'static [usize];
    /// Keras's "Total params".
    const PARAMS: usize;
    /// Keras's "Trainable params".
    const TRAINABLE_PARAMS: usize;
    /// [`Self::INPUT_SHAPE`] as a type.
    type Input: SampleShape;
    /// [`Self::OUTPUT_SHAPE`] as a type.
    type Output: SampleShape;
    /// The built module.
    type Module<E: Element, D: Backend<E>>: Network<
        E,
        D,
        InputShape = Self::Input,
        OutputShape = Self::Output,
    >;
    /// A Keras-style table of the layers.
    fn summary() -> Summary;
}

/// A built `network!` module. It is also a dfdx `Module` / `ModuleMut` on batched
/// (`Const` or `usize` batch, any tape) and unbatched inputs; this trait adds what generic
/// code (the trainer) needs: the shapes as types and the logits before a final `Softmax`.
pub trait Network<E: Element, D: Backend<E>>: TensorCollection<E, D> {
    /// One sample's shape.
    type InputShape: SampleShape;
    /// What one sample becomes.
    type OutputShape: SampleShape;
    /// Whether the last layer is `Softmax` (then the logits are what comes before it).
    const ENDS_IN_SOFTMAX: bool;

    /// Inference forward without a final `Softmax` (dropout off, batch-norm running stats).
    fn try_forward_logits<B: Dim, T: Tape<E, D>>(
        &self,
        x: Batch<Self::InputShape, B, E, D, T>,
    ) -> Result<Batch<Self::OutputShape, B, E, D, T>, D::Err>;

    /// Training forward (dropout and batch statistics active) without a final `Softmax`:
    /// what `fit` runs. It computes the gradients of the parameters only: when the first
    /// layer is a `Conv2D`, the input's gradient is skipped (use `forward_mut` for it).
    fn try_forward_logits_mut<B: Dim, T: Tape<E, D>>(
        &mut self,
        x: Batch<Self::InputShape, B, E, D, T>,
    ) -> Result<Batch<Self::OutputShape, B, E, D, T>, D::Err>;

    /// The whole inference forward, final `Softmax` included (what `forward` does).
    fn try_forward_batch<B: Dim, T: Tape<E, D>>(
        &self,
        x: Batch<Self::InputShape, B, E, D, T>,
    ) -> Result<Batch<Self::OutputShape, B, E, D, T>, D::Err> {
        let y = self.try_forward_logits(x)?;
        if Self::ENDS_IN_SOFTMAX {
            dfdx::nn::Module::try_forward(&dfdx::nn::modules::Softmax, y)
        } else {
            Ok(y)
        }
    }

    /// The whole training forward, final `Softmax` included (what `forward_mut` does).
    fn try_forward_batch_mut<B: Dim, T: Tape<E, D>>(
        &mut self,
        x: Batch<Self::InputShape, B, E, D, T>,
    ) -> Result<Batch<Self::OutputShape, B, E, D, T>, D::Err> {
        let y = self.try_forward_logits_mut(x)?;
        if Self::ENDS_IN_SOFTMAX {
            dfdx::nn::Module::try_forward(&dfdx::nn::modules::Softmax, y)
        } else {
            Ok(y)
        }
    }
}

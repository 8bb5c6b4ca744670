//! `Embedding`: token ids `(L)` to learned vectors, channels first `(DIM, L)` so that
//! `Conv1D` and the 1-d pools follow directly.

use dfdx::nn::modules::{Module, NonMutableModule};
use dfdx::nn::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::prelude::*;

use super::conv2d::reset_uniform;
use super::LayerParams;
use crate::backend::{Backend, Element};

/// The largest vocabulary: token ids travel in the network's float element type, and
/// `f32` holds every integer up to `2^24` exactly.
pub const MAX_VOCAB: usize = 1 << 24;

/// A table of `VOCAB` learned vectors of `DIM` values (Keras's `Embedding(VOCAB, DIM)`,
/// PyTorch's `nn.Embedding` followed by a permute to channels first).
///
/// Input `(B, L)` (or an unbatched `(L)`) of token ids, each an integer in `0..VOCAB`
/// carried in the element type (`Dataset::from_tokens` builds such inputs and rejects ids
/// out of range); output `(B, DIM, L)`: position `j`'s vector is column `j`. An id that is
/// not an integer below `VOCAB` is the device's error (`CpuError::WrongNumElements` on
/// `Cpu`), never clamped. The table starts uniform in `±1`.
#[derive(Debug, Clone)]
pub struct Embedding<const VOCAB: usize, const DIM: usize, E: Dtype, D: Storage<E>> {
    /// Shape `(VOCAB, DIM)`: row `i` is token `i`'s vector (PyTorch's `Embedding.weight`).
    pub weight: Tensor<Rank2<VOCAB, DIM>, E, D>,
}

/// `VOCAB * DIM`, all trainable (Keras's count).
impl<const VOCAB: usize, const DIM: usize, E: Dtype, D: Storage<E>> LayerParams
    for Embedding<VOCAB, DIM, E, D>
{
    const PARAMS: usize = VOCAB * DIM;
    const TRAINABLE_PARAMS: usize = Self::PARAMS;
}

impl<const VOCAB: usize, const DIM: usize, E: Element, D: Device<E>> TensorCollection<E, D>
    for Embedding<VOCAB, DIM, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = Embedding<VOCAB, DIM, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        let weight = Self::tensor(
            "weight",
            |s| &s.weight,
            |s| &mut s.weight,
            TensorOptions::reset_with(|t| reset_uniform(t, 1)),
        );
        visitor.visit_fields((weight,), |(weight,)| Embedding { weight })
    }
}

impl<const VOCAB: usize, const DIM: usize, E: Dtype, D: Storage<E>> NonMutableModule
    for Embedding<VOCAB, DIM, E, D>
{
}

impl<
        const VOCAB: usize,
        const DIM: usize,
        B: Dim,
        L: Dim,
        E: Element,
        D: Backend<E>,
        T: Tape<E, D>,
    > Module<Tensor<(B, L), E, D, T>> for Embedding<VOCAB, DIM, E, D>
{
    type Output = Tensor<(B, Const<DIM>, L), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(B, L), E, D, T>) -> Result<Self::Output, D::Err> {
        D::embedding(x, &self.weight)
    }
}

impl<const VOCAB: usize, const DIM: usize, L: Dim, E: Element, D: Backend<E>, T: Tape<E, D>>
    Module<Tensor<(L,), E, D, T>> for Embedding<VOCAB, DIM, E, D>
{
    type Output = Tensor<(Const<DIM>, L), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(L,), E, D, T>) -> Result<Self::Output, D::Err> {
        let (l,) = *x.shape();
        let y = self.try_forward(x.try_reshape_like(&(Const::<1>, l))?)?;
        y.try_reshape_like(&(Const::<DIM>, l))
    }
}

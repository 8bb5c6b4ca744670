//! A tiny classifier for the trainer's tests: 4 features -> Dense(16) -> ReLU -> Dense(3)
//! -> Softmax, written the way `network!` writes modules.
#![allow(dead_code, clippy::type_complexity)]

use dfdx::nn::modules::{Linear, Module, ReLU, Softmax};
use dfdx::nn::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use typenet::{Backend, Batch, Element, Network};

/// builder
#[derive(Debug, Clone, Copy, Default)]
pub struct Tiny;

#[derive(Debug, Clone)]
pub struct TinyModule<E: Dtype = f32, D: Storage<E> = Cpu> {
    pub dense_0: Linear<4, 16, E, D>,
    pub relu_1: ReLU,
    pub dense_2: Linear<16, 3, E, D>,
    pub softmax_3: Softmax,
}

impl<E: Element, D: Backend<E>> TensorCollection<E, D> for TinyModule<E, D> {
    type To<E2: Dtype, D2: Device<E2>> = TinyModule<E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("dense_0", |s| &s.dense_0, |s| &mut s.dense_0),
                Self::module("dense_2", |s| &s.dense_2, |s| &mut s.dense_2),
            ),
            |(dense_0, dense_2)| TinyModule {
                dense_0,
                relu_1: Default::default(),
                dense_2,
                softmax_3: Default::default(),
            },
        )
    }
}

impl<E: Element, D: Backend<E>> dfdx::nn::BuildOnDevice<D, E> for Tiny {
    type Built = TinyModule<E, D>;
}

impl<E: Element, D: Backend<E>> TinyModule<E, D> {
    fn logits<B: Dim, T: Tape<E, D>>(
        &self,
        x: Tensor<(B, Const<4>), E, D, T>,
    ) -> Result<Tensor<(B, Const<3>), E, D, T>, D::Err> {
        let x = self.dense_0.try_forward(x)?;
        let x = self.relu_1.try_forward(x)?;
        self.dense_2.try_forward(x)
    }
}

impl<B: Dim, E: Element, D: Backend<E>, T: Tape<E, D>> Module<Tensor<(B, Const<4>), E, D, T>>
    for TinyModule<E, D>
{
    type Output = Tensor<(B, Const<3>), E, D, T>;
    type Error = D::Err;
    fn try_forward(&self, x: Tensor<(B, Const<4>), E, D, T>) -> Result<Self::Output, D::Err> {
        let x = self.logits(x)?;
        self.softmax_3.try_forward(x)
    }
}

impl<E: Element, D: Backend<E>> Network<E, D> for TinyModule<E, D> {
    type InputShape = (Const<4>,);
    type OutputShape = (Const<3>,);
    const ENDS_IN_SOFTMAX: bool = true;

    fn try_forward_logits<B: Dim, T: Tape<E, D>>(
        &self,
        x: Batch<Self::InputShape, B, E, D, T>,
    ) -> Result<Batch<Self::OutputShape, B, E, D, T>, D::Err> {
        self.logits(x)
    }

    fn try_forward_logits_mut<B: Dim, T: Tape<E, D>>(
        &mut self,
        x: Batch<Self::InputShape, B, E, D, T>,
    ) -> Result<Batch<Self::OutputShape, B, E, D, T>, D::Err> {
        self.logits(x)
    }
}

/// `n` samples of 3 separable classes: class `c` has feature `c` near 1.5 and the others
/// near 0, with deterministic jitter.
pub fn blobs(n: usize) -> typenet::data::Dataset<(Const<4>,)> {
    let mut features = Vec::with_capacity(n * 4);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 3;
        for f in 0..4 {
            let jitter = (((i * 7 + f * 13) % 11) as f32 - 5.0) * 0.06;
            let base = if f == class { 1.5 } else { 0.0 };
            features.push(base + jitter);
        }
        labels.push(class);
    }
    typenet::data::Dataset::new(features, labels).expect("consistent sizes")
}

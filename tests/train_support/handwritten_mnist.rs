//! The MNIST CNN of SPEC §1 as `network!` will generate it (a copy of
//! `tests/handwritten_expansion.rs` plus the `Network` impl), for the training tests until
//! the macro lands. `mnist_network.rs` beside it is the `network!` version: switching the
//! `#[path]` line that includes this file is the only change needed after the merge.
#![allow(dead_code, clippy::type_complexity)]

use dfdx::nn::modules::{Module, ModuleMut};
use dfdx::nn::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use typenet::__private::realize;
use typenet::layers;
use typenet::{Backend, Batch, Element, Network};

/// builder
#[derive(Debug, Clone, Copy, Default)]
pub struct MnistCnn;

#[derive(Debug, Clone)]
pub struct MnistCnnModule<E: Dtype = f32, D: Storage<E> = AutoDevice> {
    pub conv2d_0: layers::Conv2D<1, 32, 3, 1, 0, 1, true, E, D>,
    pub relu_1: dfdx::nn::modules::ReLU,
    pub max_pool2d_2: layers::MaxPool2D<2, 2, 0>,
    pub flatten_3: layers::Flatten,
    pub dense_4: dfdx::nn::modules::Linear<5408, 128, E, D>,
    pub relu_5: dfdx::nn::modules::ReLU,
    pub dense_6: dfdx::nn::modules::Linear<128, 10, E, D>,
    pub softmax_7: dfdx::nn::modules::Softmax,
}

impl<E: Element, D: Backend<E>> TensorCollection<E, D> for MnistCnnModule<E, D> {
    type To<E2: Dtype, D2: Device<E2>> = MnistCnnModule<E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv2d_0", |s| &s.conv2d_0, |s| &mut s.conv2d_0),
                Self::module("dense_4", |s| &s.dense_4, |s| &mut s.dense_4),
                Self::module("dense_6", |s| &s.dense_6, |s| &mut s.dense_6),
            ),
            |(conv2d_0, dense_4, dense_6)| MnistCnnModule {
                conv2d_0,
                relu_1: Default::default(),
                max_pool2d_2: Default::default(),
                flatten_3: Default::default(),
                dense_4,
                relu_5: Default::default(),
                dense_6,
                softmax_7: Default::default(),
            },
        )
    }
}

impl<E: Element, D: Backend<E>> dfdx::nn::BuildOnDevice<D, E> for MnistCnn {
    type Built = MnistCnnModule<E, D>;
}

impl<E: Element, D: Backend<E>> MnistCnnModule<E, D> {
    fn logits<B: Dim, T: Tape<E, D>>(
        &self,
        x: Tensor<(B, Const<1>, Const<28>, Const<28>), E, D, T>,
    ) -> Result<Tensor<(B, Const<10>), E, D, T>, D::Err> {
        let x = self.conv2d_0.try_forward_relu(x)?; // Conv2D + ReLU fused
        let x: Tensor<(B, Const<32>, Const<26>, Const<26>), E, D, T> = realize(x)?;
        let x = self.max_pool2d_2.try_forward(x)?;
        let x: Tensor<(B, Const<32>, Const<13>, Const<13>), E, D, T> = realize(x)?;
        let x = self.flatten_3.try_forward(x)?;
        let x: Tensor<(B, Const<5408>), E, D, T> = realize(x)?;
        let x = self.dense_4.try_forward(x)?;
        let x = self.relu_5.try_forward(x)?;
        let x = self.dense_6.try_forward(x)?;
        Ok(x)
    }
}

impl<B: Dim, E: Element, D: Backend<E>, T: Tape<E, D>>
    Module<Tensor<(B, Const<1>, Const<28>, Const<28>), E, D, T>> for MnistCnnModule<E, D>
{
    type Output = Tensor<(B, Const<10>), E, D, T>;
    type Error = D::Err;
    fn try_forward(
        &self,
        x: Tensor<(B, Const<1>, Const<28>, Const<28>), E, D, T>,
    ) -> Result<Self::Output, D::Err> {
        let x = self.logits(x)?;
        self.softmax_7.try_forward(x)
    }
}

impl<B: Dim, E: Element, D: Backend<E>, T: Tape<E, D>>
    ModuleMut<Tensor<(B, Const<1>, Const<28>, Const<28>), E, D, T>> for MnistCnnModule<E, D>
{
    type Output = Tensor<(B, Const<10>), E, D, T>;
    type Error = D::Err;
    fn try_forward_mut(
        &mut self,
        x: Tensor<(B, Const<1>, Const<28>, Const<28>), E, D, T>,
    ) -> Result<Self::Output, D::Err> {
        let x = self.logits(x)?;
        self.softmax_7.try_forward_mut(x)
    }
}

impl<E: Element, D: Backend<E>> Network<E, D> for MnistCnnModule<E, D> {
    type InputShape = (Const<1>, Const<28>, Const<28>);
    type OutputShape = (Const<10>,);
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
        // (no layer here behaves differently in training)
        self.logits(x)
    }
}

impl typenet::NetworkSpec for MnistCnn {
    const NAME: &'static str = "MnistCnn";
    const INPUT_SHAPE: &'static [usize] = &[1, 28, 28];
    const OUTPUT_SHAPE: &'static [usize] = &[10];
    const PARAMS: usize = 693_962;
    const TRAINABLE_PARAMS: usize = 693_962;
    type Input = (Const<1>, Const<28>, Const<28>);
    type Output = (Const<10>,);
    type Module<E: Element, D: Backend<E>> = MnistCnnModule<E, D>;

    fn summary() -> typenet::Summary {
        let row =
            |layer: &str, kind: &str, output_shape: &[usize], params: usize| typenet::SummaryRow {
                layer: layer.to_string(),
                kind: kind.to_string(),
                output_shape: output_shape.to_vec(),
                params,
                trainable: params,
            };
        typenet::Summary {
            name: Self::NAME.to_string(),
            input_shape: Self::INPUT_SHAPE.to_vec(),
            rows: vec![
                row("conv2d_0 (Conv2D)", "Conv2D", &[32, 26, 26], 320),
                row("relu_1 (ReLU)", "ReLU", &[32, 26, 26], 0),
                row("max_pool2d_2 (MaxPool2D)", "MaxPool2D", &[32, 13, 13], 0),
                row("flatten_3 (Flatten)", "Flatten", &[5408], 0),
                row("dense_4 (Dense)", "Dense", &[128], 692_352),
                row("relu_5 (ReLU)", "ReLU", &[128], 0),
                row("dense_6 (Dense)", "Dense", &[10], 1_290),
                row("softmax_7 (Softmax)", "Softmax", &[10], 0),
            ],
        }
    }
}

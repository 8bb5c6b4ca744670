//! The layers as dfdx modules: building, parameter counts, batched and unbatched forward,
//! and gradients reaching the parameters.

use dfdx::nn::modules::Module;
use dfdx::prelude::*;
use typenet::__private::ops::{self, Conv2DParams};
use typenet::layers::{AvgPool2D, Conv2D, Flatten, LayerParams, MaxPool2D};

type Conv = Conv2D<2, 4, 3, 1, 1, 1, true, f64, Cpu>;
type ConvNoBias = Conv2D<2, 4, 3, 2, 0, 1, false, f64, Cpu>;

fn assert_close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
            "[{i}]: {x} vs {y}"
        );
    }
}

#[test]
fn conv2d_counts_keras_params() {
    let dev = Cpu::default();
    assert_eq!(Conv::build(&dev).num_trainable_params(), 3 * 3 * 2 * 4 + 4);
    assert_eq!(Conv::PARAMS, 76);
    let m = ConvNoBias::build(&dev);
    assert_eq!(m.num_trainable_params(), 3 * 3 * 2 * 4);
    assert!(m.bias.is_none());
}

#[test]
fn conv2d_layer_is_the_op_with_its_weights() {
    let dev = Cpu::seed_from_u64(1);
    let m = Conv::build(&dev);
    let x: Tensor<Rank4<3, 2, 7, 5>, f64, _> = dev.sample_normal();
    let y = m.forward(x.clone());
    assert_eq!(*y.shape(), (Const::<3>, Const::<4>, 7, 5));
    let p = Conv2DParams::new(1, 1, 1).relu(false);
    let want = ops::generic::conv2d(
        x.clone().realize::<(usize, usize, usize, usize)>(),
        m.weight.clone().realize(),
        m.bias.clone().map(|b| b.realize()),
        p,
    )
    .unwrap();
    assert_close(&y.as_vec(), &want.as_vec());
    // Unbatched input gives the first sample's output.
    let x0: Tensor<Rank3<2, 7, 5>, f64, _> =
        dev.tensor_from_vec(x.as_vec()[..70].to_vec(), (Const, Const, Const));
    let y0 = m.forward(x0);
    assert_eq!(*y0.shape(), (Const::<4>, 7, 5));
    assert_close(&y0.as_vec(), &y.as_vec()[..140]);
}

#[test]
fn conv2d_gradients_reach_weight_and_bias() {
    let dev = Cpu::seed_from_u64(2);
    let m = Conv::build(&dev);
    let mut grads = m.alloc_grads();
    let x: Tensor<(usize, Const<2>, Const<6>, Const<6>), f64, _> =
        dev.sample_normal_like(&(2, Const, Const, Const));
    grads = m.forward(x.trace(grads)).square().sum().backward();
    let gw = grads.get(&m.weight).as_vec();
    let gb = grads.get(m.bias.as_ref().unwrap()).as_vec();
    assert!(gw.iter().any(|v| *v != 0.0) && gb.iter().any(|v| *v != 0.0));
}

#[test]
fn pools_and_flatten_shapes() {
    let dev = Cpu::default();
    let x: Tensor<Rank4<2, 3, 9, 8>, f32, _> = dev.sample_normal();
    let y = MaxPool2D::<2, 2, 0>.forward(x.clone());
    assert_eq!(*y.shape(), (Const::<2>, Const::<3>, 4, 4));
    let y = AvgPool2D::<3, 1, 1>.forward(x.clone());
    assert_eq!(*y.shape(), (Const::<2>, Const::<3>, 9, 8));
    let f = Flatten.forward(x.clone());
    assert_eq!(*f.shape(), (Const::<2>, 3 * 9 * 8));
    assert_eq!(f.as_vec(), x.as_vec());
    let flat: Tensor<Rank2<2, 5>, f32, _> = dev.sample_normal();
    assert_eq!(Flatten.forward(flat.clone()).as_vec(), flat.as_vec());
    let single: Tensor<Rank3<3, 9, 8>, f32, _> = dev.sample_normal();
    assert_eq!(
        *MaxPool2D::<3, 3, 0>.forward(single).shape(),
        (Const::<3>, 3, 2)
    );
}

#[test]
fn fused_conv_relu_pool_is_the_three_layers() {
    use typenet::backend::Pool2DParams;
    use typenet::layers::Fused;
    let dev = Cpu::seed_from_u64(9);
    let m = Conv::build(&dev);
    let x: Tensor<Rank4<2, 2, 8, 7>, f64, _> = dev.sample_normal();
    let fused = Fused {
        relu: true,
        max_pool: Some(Pool2DParams {
            window: 2,
            stride: 2,
            padding: 0,
        }),
        input_grad: true,
    };
    // Leaky tapes keep the input's gradient too.
    let y1 = m.try_forward_fused(x.leaky_trace(), fused).unwrap();
    let y2 = MaxPool2D::<2, 2, 0>.forward(m.forward(x.leaky_trace()).relu());
    assert_eq!(*y1.shape(), *y2.shape());
    assert_close(
        &y1.retaped::<NoneTape>().as_vec(),
        &y2.retaped::<NoneTape>().as_vec(),
    );
    let (g1, g2) = (y1.square().sum().backward(), y2.square().sum().backward());
    assert_close(&g1.get(&m.weight).as_vec(), &g2.get(&m.weight).as_vec());
    assert_close(&g1.get(&x).as_vec(), &g2.get(&x).as_vec());
}

/// `LayerParams` gives Keras's counts for every type `network!` puts in a network, and
/// the trainable ones are what dfdx's optimizers update.
#[test]
fn layer_params_are_keras_counts() {
    use dfdx::nn::modules::{
        AvgPoolGlobal, BatchNorm1D, BatchNorm2D, Dropout, FastGeLU, LayerNorm1D, LeakyReLU, Linear,
        MaxPoolGlobal, ReLU, Sigmoid, Softmax, Tanh, UnbiasedLinear,
    };
    type First = Conv2D<1, 32, 3, 1, 0, 1, true, f32, Cpu>;
    type Hidden = Linear<5408, 128, f32, Cpu>;
    type Out = Linear<128, 10, f32, Cpu>;
    // Keras's summary of the MNIST convnet: 320 + 692,352 + 1,290.
    assert_eq!(First::PARAMS, 320);
    assert_eq!(<Hidden as LayerParams>::PARAMS, 692_352);
    assert_eq!(<Out as LayerParams>::PARAMS, 1_290);
    assert_eq!(<ConvNoBias as LayerParams>::PARAMS, 3 * 3 * 2 * 4);
    assert_eq!(<UnbiasedLinear<6, 5, f32, Cpu> as LayerParams>::PARAMS, 30);
    // Batch norm: gamma, beta (trainable), moving mean and variance.
    assert_eq!(<BatchNorm2D<32, f32, Cpu> as LayerParams>::PARAMS, 128);
    assert_eq!(
        <BatchNorm2D<32, f32, Cpu> as LayerParams>::TRAINABLE_PARAMS,
        64
    );
    assert_eq!(<BatchNorm1D<10, f32, Cpu> as LayerParams>::PARAMS, 40);
    assert_eq!(
        <BatchNorm1D<10, f32, Cpu> as LayerParams>::TRAINABLE_PARAMS,
        20
    );
    assert_eq!(<LayerNorm1D<16, f32, Cpu> as LayerParams>::PARAMS, 32);
    assert_eq!(
        <LayerNorm1D<16, f32, Cpu> as LayerParams>::TRAINABLE_PARAMS,
        32
    );
    let none = [
        MaxPool2D::<2, 2, 0>::PARAMS,
        AvgPool2D::<3, 1, 1>::PARAMS,
        Flatten::PARAMS,
        ReLU::PARAMS,
        Sigmoid::PARAMS,
        Tanh::PARAMS,
        FastGeLU::PARAMS,
        Softmax::PARAMS,
        LeakyReLU::<f32>::PARAMS,
        Dropout::PARAMS,
        AvgPoolGlobal::PARAMS,
        MaxPoolGlobal::PARAMS,
    ];
    assert_eq!(none, [0; 12]);
    assert_eq!(Flatten::TRAINABLE_PARAMS + ReLU::TRAINABLE_PARAMS, 0);
    // The trainable counts are the tensors dfdx's optimizers see.
    let dev = Cpu::default();
    assert_eq!(
        Linear::<7, 3, f32, Cpu>::build(&dev).num_trainable_params(),
        <Linear<7, 3, f32, Cpu> as LayerParams>::TRAINABLE_PARAMS
    );
    assert_eq!(
        UnbiasedLinear::<7, 3, f32, Cpu>::build(&dev).num_trainable_params(),
        <UnbiasedLinear<7, 3, f32, Cpu> as LayerParams>::TRAINABLE_PARAMS
    );
    assert_eq!(
        LayerNorm1D::<9, f32, Cpu>::build(&dev).num_trainable_params(),
        <LayerNorm1D<9, f32, Cpu> as LayerParams>::TRAINABLE_PARAMS
    );
    assert_eq!(
        BatchNorm2D::<5, f32, Cpu>::build(&dev).num_trainable_params(),
        <BatchNorm2D<5, f32, Cpu> as LayerParams>::TRAINABLE_PARAMS
    );
    assert_eq!(
        First::build(&dev).num_trainable_params(),
        First::TRAINABLE_PARAMS
    );
    // The network's total is the sum of its layers'.
    assert_eq!(
        typenet::models::MnistCnn::PARAMS,
        First::PARAMS + <Hidden as LayerParams>::PARAMS + <Out as LayerParams>::PARAMS
    );
}

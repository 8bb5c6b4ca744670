//! The generated API on SPEC examples: parameter counts, summaries, forward shapes,
//! training and safetensors.
use dfdx::prelude::*;
use typenet::prelude::*;

network! {
    /// The SPEC §1 example.
    pub struct MnistCnn: (1, 28, 28) -> (10) {
        Conv2D(32, 3),
        ReLU,
        MaxPool2D(2),
        Flatten,
        Dense(128),
        ReLU,
        Dense(10),
        Softmax,
    }
}

#[test]
fn mnist_params_match_keras() {
    // Keras: conv 3*3*1*32+32 = 320, dense 5408*128+128 = 692,352, dense 128*10+10 = 1,290.
    assert_eq!(MnistCnn::PARAMS, 693_962);
    assert_eq!(MnistCnn::TRAINABLE_PARAMS, 693_962);
    assert_eq!(MnistCnn::INPUT_SHAPE, &[1, 28, 28]);
    assert_eq!(MnistCnn::OUTPUT_SHAPE, &[10]);
    let dev = Cpu::default();
    let m = dev.build_module::<MnistCnn, f32>();
    assert_eq!(m.num_trainable_params(), 693_962);
    let x: Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, _> = dev.sample_normal_like(&(3, Const, Const, Const));
    let y = m.forward(x);
    assert_eq!(y.shape().0, 3);
    let _: Tensor<Rank2<2, 10>, f32, _> = m.forward(dev.sample_normal::<Rank4<2, 1, 28, 28>>());
    let _: Tensor<Rank1<10>, f32, _> = m.forward(dev.sample_normal::<Rank3<1, 28, 28>>());
    println!("{}", MnistCnn::summary());
}

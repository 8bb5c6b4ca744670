use dfdx::prelude::*;
use typenet::prelude::*;

network! {
    /// Only layers without parameters.
    pub(crate) struct ActOnly: 4 -> 4 { ReLU, Tanh }
}

network! {
    /// No layers at all: the identity.
    pub struct Identity: (2, 3, 3) {}
}

network! {
    /// More parameterised layers than a dfdx field tuple holds (6).
    pub struct Deep: 4 -> 4 {
        Dense(4), Dense(4), Dense(4), Dense(4), Dense(4), Dense(4), Dense(4), Dense(4),
        LayerNorm, Dense(4), BatchNorm1D, Dense(4), Dense(4), Dense(4),
    }
}

network! {
    pub struct Block: (4, 6, 6) -> (4, 6, 6) { Conv2D(4, 3, padding = same), ReLU }
}

network! {
    /// Nested networks inside a Residual, and a Residual and BatchNorm2D after one.
    pub struct Mixed: (4, 6, 6) -> 2 {
        Residual { Block, Block },
        Block,
        Residual { ReLU },
        BatchNorm2D,
        AvgPool2D(2),
        Flatten,
        Dense(2),
    }
}

fn main() {
    network! {
        /// Declared inside a function.
        struct Local: 3 -> 1 { Dense(1), Sigmoid }
    }
    let dev = Cpu::default();
    let _: Tensor<Rank1<4>, f32, Cpu> = dev.build_module::<ActOnly, f32>().forward(dev.zeros::<Rank1<4>>());
    let _: Tensor<Rank3<2, 3, 3>, f32, Cpu> = dev.build_module::<Identity, f32>().forward(dev.zeros::<Rank3<2, 3, 3>>());
    let deep = dev.build_module::<Deep, f32>();
    assert_eq!(deep.num_trainable_params(), Deep::TRAINABLE_PARAMS);
    assert_eq!(Deep::PARAMS, 12 * 20 + 8 + 16);
    let _: Tensor<Rank2<3, 4>, f32, Cpu> = deep.forward(dev.zeros::<Rank2<3, 4>>());
    let mut mixed = dev.build_module::<Mixed, f32>();
    assert_eq!(Mixed::PARAMS, 3 * 148 + 16 + 74);
    assert_eq!(mixed.num_trainable_params(), 3 * 148 + 8 + 74);
    let _: Tensor<Rank2<5, 2>, f32, Cpu> = mixed.forward_mut(dev.sample_normal::<Rank4<5, 4, 6, 6>>());
    let _ = &mixed.residual_0.block_1.conv2d_0.weight;
    let _: Tensor<Rank1<1>, f64, Cpu> = dev.build_module::<Local, f64>().forward(dev.zeros::<Rank1<3>>());
}

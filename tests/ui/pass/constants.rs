use dfdx::prelude::*;
use typenet::prelude::*;

mod cfg {
    pub const FILTERS: usize = 8;
    pub const KERNEL: usize = 3;
}
const CHANNELS: usize = 3;
const NUM_CLASSES: usize = 10;
const HIDDEN: usize = 32;
// Generated code's own generics never clash with user constants.
const D: usize = 4;
const E: usize = 2;

network! {
    pub struct Consts: (CHANNELS, 32, 32) -> (NUM_CLASSES) {
        Conv2D(CHANNELS => cfg::FILTERS, cfg::KERNEL, padding = same),
        MaxPool2D(D, stride = E),
        Conv2D(cfg::FILTERS, cfg::KERNEL, stride = E, padding = 1, dilation = E),
        Flatten,
        Dense(HIDDEN),
        Dropout(RATE),
        LeakyReLU(ALPHA),
        Dense(HIDDEN => NUM_CLASSES),
    }
}
const RATE: f32 = 0.5;
const ALPHA: f64 = 0.1;

network! {
    pub struct FlatConsts: HIDDEN -> HIDDEN { Dense(HIDDEN), BatchNorm1D, LayerNorm }
}

fn main() {
    let dev = Cpu::default();
    let m = dev.build_module::<Consts, f32>();
    let _: Tensor<Rank2<2, 10>, f32, Cpu> = m.forward(dev.zeros::<Rank4<2, 3, 32, 32>>());
    // (32 - 4) / 2 + 1 = 15; (15 + 2 - 4 - 1) / 2 + 1 = 7
    assert_eq!(Consts::summary().rows[2].output_shape, vec![8, 7, 7]);
    let f = dev.build_module::<FlatConsts, f32>();
    let _: Tensor<Rank1<32>, f32, Cpu> = f.forward(dev.zeros::<Rank1<32>>());
}

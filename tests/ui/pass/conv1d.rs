use dfdx::prelude::*;
use typenet::prelude::*;

const CHANNELS: usize = 3;
const LEN: usize = 50;
const KERNEL: usize = 5;

// Conv1D on (C, L), sizes from literals and from constants, every argument.
network! {
    pub struct TextCnn: (CHANNELS, LEN) -> (4) {
        Conv1D(16, KERNEL, padding = same, activation = relu),
        Conv1D(16 => 8, 3, stride = 2, padding = 1, dilation = 1, bias = false),
        Conv1D(8, 3, padding = valid, dilation = 2),
        Flatten,
        Dense(4),
    }
}

network! {
    pub struct Literal: (2, 10) -> (6, 8) {
        Conv1D(2 => 6, 3),
    }
}

fn main() {
    let dev = Cpu::default();
    let m = dev.build_module::<TextCnn, f32>();
    let _: Tensor<Rank2<2, 4>, f32, _> = m.forward(dev.zeros::<Rank3<2, CHANNELS, LEN>>());
    let _: Tensor<Rank1<4>, f32, _> = m.forward(dev.zeros::<Rank2<CHANNELS, LEN>>());
    let l = dev.build_module::<Literal, f32>();
    let _: Tensor<Rank3<1, 6, 8>, f32, _> = l.forward(dev.zeros::<Rank3<1, 2, 10>>());
    assert_eq!(Literal::PARAMS, 3 * 2 * 6 + 6);
}

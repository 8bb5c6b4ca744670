use dfdx::prelude::*;
use typenet::prelude::*;

const CHANNELS: usize = 3;
const LEN: usize = 48;
const WINDOW: usize = 3;

// The 1-d pools on (C, L), sizes from literals and from constants, every argument.
network! {
    pub struct Pools: (CHANNELS, LEN) -> (4) {
        Conv1D(8, 3, padding = same, activation = relu),
        MaxPool1D(2),
        AvgPool1D(WINDOW, stride = 1, padding = 1),
        MaxPool1D(WINDOW, stride = 2, padding = valid),
        GlobalAvgPool1D,
        Dense(4),
    }
}

network! {
    pub struct Literal: (2, 10) -> (2, 4) {
        MaxPool1D(3, stride = 2, padding = 1),
        AvgPool1D(2, stride = 1),
    }
}

network! {
    pub struct GlobalMax: (6, 7) -> (6) {
        GlobalMaxPool1D,
    }
}

fn main() {
    let dev = Cpu::default();
    let m = dev.build_module::<Pools, f32>();
    let _: Tensor<Rank2<2, 4>, f32, _> = m.forward(dev.zeros::<Rank3<2, CHANNELS, LEN>>());
    let _: Tensor<Rank1<4>, f32, _> = m.forward(dev.zeros::<Rank2<CHANNELS, LEN>>());
    let l = dev.build_module::<Literal, f32>();
    let _: Tensor<Rank3<1, 2, 4>, f32, _> = l.forward(dev.zeros::<Rank3<1, 2, 10>>());
    let g = dev.build_module::<GlobalMax, f32>();
    let _: Tensor<Rank2<5, 6>, f32, _> = g.forward(dev.zeros::<Rank3<5, 6, 7>>());
    assert_eq!(Literal::PARAMS, 0);
}

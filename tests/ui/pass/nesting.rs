use dfdx::prelude::*;
use typenet::prelude::*;

mod blocks {
    use typenet::prelude::*;
    network! {
        pub struct Block: (8, 10, 10) -> (8, 10, 10) {
            Conv2D(8, 3, padding = same),
            ReLU,
        }
    }
}

network! {
    pub struct Outer: (1, 12, 12) -> (10) {
        Conv2D(8, 3),
        blocks::Block,
        blocks::Block,
        Flatten,
        Classifier,
    }
}

network! {
    pub struct Classifier: 800 -> 10 { Dense(10), Softmax }
}

network! {
    pub struct OuterOuter: (1, 12, 12) -> 10 { Outer, Tanh }
}

fn main() {
    let dev = Cpu::default();
    let m = dev.build_module::<OuterOuter, f32>();
    let _: Tensor<Rank2<2, 10>, f32, Cpu> = m.forward(dev.zeros::<Rank4<2, 1, 12, 12>>());
    assert_eq!(OuterOuter::PARAMS, Outer::PARAMS);
    assert_eq!(Outer::PARAMS, 80 + 2 * 584 + 8010);
}

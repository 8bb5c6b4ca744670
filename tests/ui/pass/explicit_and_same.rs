use dfdx::prelude::*;
use typenet::prelude::*;

network! {
    pub struct Explicit: (1, 28, 28) -> (10) {
        Conv2D(1 => 32, 3),
        ReLU,
        MaxPool2D(2),
        Flatten,
        Dense(5408 => 128),
        Dense(128 => 10),
    }
}

network! {
    pub struct Same: (3, 17, 9) -> (16, 17, 9) {
        Conv2D(8, 5, padding = same),
        Conv2D(16, 3, padding = same, dilation = 2),
    }
}

fn main() {
    assert_eq!(Same::OUTPUT_SHAPE, &[16, 17, 9]);
    let dev = Cpu::default();
    let m = dev.build_module::<Same, f32>();
    let _: Tensor<Rank3<16, 17, 9>, f32, Cpu> = m.forward(dev.zeros::<Rank3<3, 17, 9>>());
}

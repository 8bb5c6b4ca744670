use dfdx::prelude::*;
use typenet::prelude::*;

network! {
    pub struct Stem: (1, 28, 28) -> (8, 13, 13) {
        Conv2D(8, 3),
        MaxPool2D(2),
    }
}

network! {
    pub struct Head: (8, 12, 12) -> (10) {
        Flatten,
        Dense(10),
    }
}

fn main() {
    let dev = Cpu::default();
    let stem = dev.build_module::<Stem, f32>();
    let head = dev.build_module::<Head, f32>();
    // A wrongly shaped input.
    let _ = stem.forward(dev.zeros::<Rank4<2, 3, 28, 28>>());
    // Two networks whose shapes do not meet.
    let x = stem.forward(dev.zeros::<Rank4<2, 1, 28, 28>>());
    let _ = head.forward(x);
}

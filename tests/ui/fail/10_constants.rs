use typenet::prelude::*;

const FEATURES: usize = 5400;
const KERNEL: usize = 30;

network! {
    pub struct ConstIn: (1, 28, 28) {
        Conv2D(32, 3),
        MaxPool2D(2),
        Flatten,
        Dense(FEATURES => 128),
    }
}

network! {
    pub struct ConstKernel: (1, 28, 28) {
        Conv2D(8, KERNEL),
    }
}

const CLASSES: usize = 10;
const WIDTH: usize = 8;

network! {
    pub struct ConstOutput: (1, 4, 4) -> (CLASSES) {
        Flatten,
        Dense(12),
    }
}

network! {
    pub struct ConstResidual: (WIDTH, 6, 6) {
        Residual { Conv2D(WIDTH, 3) },
    }
}

fn main() {}

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

fn main() {}

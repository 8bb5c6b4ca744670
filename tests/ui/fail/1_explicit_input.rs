use typenet::prelude::*;

network! {
    pub struct DenseIn: (1, 28, 28) -> (10) {
        Conv2D(32, 3),
        ReLU,
        MaxPool2D(2),
        Flatten,
        Dense(5400 => 128),
        ReLU,
        Dense(10),
    }
}

network! {
    pub struct ConvIn: (1, 28, 28) {
        Conv2D(3 => 32, 3),
    }
}

fn main() {}

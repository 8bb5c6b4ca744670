use typenet::prelude::*;

network! {
    pub struct FlatOnImage: (1, 28, 28) {
        Conv2D(8, 3),
        Dense(10),
    }
}

network! {
    pub struct NormsOnImage: (4, 8, 8) {
        BatchNorm1D,
        LayerNorm,
    }
}

network! {
    pub struct ImageOnFlat: (64) {
        Conv2D(8, 3),
    }
}

network! {
    pub struct PoolOnFlat: 64 {
        Dense(32),
        MaxPool2D(2),
    }
}

network! {
    pub struct Bn2dOnFlat: (64) {
        BatchNorm2D,
    }
}

// One mistake, one error: OUTPUT is not compared with a shape the mistake left unknown.
network! {
    pub struct NoCascade: (64) -> (10) {
        Conv2D(8, 3),
    }
}

fn main() {}

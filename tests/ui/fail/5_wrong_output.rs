use typenet::prelude::*;

network! {
    pub struct Size: (1, 28, 28) -> (12) {
        Flatten,
        Dense(10),
    }
}

network! {
    pub struct Rank: (1, 28, 28) -> (10) {
        Conv2D(10, 3),
    }
}

fn main() {}

use typenet::prelude::*;

network! {
    pub struct Head: (64) -> (10) {
        Dense(10),
    }
}

network! {
    pub struct Body: (1, 28, 28) {
        Flatten,
        Dense(128),
        Head,
    }
}

fn main() {}

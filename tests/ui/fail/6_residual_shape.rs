use typenet::prelude::*;

network! {
    pub struct Res: (32, 13, 13) {
        Residual { Conv2D(64, 3), ReLU },
        Flatten,
        Dense(10),
    }
}

fn main() {}

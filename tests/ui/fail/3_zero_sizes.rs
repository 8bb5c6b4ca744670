use typenet::prelude::*;

network! {
    pub struct Zeros: (1, 28, 28) {
        Conv2D(0, 3),
        Conv2D(8, 3, stride = 0),
        MaxPool2D(2, stride = 0),
        Conv2D(8, 3, dilation = 0),
        Flatten,
        Dense(0),
    }
}

network! {
    pub struct EmptyInput: (1, 0, 28) {
        Flatten,
    }
}

network! {
    pub struct EmptyOutput: (1, 3, 3) {
        Conv2D(8, 3),   // (8, 1, 1)
        MaxPool2D(2),
    }
}

fn main() {}

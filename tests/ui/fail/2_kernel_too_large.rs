use typenet::prelude::*;

network! {
    pub struct Kernel: (1, 8, 8) {
        Conv2D(16, 3),    // (16, 6, 6)
        MaxPool2D(2),     // (16, 3, 3)
        Conv2D(32, 5),
    }
}

network! {
    pub struct Window: (3, 4, 4) {
        MaxPool2D(5),
    }
}

network! {
    pub struct Dilated: (3, 6, 6) {
        Conv2D(8, 3, dilation = 3),
    }
}

fn main() {}

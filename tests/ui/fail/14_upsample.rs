use typenet::prelude::*;

network! {
    pub struct Zero: (3, 8, 8) {
        UpSampling2D(0),
    }
}

network! {
    pub struct Flat: (3, 8, 8) {
        Flatten,
        UpSampling2D(2),
    }
}

network! {
    pub struct Args: (3, 8, 8) {
        UpSampling2D(2, 2, 2),
    }
}

// The output the upsampling gives is explained at OUTPUT.
network! {
    pub struct Output: (3, 8, 8) -> (3, 8, 8) {
        UpSampling2D(2),
    }
}

// Transposed convolutions: PyTorch's output size, output_padding below the stride.
network! {
    pub struct OutPad: (3, 8, 8) {
        Conv2DTranspose(8, 3, 2, 1, 2),
    }
}

network! {
    pub struct Empty: (3, 1, 1) {
        Conv2DTranspose(8, 1, padding = 1),
    }
}

network! {
    pub struct TransposeOutput: (3, 7, 7) -> (8, 14, 14) {
        Conv2DTranspose(8, 3, stride = 2, padding = 1),
    }
}

const F: usize = 0;
const S: usize = 2;

network! {
    pub struct ConstZero: (3, 8, 8) {
        UpSampling2D(F),
    }
}

network! {
    pub struct ConstOutPad: (3, 8, 8) {
        Conv2DTranspose(8, 3, stride = S, output_padding = S),
    }
}

fn main() {}

use typenet::prelude::*;

// SPEC §4 for the 1-d pools on (C, L): each mistake gives one error at its layer.
network! {
    pub struct WindowTooLong: (4, 3) {
        MaxPool1D(5),
    }
}

network! {
    pub struct ZeroStride: (4, 16) {
        AvgPool1D(2, stride = 0),
    }
}

network! {
    pub struct TooMuchPadding: (4, 16) {
        MaxPool1D(3, padding = 2),
    }
}

network! {
    pub struct SamePadding: (4, 16) {
        MaxPool1D(3, padding = same),
    }
}

network! {
    pub struct OnImage: (1, 28, 28) {
        MaxPool1D(2),
    }
}

network! {
    pub struct GlobalOnImage: (1, 28, 28) {
        GlobalAvgPool1D,
    }
}

network! {
    pub struct GlobalOnFlat: (64) {
        GlobalMaxPool1D,
    }
}

network! {
    pub struct Pool2DOnSequence: (4, 32) {
        MaxPool2D(2),
    }
}

network! {
    pub struct FlatAfter: (4, 32) {
        MaxPool1D(2),
        Dense(10),
    }
}

network! {
    pub struct KerasName: (4, 32) {
        MaxPooling1D(2),
    }
}

const LEN: usize = 3;

network! {
    pub struct ConstLength: (2, LEN) {
        AvgPool1D(4),
    }
}

fn main() {}

use typenet::prelude::*;

// SPEC §4 for Conv1D on (C, L): each mistake gives one error at its layer.
network! {
    pub struct ExplicitChannels: (4, 32) {
        Conv1D(3 => 8, 3),
    }
}

network! {
    pub struct KernelTooLong: (2, 5) {
        Conv1D(8, 7),
    }
}

network! {
    pub struct DilatedTooLong: (2, 6) {
        Conv1D(8, 3, dilation = 3),
    }
}

network! {
    pub struct ZeroStride: (2, 16) {
        Conv1D(8, 3, stride = 0),
    }
}

network! {
    pub struct OnImage: (1, 28, 28) {
        Conv1D(8, 3),
    }
}

network! {
    pub struct OnFlat: (64) {
        Conv1D(8, 3),
    }
}

network! {
    pub struct Conv2DOnSequence: (4, 32) {
        Conv2D(8, 3),
    }
}

network! {
    pub struct EvenSame: (4, 32) {
        Conv1D(8, 4, padding = same),
    }
}

network! {
    pub struct FlatAfter: (4, 32) {
        Conv1D(8, 3),
        Dense(10),
    }
}

const LEN: usize = 4;

network! {
    pub struct ConstLength: (2, LEN) {
        Conv1D(8, 5),
    }
}

fn main() {}

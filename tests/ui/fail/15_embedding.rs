use typenet::prelude::*;

// SPEC §4 for Embedding on (L) token ids: each mistake gives one error at its layer.
network! {
    pub struct OnImage: (1, 28, 28) {
        Embedding(256, 16),
    }
}

network! {
    pub struct OnSequence: (4, 32) {
        Embedding(256, 16),
    }
}

network! {
    pub struct NotFirst: (32) {
        Dense(32),
        Embedding(256, 16),
    }
}

network! {
    pub struct ZeroVocab: (32) {
        Embedding(0, 16),
    }
}

network! {
    pub struct HugeVocab: (32) {
        Embedding(20_000_000, 16),
    }
}

network! {
    pub struct MissingDim: (32) {
        Embedding(256),
    }
}

network! {
    pub struct DenseAfter: (32) {
        Embedding(256, 16),
        Dense(4),
    }
}

network! {
    pub struct Conv2DAfter: (32) {
        Embedding(256, 16),
        Conv2D(8, 3),
    }
}

const BIG: usize = 1 << 25;

network! {
    pub struct ConstVocab: (32) {
        Embedding(BIG, 4),
    }
}

fn main() {}

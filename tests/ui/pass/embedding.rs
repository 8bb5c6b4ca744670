use dfdx::prelude::*;
use typenet::data::{Dataset, Tokens};
use typenet::prelude::*;

const VOCAB: usize = 256;
const LEN: usize = 64;
const DIM: usize = 8;

// Embedding on (L) token ids, then the sequence layers; sizes from literals and constants.
network! {
    pub struct TextCnn: (LEN) -> (3) {
        Embedding(VOCAB, DIM),
        Conv1D(16, 5, padding = same, activation = relu),
        MaxPool1D(2),
        GlobalMaxPool1D,
        Dense(3),
    }
}

network! {
    pub struct Literal: (10) -> (4, 10) {
        Embedding(50, 4),
    }
}

fn main() {
    let dev = Cpu::default();
    let m = dev.build_module::<TextCnn, f32>();
    let _: Tensor<Rank2<2, 3>, f32, _> = m.forward(dev.zeros::<Rank2<2, LEN>>());
    let _: Tensor<Rank1<3>, f32, _> = m.forward(dev.zeros::<Rank1<LEN>>());
    let l = dev.build_module::<Literal, f32>();
    let _: Tensor<Rank3<1, 4, 10>, f32, _> = l.forward(dev.zeros::<Rank2<1, 10>>());
    assert_eq!(Literal::PARAMS, 50 * 4);
    let data = Dataset::<Tokens<10>>::from_tokens(vec![3; 20], vec![0, 1], 50);
    assert_eq!(data.map(|d| d.len()).ok(), Some(2));
}

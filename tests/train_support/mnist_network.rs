//! The MNIST CNN of SPEC §1 declared with `network!`: the drop-in replacement for
//! `handwritten_mnist.rs` once the macro lands (switch the `#[path]` line that includes it).

use typenet::prelude::*;

network! {
    /// The Keras MNIST convnet.
    pub struct MnistCnn: (1, 28, 28) -> (10) {
        Conv2D(32, 3),
        ReLU,
        MaxPool2D(2),
        Flatten,
        Dense(128),
        ReLU,
        Dense(10),
        Softmax,
    }
}

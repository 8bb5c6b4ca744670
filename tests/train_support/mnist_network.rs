//! The MNIST CNN of SPEC §1, declared with `network!`, for the integration tests.

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

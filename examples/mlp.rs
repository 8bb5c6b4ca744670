//! A multi-layer perceptron on MNIST, the first model of most Keras tutorials:
//! Flatten, Dense(512), ReLU, Dropout(0.2), Dense(10), Softmax (407,050 parameters),
//! trained with Adam on 90% of the training images, validated on the last 10%
//! (`validation_split=0.1`), then tested.
//!
//! ```text
//! cargo run --release --example mlp                       # 5 epochs
//! cargo run --release --example mlp -- --epochs 2 --limit 12000 --plot run/mlp
//! ```
//!
//! Expected output (5 epochs, seed 0; measured on a 2-core CPU; about 11 s in all):
//!
//! ```text
//! Epoch 1/5 - 2.46s - loss: 0.3495 - accuracy: 0.9031 - val_loss: 0.1392 - val_accuracy: 0.9620
//! Epoch 2/5 - 2.26s - loss: 0.1501 - accuracy: 0.9565 - val_loss: 0.0984 - val_accuracy: 0.9732
//! Epoch 3/5 - 2.85s - loss: 0.1032 - accuracy: 0.9694 - val_loss: 0.0867 - val_accuracy: 0.9758
//! Epoch 4/5 - 2.57s - loss: 0.0773 - accuracy: 0.9772 - val_loss: 0.0741 - val_accuracy: 0.9783
//! Epoch 5/5 - 2.63s - loss: 0.0616 - accuracy: 0.9814 - val_loss: 0.0675 - val_accuracy: 0.9802
//! Test loss: 0.0672
//! Test accuracy: 0.9793
//! ```

mod common;

use std::process::ExitCode;

use typenet::prelude::*;

network! {
    /// Flatten, Dense(512), ReLU, Dropout(0.2), Dense(10), Softmax.
    pub struct Mlp: (1, 28, 28) -> (10) {
        Flatten,
        Dense(512),
        ReLU,
        Dropout(0.2),
        Dense(10),
        Softmax,
    }
}

fn main() -> ExitCode {
    common::cli_main(common::train_and_test::<Mlp>)
}

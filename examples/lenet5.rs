//! LeNet-5 (LeCun et al., 1998) on MNIST, in its common Keras form: the 28x28 images
//! padded by `padding = same` in the first convolution (the original padded them to
//! 32x32), average pooling, tanh activations:
//! Conv2D(6, 5, same), Tanh, AvgPool2D(2), Conv2D(16, 5), Tanh, AvgPool2D(2), Flatten,
//! Dense(120), Tanh, Dense(84), Tanh, Dense(10), Softmax (61,706 parameters).
//! Trained with Adam on 90% of the training images, validated on the last 10%.
//!
//! ```text
//! cargo run --release --example lenet5                    # 5 epochs
//! cargo run --release --example lenet5 -- --epochs 1 --limit 12000 --plot run/lenet5
//! ```
//!
//! Expected output (5 epochs, seed 0; measured on a 2-core CPU; about 1 minute in all):
//!
//! ```text
//! Epoch 1/5 - 11.11s - loss: 0.4464 - accuracy: 0.8732 - val_loss: 0.1458 - val_accuracy: 0.9597
//! Epoch 2/5 - 10.08s - loss: 0.1404 - accuracy: 0.9569 - val_loss: 0.0903 - val_accuracy: 0.9742
//! Epoch 3/5 - 9.86s - loss: 0.0902 - accuracy: 0.9725 - val_loss: 0.0752 - val_accuracy: 0.9760
//! Epoch 4/5 - 10.94s - loss: 0.0664 - accuracy: 0.9801 - val_loss: 0.0636 - val_accuracy: 0.9792
//! Epoch 5/5 - 10.20s - loss: 0.0523 - accuracy: 0.9839 - val_loss: 0.0603 - val_accuracy: 0.9807
//! Test loss: 0.0545
//! Test accuracy: 0.9828
//! ```

mod common;

use std::process::ExitCode;

use typenet::prelude::*;

network! {
    /// LeNet-5 with same padding, average pooling and tanh.
    pub struct LeNet5: (1, 28, 28) -> (10) {
        Conv2D(6, 5, padding = same),
        Tanh,
        AvgPool2D(2),
        Conv2D(16, 5),
        Tanh,
        AvgPool2D(2),
        Flatten,
        Dense(120),
        Tanh,
        Dense(84),
        Tanh,
        Dense(10),
        Softmax,
    }
}

fn main() -> ExitCode {
    common::cli_main(common::train_and_test::<LeNet5>)
}

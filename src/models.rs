//! Ready-made networks.

use crate::network;

network! {
    /// The Keras MNIST convnet (SPEC §1): `Conv2D(32, 3), ReLU, MaxPool2D(2), Flatten,
    /// Dense(128), ReLU, Dense(10), Softmax` on `(1, 28, 28)` images, 693,962 parameters.
    /// On `Cpu` in f32 its first four layers and the first `Dense` run as one fused op.
    /// Build it with `dev.build_module::<MnistCnn, f32>()`.
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

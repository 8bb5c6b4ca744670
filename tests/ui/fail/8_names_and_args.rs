use typenet::prelude::*;

network! {
    pub struct Names: (1, 28, 28) {
        Conv2D(32, 3, strid = 2),
        Relu,
        MaxPol2D(2),
        Flatten,
        Dens(128),
        Dense(10, activation = softmx),
    }
}

network! {
    pub struct Args: (1, 28, 28) {
        Conv2D(32),
        Conv2D(32, 3, 3),
        Conv2D(32, 4, padding = same),
        Conv2D(32, 3, stride = 2, padding = same),
        Flatten,
        Dense(1.5),
        Dense(10, bias = 1),
        Dropout(1.0),
        Dropout(-0.1),
        ReLU(2),
    }
}

network! {
    pub struct PoolArgs: (4, 8, 8) {
        MaxPool2D(2, padding = 2),
        AvgPool2D(3, padding = same),
        MaxPool2D(2, 3),
        LeakyReLU(0.1, 0.2),
    }
}
// dfdx's and Keras's names for layers point to ours.
network! {
    pub struct DfdxNames: (4, 8, 8) {
        BatchNormalization,
        AvgPoolGlobal,
        Linear(10),
    }
}

fn main() {}

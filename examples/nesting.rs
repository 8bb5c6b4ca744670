//! Networks as layers of other networks: `cargo run --example nesting`.
use dfdx::prelude::*;
use typenet::prelude::*;

network! {
    /// A convolutional feature extractor.
    pub struct Features: (1, 28, 28) -> (16, 5, 5) {
        Conv2D(8, 3),      // (8, 26, 26)
        ReLU,
        MaxPool2D(2),      // (8, 13, 13)
        Conv2D(16, 3),     // (16, 11, 11)
        ReLU,
        MaxPool2D(2),      // (16, 5, 5)
    }
}

network! {
    /// A classifier head on flat features.
    pub struct Classifier: 400 -> 10 {
        Dense(64, activation = relu),
        Dropout(0.2),
        Dense(10),
        Softmax,
    }
}

network! {
    /// The two together: each nested network is one field and one summary row.
    pub struct Model: (1, 28, 28) -> (10) {
        Features,
        Flatten,
        Classifier,
    }
}

fn main() {
    println!("{}\n", Features::summary());
    println!("{}\n", Classifier::summary());
    println!("{}", Model::summary());

    let dev = AutoDevice::default();
    let model = dev.build_module::<Model, f32>();
    let x = dev.sample_normal::<Rank4<4, 1, 28, 28>>();
    let y = model.forward(x);
    println!(
        "\nforward: {:?} -> {:?}",
        [4, 1, 28, 28],
        y.shape().concrete()
    );
    // Nested layers are fields of fields: `model.classifier_2.dense_0.weight`.
    println!(
        "classifier_2.dense_0.weight: {:?}",
        model.classifier_2.dense_0.weight.shape().concrete()
    );
}

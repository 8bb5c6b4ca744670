//! Sizes from `usize` constants, checked at compile time: `cargo run --example constants`.
use dfdx::prelude::*;
use typenet::prelude::*;

mod cfg {
    pub const FILTERS: usize = 32;
    pub const KERNEL: usize = 3;
}
const CHANNELS: usize = 3;
const SIDE: usize = 32;
const HIDDEN: usize = 128;
const NUM_CLASSES: usize = 10;

network! {
    /// Change a constant and every shape follows; a change that breaks a shape fails to
    /// compile, pointing at the layer.
    pub struct Configurable: (CHANNELS, SIDE, SIDE) -> (NUM_CLASSES) {
        Conv2D(cfg::FILTERS, cfg::KERNEL, padding = same, activation = relu),
        MaxPool2D(2),
        Conv2D(cfg::FILTERS => 64, cfg::KERNEL),
        ReLU,
        MaxPool2D(2),
        Flatten,
        Dense(HIDDEN, activation = relu),
        Dense(HIDDEN => NUM_CLASSES),
    }
}

fn main() {
    println!("{}", Configurable::summary());
    println!(
        "\nINPUT_SHAPE = {:?}, OUTPUT_SHAPE = {:?}",
        Configurable::INPUT_SHAPE,
        Configurable::OUTPUT_SHAPE
    );
    let dev = AutoDevice::default();
    let model = dev.build_module::<Configurable, f32>();
    let x: Tensor<(usize, Const<CHANNELS>, Const<SIDE>, Const<SIDE>), f32, _> =
        dev.sample_normal_like(&(5, Const, Const, Const));
    let y = model.forward(x);
    println!("forward: batch of 5 -> {:?}", y.shape().concrete());
}

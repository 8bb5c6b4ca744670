//! A small ResNet-style network with `Residual` blocks: `cargo run --example residual`.
use dfdx::prelude::*;
use typenet::prelude::*;

network! {
    /// Two residual blocks on 32x32 colour images.
    pub struct ResNet: (3, 32, 32) -> (10) {
        Conv2D(16, 3, padding = same),
        BatchNorm2D,
        ReLU,
        Residual {
            Conv2D(16, 3, padding = same),
            BatchNorm2D,
            ReLU,
            Conv2D(16, 3, padding = same),
            BatchNorm2D,
        },
        ReLU,
        MaxPool2D(2),
        Residual {
            Conv2D(16, 3, padding = same, activation = relu),
            Conv2D(16, 3, padding = same),
        },
        ReLU,
        GlobalAvgPool2D,
        Dense(10),
        Softmax,
    }
}

fn main() {
    println!("{}", ResNet::summary());
    let dev = AutoDevice::default();
    let mut model = dev.build_module::<ResNet, f32>();
    let x = dev.sample_normal::<Rank4<2, 3, 32, 32>>();
    let y = model.forward(x.clone());
    println!(
        "\nforward: {:?} -> {:?}",
        [2, 3, 32, 32],
        y.shape().concrete()
    );
    // Training mode: batch statistics; a Residual's layers live in their own struct.
    let _ = model.forward_mut(x.leaky_trace());
    println!(
        "residual_3.conv2d_0.weight: {:?}",
        model.residual_3.conv2d_0.weight.shape().concrete()
    );
}

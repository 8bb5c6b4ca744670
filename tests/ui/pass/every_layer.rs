use typenet::prelude::*;

network! {
    #[allow(dead_code)]
    struct Everything: (3, 12, 12) {
        Conv2D(8, 3, stride = 1, padding = 1, dilation = 1, bias = true, activation = relu),
        BatchNorm2D,
        MaxPool2D(2, stride = 2, padding = 0),
        AvgPool2D(3, stride = 1, padding = 1),
        Residual { Conv2D(8 => 8, 3, padding = same), Sigmoid },
        GlobalMaxPool2D,
        Dense(16, bias = false, activation = tanh),
        BatchNorm1D,
        LayerNorm,
        LeakyReLU(0.3),
        LeakyReLU,
        GELU,
        Tanh,
        Sigmoid,
        ReLU,
        Dropout(0.25),
        Dense(4, activation = gelu),
        Dense(4, activation = sigmoid),
        Softmax,
    }
}

network! {
    struct GlobalAvg: (3, 5, 5) -> 3 {
        GlobalAvgPool2D,
    }
}

fn main() {
    use dfdx::prelude::*;
    let dev = Cpu::default();
    let m = dev.build_module::<Everything, f64>();
    let _: Tensor<Rank2<3, 4>, f64, Cpu> = m.forward(dev.zeros::<Rank4<3, 3, 12, 12>>());
    let g = dev.build_module::<GlobalAvg, f32>();
    let _: Tensor<Rank1<3>, f32, Cpu> = g.forward(dev.zeros::<Rank3<3, 5, 5>>());
}

use dfdx::prelude::*;
use typenet::prelude::*;

network! {
    pub struct Res: (4, 8, 8) -> (4, 8, 8) {
        Residual {
            Conv2D(4, 3, padding = same),
            BatchNorm2D,
            ReLU,
            Residual { Conv2D(4, 3, padding = same) },
        },
        Residual { ReLU },
    }
}

network! {
    pub struct ResFlat: 16 -> 16 { Residual { Dense(16), ReLU, Dense(16) }, LayerNorm }
}

fn main() {
    let dev = Cpu::default();
    let m = dev.build_module::<Res, f32>();
    let _: Tensor<Rank4<2, 4, 8, 8>, f32, Cpu> = m.forward(dev.zeros::<Rank4<2, 4, 8, 8>>());
    let _ = &m.residual_0.residual_3.conv2d_0.weight;
    let f = dev.build_module::<ResFlat, f32>();
    let _: Tensor<Rank1<16>, f32, Cpu> = f.forward(dev.zeros::<Rank1<16>>());
}

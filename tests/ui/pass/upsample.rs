use dfdx::prelude::*;
use typenet::prelude::*;

const F: usize = 2;

network! {
    pub struct Up: (1, 7, 7) -> (2, 28, 14) {
        Conv2D(2, 3, padding = same),
        UpSampling2D(F),
        UpSampling2D(2, 1),
    }
}

fn main() {
    let dev = Cpu::default();
    let m = dev.build_module::<Up, f32>();
    let _: Tensor<Rank4<3, 2, 28, 14>, f32, Cpu> = m.forward(dev.zeros::<Rank4<3, 1, 7, 7>>());
    let _: Tensor<Rank3<2, 28, 14>, f32, Cpu> = m.forward(dev.zeros::<Rank3<1, 7, 7>>());
}

network! {
    pub struct Decode: (8, 7, 7) -> (1, 28, 28) {
        Conv2DTranspose(4, 3, stride = F, padding = 1, output_padding = 1, activation = relu),
        Conv2DTranspose(4 => 1, 2, F),
    }
}

#[allow(dead_code)]
fn decode() {
    let dev = Cpu::default();
    let m = dev.build_module::<Decode, f32>();
    let _: Tensor<Rank4<2, 1, 28, 28>, f32, Cpu> = m.forward(dev.zeros::<Rank4<2, 8, 7, 7>>());
}

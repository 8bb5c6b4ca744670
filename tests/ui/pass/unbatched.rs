use dfdx::prelude::*;
use typenet::prelude::*;

network! {
    pub struct Net: (2, 6, 6) -> (3) {
        Conv2D(4, 3),
        Flatten,
        Dense(3),
        Softmax,
    }
}

fn main() {
    let dev = Cpu::default();
    let mut m = dev.build_module::<Net, f32>();
    let x = dev.sample_normal::<Rank3<2, 6, 6>>();
    let y: Tensor<Rank1<3>, f32, Cpu> = m.forward(x.clone());
    let yb: Tensor<Rank2<1, 3>, f32, Cpu> = m.forward(x.clone().reshape::<Rank4<1, 2, 6, 6>>());
    assert_eq!(y.array(), yb.array()[0]);
    let _: Tensor<Rank1<3>, f32, Cpu, _> = m.forward_mut(x.leaky_trace());
    let xs: Tensor<(usize, Const<2>, Const<6>, Const<6>), f32, Cpu> = dev.sample_normal_like(&(9, Const, Const, Const));
    let _: Tensor<(usize, Const<3>), f32, Cpu> = m.forward(xs);
}

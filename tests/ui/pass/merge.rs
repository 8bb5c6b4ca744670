use dfdx::prelude::*;
use typenet::prelude::*;

const C: usize = 4;
const H: usize = 8;

network! {
    pub struct Branch: (4, 8, 8) -> (2, 8, 8) { Conv2D(2, 3, padding = same) }
}

network! {
    /// Constants, a nested network and a Residual inside branches, an identity branch.
    pub struct Merged: (C, H, H) -> (10) {
        Concat {
            [Conv2D(4, 1)],
            [Branch],
            [Residual { Conv2D(C, 3, padding = same) }],
            [],
        },
        Add { [Conv2D(14, 3, padding = same), ReLU], [], [BatchNorm2D] },
        Flatten,
        Concat { [Dense(6)], [Dense(4)] },
    }
}

network! {
    /// Sequences concatenate along channels.
    pub struct Seq: (2, 16) -> (5, 16) {
        Concat { [Conv1D(3, 3, padding = same)], [] },
        Add { [], [] },
    }
}

fn main() {
    let dev = Cpu::default();
    let m = dev.build_module::<Merged, f32>();
    let _: Tensor<Rank2<2, 10>, f32, Cpu> = m.forward(dev.zeros::<Rank4<2, 4, 8, 8>>());
    let _ = &m.concat_0.branch_2.residual_0.conv2d_0.weight;
    let _ = &m.add_1.branch_0.conv2d_0.bias;
    let s = dev.build_module::<Seq, f64>();
    let _: Tensor<Rank2<5, 16>, f64, Cpu> = s.forward(dev.zeros::<Rank2<2, 16>>());
}

// SPEC §1, beside dfdx's prelude (no name clashes).
use dfdx::prelude::*;
use typenet::prelude::*;

network! {
    /// Doc comments and attributes pass through to the generated type.
    pub struct MnistCnn: (1, 28, 28) -> (10) {
        Conv2D(32, 3),     // 32 filters, 3x3 kernel, stride 1, no padding
        ReLU,
        MaxPool2D(2),      // 2x2 window, stride 2
        Flatten,
        Dense(128),
        ReLU,
        Dense(10),
        Softmax,
    }
}

// Every name of typenet's prelude, used beside dfdx's: no ambiguity.
fn _names<E: Element, D: Backend<E>, N: NetworkSpec>(_: &N::Module<E, D>) -> Summary
where
    N::Input: SampleShape,
    N::Module<E, D>: Network<E, D>,
{
    N::summary()
}

fn main() {
    let dev = AutoDevice::default();
    let m = dev.build_module::<MnistCnn, f32>();
    let y: Tensor<Rank2<2, 10>, f32, AutoDevice> = m.forward(dev.zeros::<Rank4<2, 1, 28, 28>>());
    let _: MnistCnnModule = m;
    let _ = y;
    assert_eq!(MnistCnn::PARAMS, 693_962);
}

//! One source of shape truth: the formula `network!` computes shapes with (included here
//! from the macro crate's own source) agrees with the runtime's `out_size` and with the
//! output dims the layers produce at run time.

#[path = "../macros/src/formula.rs"]
mod macro_formula;

use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::__private::ops::{out_size, Conv2DParams, Pool2DKind, Pool2DParams};
use typenet::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn macro_and_runtime_formulas_agree(n in 0usize..80, k in 0usize..9, s in 0usize..5, p in 0usize..5, d in 0usize..4) {
        prop_assert_eq!(macro_formula::out_size(n, k, s, p, d), out_size(n, k, s, p, d));
    }

    #[test]
    fn conv_output_dims(c in 1usize..4, o in 1usize..4, h in 1usize..20, w in 1usize..20, k in 1usize..6, s in 1usize..4, p in 0usize..3, d in 1usize..3) {
        let (Some(ho), Some(wo)) = (macro_formula::out_size(h, k, s, p, d), macro_formula::out_size(w, k, s, p, d)) else {
            return Ok(());
        };
        let dev = Cpu::default();
        let x: Tensor<(usize, usize, usize, usize), f32, _> = dev.sample_normal_like(&(2, c, h, w));
        let wt: Tensor<(usize, usize, usize, usize), f32, _> = dev.sample_normal_like(&(o, c, k, k));
        let params = Conv2DParams::new(s, p, d);
        let y = <Cpu as Backend<f32>>::conv2d(x, wt, None, params).unwrap();
        prop_assert_eq!(*y.shape(), (2, o, ho, wo));
    }

    #[test]
    fn pool_output_dims(c in 1usize..4, h in 1usize..20, w in 1usize..20, k in 1usize..6, s in 1usize..4, max in any::<bool>()) {
        let p = k / 2;
        let (Some(ho), Some(wo)) = (macro_formula::out_size(h, k, s, p, 1), macro_formula::out_size(w, k, s, p, 1)) else {
            return Ok(());
        };
        let dev = Cpu::default();
        let x: Tensor<(usize, usize, usize, usize), f32, _> = dev.sample_normal_like(&(1, c, h, w));
        let kind = if max { Pool2DKind::Max } else { Pool2DKind::Avg };
        let y = <Cpu as Backend<f32>>::pool2d(x, kind, Pool2DParams { window: k, stride: s, padding: p }).unwrap();
        prop_assert_eq!(*y.shape(), (1, c, ho, wo));
    }
}

// End to end: the shapes `network!` declares are the ones the layers produce (`realize`
// in the generated forward fails at run time otherwise).
network! {
    struct Odd: (2, 19, 11) {
        Conv2D(3, 4, stride = 3, padding = 2, dilation = 2), // (19+4-7)/3+1 = 6, (11+4-7)/3+1 = 3
        AvgPool2D(3, stride = 2, padding = 1),               // (6+2-3)/2+1 = 3, (3+2-3)/2+1 = 2
        MaxPool2D(2, stride = 1),                            // 2, 1
    }
}
network! {
    struct Same: (1, 10, 7) { Conv2D(2, 5, padding = same, dilation = 2), MaxPool2D(3, stride = 2, padding = 1) }
}

#[test]
fn declared_shapes_match_runtime() {
    assert_eq!(Odd::OUTPUT_SHAPE, &[3, 2, 1]);
    assert_eq!(Same::OUTPUT_SHAPE, &[2, 5, 4]);
    let dev = Cpu::default();
    let odd = dev.build_module::<Odd, f32>();
    let y = odd.forward(dev.sample_normal::<Rank4<2, 2, 19, 11>>());
    assert_eq!(y.shape().concrete(), [2, 3, 2, 1]);
    let same = dev.build_module::<Same, f32>();
    let y = same.forward(dev.sample_normal::<Rank3<1, 10, 7>>());
    assert_eq!(y.shape().concrete(), [2, 5, 4]);
}

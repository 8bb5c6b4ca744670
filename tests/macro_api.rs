//! The generated API on SPEC examples: parameter counts, summaries, forward shapes,
//! training and safetensors.
use dfdx::optim::{Adam, Sgd};
use dfdx::prelude::*;
use typenet::prelude::*;

network! {
    /// The SPEC §1 example.
    pub struct MnistCnn: (1, 28, 28) -> (10) {
        Conv2D(32, 3),
        ReLU,
        MaxPool2D(2),
        Flatten,
        Dense(128),
        ReLU,
        Dense(10),
        Softmax,
    }
}

#[test]
fn mnist_params_match_keras() {
    // Keras: conv 3*3*1*32+32 = 320, dense 5408*128+128 = 692,352, dense 128*10+10 = 1,290.
    assert_eq!(MnistCnn::PARAMS, 693_962);
    assert_eq!(MnistCnn::TRAINABLE_PARAMS, 693_962);
    assert_eq!(MnistCnn::INPUT_SHAPE, &[1, 28, 28]);
    assert_eq!(MnistCnn::OUTPUT_SHAPE, &[10]);
    let dev = Cpu::default();
    let m = dev.build_module::<MnistCnn, f32>();
    assert_eq!(m.num_trainable_params(), 693_962);
    let x: Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, _> =
        dev.sample_normal_like(&(3, Const, Const, Const));
    let y = m.forward(x);
    assert_eq!(y.shape().0, 3);
    let _: Tensor<Rank2<2, 10>, f32, _> = m.forward(dev.sample_normal::<Rank4<2, 1, 28, 28>>());
    let _: Tensor<Rank1<10>, f32, _> = m.forward(dev.sample_normal::<Rank3<1, 28, 28>>());
    println!("{}", MnistCnn::summary());
}

network! {
    /// Every layer kind and argument.
    pub struct AllLayers: (3, 16, 16) -> 4 {
        Conv2D(3 => 8, 3, padding = same), // 3*3*3*8+8 = 224
        BatchNorm2D,                       // 4*8 = 32 (16 trainable)
        ReLU,
        Conv2D(8, 3, stride = 2, padding = 1, bias = false, activation = tanh), // 3*3*8*8 = 576 -> (8, 8, 8)
        AvgPool2D(2, stride = 1),                   // (8, 7, 7)
        MaxPool2D(3, stride = 1, padding = 1),      // (8, 7, 7)
        Residual { Conv2D(8, 3, padding = same), ReLU, Dropout(0.1) }, // 584
        Conv2D(8, 3, dilation = 2, activation = relu), // 584 -> (8, 3, 3)
        Flatten,                                    // 72
        Dense(72 => 32, activation = gelu),         // 72*32+32 = 2,336
        BatchNorm1D,                                // 128 (64 trainable)
        LayerNorm,                                  // 64
        LeakyReLU,
        LeakyReLU(0.2),
        Sigmoid,
        GELU,
        Tanh,
        Dropout(0.5),
        Dense(4, bias = false),                     // 128
        Softmax,
    }
}

network! {
    pub struct GlobalPools: (4, 9, 7) {
        Conv2D(6, 3, padding = valid), // (6, 7, 5): 3*3*4*6+6 = 222
        GlobalMaxPool2D,               // (6)
        Flatten,                       // no-op on flat
        Dense(3),                      // 21
    }
}

network! {
    pub struct GlobalAvg: (2, 5, 5) -> (2) { GlobalAvgPool2D, Dense(2, activation = softmax) }
}

#[test]
fn all_layers_params_and_shapes() {
    assert_eq!(AllLayers::PARAMS, 4656);
    assert_eq!(AllLayers::TRAINABLE_PARAMS, 4576);
    assert_eq!(AllLayers::OUTPUT_SHAPE, &[4]);
    let dev = Cpu::default();
    let mut m = dev.build_module::<AllLayers, f32>();
    assert_eq!(m.num_trainable_params(), 4576);
    let s = AllLayers::summary();
    assert_eq!(s.rows.len(), 23, "{s}"); // 20 layers, 2 inside the Residual, + its row... see below
    let names: Vec<&str> = s.rows.iter().map(|r| r.layer.as_str()).collect();
    assert_eq!(names[6], "residual_6.conv2d_0 (Conv2D)");
    assert_eq!(names[9], "residual_6 (Residual)");
    assert_eq!(s.rows[9].output_shape, vec![8, 7, 7]);
    assert_eq!(s.total_params(), 4656);
    assert_eq!(s.trainable_params(), 4576);

    let x = dev.sample_normal::<Rank4<5, 3, 16, 16>>();
    let y = m.forward(x.clone());
    let sums = y.sum::<Rank1<5>, _>().array();
    for v in sums {
        assert!((v - 1.0).abs() < 1e-5, "softmax rows sum to 1: {v}");
    }
    // Training mode: dropout and batch statistics, any tape.
    let _: Tensor<Rank2<5, 4>, f32, _> = m.forward_mut(x.clone());
    let _: Tensor<Rank2<5, 4>, f32, _, _> = m.forward_mut(x.leaky_trace());
    let _: Tensor<Rank1<4>, f32, _> = m.forward(dev.sample_normal::<Rank3<3, 16, 16>>());

    let g = dev.build_module::<GlobalPools, f64>();
    assert_eq!(GlobalPools::PARAMS, 243);
    assert_eq!(GlobalPools::OUTPUT_SHAPE, &[3]);
    let _: Tensor<(usize, Const<3>), f64, _> =
        g.forward(dev.sample_normal_like(&(7usize, Const::<4>, Const::<9>, Const::<7>)));
    let a = dev.build_module::<GlobalAvg, f32>();
    let y = a.forward(dev.sample_normal::<Rank3<2, 5, 5>>());
    assert!((y.array().iter().sum::<f32>() - 1.0).abs() < 1e-5);
}

#[test]
fn adam_step_trains_every_layer() {
    let dev = Cpu::default();
    let mut m = dev.build_module::<AllLayers, f32>();
    let mut opt = Adam::new(
        &m,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    );
    let x = dev.sample_normal::<Rank4<8, 3, 16, 16>>();
    let target = dev.tensor([[0.0f32, 1.0, 0.0, 0.0]; 8]);
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..30 {
        let grads = m.alloc_grads();
        let logits = m.try_forward_logits_mut(x.clone().traced(grads)).unwrap();
        let loss = cross_entropy_with_logits_loss(logits, target.clone());
        last = loss.array();
        first.get_or_insert(last);
        let grads = loss.backward();
        opt.update(&mut m, &grads).unwrap();
    }
    assert!(last < first.unwrap() * 0.5, "loss {first:?} -> {last}");
}

/// The tensor names in a safetensors file (its JSON header).
fn safetensor_names(path: &std::path::Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    let mut names: Vec<String> = header
        .split('"')
        .collect::<Vec<_>>()
        .windows(3)
        .filter(|w| w[2].starts_with(":{") || w[2].starts_with(": {"))
        .map(|w| w[1].to_string())
        .filter(|n| n != "__metadata__")
        .collect();
    names.sort();
    names
}

#[test]
fn safetensors_round_trip() {
    let dev = Cpu::default();
    let m = dev.build_module::<MnistCnn, f32>();
    let dir = std::env::temp_dir().join(format!("typenet-macro-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mnist.safetensors");
    m.save_safetensors(&path).unwrap();
    assert_eq!(
        safetensor_names(&path),
        [
            "conv2d_0.bias",
            "conv2d_0.weight",
            "dense_4.bias",
            "dense_4.weight",
            "dense_6.bias",
            "dense_6.weight"
        ]
    );
    let mut m2 = dev.build_module::<MnistCnn, f32>();
    assert_ne!(m2.dense_4.weight.as_vec(), m.dense_4.weight.as_vec());
    m2.load_safetensors(&path).unwrap();
    assert_eq!(m2.dense_4.weight.as_vec(), m.dense_4.weight.as_vec());
    assert_eq!(m2.conv2d_0.weight.as_vec(), m.conv2d_0.weight.as_vec());

    let a = dev.build_module::<AllLayers, f32>();
    let path = dir.join("all.safetensors");
    a.save_safetensors(&path).unwrap();
    let names = safetensor_names(&path);
    for n in [
        "batch_norm2d_1.running_mean",
        "batch_norm2d_1.scale",
        "conv2d_3.weight",
        "residual_6.conv2d_0.weight",
        "residual_6.conv2d_0.bias",
        "layer_norm_11.gamma",
        "dense_18.weight",
    ] {
        assert!(names.contains(&n.to_string()), "{n} not in {names:?}");
    }
    assert!(!names.contains(&"conv2d_3.bias".to_string()));
    let mut a2 = dev.build_module::<AllLayers, f32>();
    a2.load_safetensors(&path).unwrap();
    assert_eq!(
        a2.residual_6.conv2d_0.weight.as_vec(),
        a.residual_6.conv2d_0.weight.as_vec()
    );
    std::fs::remove_dir_all(&dir).ok();
}

mod cfg {
    pub const FILTERS: usize = 16;
}
const CHANNELS: usize = 3;
const NUM_CLASSES: usize = 5;

network! {
    /// Sizes from constants.
    pub struct ConstNet: (CHANNELS, 32, 32) -> (NUM_CLASSES) {
        Conv2D(cfg::FILTERS, 3),                     // 3*3*3*16+16 = 448 -> (16, 30, 30)
        ReLU,
        MaxPool2D(2),                                // (16, 15, 15)
        Conv2D(cfg::FILTERS => 8, 3, padding = same), // 3*3*16*8+8 = 1,160
        GlobalMaxPool2D,                             // (8)
        Dense(NUM_CLASSES),                          // 8*5+5 = 45
    }
}

#[test]
fn constants() {
    assert_eq!(ConstNet::PARAMS, 1653);
    assert_eq!(ConstNet::INPUT_SHAPE, &[3, 32, 32]);
    assert_eq!(ConstNet::OUTPUT_SHAPE, &[5]);
    let s = ConstNet::summary();
    assert_eq!(s.rows[2].output_shape, vec![16, 15, 15]);
    let dev = Cpu::default();
    let m = dev.build_module::<ConstNet, f32>();
    let _: Tensor<Rank2<2, 5>, f32, _> = m.forward(dev.sample_normal::<Rank4<2, 3, 32, 32>>());
}

network! {
    pub struct Stem: (1, 28, 28) -> (8, 13, 13) { Conv2D(8, 3), ReLU, MaxPool2D(2) } // 80
}
network! {
    pub struct Head: 1352 -> 10 { Dense(10), Softmax } // 13,530
}
network! {
    /// Networks as layers.
    pub struct Nested: (1, 28, 28) -> (10) { Stem, Flatten, Head }
}
network! {
    /// A nested network's output feeding image and flat layers.
    pub struct NestedThenLayers: (1, 28, 28) {
        Stem,
        Conv2D(4, 3),     // 3*3*8*4+4 = 292 -> (4, 11, 11)
        Stem2Flat,        // (4, 11, 11) -> (20)
        Dense(3),         // 63
    }
}
network! {
    pub struct Stem2Flat: (4, 11, 11) -> 20 { GlobalAvgPool2D, Dense(20) } // 100
}

#[test]
fn nesting() {
    assert_eq!(Nested::PARAMS, 80 + 13_530);
    assert_eq!(NestedThenLayers::PARAMS, 80 + 292 + 100 + 63);
    assert_eq!(NestedThenLayers::OUTPUT_SHAPE, &[3]);
    let s = Nested::summary();
    let names: Vec<&str> = s.rows.iter().map(|r| r.layer.as_str()).collect();
    assert_eq!(
        names,
        ["stem_0 (Stem)", "flatten_1 (Flatten)", "head_2 (Head)"]
    );
    assert_eq!(s.rows[1].output_shape, vec![1352]);
    let dev = Cpu::default();
    let mut m = dev.build_module::<Nested, f32>();
    assert_eq!(m.num_trainable_params(), 13_610);
    let y = m.forward(dev.sample_normal::<Rank4<2, 1, 28, 28>>());
    assert!(
        (y.array()[0].iter().sum::<f32>() - 1.0).abs() < 1e-5,
        "Head's Softmax runs"
    );
    let ends_in_softmax = <NestedModule<f32, Cpu> as Network<f32, Cpu>>::ENDS_IN_SOFTMAX;
    assert!(!ends_in_softmax, "the Softmax is Head's own");
    let _: Tensor<Rank2<2, 10>, f32, _, _> =
        m.forward_mut(dev.sample_normal::<Rank4<2, 1, 28, 28>>().leaky_trace());
    let dir = std::env::temp_dir().join(format!("typenet-macro-nest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nested.safetensors");
    m.save_safetensors(&path).unwrap();
    assert_eq!(
        safetensor_names(&path),
        [
            "head_2.dense_0.bias",
            "head_2.dense_0.weight",
            "stem_0.conv2d_0.bias",
            "stem_0.conv2d_0.weight"
        ]
    );
    std::fs::remove_dir_all(&dir).ok();

    let n = dev.build_module::<NestedThenLayers, f64>();
    let _: Tensor<(usize, Const<3>), f64, _> =
        n.forward(dev.sample_normal_like(&(3usize, Const::<1>, Const::<28>, Const::<28>)));
    // Chaining built networks whose shapes meet.
    let stem = dev.build_module::<Stem, f32>();
    let head = dev.build_module::<Head, f32>();
    let _: Tensor<Rank1<10>, f32, _> = head.forward(
        stem.forward(dev.sample_normal::<Rank3<1, 28, 28>>())
            .reshape::<Rank1<1352>>(),
    );
}

#[test]
fn usize_batch_and_sgd() {
    let dev = Cpu::default();
    let mut m = dev.build_module::<MnistCnn, f64>();
    let mut opt = Sgd::new(&m, SgdConfig::default());
    let x: Tensor<(usize, Const<1>, Const<28>, Const<28>), f64, _> =
        dev.sample_normal_like(&(5, Const, Const, Const));
    let mut grads = m.alloc_grads();
    let y: Tensor<(usize, Const<10>), f64, _, _> = m.forward_mut(x.traced(grads));
    assert_eq!(y.shape().0, 5);
    grads = y.square().mean().backward();
    opt.update(&mut m, &grads).unwrap();
    m.zero_grads(&mut grads);
}

#[test]
fn summary_text() {
    let text = MnistCnn::summary().to_string();
    assert!(text.starts_with("Model: \"MnistCnn\""), "{text}");
    for line in [
        "conv2d_0 (Conv2D)",
        "(None, 32, 26, 26)",
        "max_pool2d_2 (MaxPool2D)",
        "(None, 5408)",
        "692,352",
        "softmax_7 (Softmax)",
        " Total params: 693,962",
        " Trainable params: 693,962",
        " Non-trainable params: 0",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
    let s = AllLayers::summary().to_string();
    assert!(s.contains(" Non-trainable params: 80"), "{s}");
}

network! {
    struct ConvRelu: (2, 7, 7) { Conv2D(3, 3), ReLU }
}
network! {
    struct ConvAct: (2, 7, 7) { Conv2D(3, 3, activation = relu) }
}
network! {
    struct ConvOnly: (2, 7, 7) { Conv2D(3, 3) }
}

#[test]
fn fused_conv_relu_is_relu_of_conv() {
    let dev = Cpu::default();
    let plain = dev.build_module::<ConvOnly, f32>();
    let mut fused = dev.build_module::<ConvRelu, f32>();
    let mut act = dev.build_module::<ConvAct, f32>();
    fused.conv2d_0 = plain.conv2d_0.clone();
    act.conv2d_0 = plain.conv2d_0.clone();
    let x = dev.sample_normal::<Rank4<2, 2, 7, 7>>();
    let want = plain.forward(x.clone()).relu().array();
    assert_eq!(fused.forward(x.clone()).array(), want);
    assert_eq!(act.forward(x).array(), want);
}

network! {
    struct Regularised: 8 -> 8 { BatchNorm1D, Dropout(0.5) }
}
network! {
    struct OuterReg: 8 -> 8 { Regularised }
}

#[test]
fn training_mode_only_in_forward_mut() {
    let dev = Cpu::default();
    let mut m = dev.build_module::<OuterReg, f32>();
    let x = dev.sample_normal::<Rank2<16, 8>>() * 3.0 + 1.0;
    let a = m.forward(x.clone()).array();
    let b = m.forward(x.clone()).array();
    assert_eq!(a, b, "inference is deterministic");
    let mean0 = m.regularised_0.batch_norm1d_0.running_mean.array();
    let y = m.forward_mut(x.clone()).array();
    let zeros = y.iter().flatten().filter(|v| **v == 0.0).count();
    assert!(
        zeros > 16,
        "dropout is active in forward_mut: {zeros} zeros"
    );
    let mean1 = m.regularised_0.batch_norm1d_0.running_mean.array();
    assert_ne!(
        mean0, mean1,
        "batch-norm running stats update in training, through the nested network"
    );
    let _ = m.forward(x);
    assert_eq!(m.regularised_0.batch_norm1d_0.running_mean.array(), mean1);
}

network! {
    struct ConvActPool: (1, 10, 10) -> (4) {
        Conv2D(3, 3, activation = relu),
        MaxPool2D(2),
        Flatten,
        Dense(4),
    }
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "[{i}]: {x} vs {y}");
    }
}

/// `Conv2D, ReLU, MaxPool2D` runs as one fused kernel (and, in `try_forward_logits_mut`,
/// without the input's gradient); it must equal the three layers run one by one.
#[test]
fn fused_conv_relu_pool_equals_the_layers() {
    use dfdx::nn::Module;
    let dev = Cpu::seed_from_u64(4);
    let mut m = dev.build_module::<MnistCnn, f32>();
    let x = dev.sample_normal::<Rank4<3, 1, 28, 28>>();
    let by_hand =
        |m: &<MnistCnn as dfdx::nn::BuildOnDevice<Cpu, f32>>::Built,
         x: Tensor<Rank4<3, 1, 28, 28>, f32, Cpu, OwnedTape<f32, Cpu>>| {
            let y = m.conv2d_0.try_forward(x).unwrap().relu();
            let y = m.max_pool2d_2.try_forward(y).unwrap();
            let y = m
                .flatten_3
                .try_forward(y)
                .unwrap()
                .realize::<(Const<3>, Const<5408>)>();
            let y = m.dense_4.try_forward(y).unwrap().relu();
            m.dense_6.try_forward(y).unwrap()
        };
    let want = by_hand(&m, x.retaped());
    let got = m.try_forward_logits_mut(x.retaped()).unwrap();
    close(
        &got.retaped::<NoneTape>().as_vec(),
        &want.retaped::<NoneTape>().as_vec(),
    );
    close(
        &m.forward(x.clone()).as_vec(),
        &want.retaped::<NoneTape>().softmax::<Axis<1>>().as_vec(),
    );
    let (g_want, g_got) = (
        want.square().sum().backward(),
        got.square().sum().backward(),
    );
    let w = &m.conv2d_0.weight;
    close(&g_got.get(w).as_vec(), &g_want.get(w).as_vec());
    let bias = m.conv2d_0.bias.as_ref().unwrap();
    close(&g_got.get(bias).as_vec(), &g_want.get(bias).as_vec());
    macro_rules! same_grads {
        ($($t:expr),*) => {$(close(&g_got.get($t).as_vec(), &g_want.get($t).as_vec());)*};
    }
    same_grads!(
        &m.dense_4.weight,
        &m.dense_4.bias,
        &m.dense_6.weight,
        &m.dense_6.bias
    );

    // The `activation = relu` shorthand fuses the pooling too.
    let n = dev.build_module::<ConvActPool, f32>();
    let x = dev.sample_normal::<Rank4<2, 1, 10, 10>>();
    let y = n.conv2d_0.try_forward(x.clone()).unwrap().relu();
    let y = n.max_pool2d_1.try_forward(y).unwrap();
    let y = n
        .flatten_2
        .try_forward(y)
        .unwrap()
        .realize::<(Const<2>, Const<48>)>();
    close(
        &n.forward(x).as_vec(),
        &n.dense_3.try_forward(y).unwrap().as_vec(),
    );
}

network! {
    struct FlatMlp: (2, 3, 4) -> 3 { Flatten, Dense(8, activation = relu), Dense(5), ReLU, Dense(3, bias = false) }
}

/// `Flatten, Dense, ReLU` runs as one op (and, in `try_forward_logits_mut`, without the
/// input's gradient); it must equal dfdx's `Linear` and `relu` run one by one.
#[test]
fn fused_flatten_dense_relu_equals_the_layers() {
    use dfdx::nn::Module;
    let dev = Cpu::seed_from_u64(5);
    let mut m = dev.build_module::<FlatMlp, f32>();
    let x = dev.sample_normal::<Rank4<6, 2, 3, 4>>();
    let by_hand = |m: &<FlatMlp as dfdx::nn::BuildOnDevice<Cpu, f32>>::Built,
                   x: Tensor<Rank4<6, 2, 3, 4>, f32, Cpu, OwnedTape<f32, Cpu>>| {
        let y = x.reshape::<Rank2<6, 24>>();
        let y = m.dense_1.try_forward(y).unwrap().relu();
        let y = m.dense_2.try_forward(y).unwrap().relu();
        m.dense_4.try_forward(y).unwrap()
    };
    for fit in [true, false] {
        let want = by_hand(&m, x.retaped());
        let got = if fit {
            m.try_forward_logits_mut(x.retaped()).unwrap()
        } else {
            m.try_forward_logits(x.retaped()).unwrap()
        };
        close(
            &got.retaped::<NoneTape>().as_vec(),
            &want.retaped::<NoneTape>().as_vec(),
        );
        let (g_want, g_got) = (
            want.square().sum().backward(),
            got.square().sum().backward(),
        );
        macro_rules! same_grads {
            ($($t:expr),*) => {$(close(&g_got.get($t).as_vec(), &g_want.get($t).as_vec());)*};
        }
        same_grads!(
            &m.dense_1.weight,
            &m.dense_1.bias,
            &m.dense_2.weight,
            &m.dense_2.bias,
            &m.dense_4.weight
        );
    }
}

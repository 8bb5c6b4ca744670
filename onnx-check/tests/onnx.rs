//! The ONNX export (`typenet::interop::export_onnx`) run in tract: for every layer kind,
//! nested and merged networks, the MNIST CNN and the PyTorch-trained fixture, the outputs
//! equal typenet's inference forward to 1e-5. A crate of its own so that tract, a large
//! dev-dependency, is built only here (not by typenet's trybuild tests).

use dfdx::prelude::*;
use typenet::interop::{export_onnx, onnx_bytes, ToOnnx};
use typenet::models::MnistCnn;
use typenet::prelude::*;
use typenet::{network, Batch};

#[path = "../../tests/interop_support/mod.rs"]
mod support;
use support::*;

fn tract_run(bytes: &[u8], shape: &[usize], input: Vec<f32>) -> (Vec<usize>, Vec<f32>) {
    use tract_onnx::prelude::*;
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .expect("tract reads the model")
        .with_input_fact(0, f32::fact(shape).into())
        .unwrap()
        .into_optimized()
        .expect("tract optimises the model")
        .into_runnable()
        .unwrap();
    let x: Tensor = tract_ndarray::ArrayD::from_shape_vec(shape, input)
        .unwrap()
        .into();
    let out = model.run(tvec!(x.into())).expect("tract runs the model");
    let y = out[0].to_plain_array_view::<f32>().unwrap();
    (y.shape().to_vec(), y.iter().copied().collect())
}

/// The ONNX export of `m` gives the same outputs as its inference forward on random inputs.
fn check_onnx<N: NetworkSpec>(m: &N::Module<f32, Cpu>, dev: &Cpu, what: &str)
where
    N::Module<f32, Cpu>: ToOnnx,
{
    let bytes = onnx_bytes(m).unwrap();
    for batch in [1usize, 3] {
        let x: Batch<N::Input, usize, f32, Cpu> =
            dev.sample_normal_like(&<N::Input as SampleShape>::batched(batch));
        let mut shape = vec![batch];
        shape.extend_from_slice(N::INPUT_SHAPE);
        let want = m.try_forward_batch(x.clone()).unwrap().as_vec();
        let (got_shape, got) = tract_run(&bytes, &shape, x.as_vec());
        let mut out_shape = vec![batch];
        out_shape.extend_from_slice(N::OUTPUT_SHAPE);
        assert_eq!(got_shape, out_shape, "{what}");
        close(&want, &got, 1e-5, what);
        dump(
            &format!("{what}_{batch}"),
            &bytes,
            &shape,
            &x.as_vec(),
            &want,
        );
    }
}

/// With `TYPENET_ONNX_DUMP=DIR`, each checked model and case is also written there
/// (`NAME.onnx`, `NAME.json` with the input and typenet's output) for
/// `scripts/check_onnx.py --cases DIR` to run in onnxruntime.
fn dump(name: &str, bytes: &[u8], shape: &[usize], input: &[f32], output: &[f32]) {
    let Some(dir) = std::env::var_os("TYPENET_ONNX_DUMP") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.onnx")), bytes).unwrap();
    let case = serde_json::json!({ "shape": shape, "input": input, "output": output });
    std::fs::write(dir.join(format!("{name}.json")), case.to_string()).unwrap();
}

macro_rules! onnx_case {
    ($test:ident, $net:ident: $in:tt -> $out:tt { $($layers:tt)* }) => {
        #[test]
        fn $test() {
            network! { struct $net: $in -> $out { $($layers)* } }
            let dev = Cpu::seed_from_u64(7);
            let mut m = dev.build_module::<$net, f32>();
            warm::<$net>(&mut m, &dev);
            check_onnx::<$net>(&m, &dev, stringify!($net));
        }
    };
}

onnx_case!(onnx_conv2d_stride_padding_dilation_bias, ConvNet: (3, 13, 13) -> (5, 3, 3) {
    Conv2D(4, 3, stride = 2, padding = 1),
    Conv2D(6, 3, padding = same, bias = false),
    Conv2D(5, 3, dilation = 2, activation = relu),
});
onnx_case!(onnx_conv1d, Conv1Net: (2, 12) -> (3, 4) {
    Conv1D(4, 3, stride = 2, padding = 1),
    Conv1D(3, 3, dilation = 1, bias = false),
});
onnx_case!(onnx_pools_with_padding, PoolNet: (3, 9, 9) -> (3, 5, 5) {
    MaxPool2D(3, stride = 2, padding = 1),
    AvgPool2D(3, stride = 1, padding = 1),
});
onnx_case!(onnx_global_avg, GlobalNet: (3, 6, 6) -> (3) {
    Conv2D(3, 3, padding = same),
    GlobalAvgPool2D,
    Dense(3),
});
onnx_case!(onnx_global_max, GlobalMaxNet: (3, 6, 5) -> (3) {
    GlobalMaxPool2D,
});
onnx_case!(onnx_flatten_dense, DenseNet: (2, 3, 4) -> (5) {
    Flatten,
    Dense(7, activation = sigmoid),
    Dense(5, bias = false),
});
onnx_case!(onnx_activations, ActNet: (6) -> (6) {
    Dense(6),
    ReLU,
    Dense(6),
    Sigmoid,
    Dense(6),
    Tanh,
    Dense(6),
    GELU,
    Dense(6),
    LeakyReLU(0.2),
    Dense(6, activation = gelu),
    Dropout(0.5),
    Softmax,
});
onnx_case!(onnx_batch_norm_inference, BnNet: (3, 4, 4) -> (5) {
    BatchNorm2D,
    Flatten,
    Dense(5),
    BatchNorm1D,
});
onnx_case!(onnx_layer_norm, LnNet: (7) -> (7) {
    Dense(7),
    LayerNorm,
});
onnx_case!(onnx_residual, ResNet: (2, 5, 5) -> (2, 5, 5) {
    Residual { Conv2D(2, 3, padding = same), ReLU, Residual { Conv2D(2, 1) } },
});

onnx_case!(onnx_concat_and_add_branches, MergeNet: (3, 6, 6) -> (9) {
    Concat {
        [Conv2D(4, 1)],
        [Conv2D(2, 3, padding = same), ReLU],
        [],
    },
    Add { [Conv2D(9, 1)], [], [ReLU] },
    GlobalAvgPool2D,
    Concat { [Dense(5)], [Dense(4), Sigmoid] },
});
onnx_case!(onnx_pools_1d, Pool1Net: (3, 17) -> (6) {
    MaxPool1D(3, stride = 2, padding = 1),
    AvgPool1D(3, stride = 1, padding = 1),
    Conv1D(4, 3),
    Concat { [GlobalAvgPool1D], [MaxPool1D(2), GlobalMaxPool1D], },
    Dense(6),
});
onnx_case!(onnx_upsampling, UpNet: (2, 3, 4) -> (2, 6, 24) {
    UpSampling2D(2),
    UpSampling2D(1, 3),
    Conv2D(2, 1),
});
onnx_case!(onnx_conv_transpose, DeconvNet: (3, 5, 5) -> (2, 10, 10) {
    Conv2DTranspose(4, 3, stride = 2, padding = 1, output_padding = 1, activation = relu),
    Conv2DTranspose(2, 1, bias = false),
});

network! {
    struct Tokens: (9) -> (3) {
        Embedding(11, 4),
        Conv1D(5, 3, padding = same, activation = relu),
        GlobalMaxPool1D,
        Dense(3),
    }
}

#[test]
fn onnx_embedding_reads_token_ids() {
    let dev = Cpu::seed_from_u64(12);
    let m = dev.build_module::<Tokens, f32>();
    let bytes = onnx_bytes(&m).unwrap();
    let ids: Vec<f32> = (0..3 * 9).map(|i| ((i * 7 + 3) % 11) as f32).collect();
    let x: Tensor<(usize, Const<9>), f32, Cpu> = dev.tensor_from_vec(ids.clone(), (3, Const));
    let want = m.try_forward_batch(x).unwrap().as_vec();
    let (shape, got) = tract_run(&bytes, &[3, 9], ids.clone());
    assert_eq!(shape, vec![3, 3]);
    close(&want, &got, 1e-5, "Tokens");
    dump("Tokens_3", &bytes, &[3, 9], &ids, &want);
}

#[test]
fn onnx_mixed_and_nested_networks() {
    let dev = Cpu::seed_from_u64(8);
    let mut m = dev.build_module::<Mixed, f32>();
    warm::<Mixed>(&mut m, &dev);
    check_onnx::<Mixed>(&m, &dev, "Mixed");
    let o = dev.build_module::<Outer, f32>();
    check_onnx::<Outer>(&o, &dev, "Outer");
}

#[test]
fn onnx_file_of_the_mnist_cnn_runs_in_tract() {
    let d = dir("onnx");
    let dev = Cpu::seed_from_u64(9);
    let m = dev.build_module::<MnistCnn, f32>();
    check_onnx::<MnistCnn>(&m, &dev, "MnistCnn");
    let p = d.join("mnist.onnx");
    export_onnx(&m, &p).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), onnx_bytes(&m).unwrap());
}

#[test]
fn pytorch_fixture_exported_gives_pytorchs_probabilities() {
    let dev = Cpu::seed_from_u64(10);
    let m = fixture_model(&dev);
    let (images, logits) = fixture();
    let n = logits.len();
    // The export keeps the declared final Softmax: softmax of PyTorch's logits.
    let bytes = onnx_bytes(&m).unwrap();
    let (_, probs) = tract_run(&bytes, &[n, 1, 28, 28], images);
    let softmax: Vec<f32> = logits
        .iter()
        .flat_map(|r| {
            let mx = r.iter().cloned().fold(f32::MIN, f32::max);
            let e: Vec<f32> = r.iter().map(|v| (v - mx).exp()).collect();
            let s: f32 = e.iter().sum();
            e.into_iter().map(move |v| v / s)
        })
        .collect();
    close(&probs, &softmax, 1e-5, "ONNX vs PyTorch probabilities");
}

//! Interop: PyTorch safetensors in and out (round trips, names, element types, every kind
//! of bad file with the model left unchanged) and ONNX export checked against tract.

use std::path::{Path, PathBuf};

use ::safetensors::tensor::{serialize, Dtype as StDtype, SafeTensors, TensorView};
use dfdx::prelude::*;
use typenet::interop::{
    export_onnx, load_pytorch, load_pytorch_with, onnx_bytes, save_pytorch, save_pytorch_with,
    InteropError, NameMap, ToOnnx,
};
use typenet::models::MnistCnn;
use typenet::prelude::*;
use typenet::{network, Batch};

network! {
    /// Every parameterised kind: conv, batch norm, residual, dense, layer norm.
    struct Mixed: (2, 8, 8) -> (3) {
        Conv2D(4, 3, padding = same),
        BatchNorm2D,
        ReLU,
        Residual { Conv2D(4, 3, padding = 1, bias = false), ReLU },
        MaxPool2D(2),
        Flatten,
        Dense(6),
        BatchNorm1D,
        LayerNorm,
        Dense(3, bias = false),
    }
}

network! {
    struct Inner: (6) -> (6) {
        Dense(6, activation = tanh),
    }
}

network! {
    /// A nested network: its layers get a nested prefix.
    struct Outer: (4) -> (2) {
        Dense(6),
        Inner,
        Dense(2),
        Softmax,
    }
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("typenet-interop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every tensor of a model, by name, via typenet's own safetensors writer.
fn snapshot<M: TensorCollection<f32, Cpu>>(m: &M, d: &Path) -> Vec<(String, Vec<f32>)> {
    let p = d.join("snapshot.safetensors");
    save_weights(m, &p).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let f = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = f
        .tensors()
        .into_iter()
        .filter(|(_, t)| t.dtype() == StDtype::F32)
        .map(|(n, t)| {
            let v = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()));
            (n, v.collect())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Training steps so that batch norm's running statistics are not their defaults.
fn warm<N: NetworkSpec>(m: &mut N::Module<f32, Cpu>, dev: &Cpu) {
    for _ in 0..3 {
        let x: Batch<N::Input, usize, f32, Cpu> =
            dev.sample_normal_like(&<N::Input as SampleShape>::batched(5usize));
        m.try_forward_batch_mut(x).unwrap();
    }
}

fn keys(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let f = SafeTensors::deserialize(&bytes).unwrap();
    let mut k: Vec<String> = f.names().into_iter().cloned().collect();
    k.sort();
    k
}

#[test]
fn save_writes_sequential_keys_and_load_save_load_is_identity() {
    let d = dir("round");
    let dev = Cpu::seed_from_u64(1);
    let mut a = dev.build_module::<Mixed, f32>();
    warm::<Mixed>(&mut a, &dev);
    let p = d.join("a.safetensors");
    save_pytorch(&a, &p).unwrap();
    assert_eq!(
        keys(&p),
        [
            "0.bias",
            "0.weight",
            "1.bias",
            "1.num_batches_tracked",
            "1.running_mean",
            "1.running_var",
            "1.weight",
            "3.0.weight",
            "6.bias",
            "6.weight",
            "7.bias",
            "7.num_batches_tracked",
            "7.running_mean",
            "7.running_var",
            "7.weight",
            "8.bias",
            "8.weight",
            "9.weight",
        ]
    );
    let mut b = dev.build_module::<Mixed, f32>();
    assert_ne!(snapshot(&a, &d), snapshot(&b, &d));
    load_pytorch(&mut b, &p).unwrap();
    assert_eq!(snapshot(&a, &d), snapshot(&b, &d));
    // And once more: the second file is byte for byte the first.
    let q = d.join("b.safetensors");
    save_pytorch(&b, &q).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(&q).unwrap());
    let mut c = dev.build_module::<Mixed, f32>();
    load_pytorch(&mut c, &q).unwrap();
    assert_eq!(snapshot(&a, &d), snapshot(&c, &d));
}

#[test]
fn nested_networks_get_nested_prefixes_and_name_maps_apply() {
    let d = dir("names");
    let dev = Cpu::seed_from_u64(2);
    let a = dev.build_module::<Outer, f32>();
    let p = d.join("a.safetensors");
    save_pytorch(&a, &p).unwrap();
    assert_eq!(
        keys(&p),
        [
            "0.bias",
            "0.weight",
            "1.0.bias",
            "1.0.weight",
            "2.bias",
            "2.weight"
        ]
    );
    let map = NameMap::prefix("net.");
    save_pytorch_with(&a, &p, &map).unwrap();
    assert_eq!(keys(&p)[0], "net.0.bias");
    let mut b = dev.build_module::<Outer, f32>();
    load_pytorch_with(&mut b, &p, &map).unwrap();
    assert_eq!(snapshot(&a, &d), snapshot(&b, &d));
    let custom = NameMap::custom(|k| k.replacen("1.0.", "inner.fc.", 1));
    save_pytorch_with(&a, &p, &custom).unwrap();
    assert!(keys(&p).contains(&"inner.fc.weight".to_string()));
    let mut c = dev.build_module::<Outer, f32>();
    load_pytorch_with(&mut c, &p, &custom).unwrap();
    assert_eq!(snapshot(&a, &d), snapshot(&c, &d));
    // A map that sends two tensors to one key is refused.
    let bad = NameMap::custom(|_| "x".into());
    let e = save_pytorch_with(&a, &p, &bad).unwrap_err();
    assert!(matches!(e, InteropError::DuplicateKey { .. }), "{e}");
}

/// Writes `tensors` (key, dtype, shape, little-endian bytes) as safetensors.
fn write(path: &Path, tensors: &[(&str, StDtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(k, d, s, b)| (k.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, serialize(views, &None).unwrap()).unwrap();
}

type Lin = dfdx::nn::modules::Linear<3, 2, f32, Cpu>;

#[test]
fn f16_bf16_and_f64_convert_to_the_model_type() {
    let d = dir("dtypes");
    let dev = Cpu::seed_from_u64(3);
    let w = [0.5f32, -1.25, 2.0, 0.1, -0.3, 7.75];
    let b = [1.0f32, -0.0625];
    let f16 = |v: &[f32]| {
        v.iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect()
    };
    let bf16 = |v: &[f32]| {
        v.iter()
            .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
            .collect()
    };
    let f64b = |v: &[f32]| v.iter().flat_map(|x| (*x as f64).to_le_bytes()).collect();
    let cases: [(StDtype, fn(f32) -> f32, Vec<u8>, Vec<u8>); 3] = [
        (
            StDtype::F16,
            |x| half::f16::from_f32(x).to_f32(),
            f16(&w),
            f16(&b),
        ),
        (
            StDtype::BF16,
            |x| half::bf16::from_f32(x).to_f32(),
            bf16(&w),
            bf16(&b),
        ),
        (StDtype::F64, |x| x, f64b(&w), f64b(&b)),
    ];
    for (dtype, round, wb, bb) in cases {
        let p = d.join("t.safetensors");
        write(
            &p,
            &[
                ("weight", dtype, vec![2, 3], wb),
                ("bias", dtype, vec![2], bb),
            ],
        );
        let mut m = Lin::build(&dev);
        load_pytorch(&mut m, &p).unwrap();
        let want: Vec<f32> = w.iter().map(|&x| round(x)).collect();
        assert_eq!(m.weight.as_vec(), want, "{dtype:?}");
        assert_eq!(
            m.bias.as_vec(),
            b.iter().map(|&x| round(x)).collect::<Vec<_>>()
        );
    }
}

/// Loads `path` into a fresh `Lin`, expecting an error; the model must be unchanged.
fn load_err(path: &Path) -> String {
    let dev = Cpu::seed_from_u64(4);
    let mut m = Lin::build(&dev);
    let before = (m.weight.as_vec(), m.bias.as_vec());
    let e = load_pytorch(&mut m, path).expect_err("the load must fail");
    assert_eq!(
        (m.weight.as_vec(), m.bias.as_vec()),
        before,
        "a failed load must not touch the model"
    );
    e.to_string()
}

fn f32s(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
}

#[test]
fn bad_files_give_one_clear_error_and_leave_the_model_unchanged() {
    let d = dir("bad");
    let p = d.join("bad.safetensors");
    // Another architecture: a shape differs.
    write(
        &p,
        &[
            ("weight", StDtype::F32, vec![2, 4], f32s(8)),
            ("bias", StDtype::F32, vec![2], f32s(2)),
        ],
    );
    let e = load_err(&p);
    assert!(
        e.contains("bad.safetensors")
            && e.contains("`weight`")
            && e.contains("[2, 4]")
            && e.contains("[2, 3]"),
        "{e}"
    );
    // Missing and left-over keys, both listed.
    write(
        &p,
        &[
            ("0.weight", StDtype::F32, vec![2, 3], f32s(6)),
            ("bias", StDtype::F32, vec![2], f32s(2)),
        ],
    );
    let e = load_err(&p);
    assert!(
        e.contains("missing from the file: weight [2, 3]")
            && e.contains("left over in the file: 0.weight"),
        "{e}"
    );
    // A dtype that is no float.
    write(
        &p,
        &[
            ("weight", StDtype::I32, vec![2, 3], f32s(6)),
            ("bias", StDtype::F32, vec![2], f32s(2)),
        ],
    );
    let e = load_err(&p);
    assert!(e.contains("`weight`") && e.contains("i32"), "{e}");
    // A truncated file.
    write(
        &p,
        &[
            ("weight", StDtype::F32, vec![2, 3], f32s(6)),
            ("bias", StDtype::F32, vec![2], f32s(2)),
        ],
    );
    let bytes = std::fs::read(&p).unwrap();
    for cut in [0, 5, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = load_err(&p);
        assert!(
            e.contains("bad.safetensors") && e.contains("truncated"),
            "{e}"
        );
    }
    // No file at all.
    let e = load_err(&d.join("none.safetensors"));
    assert!(e.contains("none.safetensors"), "{e}");
    // Arbitrary bytes never panic.
    for seed in 0..200u64 {
        let n = (seed * 37 % 300) as usize;
        let junk: Vec<u8> = (0..n)
            .map(|i| (i as u64 * 2654435761 + seed) as u8)
            .collect();
        std::fs::write(&p, &junk).unwrap();
        let _ = load_err(&p);
    }
}

#[test]
fn a_save_replaces_the_file_atomically() {
    let d = dir("atomic");
    let dev = Cpu::seed_from_u64(5);
    let m = Lin::build(&dev);
    let p = d.join("m.safetensors");
    std::fs::write(&p, b"old").unwrap();
    save_pytorch(&m, &p).unwrap();
    assert_eq!(keys(&p), ["bias", "weight"]);
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    let e = save_pytorch(&m, d.join("no/such/dir/m.safetensors")).unwrap_err();
    assert!(matches!(e, InteropError::Io { .. }), "{e}");
}

// ---- ONNX, checked with tract ----

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

fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs()),
            "{what}: element {i}: typenet {x}, ONNX {y}"
        );
    }
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
    }
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
    let (shape, got) = tract_run(&bytes, &[3, 9], ids);
    assert_eq!(shape, vec![3, 3]);
    close(&want, &got, 1e-5, "Tokens");
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

// ---- The PyTorch-trained fixture (scripts/train_torch_mnist.py) ----

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/mnist_cnn_torch"
);

fn fixture() -> (Vec<f32>, Vec<Vec<f32>>) {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURE}.json")).unwrap()).unwrap();
    let logits = meta["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect::<Vec<Vec<f32>>>();
    let mnist = load_mnist(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist")).unwrap();
    let n = logits.len();
    let images = mnist.test.features()[..n * 784].to_vec();
    (images, logits)
}

#[test]
fn pytorch_fixture_gives_pytorchs_logits_in_typenet_and_in_onnx() {
    let dev = Cpu::seed_from_u64(10);
    let mut m = dev.build_module::<MnistCnn, f32>();
    load_pytorch(&mut m, format!("{FIXTURE}.safetensors")).unwrap();
    let (images, want) = fixture();
    let n = want.len();
    let want: Vec<f32> = want.concat();
    let x: Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu> =
        dev.tensor_from_vec(images.clone(), (n, Const, Const, Const));
    let got = m.try_forward_logits(x).unwrap().as_vec();
    close(&got, &want, 1e-5, "typenet vs PyTorch logits");
    // The ONNX export without the final softmax is the logits again; with it, softmax.
    let bytes = onnx_bytes(&m).unwrap();
    let (_, probs) = tract_run(&bytes, &[n, 1, 28, 28], images);
    let softmax: Vec<f32> = want
        .chunks(10)
        .flat_map(|r| {
            let mx = r.iter().cloned().fold(f32::MIN, f32::max);
            let e: Vec<f32> = r.iter().map(|v| (v - mx).exp()).collect();
            let s: f32 = e.iter().sum();
            e.into_iter().map(move |v| v / s)
        })
        .collect();
    close(&probs, &softmax, 1e-5, "ONNX vs PyTorch probabilities");
}

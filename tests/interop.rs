//! Interop: PyTorch safetensors in and out (round trips, names, element types, every kind
//! of bad file with the model left unchanged), the PyTorch-trained fixture, and Keras's
//! initialisers. The ONNX export is checked in `onnx-check/tests/onnx.rs`.

use std::path::Path;

use ::safetensors::tensor::{serialize, Dtype as StDtype, SafeTensors, TensorView};
use dfdx::prelude::*;
use typenet::interop::{
    load_pytorch, load_pytorch_with, save_pytorch, save_pytorch_with, InteropError, NameMap,
};
use typenet::network;
use typenet::prelude::*;

#[path = "interop_support/mod.rs"]
mod support;
use support::*;

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

// ---- The PyTorch-trained fixture (scripts/train_torch_mnist.py) ----

#[test]
fn pytorch_fixture_gives_pytorchs_logits_in_typenet() {
    let dev = Cpu::seed_from_u64(10);
    let m = fixture_model(&dev);
    let (images, want) = fixture();
    let n = want.len();
    let x: Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu> =
        dev.tensor_from_vec(images, (n, Const, Const, Const));
    let got = m.try_forward_logits(x).unwrap().as_vec();
    close(&got, &want.concat(), 1e-5, "typenet vs PyTorch logits");
}

// ---- Keras's initialisers ----

network! {
    struct KerasStart: (12) -> (3) {
        Embedding(50, 64),
        Conv1D(32, 3, padding = same),
        GlobalAvgPool1D,
        BatchNorm1D,
        Dense(200),
        LayerNorm,
        Dense(3),
    }
}

#[test]
fn keras_init_is_glorot_uniform_with_zero_biases() {
    let d = dir("init");
    let dev = Cpu::seed_from_u64(13);
    let mut m = dev.build_module::<KerasStart, f32>();
    typenet::init::Init::Keras.apply(&mut m).unwrap();
    let tensors = snapshot(&m, &d);
    // Each kernel fills its Glorot interval uniformly: the largest value is near the
    // bound and the variance near bound^2 / 3.
    let bound = |name: &str| match name {
        "embedding_0.weight" => Some(0.05),
        "conv1d_1.weight" => Some((6.0f32 / (64.0 * 3.0 + 32.0 * 3.0)).sqrt()),
        "dense_4.weight" => Some((6.0f32 / (32.0 + 200.0)).sqrt()),
        "dense_6.weight" => Some((6.0f32 / (200.0 + 3.0)).sqrt()),
        _ => None,
    };
    let mut kernels = 0;
    for (name, v) in &tensors {
        let ones =
            name.ends_with("scale") || name.ends_with("gamma") || name.ends_with("running_var");
        match bound(name) {
            Some(b) => {
                kernels += 1;
                let max = v.iter().fold(0f32, |a, x| a.max(x.abs()));
                let var = v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32;
                assert!(
                    max <= b && max > 0.95 * b,
                    "{name}: largest {max}, bound {b}"
                );
                assert!(
                    (var / (b * b / 3.0) - 1.0).abs() < 0.1,
                    "{name}: variance {var}, bound {b}"
                );
            }
            None if ones => assert!(v.iter().all(|&x| x == 1.0), "{name} should be ones"),
            None => assert!(v.iter().all(|&x| x == 0.0), "{name} should be zeros"),
        }
    }
    assert_eq!(
        kernels,
        4,
        "{:?}",
        tensors.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    // The same seed gives the same start.
    let dev2 = Cpu::seed_from_u64(13);
    let mut m2 = dev2.build_module::<KerasStart, f32>();
    typenet::init::Init::Keras.apply(&mut m2).unwrap();
    assert_eq!(snapshot(&m2, &d), tensors);
}

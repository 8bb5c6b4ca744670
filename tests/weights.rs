//! Saving and loading weights: round trips, every kind of bad file with its message, no
//! half-loaded model, atomic replacement, and no panic on arbitrary bytes.

use std::path::PathBuf;

use dfdx::prelude::*;
use proptest::prelude::*;
use typenet::layers::Conv2D;
use typenet::weights::{load_weights, save_weights, write_atomic, WeightsError};

type Small = (
    Conv2D<1, 2, 3, 1, 0, 1, true, f32, Cpu>,
    dfdx::nn::modules::Linear<4, 3, f32, Cpu>,
);
type Other = (
    Conv2D<1, 2, 3, 1, 0, 1, true, f32, Cpu>,
    dfdx::nn::modules::Linear<5, 3, f32, Cpu>,
);

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("typenet-weights-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn values(m: &Small) -> Vec<f32> {
    let mut v = m.0.weight.as_vec();
    v.extend(m.0.bias.as_ref().unwrap().as_vec());
    v.extend(m.1.weight.as_vec());
    v.extend(m.1.bias.as_vec());
    v
}

#[test]
fn round_trip_restores_every_tensor() {
    let d = dir("round");
    let dev = Cpu::seed_from_u64(1);
    let a = Small::build(&dev);
    let mut b = Small::build(&dev);
    assert_ne!(values(&a), values(&b));
    save_weights(&a, d.join("w.safetensors")).unwrap();
    load_weights(&mut b, d.join("w.safetensors")).unwrap();
    assert_eq!(values(&a), values(&b));
    // Interchangeable with dfdx's own loader.
    let mut c = Small::build(&dev);
    c.load_safetensors(d.join("w.safetensors")).unwrap();
    assert_eq!(values(&a), values(&c));
}

fn load_err(model: &mut Small, path: &std::path::Path) -> String {
    let before = values(model);
    let e = load_weights(model, path).expect_err("load must fail");
    assert_eq!(
        values(model),
        before,
        "a failed load must leave the model unchanged"
    );
    e.to_string()
}

#[test]
fn missing_file_names_the_path() {
    let d = dir("missing");
    let mut m = Small::build(&Cpu::default());
    let msg = load_err(&mut m, &d.join("nope.safetensors"));
    assert!(
        msg.contains("nope.safetensors") && msg.contains("No such file"),
        "{msg}"
    );
}

#[test]
fn truncated_and_garbage_files_are_corrupt() {
    let d = dir("corrupt");
    let dev = Cpu::default();
    let mut m = Small::build(&dev);
    let p = d.join("w.safetensors");
    save_weights(&m, &p).unwrap();
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 7]).unwrap();
    let msg = load_err(&mut m, &p);
    assert!(
        msg.contains("not a valid safetensors file") && msg.contains("truncated"),
        "{msg}"
    );
    std::fs::write(&p, b"definitely not weights").unwrap();
    let msg = load_err(&mut m, &p);
    assert!(msg.contains("not a valid safetensors file"), "{msg}");
}

#[test]
fn another_network_names_the_tensor_and_both_shapes() {
    let d = dir("other");
    let dev = Cpu::default();
    let p = d.join("other.safetensors");
    save_weights(&Other::build(&dev), &p).unwrap();
    let mut m = Small::build(&dev);
    let msg = load_err(&mut m, &p);
    assert!(
        msg.contains("`1.weight`") && msg.contains("[3, 5]") && msg.contains("[3, 4]"),
        "{msg}"
    );
}

#[test]
fn missing_and_extra_tensors() {
    let d = dir("names");
    let dev = Cpu::default();
    let p = d.join("conv.safetensors");
    // Only the conv layer: the Linear's tensors are missing.
    save_weights(&Small::build(&dev).0, &p).unwrap();
    let mut m = Small::build(&dev);
    let msg = load_err(&mut m, &p);
    assert!(
        msg.contains("has no tensor `0.bias`") && msg.contains("shape [2]"),
        "{msg}"
    );
    // A bigger network: tensors the model does not have.
    let p = d.join("big.safetensors");
    let big = (
        Small::build(&dev),
        dfdx::nn::modules::Linear::<3, 2, f32, Cpu>::build(&dev),
    );
    save_weights(&big, &p).unwrap();
    let msg = load_err(&mut m, &p);
    assert!(
        msg.contains("has no tensor `0.bias`") && msg.contains("shape [2]"),
        "{msg}"
    );
}

#[test]
fn another_dtype_is_named() {
    let d = dir("dtype");
    let dev = Cpu::default();
    let p = d.join("f64.safetensors");
    save_weights(
        &<(
            Conv2D<1, 2, 3, 1, 0, 1, true, f64, Cpu>,
            dfdx::nn::modules::Linear<4, 3, f64, Cpu>,
        )>::build(&dev),
        &p,
    )
    .unwrap();
    let mut m = Small::build(&dev);
    let msg = load_err(&mut m, &p);
    assert!(
        msg.contains("holds f64") && msg.contains("uses f32"),
        "{msg}"
    );
}

#[test]
fn extra_tensors_are_refused() {
    let d = dir("extra");
    let dev = Cpu::default();
    let p = d.join("w.safetensors");
    let small = Small::build(&dev);
    save_weights(&small, &p).unwrap();
    // Append a tensor by saving a tuple that contains the same names plus more.
    let with_extra = (
        small.0.clone(),
        small.1.clone(),
        dfdx::nn::modules::Linear::<3, 2, f32, Cpu>::build(&dev),
    );
    save_weights(&with_extra, &p).unwrap();
    let mut m = Small::build(&dev);
    let msg = load_err(&mut m, &p);
    assert!(
        msg.contains("tensors the model does not") && msg.contains("2.weight"),
        "{msg}"
    );
}

#[test]
fn failed_save_keeps_the_previous_file() {
    let d = dir("atomic");
    let dev = Cpu::seed_from_u64(3);
    let p = d.join("ckpt.safetensors");
    let good = Small::build(&dev);
    save_weights(&good, &p).unwrap();
    // Make the writer fail mid-save: its temporary file's path is taken by a directory.
    let tmp = d.join(format!(".ckpt.safetensors.tmp-{}", std::process::id()));
    std::fs::create_dir(&tmp).unwrap();
    let newer = Small::build(&dev);
    assert!(save_weights(&newer, &p).is_err());
    let mut m = Small::build(&dev);
    load_weights(&mut m, &p).unwrap();
    assert_eq!(
        values(&m),
        values(&good),
        "the previous checkpoint must still load"
    );
    // And a plain atomic write replaces the whole file.
    std::fs::remove_dir(&tmp).unwrap();
    write_atomic(&p, b"x").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"x");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let d = std::env::temp_dir().join(format!("typenet-weights-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("fuzz.safetensors");
        std::fs::write(&p, &bytes).unwrap();
        let mut m = Small::build(&Cpu::default());
        prop_assert!(load_weights(&mut m, &p).is_err());
    }

    #[test]
    fn damaged_files_never_panic(cut in 0usize..2000, flip in 0usize..2000, bit in 0u8..8) {
        let d = std::env::temp_dir().join(format!("typenet-weights-damage-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("w.safetensors");
        let mut m = Small::build(&Cpu::default());
        save_weights(&m, &p).unwrap();
        let mut bytes = std::fs::read(&p).unwrap();
        if let Some(b) = bytes.get_mut(flip) {
            *b ^= 1 << bit;
        }
        bytes.truncate(cut.min(bytes.len()));
        std::fs::write(&p, &bytes).unwrap();
        // Either a clean error or, when the damage hit only data bytes, a successful load.
        let _ = load_weights(&mut m, &p);
    }
}

#[test]
fn error_type_is_usable() {
    fn takes(_: &dyn std::error::Error) {}
    let e = WeightsError::UnexpectedTensors {
        path: "x".into(),
        names: "a".into(),
    };
    takes(&e);
    assert!(e
        .to_string()
        .starts_with("x: has tensors the model does not (a)"));
}

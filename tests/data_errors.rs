//! The MNIST loader's errors: each bad input gives an error (never a panic) whose message
//! names the file and the problem and says how to fix it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use typenet::data::idx::encode_idx;
use typenet::data::{load_mnist, load_mnist_split, DataError, MnistSplit, MNIST_FILES};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("typenet-data-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn images(n: u32) -> Vec<u8> {
    let data: Vec<u8> = (0..n as usize * 784).map(|i| (i % 256) as u8).collect();
    encode_idx(&[n, 28, 28], &data)
}

fn labels(values: &[u8]) -> Vec<u8> {
    encode_idx(&[values.len() as u32], values)
}

/// Writes a valid MNIST directory: 3 training and 2 test samples, gzipped or raw.
fn write_valid(dir: &Path, gz: bool) {
    let files = [images(3), labels(&[5, 0, 9]), images(2), labels(&[7, 2])];
    for (name, bytes) in MNIST_FILES.iter().zip(files) {
        if gz {
            fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).expect("write");
        } else {
            fs::write(dir.join(name), bytes).expect("write");
        }
    }
}

fn err_msg(dir: &Path) -> String {
    match load_mnist(dir) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} should contain {p:?}");
    }
}

#[test]
fn valid_gzipped_and_raw_files_load() {
    for gz in [true, false] {
        let dir = TempDir::new(if gz { "valid-gz" } else { "valid-raw" });
        write_valid(dir.path(), gz);
        let mnist = load_mnist(dir.path()).expect("valid files load");
        assert_eq!(mnist.train.len(), 3);
        assert_eq!(mnist.test.len(), 2);
        assert_eq!(mnist.train.labels(), &[5, 0, 9]);
        assert_eq!(mnist.test.labels(), &[7, 2]);
        let (first, label) = mnist.train.get(0).expect("sample 0");
        assert_eq!(label, 5);
        assert_eq!(first.len(), 784);
        assert_eq!(first[0], 0.0);
        assert_eq!(first[255], 1.0);
        assert!((first[1] - 1.0 / 255.0).abs() < 1e-7);
    }
}

#[test]
fn gzipped_content_without_gz_suffix_is_detected() {
    let dir = TempDir::new("gz-no-suffix");
    write_valid(dir.path(), false);
    let path = dir.path().join(MNIST_FILES[3]);
    fs::write(&path, gzip(&labels(&[7, 2]))).expect("write");
    let mnist = load_mnist(dir.path()).expect("gzip detected by its magic bytes");
    assert_eq!(mnist.test.labels(), &[7, 2]);
}

#[test]
fn missing_directory_names_path_and_flag() {
    let dir = std::env::temp_dir().join("typenet-definitely-missing-dir");
    let err = load_mnist(&dir).unwrap_err();
    assert!(matches!(err, DataError::MissingDir { .. }), "{err:?}");
    assert_contains(
        &err.to_string(),
        &[&dir.display().to_string(), "does not exist", "--data-dir"],
    );
}

#[test]
fn file_instead_of_directory() {
    let dir = TempDir::new("not-a-dir");
    let file = dir.path().join("plain-file");
    fs::write(&file, b"x").expect("write");
    let msg = err_msg(&file);
    assert_contains(&msg, &["plain-file", "is not a directory", "--data-dir"]);
}

#[test]
fn one_missing_file_is_named() {
    let dir = TempDir::new("one-missing");
    write_valid(dir.path(), true);
    fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).expect("remove");
    let msg = err_msg(dir.path());
    assert_contains(
        &msg,
        &[
            &dir.path().display().to_string(),
            "t10k-labels-idx1-ubyte.gz",
            "--data-dir",
        ],
    );
}

#[test]
fn truncated_data_is_reported() {
    let dir = TempDir::new("truncated");
    write_valid(dir.path(), false);
    let path = dir.path().join(MNIST_FILES[0]);
    let mut bytes = images(3);
    bytes.truncate(bytes.len() - 100);
    fs::write(&path, bytes).expect("write");
    let err = load_mnist(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::LengthMismatch { .. }), "{err:?}");
    assert_contains(
        &err.to_string(),
        &[
            "train-images-idx3-ubyte",
            "is truncated (100 bytes missing)",
            "3 x 28 x 28 = 2352 bytes",
            "download it again",
        ],
    );
}

#[test]
fn truncated_header_is_reported() {
    let dir = TempDir::new("truncated-header");
    write_valid(dir.path(), false);
    fs::write(dir.path().join(MNIST_FILES[0]), &images(3)[..10]).expect("write");
    let msg = err_msg(dir.path());
    assert_contains(
        &msg,
        &["train-images-idx3-ubyte", "is truncated", "16-byte header"],
    );

    fs::write(dir.path().join(MNIST_FILES[0]), [0u8, 0]).expect("write");
    let msg = err_msg(dir.path());
    assert_contains(
        &msg,
        &["train-images-idx3-ubyte", "is truncated", "magic number"],
    );
}

#[test]
fn trailing_bytes_are_reported() {
    let dir = TempDir::new("trailing");
    write_valid(dir.path(), false);
    let mut bytes = labels(&[5, 0, 9]);
    bytes.extend_from_slice(&[1, 2]);
    fs::write(dir.path().join(MNIST_FILES[1]), bytes).expect("write");
    let msg = err_msg(dir.path());
    assert_contains(
        &msg,
        &["train-labels-idx1-ubyte", "2 bytes of trailing garbage"],
    );
}

#[test]
fn wrong_magic_number_is_reported() {
    let dir = TempDir::new("magic");
    write_valid(dir.path(), true);
    // A labels file where the images should be.
    fs::write(
        dir.path().join("train-images-idx3-ubyte.gz"),
        gzip(&labels(&[1, 2, 3])),
    )
    .expect("write");
    let err = load_mnist(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ),
        "{err:?}"
    );
    assert_contains(
        &err.to_string(),
        &[
            "train-images-idx3-ubyte.gz",
            "0x00000801",
            "0x00000803",
            "swapped",
        ],
    );

    // Something else entirely.
    fs::write(
        dir.path().join("train-images-idx3-ubyte.gz"),
        gzip(b"<html>not found</html>"),
    )
    .expect("write");
    let msg = err_msg(dir.path());
    assert_contains(
        &msg,
        &[
            "train-images-idx3-ubyte.gz",
            "magic number",
            "not an MNIST IDX file",
        ],
    );
}

#[test]
fn count_mismatch_is_reported() {
    let dir = TempDir::new("count");
    write_valid(dir.path(), true);
    fs::write(
        dir.path().join("train-labels-idx1-ubyte.gz"),
        gzip(&labels(&[1, 2])),
    )
    .expect("write");
    let err = load_mnist(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 3,
                labels: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_contains(
        &err.to_string(),
        &[
            "train-images-idx3-ubyte.gz",
            "3 images",
            "train-labels-idx1-ubyte.gz",
            "2 labels",
        ],
    );
}

#[test]
fn label_out_of_range_is_reported() {
    let dir = TempDir::new("label");
    write_valid(dir.path(), false);
    fs::write(dir.path().join(MNIST_FILES[3]), labels(&[7, 10])).expect("write");
    let err = load_mnist(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_contains(
        &err.to_string(),
        &[
            "t10k-labels-idx1-ubyte",
            "label 10 at index 1",
            "out of range 0-9",
        ],
    );
}

#[test]
fn wrong_image_size_is_reported() {
    let dir = TempDir::new("size");
    write_valid(dir.path(), false);
    fs::write(
        dir.path().join(MNIST_FILES[2]),
        encode_idx(&[2, 32, 32], &[0; 2 * 32 * 32]),
    )
    .expect("write");
    let msg = err_msg(dir.path());
    assert_contains(&msg, &["t10k-images-idx3-ubyte", "32 x 32", "28 x 28"]);
}

#[test]
fn corrupt_gzip_is_reported() {
    let dir = TempDir::new("gzip");
    write_valid(dir.path(), true);
    let path = dir.path().join("train-labels-idx1-ubyte.gz");

    // Garbage after a gzip magic.
    fs::write(&path, [0x1f, 0x8b, 0x08, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).expect("write");
    let err = load_mnist(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    assert_contains(
        &err.to_string(),
        &[
            "train-labels-idx1-ubyte.gz",
            "corrupt or truncated gzip",
            "download it again",
        ],
    );

    // A gzip stream cut in half.
    let full = gzip(&images(3));
    fs::write(&path, &full[..full.len() / 2]).expect("write");
    let err = load_mnist(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");

    // Not gzip at all despite the name.
    fs::write(&path, b"plain text").expect("write");
    let err = load_mnist(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
}

#[test]
fn real_mnist_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let mnist = load_mnist(&dir).expect("the vendored MNIST loads");
    assert_eq!(mnist.train.len(), 60_000);
    assert_eq!(mnist.test.len(), 10_000);
    assert_eq!(mnist.train.labels()[0], 5);
    assert_eq!(mnist.test.labels()[0], 7);
    assert_eq!(mnist.train.num_classes(), 10);
    assert!(mnist
        .train
        .features()
        .iter()
        .all(|&p| (0.0..=1.0).contains(&p)));
    assert_eq!(mnist.train.features().len(), 60_000 * 784);
    let ones = mnist.train.features().iter().filter(|&&p| p == 1.0).count();
    assert!(ones > 0, "pixels are scaled by 1/255, so 255 becomes 1.0");

    let test = load_mnist_split(&dir, MnistSplit::Test).expect("the test split loads");
    assert_eq!(test.labels(), mnist.test.labels());
}

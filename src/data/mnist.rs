//! MNIST: 28 x 28 grey-scale digits, 60,000 for training and 10,000 for testing, in the
//! four IDX files `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` (each may be gzipped, `.gz`).

use std::path::{Path, PathBuf};

use dfdx::shapes::Const;

use super::idx::{read_idx, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC};
use super::{DataError, Dataset};

/// One MNIST image's shape, channels first: `(1, 28, 28)`.
pub type MnistShape = (Const<1>, Const<MNIST_SIDE>, Const<MNIST_SIDE>);

/// MNIST images are `MNIST_SIDE` x `MNIST_SIDE` pixels.
pub const MNIST_SIDE: usize = 28;

/// MNIST's classes: the digits 0-9.
pub const MNIST_CLASSES: usize = 10;

/// The four files' names (without `.gz`): train images, train labels, test images, test labels.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Which half of MNIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnistSplit {
    /// The 60,000 training images (`train-*`).
    Train,
    /// The 10,000 test images (`t10k-*`).
    Test,
}

impl MnistSplit {
    fn files(self) -> (&'static str, &'static str) {
        match self {
            MnistSplit::Train => (MNIST_FILES[0], MNIST_FILES[1]),
            MnistSplit::Test => (MNIST_FILES[2], MNIST_FILES[3]),
        }
    }
}

/// Both halves of MNIST, pixels scaled to `[0, 1]` (`pixel / 255`).
#[derive(Debug, Clone)]
pub struct Mnist {
    /// The 60,000 training images.
    pub train: Dataset<MnistShape>,
    /// The 10,000 test images.
    pub test: Dataset<MnistShape>,
}

/// Loads MNIST from `dir`, which must hold the four standard files, each gzipped (`.gz`)
/// or raw. Every file is checked (magic number, sizes, length, labels 0-9) and any problem
/// is an error that names the file and says how to fix it.
pub fn load_mnist(dir: impl AsRef<Path>) -> Result<Mnist, DataError> {
    let dir = dir.as_ref();
    check_dir(dir)?;
    // Look for all four files first, so that a missing one is reported before any is read.
    for name in MNIST_FILES {
        find_file(dir, name)?;
    }
    Ok(Mnist {
        train: load_mnist_split(dir, MnistSplit::Train)?,
        test: load_mnist_split(dir, MnistSplit::Test)?,
    })
}

/// Loads one half of MNIST from `dir` (see [`load_mnist`]).
pub fn load_mnist_split(
    dir: impl AsRef<Path>,
    split: MnistSplit,
) -> Result<Dataset<MnistShape>, DataError> {
    let dir = dir.as_ref();
    check_dir(dir)?;
    let (images_name, labels_name) = split.files();
    let images_path = find_file(dir, images_name)?;
    let labels_path = find_file(dir, labels_name)?;

    let images = read_idx(&images_path, IDX_IMAGES_MAGIC)?;
    let (count, rows, cols) = match images.dims.as_slice() {
        &[n, r, c] => (n, r, c),
        _ => {
            return Err(DataError::BadHeader {
                path: images_path,
                reason: format!("expected 3 dimensions, found {}", images.dims.len()),
            })
        }
    };
    if rows != MNIST_SIDE || cols != MNIST_SIDE {
        return Err(DataError::BadImageSize {
            path: images_path,
            rows,
            cols,
            expected: MNIST_SIDE,
        });
    }

    let labels = read_idx(&labels_path, IDX_LABELS_MAGIC)?;
    if labels.data.len() != count {
        return Err(DataError::CountMismatch {
            images_path,
            labels_path,
            images: count,
            labels: labels.data.len(),
        });
    }
    if let Some((index, &label)) = labels
        .data
        .iter()
        .enumerate()
        .find(|&(_, &l)| usize::from(l) >= MNIST_CLASSES)
    {
        return Err(DataError::LabelOutOfRange {
            path: labels_path,
            index,
            label: usize::from(label),
            classes: MNIST_CLASSES,
        });
    }

    let features = images.data.iter().map(|&p| f32::from(p) / 255.0).collect();
    let labels = labels.data.iter().map(|&l| usize::from(l)).collect();
    Dataset::new(features, labels)
}

fn check_dir(dir: &Path) -> Result<(), DataError> {
    if dir.is_dir() {
        Ok(())
    } else if dir.exists() {
        Err(DataError::NotADirectory {
            path: dir.to_path_buf(),
        })
    } else {
        Err(DataError::MissingDir {
            path: dir.to_path_buf(),
        })
    }
}

/// `dir/name.gz` if it exists, else `dir/name` if it exists.
fn find_file(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    Err(DataError::MissingFile {
        dir: dir.to_path_buf(),
        name: name.to_string(),
    })
}

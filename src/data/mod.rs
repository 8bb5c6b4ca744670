//! Datasets for training: an in-memory [`Dataset`] of `f32` samples with class labels, and
//! a loader for MNIST's IDX files ([`load_mnist`]).
//!
//! ```no_run
//! use typenet::data::load_mnist;
//! let mnist = load_mnist("data/mnist")?;
//! assert_eq!(mnist.train.len(), 60_000);
//! # Ok::<(), typenet::data::DataError>(())
//! ```

pub mod idx;
mod mnist;
pub mod sampling;

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::PathBuf;

use dfdx::prelude::*;

use crate::backend::Element;
use crate::element::from_f32s;
use crate::network::{Batch, SampleShape};

pub use mnist::{
    load_mnist, load_mnist_split, Mnist, MnistShape, MnistSplit, MNIST_CLASSES, MNIST_FILES,
    MNIST_SIDE,
};

/// What went wrong while reading data or building batches. Each message names the file
/// (or value) at fault and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The data directory does not exist.
    #[error(
        "data directory `{}` does not exist: download the MNIST files into it, or pass the \
         directory that holds them with `--data-dir PATH`",
        .path.display()
    )]
    MissingDir {
        /// The directory looked for.
        path: PathBuf,
    },
    /// The data "directory" is a file.
    #[error(
        "`{}` is not a directory: pass the directory that holds the MNIST files with \
         `--data-dir PATH`",
        .path.display()
    )]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// One of the expected files is in neither its gzipped nor its raw form.
    #[error(
        "`{}` has neither `{name}.gz` nor `{name}`: put that MNIST file there (gzipped or \
         not), or pass the directory that holds all four with `--data-dir PATH`",
        .dir.display()
    )]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// The file's name without `.gz`.
        name: String,
    },
    /// The file could not be read.
    #[error("cannot read `{}`: {source}; check that the file exists and is readable", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid gzip data.
    #[error(
        "`{}` is corrupt or truncated gzip data ({source}): download it again (or store it \
         decompressed, without the `.gz` suffix)",
        .path.display()
    )]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// The file ends inside its header.
    #[error(
        "`{}` is truncated: it has {actual} bytes, too few for {what} ({needed} bytes); \
         download it again",
        .path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The part that is cut off.
        what: String,
        /// The bytes that part needs.
        needed: usize,
        /// The bytes the file has.
        actual: usize,
    },
    /// The magic number is not the one expected.
    #[error(
        "`{}` has magic number {found:#010x}, but an IDX {} file has {expected:#010x}: {}",
        .path.display(),
        magic_kind(*.expected),
        magic_hint(*.found, *.expected)
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number read.
        found: u32,
        /// The magic number expected.
        expected: u32,
    },
    /// The header's dimensions make no sense.
    #[error("`{}` has an invalid IDX header: {reason}; download it again", .path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The data is shorter or longer than the header says.
    #[error(
        "`{}` {}: its header announces {} = {expected} bytes of data, but it holds {actual}; \
         download it again",
        .path.display(),
        length_problem(*.expected, *.actual),
        dims_str(.dims)
    )]
    LengthMismatch {
        /// The file.
        path: PathBuf,
        /// The dimensions from the header.
        dims: Vec<usize>,
        /// Their product.
        expected: usize,
        /// The bytes of data after the header.
        actual: usize,
    },
    /// Images of another size than expected.
    #[error(
        "`{}` holds images of {rows} x {cols} pixels, but MNIST images are {expected} x \
         {expected}: use the MNIST (or Fashion-MNIST) image files",
        .path.display()
    )]
    BadImageSize {
        /// The images file.
        path: PathBuf,
        /// Rows per image.
        rows: usize,
        /// Columns per image.
        cols: usize,
        /// The side expected.
        expected: usize,
    },
    /// The images and labels files disagree on the number of samples.
    #[error(
        "`{}` holds {images} images but `{}` holds {labels} labels: the two files must \
         belong to the same set (both `train-*` or both `t10k-*`); download them again",
        .images_path.display(),
        .labels_path.display()
    )]
    CountMismatch {
        /// The images file.
        images_path: PathBuf,
        /// The labels file.
        labels_path: PathBuf,
        /// Images it holds.
        images: usize,
        /// Labels it holds.
        labels: usize,
    },
    /// A label is not a valid class.
    #[error(
        "`{}`: label {label} at index {index} is out of range 0-{}: the file is corrupt; \
         download it again",
        .path.display(),
        .classes.saturating_sub(1)
    )]
    LabelOutOfRange {
        /// The labels file.
        path: PathBuf,
        /// The sample's index.
        index: usize,
        /// The label read.
        label: usize,
        /// The number of classes (labels must be below it).
        classes: usize,
    },
    /// `Dataset::new` got features that do not match the labels.
    #[error(
        "{features} feature values do not make {labels} samples of {per_sample} values each \
         (expected {}): pass one sample's values per label, in order",
        .labels.saturating_mul(*.per_sample)
    )]
    SampleSizeMismatch {
        /// Feature values given.
        features: usize,
        /// Labels given.
        labels: usize,
        /// Values per sample (the sample shape's size).
        per_sample: usize,
    },
    /// A sample index or range outside the dataset.
    #[error("samples {start}..{end} are out of range for a dataset of {len} samples")]
    OutOfRange {
        /// First index asked for.
        start: usize,
        /// One past the last index asked for.
        end: usize,
        /// The dataset's length.
        len: usize,
    },
    /// The device could not hold the batch.
    #[error("could not build a batch tensor on the device: {0}")]
    Device(String),
    /// A value does not fit the model's element type.
    #[error("the value {0} does not fit the model's element type")]
    Conversion(f32),
    /// An argument out of range (the message says which and what to use).
    #[error("{0}")]
    InvalidArgument(String),
    /// `Dataset::from_tokens` got a token id that is not below the vocabulary size.
    #[error(
        "token id {token} at position {position} of sample {sample} is out of range for a \
         vocabulary of {vocab} (ids 0..={}): map it to an id below {vocab} (e.g. an \
         unknown-token id), or declare `Embedding({}, dim)`",
        .vocab.saturating_sub(1),
        .token.saturating_add(1)
    )]
    TokenOutOfRange {
        /// The id found.
        token: u32,
        /// The sample holding it.
        sample: usize,
        /// Its position in the sample (`0..L`).
        position: usize,
        /// The vocabulary size given (ids must be below it).
        vocab: usize,
    },
}

/// The sample shape of token sequences of length `L`, for `Embedding` networks declared
/// on `(L)`: `Dataset<Tokens<L>>`, built with [`Dataset::from_tokens`].
pub type Tokens<const L: usize> = (Const<L>,);

fn magic_kind(magic: u32) -> &'static str {
    match magic {
        idx::IDX_IMAGES_MAGIC => "images",
        idx::IDX_LABELS_MAGIC => "labels",
        _ => "ubyte",
    }
}

fn magic_hint(found: u32, expected: u32) -> &'static str {
    let gzip = found >> 16 == 0x1f8b;
    if gzip {
        "the file is still gzipped; name it with a `.gz` suffix or decompress it"
    } else if (found == idx::IDX_IMAGES_MAGIC || found == idx::IDX_LABELS_MAGIC)
        && found != expected
    {
        "the images and labels files look swapped; check the file names"
    } else {
        "it is not an MNIST IDX file; download it again"
    }
}

fn length_problem(expected: usize, actual: usize) -> String {
    if actual < expected {
        format!("is truncated ({} bytes missing)", expected - actual)
    } else {
        format!("has {} bytes of trailing garbage", actual - expected)
    }
}

fn dims_str(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    parts.join(" x ")
}

/// Samples of shape `S` (one sample's shape, channels first, e.g. [`MnistShape`]) as `f32`
/// values, with a class label per sample.
pub struct Dataset<S: SampleShape = MnistShape> {
    features: Vec<f32>,
    labels: Vec<usize>,
    shape: PhantomData<S>,
}

impl<S: SampleShape> Clone for Dataset<S> {
    fn clone(&self) -> Self {
        Self {
            features: self.features.clone(),
            labels: self.labels.clone(),
            shape: PhantomData,
        }
    }
}

impl<S: SampleShape> PartialEq for Dataset<S> {
    fn eq(&self, other: &Self) -> bool {
        self.features == other.features && self.labels == other.labels
    }
}

impl<S: SampleShape> fmt::Debug for Dataset<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("len", &self.len())
            .field("sample_shape", &S::default().concrete())
            .finish_non_exhaustive()
    }
}

impl<S: SampleShape> Default for Dataset<S> {
    fn default() -> Self {
        Self {
            features: Vec::new(),
            labels: Vec::new(),
            shape: PhantomData,
        }
    }
}

impl<S: SampleShape> Dataset<S> {
    /// The number of `f32` values in one sample.
    pub const SAMPLE_LEN: usize = S::NUMEL;

    /// A dataset from the samples' values, one sample after the other (each in `S`'s
    /// row-major order), and one label per sample.
    pub fn new(features: Vec<f32>, labels: Vec<usize>) -> Result<Self, DataError> {
        if Some(features.len()) != labels.len().checked_mul(S::NUMEL) {
            return Err(DataError::SampleSizeMismatch {
                features: features.len(),
                labels: labels.len(),
                per_sample: S::NUMEL,
            });
        }
        Ok(Self {
            features,
            labels,
            shape: PhantomData,
        })
    }

    /// A dataset of token sequences: `tokens` holds each sample's `S::NUMEL` ids (for
    /// [`Tokens<L>`], `L` of them) one sample after the other, with one label per
    /// sample. Every id must be below `vocab` (the `Embedding(vocab, dim)` the network
    /// starts with): an id out of range is an error naming it, its sample and position,
    /// never clamped. The ids are stored as exact `f32` values, which is how `fit`,
    /// `evaluate` and `Dataset::batch` hand them to the network; `vocab` is at most
    /// [`crate::layers::MAX_VOCAB`] (2^24) for that reason.
    pub fn from_tokens(
        tokens: Vec<u32>,
        labels: Vec<usize>,
        vocab: usize,
    ) -> Result<Self, DataError> {
        let max = crate::layers::MAX_VOCAB;
        if vocab == 0 || vocab > max {
            return Err(DataError::InvalidArgument(format!(
                "a vocabulary of {vocab} tokens is not supported: use 1 to {max} (2^24, the \
                 integers f32 holds exactly)"
            )));
        }
        if Some(tokens.len()) != labels.len().checked_mul(S::NUMEL) {
            return Err(DataError::SampleSizeMismatch {
                features: tokens.len(),
                labels: labels.len(),
                per_sample: S::NUMEL,
            });
        }
        if let Some(i) = tokens.iter().position(|&t| t as usize >= vocab) {
            return Err(DataError::TokenOutOfRange {
                token: tokens[i],
                sample: i / S::NUMEL,
                position: i % S::NUMEL,
                vocab,
            });
        }
        let features = tokens.into_iter().map(|t| t as f32).collect();
        Self::new(features, labels)
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// All samples' values, one sample after the other.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// All labels, in sample order.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Sample `i`'s values and label, or `None` past the end.
    pub fn get(&self, i: usize) -> Option<(&[f32], usize)> {
        let label = *self.labels.get(i)?;
        let start = i.checked_mul(S::NUMEL)?;
        let values = self.features.get(start..start.checked_add(S::NUMEL)?)?;
        Some((values, label))
    }

    /// The number of classes the labels imply: the largest label plus one (0 when empty).
    pub fn num_classes(&self) -> usize {
        self.labels.iter().max().map_or(0, |m| m + 1)
    }

    /// The first `n` samples (all of them when there are fewer), like `Iterator::take`.
    pub fn take(&self, n: usize) -> Self {
        let n = n.min(self.len());
        Self {
            features: self.features[..n * S::NUMEL].to_vec(),
            labels: self.labels[..n].to_vec(),
            shape: PhantomData,
        }
    }

    /// Samples `range.start` to `range.end` (exclusive); an error when the range does not
    /// lie inside the dataset.
    pub fn slice(&self, range: Range<usize>) -> Result<Self, DataError> {
        let err = || DataError::OutOfRange {
            start: range.start,
            end: range.end,
            len: self.len(),
        };
        let labels = self.labels.get(range.clone()).ok_or_else(err)?;
        let start = range.start.checked_mul(S::NUMEL).ok_or_else(err)?;
        let end = range.end.checked_mul(S::NUMEL).ok_or_else(err)?;
        let features = self.features.get(start..end).ok_or_else(err)?;
        Ok(Self {
            features: features.to_vec(),
            labels: labels.to_vec(),
            shape: PhantomData,
        })
    }

    /// The samples at `indices`, in that order (repeats allowed); an error naming the
    /// first index past the end.
    pub fn select(&self, indices: &[usize]) -> Result<Self, DataError> {
        Ok(Self {
            features: self.gather(indices)?,
            labels: self.batch_labels(indices)?,
            shape: PhantomData,
        })
    }

    /// The features of the samples at `indices`, one after another.
    fn gather(&self, indices: &[usize]) -> Result<Vec<f32>, DataError> {
        let mut features = Vec::with_capacity(indices.len().saturating_mul(S::NUMEL));
        for &i in indices {
            let (values, _) = self.get(i).ok_or(DataError::OutOfRange {
                start: i,
                end: i + 1,
                len: self.len(),
            })?;
            features.extend_from_slice(values);
        }
        Ok(features)
    }

    /// Splits into samples `0..at` and `at..len()` (e.g. to hold out a validation set).
    pub fn split_at(&self, at: usize) -> Result<(Self, Self), DataError> {
        Ok((self.slice(0..at)?, self.slice(at..self.len())?))
    }

    /// The samples at `indices`, in that order, as one batch tensor `(indices.len(), ...S)`
    /// on `dev` in element type `E`. Built with a single host-to-device copy.
    pub fn batch<E: Element, D: Device<E>>(
        &self,
        dev: &D,
        indices: &[usize],
    ) -> Result<Batch<S, usize, E, D>, DataError> {
        let features = self.gather(indices)?;
        // f32 moves as it is (a per-element checked conversion cost 5% of an MLP's step).
        let buf: Vec<E> = if E::IS_F32 {
            from_f32s(features)
        } else {
            features
                .iter()
                .map(|&v| E::from_f32(v).ok_or(DataError::Conversion(v)))
                .collect::<Result<_, _>>()?
        };
        dev.try_tensor_from_vec(buf, S::batched(indices.len()))
            .map_err(|e| DataError::Device(e.to_string()))
    }

    /// The labels of the samples at `indices`, in that order.
    pub fn batch_labels(&self, indices: &[usize]) -> Result<Vec<usize>, DataError> {
        indices
            .iter()
            .map(|&i| {
                self.labels.get(i).copied().ok_or(DataError::OutOfRange {
                    start: i,
                    end: i + 1,
                    len: self.len(),
                })
            })
            .collect()
    }
}

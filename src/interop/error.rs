//! The one error type of [`crate::interop`].

use std::path::PathBuf;

/// What went wrong importing or exporting a model; each message names the file, and the
/// tensor or layer at fault.
#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not a safetensors file, or it is truncated.
    #[error("{}: not a valid safetensors file ({reason}); it may be truncated or corrupt: save it again", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser found.
        reason: String,
    },
    /// A tensor has another shape in the file than in the model.
    #[error("{}: tensor `{key}` has shape {file:?} in the file, but the model expects {model:?}; the file holds another architecture (or map the names with NameMap)", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor's key in the file.
        key: String,
        /// Its shape in the file.
        file: Vec<usize>,
        /// Its shape in the model.
        model: Vec<usize>,
    },
    /// A tensor's element type cannot be converted to the model's.
    #[error("{}: tensor `{key}` holds {dtype}, which cannot become the model's floats; save it as f32, f16, bf16 or f64", path.display())]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor's key.
        key: String,
        /// Its element type in the file.
        dtype: String,
    },
    /// The file's keys are not the model's: some are missing, some left over.
    #[error("{}: the file's tensors are not the model's\n  missing from the file: {}\n  left over in the file: {}\nhelp: the file holds another architecture, or its names differ (NameMap::prefix / NameMap::custom)", path.display(), list(missing), list(unexpected))]
    Keys {
        /// The file.
        path: PathBuf,
        /// The model's keys (with their shapes) that the file lacks.
        missing: Vec<String>,
        /// The file's keys the model has no tensor for.
        unexpected: Vec<String>,
    },
    /// Two of the model's tensors map to one key.
    #[error("NameMap gives two tensors the same key `{key}` (`{first}` and `{second}`)")]
    DuplicateKey {
        /// The key.
        key: String,
        /// typenet's name of the first tensor.
        first: String,
        /// typenet's name of the second.
        second: String,
    },
    /// A layer has no ONNX export.
    #[error(
        "layer `{layer}` has no ONNX export yet; implement typenet::interop::ToOnnx for its type"
    )]
    Unsupported {
        /// The layer's field and kind, e.g. `embedding_0 (Embedding)`.
        layer: String,
    },
    /// The ONNX model could not be encoded.
    #[error("{}: could not encode the ONNX model: {reason}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

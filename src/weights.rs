//! Saving and loading a model's weights as safetensors, safely: a save replaces the file
//! atomically (a crash mid-save leaves the previous file intact), and a load checks every
//! tensor's presence, dtype and shape before it touches the model (a failed load leaves
//! the model as it was).
//!
//! Tensor names follow the layer list (`conv2d_0.weight`, `dense_4.bias`), as with dfdx's
//! `SaveToSafetensors`, and the files are interchangeable with it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ::safetensors::tensor::{Dtype as SafeTensorDtype, SafeTensorError, SafeTensors, TensorView};
use dfdx::nn::tensor_collection::{
    RecursiveWalker, ScalarOptions, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut,
    ViewTensorName, ViewTensorRef,
};
use dfdx::prelude::*;
use dfdx::tensor::safetensors::SafeDtype;

/// What went wrong saving or loading weights; each message names the file, and the tensor
/// where one is at fault.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
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
    /// A tensor of the model is not in the file.
    #[error("{}: has no tensor `{name}` (shape {shape:?}); it was saved from another network (its tensors: {found})", path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape the model expects.
        shape: Vec<usize>,
        /// The names in the file.
        found: String,
    },
    /// A tensor has another shape in the file than in the model.
    #[error("{}: tensor `{name}` has shape {file:?} in the file, but the model expects {model:?}; it was saved from another network", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Its shape in the file.
        file: Vec<usize>,
        /// Its shape in the model.
        model: Vec<usize>,
    },
    /// A tensor has another element type in the file than in the model.
    #[error("{}: tensor `{name}` holds {file} in the file, but the model uses {model}; build the model with the element type it was saved with", path.display())]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Its dtype in the file.
        file: String,
        /// The model's dtype.
        model: String,
    },
    /// The file has tensors the model does not.
    #[error("{}: has tensors the model does not ({names}); it was saved from another network", path.display())]
    UnexpectedTensors {
        /// The file.
        path: PathBuf,
        /// The names, comma separated.
        names: String,
    },
}

/// A tensor as it will be written.
struct Entry {
    dtype: SafeTensorDtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// Collects every tensor (and scalar) of a model with its full name.
#[derive(Default)]
struct Collect {
    entries: BTreeMap<String, Entry>,
}

impl<E: Dtype + SafeDtype, D: Device<E>> TensorVisitor<E, D> for Collect {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = WeightsError;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, D>,
        (t, name): (&Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, WeightsError> {
        let bytes = t
            .as_vec()
            .into_iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let shape = t.shape().concrete().into();
        let dtype = E::safe_dtype();
        self.entries.insert(
            name,
            Entry {
                dtype,
                shape,
                bytes,
            },
        );
        Ok(None)
    }

    fn visit_scalar<N: num_traits::NumCast>(
        &mut self,
        _: ScalarOptions<N>,
        (n, name): (&N, String),
    ) -> Result<Option<N>, WeightsError> {
        // Scalars (batch-norm momentum, epsilon) are stored as f64, as dfdx does.
        let v = n.to_f64().unwrap_or(f64::NAN);
        let entry = Entry {
            dtype: SafeTensorDtype::F64,
            shape: vec![],
            bytes: v.to_le_bytes().to_vec(),
        };
        self.entries.insert(name, entry);
        Ok(None)
    }
}

fn collect<E: Dtype + SafeDtype, D: Device<E>, M: TensorCollection<E, D>>(
    model: &M,
) -> Result<BTreeMap<String, Entry>, WeightsError> {
    let mut c = Collect::default();
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut c,
    })?;
    Ok(c.entries)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> WeightsError + '_ {
    move |source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over `path`. A crash or error at any point leaves the old file whole.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WeightsError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io(path))?;
        // Make the rename itself durable (best effort: not every platform can open a dir).
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Saves every tensor of `model` to `path` (safetensors), replacing the file atomically.
pub fn save_weights<E: Dtype + SafeDtype, D: Device<E>, M: TensorCollection<E, D>>(
    model: &M,
    path: impl AsRef<Path>,
) -> Result<(), WeightsError> {
    let path = path.as_ref();
    let entries = collect(model)?;
    let views = entries
        .iter()
        .map(|(k, e)| {
            TensorView::new(e.dtype, e.shape.clone(), &e.bytes)
                .map(|v| (k.clone(), v))
                .map_err(|e| WeightsError::Corrupt {
                    path: path.to_path_buf(),
                    reason: format!("{e:?}"),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bytes =
        ::safetensors::tensor::serialize(views, &None).map_err(|e| WeightsError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("{e:?}"),
        })?;
    write_atomic(path, &bytes)
}

/// Copies every tensor from checked safetensors into the model.
struct Load<'a> {
    file: &'a SafeTensors<'a>,
    path: &'a Path,
}

impl<E: Dtype + SafeDtype, D: Device<E>> TensorVisitor<E, D> for Load<'_> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = WeightsError;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, D>,
        (t, name): (&mut Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, WeightsError> {
        t.load_safetensor(self.file, &name)
            .map_err(|e| WeightsError::Corrupt {
                path: self.path.to_path_buf(),
                reason: format!("tensor `{name}`: {e:?}"),
            })?;
        Ok(None)
    }

    fn visit_scalar<N: num_traits::NumCast>(
        &mut self,
        opts: ScalarOptions<N>,
        (n, name): (&mut N, String),
    ) -> Result<Option<N>, WeightsError> {
        let value = self
            .file
            .tensor(&name)
            .ok()
            .and_then(|t| <[u8; 8]>::try_from(t.data()).ok())
            .map(f64::from_le_bytes)
            .and_then(N::from);
        *n = value.unwrap_or(opts.default);
        Ok(None)
    }
}

fn dtype_name(d: SafeTensorDtype) -> String {
    format!("{d:?}").to_lowercase()
}

/// Loads `path` (safetensors) into `model`. Every tensor the model has must be in the file
/// with the same shape and dtype, and the file must have no other tensors; all of that is
/// checked before the first value is copied, so on error the model is unchanged.
pub fn load_weights<E: Dtype + SafeDtype, D: Device<E>, M: TensorCollection<E, D>>(
    model: &mut M,
    path: impl AsRef<Path>,
) -> Result<(), WeightsError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(io(path))?;
    let corrupt = |e: SafeTensorError| WeightsError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("{e:?}"),
    };
    let file = SafeTensors::deserialize(&bytes).map_err(corrupt)?;
    let expected = collect(model)?;
    let mut found: Vec<String> = file.names().into_iter().cloned().collect();
    found.sort();
    for (name, want) in &expected {
        let t = match file.tensor(name) {
            Ok(t) => t,
            // Scalars may be absent: they fall back to their defaults, as in dfdx.
            Err(_) if want.shape.is_empty() && want.dtype == SafeTensorDtype::F64 => continue,
            Err(_) => {
                return Err(WeightsError::MissingTensor {
                    path: path.to_path_buf(),
                    name: name.clone(),
                    shape: want.shape.clone(),
                    found: found.join(", "),
                })
            }
        };
        if t.dtype() != want.dtype {
            return Err(WeightsError::Dtype {
                path: path.to_path_buf(),
                name: name.clone(),
                file: dtype_name(t.dtype()),
                model: dtype_name(want.dtype),
            });
        }
        if TensorView::shape(&t) != want.shape.as_slice() {
            return Err(WeightsError::Shape {
                path: path.to_path_buf(),
                name: name.clone(),
                file: TensorView::shape(&t).to_vec(),
                model: want.shape.clone(),
            });
        }
        if t.data().len() != want.bytes.len() {
            return Err(WeightsError::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "tensor `{name}` has {} bytes of data, not {}",
                    t.data().len(),
                    want.bytes.len()
                ),
            });
        }
    }
    let extra: Vec<String> = found
        .into_iter()
        .filter(|n| !expected.contains_key(n))
        .collect();
    if !extra.is_empty() {
        return Err(WeightsError::UnexpectedTensors {
            path: path.to_path_buf(),
            names: extra.join(", "),
        });
    }
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut Load { file: &file, path },
    })?;
    Ok(())
}

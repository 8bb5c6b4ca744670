//! PyTorch `state_dict`s as safetensors (`safetensors.torch.save_file`), in and out.
//! A load checks every key, shape and dtype before it copies anything, so on error the
//! model is unchanged; a save replaces the file atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ::safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};
use dfdx::nn::tensor_collection::{
    RecursiveWalker, ScalarOptions, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut,
    ViewTensorName, ViewTensorRef,
};
use dfdx::prelude::*;

use super::{InteropError, NameMap};
use crate::backend::Element;

/// One tensor of the model: typenet's name, its key in the file, its shape.
struct Slot {
    name: String,
    key: String,
    shape: Vec<usize>,
}

/// Lists the model's tensors (scalars are not in a `state_dict`), with their values when
/// `values` is set.
struct List<'a> {
    map: &'a NameMap,
    slots: Vec<Slot>,
    values: Option<Vec<Vec<f64>>>,
}

impl<E: Element, D: Device<E>> TensorVisitor<E, D> for List<'_> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = InteropError;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, D>,
        (t, name): (&Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, InteropError> {
        if let Some(v) = &mut self.values {
            v.push(
                t.as_vec()
                    .iter()
                    .map(|x| x.to_f64().unwrap_or(f64::NAN))
                    .collect(),
            );
        }
        self.slots.push(Slot {
            key: self.map.key(&name),
            name,
            shape: t.shape().concrete().into(),
        });
        Ok(None)
    }

    fn visit_scalar<N: num_traits::NumCast>(
        &mut self,
        _: ScalarOptions<N>,
        _: (&N, String),
    ) -> Result<Option<N>, InteropError> {
        Ok(None)
    }
}

fn list<E: Element, D: Device<E>, M: TensorCollection<E, D>>(
    model: &M,
    map: &NameMap,
    values: bool,
) -> Result<(Vec<Slot>, Vec<Vec<f64>>), InteropError> {
    let mut l = List {
        map,
        slots: Vec::new(),
        values: values.then(Vec::new),
    };
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut l,
    })?;
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for s in &l.slots {
        if let Some(first) = seen.insert(&s.key, &s.name) {
            return Err(InteropError::DuplicateKey {
                key: s.key.clone(),
                first: first.into(),
                second: s.name.clone(),
            });
        }
    }
    Ok((l.slots, l.values.unwrap_or_default()))
}

/// The `num_batches_tracked` key of each batch-norm layer (the prefix of a `running_mean`).
fn batch_counters(slots: &[Slot]) -> Vec<String> {
    slots
        .iter()
        .filter_map(|s| s.key.strip_suffix("running_mean"))
        .map(|p| format!("{p}num_batches_tracked"))
        .collect()
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> InteropError + '_ {
    move |source| InteropError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Loads a PyTorch `state_dict` saved with `safetensors.torch.save_file` into `model`,
/// with the default names (see [`crate::interop`]).
pub fn load_pytorch<E: Element, D: Device<E>, M: TensorCollection<E, D>>(
    model: &mut M,
    path: impl AsRef<Path>,
) -> Result<(), InteropError> {
    load_pytorch_with(model, path, &NameMap::default())
}

/// Decodes one tensor's data to f64 (every float dtype PyTorch saves).
fn decode(dtype: StDtype, data: &[u8]) -> Option<Vec<f64>> {
    let w = match dtype {
        StDtype::F64 => 8,
        StDtype::F32 => 4,
        StDtype::F16 | StDtype::BF16 => 2,
        _ => return None,
    };
    let v = data.chunks_exact(w).map(|c| match dtype {
        StDtype::F64 => f64::from_le_bytes(c.try_into().unwrap_or_default()),
        StDtype::F32 => f32::from_le_bytes(c.try_into().unwrap_or_default()) as f64,
        StDtype::F16 => half::f16::from_le_bytes([c[0], c[1]]).to_f64(),
        _ => half::bf16::from_le_bytes([c[0], c[1]]).to_f64(),
    });
    Some(v.collect())
}

fn dtype_width(dtype: StDtype) -> usize {
    match dtype {
        StDtype::F64 | StDtype::I64 | StDtype::U64 => 8,
        StDtype::F32 | StDtype::I32 | StDtype::U32 => 4,
        StDtype::F16 | StDtype::BF16 | StDtype::I16 | StDtype::U16 => 2,
        _ => 1,
    }
}

/// As [`load_pytorch`], with the keys `map` gives.
pub fn load_pytorch_with<E: Element, D: Device<E>, M: TensorCollection<E, D>>(
    model: &mut M,
    path: impl AsRef<Path>,
    map: &NameMap,
) -> Result<(), InteropError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(io(path))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| InteropError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("{e:?}"),
    })?;
    let (slots, _) = list(model, map, false)?;
    let counters = batch_counters(&slots);
    let (mut missing, mut values) = (Vec::new(), BTreeMap::new());
    for s in &slots {
        let Ok(t) = file.tensor(&s.key) else {
            missing.push(format!("{} {:?}", s.key, s.shape));
            continue;
        };
        let dtype_err = || InteropError::Dtype {
            path: path.to_path_buf(),
            key: s.key.clone(),
            dtype: format!("{:?}", t.dtype()).to_lowercase(),
        };
        if TensorView::shape(&t) != s.shape.as_slice() {
            return Err(InteropError::Shape {
                path: path.to_path_buf(),
                key: s.key.clone(),
                file: TensorView::shape(&t).to_vec(),
                model: s.shape.clone(),
            });
        }
        let n: usize = s.shape.iter().product();
        if t.data().len() != n * dtype_width(t.dtype()) {
            return Err(InteropError::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "tensor `{}` has {} bytes of data, not {}",
                    s.key,
                    t.data().len(),
                    n * dtype_width(t.dtype())
                ),
            });
        }
        let v = decode(t.dtype(), t.data()).ok_or_else(dtype_err)?;
        let v: Vec<E> = v
            .into_iter()
            .map(|x| <E as num_traits::NumCast>::from(x).unwrap_or(E::nan()))
            .collect();
        values.insert(s.name.clone(), v);
    }
    let mut unexpected: Vec<String> = file
        .names()
        .into_iter()
        .filter(|k| !slots.iter().any(|s| &s.key == *k) && !counters.contains(k))
        .cloned()
        .collect();
    unexpected.sort();
    if !missing.is_empty() || !unexpected.is_empty() {
        return Err(InteropError::Keys {
            path: path.to_path_buf(),
            missing,
            unexpected,
        });
    }
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut Copy { values: &values },
    })?;
    Ok(())
}

/// Copies the checked values into the model.
struct Copy<'a, E> {
    values: &'a BTreeMap<String, Vec<E>>,
}

impl<E: Element, D: Device<E>> TensorVisitor<E, D> for Copy<'_, E> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = InteropError;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, D>,
        (t, name): (&mut Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, InteropError> {
        // Every name was checked and converted before this walk started.
        if let Some(v) = self.values.get(&name) {
            t.copy_from(v);
        }
        Ok(None)
    }

    fn visit_scalar<N: num_traits::NumCast>(
        &mut self,
        _: ScalarOptions<N>,
        _: (&mut N, String),
    ) -> Result<Option<N>, InteropError> {
        Ok(None)
    }
}

/// Saves `model` as a PyTorch `state_dict` in safetensors, with the default names;
/// `safetensors.torch.load_file` then `model.load_state_dict` reads it.
pub fn save_pytorch<E: Element, D: Device<E>, M: TensorCollection<E, D>>(
    model: &M,
    path: impl AsRef<Path>,
) -> Result<(), InteropError> {
    save_pytorch_with(model, path, &NameMap::default())
}

/// As [`save_pytorch`], with the keys `map` gives.
pub fn save_pytorch_with<E: Element, D: Device<E>, M: TensorCollection<E, D>>(
    model: &M,
    path: impl AsRef<Path>,
    map: &NameMap,
) -> Result<(), InteropError> {
    let path = path.as_ref();
    let (slots, values) = list(model, map, true)?;
    let wide = std::mem::size_of::<E>() == 8;
    let mut entries: Vec<(String, StDtype, Vec<usize>, Vec<u8>)> = slots
        .iter()
        .zip(&values)
        .map(|(s, v)| {
            let (dtype, bytes) = if wide {
                (
                    StDtype::F64,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )
            } else {
                let b = v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect();
                (StDtype::F32, b)
            };
            (s.key.clone(), dtype, s.shape.clone(), bytes)
        })
        .collect();
    for k in batch_counters(&slots) {
        entries.push((k, StDtype::I64, vec![], 0i64.to_le_bytes().to_vec()));
    }
    let encode_err = |e: ::safetensors::SafeTensorError| InteropError::Encode {
        path: path.to_path_buf(),
        reason: format!("{e:?}"),
    };
    let views = entries
        .iter()
        .map(|(k, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (k.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(encode_err)?;
    let bytes = ::safetensors::tensor::serialize(views, &None).map_err(encode_err)?;
    crate::weights::write_atomic(path, &bytes).map_err(|e| match e {
        crate::weights::WeightsError::Io { path, source } => InteropError::Io { path, source },
        other => InteropError::Encode {
            path: PathBuf::from(path),
            reason: other.to_string(),
        },
    })
}

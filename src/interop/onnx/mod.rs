//! ONNX export of a network's inference forward: opset 17, a symbolic batch dimension
//! `N`, the weights embedded as f32 initializers (an f64 model is rounded to f32).
//!
//! Each layer type implements [`ToOnnx`], which appends its nodes to an [`OnnxGraph`];
//! the code `network!` generates calls it for every layer in order (a `Residual` adds an
//! `Add`). A layer type without an impl makes [`export_onnx`] return
//! [`InteropError::Unsupported`] naming the layer.

mod layers;
#[allow(clippy::all, missing_docs, rustdoc::all)]
mod proto;

use std::path::Path;

use prost::Message;

use super::InteropError;
use crate::backend::{Backend, Element};
use crate::network::Network;
use dfdx::shapes::Shape;
use proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension,
    tensor_shape_proto::Dimension, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// The opset the export targets (LayerNormalization needs 17).
pub const OPSET: i64 = 17;

/// A graph being built: nodes in order, the weights, and the value the next node reads.
pub struct OnnxGraph {
    nodes: Vec<NodeProto>,
    weights: Vec<TensorProto>,
    current: String,
    count: usize,
}

/// A node attribute.
pub enum Attr {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f32),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A string.
    Str(&'static str),
}

impl OnnxGraph {
    fn new(input: &str) -> Self {
        Self {
            nodes: Vec::new(),
            weights: Vec::new(),
            current: input.into(),
            count: 0,
        }
    }

    /// The value the next layer reads (the previous layer's output).
    pub fn current(&self) -> String {
        self.current.clone()
    }

    fn fresh(&mut self, stem: &str) -> String {
        self.count += 1;
        format!("{stem}_{}", self.count)
    }

    /// A weight (f32 initializer) of shape `dims`; returns its name.
    pub fn weight(&mut self, stem: &str, dims: &[usize], values: Vec<f32>) -> String {
        let name = self.fresh(stem);
        self.weights.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(DataType::Float as i32),
            float_data: values,
            name: Some(name.clone()),
            ..Default::default()
        });
        name
    }

    /// A node `op(inputs)` with `attrs`; returns its output.
    pub fn node_of(&mut self, op: &str, inputs: &[String], attrs: &[(&str, Attr)]) -> String {
        let out = self.fresh(&op.to_ascii_lowercase());
        let attribute = attrs
            .iter()
            .map(|(name, a)| {
                let mut p = AttributeProto {
                    name: Some((*name).into()),
                    ..Default::default()
                };
                let t = match a {
                    Attr::Int(i) => {
                        p.i = Some(*i);
                        AttributeType::Int
                    }
                    Attr::Float(f) => {
                        p.f = Some(*f);
                        AttributeType::Float
                    }
                    Attr::Ints(v) => {
                        p.ints = v.clone();
                        AttributeType::Ints
                    }
                    Attr::Str(v) => {
                        p.s = Some(v.as_bytes().to_vec());
                        AttributeType::String
                    }
                };
                p.r#type = Some(t as i32);
                p
            })
            .collect();
        self.nodes.push(NodeProto {
            input: inputs.to_vec(),
            output: vec![out.clone()],
            name: Some(out.clone()),
            op_type: Some(op.into()),
            attribute,
            ..Default::default()
        });
        out
    }

    /// A node on the current value (and `more` inputs after it); its output becomes current.
    pub fn node(&mut self, op: &str, more: &[String], attrs: &[(&str, Attr)]) {
        let mut inputs = vec![self.current()];
        inputs.extend_from_slice(more);
        self.current = self.node_of(op, &inputs, attrs);
    }

    /// A residual connection: the current value plus `skip` (an earlier value).
    pub fn add(&mut self, skip: String) {
        self.node("Add", &[skip], &[]);
    }

    /// Joins `values` (branch outputs) with `op` (`Sum`, or `Concat` along channels);
    /// the result becomes current.
    pub fn join(&mut self, op: &str, values: &[String]) {
        let attrs: &[(&str, Attr)] = if op == "Concat" {
            &[("axis", Attr::Int(1))]
        } else {
            &[]
        };
        self.current = self.node_of(op, values, attrs);
    }

    /// Makes `value` the current value (a layer whose output is an earlier node's).
    pub fn set_current(&mut self, value: String) {
        self.current = value;
    }
}

/// A layer type that can write itself into an ONNX graph (its inference forward).
pub trait ToOnnx {
    /// Appends this layer's nodes to `g`, reading `g.current()`.
    fn to_onnx(&self, g: &mut OnnxGraph) -> Result<(), InteropError>;
}

/// What generated code calls for a layer field: [`ToOnnx`] where the type has it, else
/// an [`InteropError::Unsupported`] at run time (autoref dispatch: `ViaToOnnx` is found
/// first when it applies).
#[doc(hidden)]
pub struct Probe<'a, T>(pub &'a T, pub &'static str);

#[doc(hidden)]
pub trait ViaToOnnx {
    fn __onnx(&self, g: &mut OnnxGraph) -> Result<(), InteropError>;
}

impl<T: ToOnnx> ViaToOnnx for Probe<'_, T> {
    fn __onnx(&self, g: &mut OnnxGraph) -> Result<(), InteropError> {
        self.0.to_onnx(g)
    }
}

#[doc(hidden)]
pub trait ViaUnsupported {
    fn __onnx(&self, g: &mut OnnxGraph) -> Result<(), InteropError>;
}

impl<T> ViaUnsupported for &Probe<'_, T> {
    fn __onnx(&self, _: &mut OnnxGraph) -> Result<(), InteropError> {
        Err(InteropError::Unsupported {
            layer: self.1.into(),
        })
    }
}

fn value_info(name: &str, dims: &[usize]) -> ValueInfoProto {
    let mut dim = vec![Dimension {
        value: Some(dimension::Value::DimParam("N".into())),
        ..Default::default()
    }];
    dim.extend(dims.iter().map(|&d| Dimension {
        value: Some(dimension::Value::DimValue(d as i64)),
        ..Default::default()
    }));
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The ONNX model of `module`'s inference forward (what [`export_onnx`] writes), as bytes.
/// Its input is `input` of shape `[N, ...]`, its output `output`.
pub fn onnx_bytes<E: Element, D: Backend<E>, M: Network<E, D> + ToOnnx>(
    module: &M,
) -> Result<Vec<u8>, InteropError> {
    let mut g = OnnxGraph::new("input");
    module.to_onnx(&mut g)?;
    let last = g.current();
    g.nodes.push(NodeProto {
        input: vec![last],
        output: vec!["output".into()],
        name: Some("output".into()),
        op_type: Some("Identity".into()),
        ..Default::default()
    });
    let in_dims = M::InputShape::default().concrete();
    let out_dims = M::OutputShape::default().concrete();
    let graph = GraphProto {
        node: g.nodes,
        name: Some("typenet".into()),
        initializer: g.weights,
        input: vec![value_info("input", in_dims.as_ref())],
        output: vec![value_info("output", out_dims.as_ref())],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("typenet".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

/// Writes the ONNX model of `module`'s inference forward to `path` (atomically): dropout
/// off, batch norm with its running statistics, a final `Softmax` kept when declared.
pub fn export_onnx<E: Element, D: Backend<E>, M: Network<E, D> + ToOnnx>(
    module: &M,
    path: impl AsRef<Path>,
) -> Result<(), InteropError> {
    let path = path.as_ref();
    let bytes = onnx_bytes(module)?;
    crate::weights::write_atomic(path, &bytes).map_err(|e| match e {
        crate::weights::WeightsError::Io { path, source } => InteropError::Io { path, source },
        other => InteropError::Encode {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

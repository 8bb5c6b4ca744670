//! Nothing here: `tests/onnx.rs` runs typenet's ONNX exports in tract.

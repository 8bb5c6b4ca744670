//! A dense (fully connected) layer as one differentiable op: `y = x W^T + b`, optionally
//! followed by ReLU, where `x` is any batched tensor read as `(batch, inputs)` — so a
//! `Flatten` before it costs nothing, in either direction.
//!
//! [`generic`] builds it from dfdx ops (the CUDA path, and the reference); [`cpu`] runs
//! f32 products on typenet's AVX-512 kernels (`ops/gemm.rs`) with bias, ReLU and the
//! flattening fused, and falls back to [`generic`] for other cases.

mod generic;
pub(crate) mod kernels;

use dfdx::prelude::*;

pub use self::generic::generic;
use self::kernels::{backward, forward, input_grad};
use super::scratch::data_of;
use super::tape::{put_grad, take_grad};
use super::DenseParams;
use crate::element::{f32s, f32s_mut, Element};

/// Checks that `x` holds `batch` rows of `inputs`.
fn rows<S: Shape, B: Dim>(x: &S, batch: B, inputs: usize) -> Option<usize> {
    (x.num_elements() == batch.size() * inputs).then_some(batch.size())
}

/// Whether the AVX-512 kernels run a dense layer in `E` on this CPU.
pub(crate) fn fast_runs<E: Element>() -> bool {
    E::IS_F32 && super::gemm::available()
}

/// See [`crate::Backend::dense`]: the AVX-512 kernels where [`fast_runs`], else
/// [`generic`].
pub fn cpu<S: Shape, B: Dim, I: Dim, O: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor<S, E, Cpu, T>,
    batch: B,
    w: &Tensor<(O, I), E, Cpu>,
    bias: Option<&Tensor<(O,), E, Cpu>>,
    p: DenseParams,
) -> Result<Tensor<(B, O), E, Cpu, T>, CpuError>
where
    Cpu: Device<E>,
{
    if fast_runs::<E>() {
        fast(x, batch, w, bias, p)
    } else {
        generic(x, batch, w, bias, p)
    }
}

/// [`cpu`] on the AVX-512 kernels.
fn fast<S: Shape, B: Dim, I: Dim, O: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor<S, E, Cpu, T>,
    batch: B,
    w: &Tensor<(O, I), E, Cpu>,
    bias: Option<&Tensor<(O,), E, Cpu>>,
    p: DenseParams,
) -> Result<Tensor<(B, O), E, Cpu, T>, CpuError> {
    crate::alloc::tune_allocator();
    let (o, i) = *w.shape();
    let s = Sizes {
        batch: rows(x.shape(), batch, i.size()).ok_or(CpuError::WrongNumElements)?,
        inputs: i.size(),
        outputs: o.size(),
    };
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let (xd, wd) = (data_of(&x), data_of(w));
    let (out, positive) = forward(s, f32s(&xd), f32s(&wd), bias, p.relu, T::OWNS_TAPE);
    let y = x.device().try_tensor_from_vec(out, (batch, o))?;
    if T::OWNS_TAPE {
        let (y_id, w, bias) = (y.clone(), w.clone(), bias.cloned());
        tape.add_backward_op(move |grads| {
            let (xd, wd) = (data_of(&x), data_of(&w));
            let mut gy = take_grad(grads, &y_id)?;
            let g = f32s_mut(&mut gy);
            let live = backward(s, g, &positive, f32s(&xd), grads, &w, bias.as_ref())?;
            if p.input_grad {
                let gx = f32s_mut(grads.get_or_alloc_mut(&x)?);
                input_grad(s, &live, f32s(&wd), gx, true);
            }
            put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

/// Batch, input and output sizes of a dense layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub batch: usize,
    pub inputs: usize,
    pub outputs: usize,
}

//! Elementwise activations as one differentiable op each: [`cpu`] (typenet's kernels:
//! parallel chunks, vectorised `exp`/`tanh` for f32, AVX2 + FMA where the CPU has it) and
//! [`generic`] (dfdx's ops: the CUDA path and the reference). The backward pass
//! recomputes `f'(x)` from the kept input instead of storing a mask or the output.

pub mod kernels;
mod math;

use dfdx::prelude::*;

use super::isa::Isa;
use super::scratch::data_of;
use crate::element::Element;

/// An activation typenet runs as one op, with dfdx's semantics (gradients at kinks
/// included: ReLU's is 0 at 0, LeakyReLU's is 1 there).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `max(x, 0)`.
    ReLU,
    /// `x` where `x >= 0`, else `alpha x`.
    LeakyReLU(f64),
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// GELU's tanh approximation, `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`
    /// (dfdx's `FastGeLU`, what typenet's `GELU` has always computed).
    Gelu,
}

/// See [`crate::Backend::activation`].
pub fn cpu<S: Shape, E: Element, T: Tape<E, Cpu>>(
    x: Tensor<S, E, Cpu, T>,
    act: Activation,
) -> Result<Tensor<S, E, Cpu, T>, CpuError> {
    crate::alloc::tune_allocator();
    let isa = Isa::best();
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let xs = data_of(&x);
    let mut out = vec![E::zero(); xs.len()];
    kernels::forward(isa, act, &xs, &mut out);
    let y = x.device().try_tensor_from_vec(out, *x.shape())?;
    if T::OWNS_TAPE {
        // `x` itself (its data, borrowed again there), `y` as a ghost (its id).
        let y_id = y.ghost();
        tape.add_backward_op(move |grads| {
            let xs = data_of(&x);
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&y_id)?);
            kernels::backward(isa, act, &xs, &gy, grads.get_or_alloc_mut(&x)?);
            **grads.get_or_alloc_mut(&y_id)? = gy;
            Ok(())
        });
    }
    Ok(y.put_tape(tape))
}

/// See [`crate::Backend::activation`]: dfdx's ops.
pub fn generic<S: Shape, E: Element, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
    act: Activation,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    match act {
        Activation::ReLU => x.try_relu(),
        Activation::LeakyReLU(a) => x.try_prelu(E::from_f64(a).unwrap_or_default()),
        Activation::Sigmoid => x.try_sigmoid(),
        Activation::Tanh => x.try_tanh(),
        Activation::Gelu => x.try_fast_gelu(),
    }
}

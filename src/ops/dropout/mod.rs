//! Dropout as one differentiable op: [`cpu`] (a mask hashed from a seed and each
//! element's index, recomputed in the backward pass, in parallel chunks) and [`generic`]
//! (dfdx's dropout: the CUDA path). Both draw one `u64` from the device's generator per
//! call, so a seeded device gives the same masks every run.

pub mod kernels;

use dfdx::prelude::*;

use self::kernels::Mask;
use super::isa::Isa;
use super::scratch::data_of;
use crate::element::Element;

/// See [`crate::Backend::dropout`]: kept elements are scaled by `1 / (1 - rate)`, as dfdx
/// and Keras do.
pub fn cpu<S: Shape, E: Element, T: Tape<E, Cpu>>(
    x: Tensor<S, E, Cpu, T>,
    rate: f64,
) -> Result<Tensor<S, E, Cpu, T>, CpuError> {
    crate::alloc::tune_allocator();
    let isa = Isa::best();
    let mask = Mask::new(x.device().random_u64(), rate);
    let scale = E::from_f64(1.0 / (1.0 - rate)).unwrap_or_default();
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let mut out = vec![E::zero(); x.shape().num_elements()];
    {
        let xs = data_of(&x);
        kernels::apply(isa, mask, scale, &xs, &mut out, false);
    }
    let y = x.device().try_tensor_from_vec(out, *x.shape())?;
    if T::OWNS_TAPE {
        // Ghosts: the backward pass needs only the ids, not the tensors' data.
        let (x, y_id) = (x.ghost(), y.ghost());
        tape.add_backward_op(move |grads| {
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&y_id)?);
            kernels::apply(isa, mask, scale, &gy, grads.get_or_alloc_mut(&x)?, true);
            **grads.get_or_alloc_mut(&y_id)? = gy;
            Ok(())
        });
    }
    Ok(y.put_tape(tape))
}

/// See [`crate::Backend::dropout`]: dfdx's op.
pub fn generic<S: Shape, E: Element, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
    rate: f64,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    x.try_dropout(rate)
}

//! Moving tensors and gradients in and out of dfdx for the CPU ops: operands without their
//! tapes, their elements, and gradients taken out of (and put back into) `Gradients`.

use dfdx::prelude::*;

use super::isa::CHUNK;
use crate::element::{Element, Tensor4};

/// A convolution's operands, contiguous and without their tapes, and the merged tape.
#[allow(clippy::type_complexity)]
pub(crate) fn untape<B: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
) -> Result<
    (
        Tensor4<B, E, Cpu, NoneTape>,
        Tensor4<usize, E, Cpu, NoneTape>,
        Option<Tensor<(usize,), E, Cpu>>,
        T,
    ),
    CpuError,
> {
    let (x, x_tape) = x.try_contiguous()?.split_tape();
    let (w, w_tape) = w.try_contiguous()?.split_tape();
    let mut tape = x_tape.merge(w_tape);
    let bias = match bias {
        Some(b) => {
            let (b, b_tape) = b.split_tape();
            tape = tape.merge(b_tape);
            Some(b)
        }
        None => None,
    };
    Ok((x, w, bias, tape))
}

/// Moves the gradient of `t` out of `grads` (no copy); give it back with [`put_grad`].
pub(crate) fn take_grad<S: Shape, E: Element>(
    grads: &mut Gradients<E, Cpu>,
    t: &Tensor<S, E, Cpu>,
) -> Result<Vec<E>, CpuError> {
    Ok(std::mem::take(&mut **grads.get_or_alloc_mut(t)?))
}

pub(crate) fn put_grad<S: Shape, E: Element>(
    grads: &mut Gradients<E, Cpu>,
    t: &Tensor<S, E, Cpu>,
    v: Vec<E>,
) -> Result<(), CpuError> {
    **grads.get_or_alloc_mut(t)? = v;
    Ok(())
}

pub(crate) fn add_into<E: Element>(dst: &mut [E], src: &[E]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// [`add_into`] over chunks on rayon's threads (for whole activations, such as a
/// residual's gradient).
pub(crate) fn add_into_par<E: Element>(dst: &mut [E], src: &[E]) {
    use rayon::prelude::*;
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(d, s)| add_into(d, s));
}

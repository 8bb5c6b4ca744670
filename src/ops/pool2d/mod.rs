//! Max and average pooling over `kh x kw` windows, as differentiable dfdx ops: [`cpu`]
//! (typenet's kernels; max pooling records its argmax for the backward pass) and
//! [`generic`] (dfdx ops, the CUDA path and the reference).

mod generic;
pub(crate) mod kernels;

use dfdx::prelude::*;

pub use self::generic::generic;
use self::kernels::{pool_backward, pool_forward};
use super::geom::pool_geom;
use super::scratch::data_of;
use super::tape::{put_grad, take_grad};
use super::{Pool2DKind, PoolParams};
use crate::element::{Element, Tensor4};

/// See [`crate::Backend::pool2d`].
pub fn cpu<B: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    kind: Pool2DKind,
    p: impl Into<PoolParams>,
) -> Result<Tensor4<B, E, Cpu, T>, CpuError> {
    crate::alloc::tune_allocator();
    let g = pool_geom(x.shape(), p.into()).ok_or(CpuError::WrongNumElements)?;
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let xd = data_of(&x);
    let plane_out = g.h_out * g.w_out;
    let mut out = vec![E::zero(); g.planes * plane_out];
    let mut arg = match kind {
        Pool2DKind::Max => vec![0u32; g.planes * plane_out],
        Pool2DKind::Avg => Vec::new(),
    };
    pool_forward(&g, kind, &xd, &mut out, &mut arg);
    drop(xd);
    let (b, c, _, _) = *x.shape();
    let y = x
        .device()
        .try_tensor_from_vec(out, (b, c, g.h_out, g.w_out))?;
    if T::OWNS_TAPE {
        let y_id = y.clone();
        tape.add_backward_op(move |grads| {
            let gy = take_grad(grads, &y_id)?;
            pool_backward(&g, kind, &arg, &gy, grads.get_or_alloc_mut(&x)?);
            put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

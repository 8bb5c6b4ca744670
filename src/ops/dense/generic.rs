//! The dense op built from dfdx ops (`matmul`, `add`, `relu`) that have CPU and CUDA
//! kernels: the CUDA path, and the reference for the fast CPU kernels.

use dfdx::prelude::*;

use super::rows;
use crate::element::Element;
use crate::ops::DenseParams;

/// See [`crate::Backend::dense`].
pub fn generic<S: Shape, B: Dim, I: Dim, O: Dim, E: Element, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
    batch: B,
    w: &Tensor<(O, I), E, D>,
    bias: Option<&Tensor<(O,), E, D>>,
    p: DenseParams,
) -> Result<Tensor<(B, O), E, D, T>, D::Err>
where
    D::Err: From<CpuError>,
{
    let (o, i) = *w.shape();
    rows(x.shape(), batch, i.size()).ok_or(CpuError::WrongNumElements)?;
    let x = x.try_reshape_like(&(batch, i))?;
    let y = x.try_matmul(w.retaped::<T>().try_permute::<_, Axes2<1, 0>>()?)?;
    let y = match bias {
        Some(b) => y.try_add(b.retaped::<T>().try_broadcast_like(&(batch, o))?)?,
        None => y,
    };
    if p.relu {
        y.try_relu()
    } else {
        Ok(y)
    }
}

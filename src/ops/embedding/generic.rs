//! The embedding op built from dfdx ops (`gather`, `permute`) that have CPU and CUDA
//! kernels: the CUDA path, and on `Cpu` the reference for [`super::cpu`].

use dfdx::prelude::*;

use super::token_ids;
use crate::element::Element;

/// See [`crate::Backend::embedding`]. The ids are read on the host (one copy of `B x L`
/// values) to be checked; the rows are gathered on the device.
pub fn generic<B: Dim, L: Dim, V: Dim, M: Dim, E: Element, D: Device<E>, T: Tape<E, D>>(
    tokens: Tensor<(B, L), E, D, T>,
    table: &Tensor<(V, M), E, D>,
) -> Result<Tensor<(B, M, L), E, D, T>, D::Err>
where
    D::Err: From<CpuError>,
{
    let (b, l) = *tokens.shape();
    let (v, _) = *table.shape();
    let (tokens, tape) = tokens.split_tape();
    let ids = token_ids(&tokens.as_vec(), v.size()).ok_or(CpuError::WrongNumElements)?;
    let idx = tokens.device().try_tensor_from_vec(ids, (b, l))?;
    // A clone of the table has its id: the gather's backward adds into its gradient.
    let rows: Tensor<(B, L, M), E, D, T> = table.clone().put_tape(tape).try_gather(idx)?;
    rows.try_permute::<_, Axes3<0, 2, 1>>()
}

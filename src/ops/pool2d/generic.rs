//! Pooling built only from dfdx ops (`gather`, `max`, `mean`) that have CPU and CUDA
//! kernels: the CUDA path, and on `Cpu` the reference for [`super::cpu`].

use dfdx::prelude::*;

use crate::element::{Element, Tensor4};
use crate::ops::geom::{pool_geom, PoolGeom};
use crate::ops::{Pool2DKind, PoolParams};

/// See [`crate::Backend::pool2d`].
pub fn generic<B: Dim, E: Element, D: Device<E>, T: Tape<E, D>>(
    x: Tensor4<B, E, D, T>,
    kind: Pool2DKind,
    p: impl Into<PoolParams>,
) -> Result<Tensor4<B, E, D, T>, D::Err>
where
    D::Err: From<CpuError>,
{
    let (b, c, _, _) = *x.shape();
    let g = pool_geom(x.shape(), p.into()).ok_or(CpuError::WrongNumElements)?;
    let dev = x.device().clone();
    let hw = g.h * g.w;
    let fill = match kind {
        Pool2DKind::Max => E::neg_infinity(),
        Pool2DKind::Avg => E::zero(),
    };
    let xt = x
        .try_reshape_like(&(g.planes, hw))?
        .try_permute::<_, Axes2<1, 0>>()?;
    let pad = dev.try_tensor_from_vec(vec![fill; g.planes], (1usize, g.planes))?;
    let xp = (xt, pad).try_concat_along(Axis::<0>)?;
    let kk = g.taps();
    let hw_out = g.h_out * g.w_out;
    let idx = dev.try_tensor_from_vec(pool_index(&g, hw), (kk * hw_out,))?;
    let win: Tensor<(usize, usize), E, D, T> = xp.try_gather(idx)?;
    let win = win.try_reshape_like(&(kk, hw_out, g.planes))?;
    let red = match kind {
        Pool2DKind::Max => win.try_max::<_, Axis<0>>()?,
        Pool2DKind::Avg => win.try_mean::<_, Axis<0>>()?,
    };
    red.try_permute::<_, Axes2<1, 0>>()?
        .try_reshape_like(&(b, c, g.h_out, g.w_out))
}

/// For each (tap row, tap col, out row, out col), the index in a plane, or `pad`.
fn pool_index(g: &PoolGeom, pad: usize) -> Vec<usize> {
    let mut idx = Vec::with_capacity(g.taps() * g.h_out * g.w_out);
    for ki in 0..g.kh {
        for kj in 0..g.kw {
            for oi in 0..g.h_out {
                for oj in 0..g.w_out {
                    idx.push(match g.src(oi, oj, ki, kj) {
                        Some((r, c)) => r * g.w + c,
                        None => pad,
                    });
                }
            }
        }
    }
    idx
}

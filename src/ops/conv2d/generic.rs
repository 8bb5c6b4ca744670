//! Convolution built only from dfdx ops (`gather`, `matmul`, ...) that have CPU and CUDA
//! kernels: the CUDA path, and on `Cpu` the reference for [`super::cpu`]. It never uses
//! dfdx's `slice` (its CPU backward assigns instead of adding).

use dfdx::prelude::*;

use crate::element::{Element, Tensor4};
use crate::ops::geom::{conv_geom, ConvGeom};
use crate::ops::{pool2d, Conv2DParams, Pool2DKind};

/// See [`crate::Backend::conv2d`].
pub fn generic<B: Dim, E: Element, D: Device<E>, T: Tape<E, D> + Merge<T>>(
    x: Tensor4<B, E, D, T>,
    w: Tensor4<usize, E, D, T>,
    bias: Option<Tensor<(usize,), E, D, T>>,
    p: Conv2DParams,
) -> Result<Tensor4<B, E, D, T>, D::Err>
where
    D::Err: From<CpuError>,
{
    let (b, _, _, _) = *x.shape();
    let g = conv_geom(x.shape(), w.shape(), p).ok_or(CpuError::WrongNumElements)?;
    let dev = x.device().clone();
    let (n, chw) = (b.size(), g.c_in * g.h * g.w);
    let (ckk, hw_out) = (g.taps(), g.h_out * g.w_out);

    // One extra row of zeros that every padding tap gathers from.
    let xt = x
        .try_reshape_like(&(n, chw))?
        .try_permute::<_, Axes2<1, 0>>()?;
    let zeros = dev.try_zeros_like(&(1usize, n))?;
    let xp = (xt, zeros).try_concat_along(Axis::<0>)?;
    let idx = dev.try_tensor_from_vec(im2col_index(&g, chw), (ckk * hw_out,))?;
    let cols: Tensor<(usize, usize), E, D, T> = xp.try_gather(idx)?;
    let cols = cols.try_reshape_like(&(ckk, hw_out * n))?;

    let wm = w.try_reshape_like(&(g.c_out, ckk))?;
    let y = wm.try_matmul(cols)?;
    let y = y
        .try_reshape_like(&(g.c_out, hw_out, n))?
        .try_permute::<_, Axes3<2, 0, 1>>()?;
    let y = y.try_reshape_like(&(b, g.c_out, g.h_out, g.w_out))?;
    let y = match bias {
        Some(bias) => {
            let shape = *y.shape();
            y.try_add(bias.try_broadcast_like::<_, Axes3<0, 2, 3>>(&shape)?)?
        }
        None => y,
    };
    let y = if p.relu { y.try_relu()? } else { y };
    match p.max_pool {
        Some(pool) => pool2d::generic(y, Pool2DKind::Max, pool),
        None => Ok(y),
    }
}

/// For each (channel, tap row, tap col, out row, out col), the flat input index to read,
/// or `pad` for a padding tap.
fn im2col_index(g: &ConvGeom, pad: usize) -> Vec<usize> {
    let mut idx = Vec::with_capacity(g.taps() * g.h_out * g.w_out);
    for c in 0..g.c_in {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                for oi in 0..g.h_out {
                    for oj in 0..g.w_out {
                        idx.push(match g.src(oi, oj, ki, kj) {
                            Some((r, col)) => (c * g.h + r) * g.w + col,
                            None => pad,
                        });
                    }
                }
            }
        }
    }
    idx
}

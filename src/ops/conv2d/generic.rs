//! Convolution and pooling built only from dfdx ops (`gather`, `matmul`, `max`, `mean`, ...)
//! that have CPU and CUDA kernels. This is the CUDA path; on `Cpu` it is the reference the
//! fast kernels are tested against. It never uses dfdx's `slice` (its CPU backward assigns
//! instead of adding).

use dfdx::prelude::*;

use super::{Conv2DParams, ConvGeom, Pool2DKind, Pool2DParams, PoolGeom};
use crate::backend::{Element, Tensor4};

/// See [`crate::Backend::conv2d`].
pub fn conv2d<B: Dim, E: Element, D: Device<E>, T: Tape<E, D> + Merge<T>>(
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
    let (ckk, hw_out) = (g.c_in * g.k * g.k, g.h_out * g.w_out);

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
        Some(pool) => pool2d(y, Pool2DKind::Max, pool),
        None => Ok(y),
    }
}

/// See [`crate::Backend::pool2d`].
pub fn pool2d<B: Dim, E: Element, D: Device<E>, T: Tape<E, D>>(
    x: Tensor4<B, E, D, T>,
    kind: Pool2DKind,
    p: Pool2DParams,
) -> Result<Tensor4<B, E, D, T>, D::Err>
where
    D::Err: From<CpuError>,
{
    let (b, c, _, _) = *x.shape();
    let g = pool_geom(x.shape(), p).ok_or(CpuError::WrongNumElements)?;
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
    let kk = g.k * g.k;
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

/// Geometry of a convolution, or `None` if the weight does not fit the input.
pub(crate) fn conv_geom<B: Dim>(
    x: &(B, usize, usize, usize),
    w: &(usize, usize, usize, usize),
    p: Conv2DParams,
) -> Option<ConvGeom> {
    let &(b, c_in, h, wd) = x;
    let &(c_out, wc, k, k2) = w;
    if wc != c_in || k != k2 {
        return None;
    }
    Some(ConvGeom {
        batch: b.size(),
        c_in,
        h,
        w: wd,
        c_out,
        k,
        stride: p.stride,
        pad: p.padding,
        dil: p.dilation,
        h_out: super::out_size(h, k, p.stride, p.padding, p.dilation)?,
        w_out: super::out_size(wd, k, p.stride, p.padding, p.dilation)?,
    })
}

pub(crate) fn pool_geom<B: Dim>(x: &(B, usize, usize, usize), p: Pool2DParams) -> Option<PoolGeom> {
    let &(b, c, h, w) = x;
    if 2 * p.padding > p.window {
        return None;
    }
    Some(PoolGeom {
        planes: b.size() * c,
        h,
        w,
        k: p.window,
        stride: p.stride,
        pad: p.padding,
        h_out: super::out_size(h, p.window, p.stride, p.padding, 1)?,
        w_out: super::out_size(w, p.window, p.stride, p.padding, 1)?,
    })
}

/// For each (channel, tap row, tap col, out row, out col), the flat input index to read,
/// or `pad` for a padding tap.
fn im2col_index(g: &ConvGeom, pad: usize) -> Vec<usize> {
    let mut idx = Vec::with_capacity(g.c_in * g.k * g.k * g.h_out * g.w_out);
    for c in 0..g.c_in {
        for ki in 0..g.k {
            for kj in 0..g.k {
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

/// For each (tap row, tap col, out row, out col), the index in a plane, or `pad`.
fn pool_index(g: &PoolGeom, pad: usize) -> Vec<usize> {
    let mut idx = Vec::with_capacity(g.k * g.k * g.h_out * g.w_out);
    for ki in 0..g.k {
        for kj in 0..g.k {
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

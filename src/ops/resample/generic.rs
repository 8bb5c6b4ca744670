//! Upsampling from dfdx ops that have CPU and CUDA kernels: the CUDA path, and on `Cpu`
//! the reference for [`super::cpu_upsample2d`].

use dfdx::prelude::*;

use crate::element::{Element, Tensor4};

/// See [`crate::Backend::upsample2d`]: `(B, C, H, W)` broadcast to `(B, C, H, fh, W, fw)`
/// (whose backward pass sums each block), then read as `(B, C, H fh, W fw)`.
pub fn upsample2d<B: Dim, E: Element, D: Device<E>, T: Tape<E, D>>(
    x: Tensor4<B, E, D, T>,
    fh: usize,
    fw: usize,
) -> Result<Tensor4<B, E, D, T>, D::Err>
where
    D::Err: From<CpuError>,
{
    let (b, c, h, w) = *x.shape();
    if fh == 0 || fw == 0 {
        return Err(CpuError::WrongNumElements.into());
    }
    let big = x.try_broadcast_like::<_, Axes2<3, 5>>(&(b, c, h, fh, w, fw))?;
    big.try_reshape_like(&(b, c, h * fh, w * fw))
}

/// See [`crate::Backend::conv2d_transpose`]: the convolution (stride 1, no padding) of the
/// input stuffed with `s - 1` zeros between pixels and padded by `k - 1 - p` (plus the
/// output padding at the end), with the kernel flipped and its channel axes swapped. Both
/// are gathers, whose backward passes add.
pub fn conv2d_transpose<B: Dim, E: Element, D: Device<E>, T: Tape<E, D> + Merge<T>>(
    x: Tensor4<B, E, D, T>,
    w: Tensor4<usize, E, D, T>,
    bias: Option<Tensor<(usize,), E, D, T>>,
    p: super::Conv2DTransposeParams,
) -> Result<Tensor4<B, E, D, T>, D::Err>
where
    D::Err: From<CpuError>,
{
    let g = super::TransposeGeom::new(x.shape(), w.shape(), p).ok_or(CpuError::WrongNumElements)?;
    let (b, _, _, _) = *x.shape();
    let dev = x.device().clone();
    let (n, chw) = (b.size(), g.c_in * g.h * g.w);
    let (hu, wu) = (g.h_out + g.k - 1, g.w_out + g.k - 1);
    // Stuffed position u holds input row i where u = i s + k - 1 - p.
    let src = |u: usize, len: usize| {
        let off = (u + g.p).checked_sub(g.k - 1)?;
        (off % g.s == 0 && off / g.s < len).then_some(off / g.s)
    };
    let mut idx = Vec::with_capacity(g.c_in * hu * wu);
    for c in 0..g.c_in {
        for u in 0..hu {
            for v in 0..wu {
                idx.push(match (src(u, g.h), src(v, g.w)) {
                    (Some(i), Some(j)) => (c * g.h + i) * g.w + j,
                    _ => chw,
                });
            }
        }
    }
    let xt = x
        .try_reshape_like(&(n, chw))?
        .try_permute::<_, Axes2<1, 0>>()?;
    let zeros = dev.try_zeros_like(&(1usize, n))?;
    let xp = (xt, zeros).try_concat_along(Axis::<0>)?;
    let idx = dev.try_tensor_from_vec(idx, (g.c_in * hu * wu,))?;
    let z: Tensor<(usize, usize), E, D, T> = xp.try_gather(idx)?;
    let z = z
        .try_permute::<_, Axes2<1, 0>>()?
        .try_reshape_like(&(b, g.c_in, hu, wu))?;

    let k = g.k;
    let mut widx = Vec::with_capacity(g.c_in * g.c_out * k * k);
    for o in 0..g.c_out {
        for c in 0..g.c_in {
            for ki in 0..k {
                for kj in 0..k {
                    widx.push(((c * g.c_out + o) * k + (k - 1 - ki)) * k + (k - 1 - kj));
                }
            }
        }
    }
    let wl = w.try_reshape_like(&(g.c_in * g.c_out * k * k,))?;
    let widx = dev.try_tensor_from_vec(widx, (g.c_in * g.c_out * k * k,))?;
    let wf: Tensor<(usize,), E, D, T> = wl.try_gather(widx)?;
    let wf = wf.try_reshape_like(&(g.c_out, g.c_in, k, k))?;
    crate::ops::conv2d::generic(z, wf, bias, crate::ops::Conv2DParams::new(1, 0, 1))
}

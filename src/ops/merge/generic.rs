//! Concatenation and sums from dfdx ops that have CPU and CUDA kernels: the CUDA path, and
//! on `Cpu` the reference for the CPU ops.

use dfdx::prelude::*;

use super::concat_geom;
use crate::element::Element;

/// See [`crate::Backend::concat`]: both sides read as `(batch, values)` and joined along
/// axis 1 (samples are channel-major).
pub fn concat<A: Shape, B: Shape, O: Shape, E: Element, D: Device<E>, T: Tape<E, D> + Merge<T>>(
    a: Tensor<A, E, D, T>,
    b: Tensor<B, E, D, T>,
    out: O,
) -> Result<Tensor<O, E, D, T>, D::Err>
where
    D::Err: From<CpuError>,
{
    let g = concat_geom(a.shape(), b.shape(), &out).ok_or(CpuError::WrongNumElements)?;
    let a = a.try_reshape_like(&(g.batch, g.na))?;
    // A fresh tensor: dfdx's concat panics in backward when both sides are one tensor.
    let b = b.try_reshape_like(&(g.batch, g.nb))?.try_mul(E::one())?;
    (a, b).try_concat_along(Axis::<1>)?.try_reshape_like(&out)
}

/// See [`crate::Backend::sum`].
pub fn sum<S: Shape, E: Element, D: Device<E>, T: Tape<E, D> + Merge<T>>(
    xs: Vec<Tensor<S, E, D, T>>,
) -> Result<Tensor<S, E, D, T>, D::Err>
where
    D::Err: From<CpuError>,
{
    let mut it = xs.into_iter();
    let first = it.next().ok_or(CpuError::WrongNumElements)?;
    // A fresh tensor first: dfdx's add panics in backward when both sides are one tensor.
    let mut acc = first.try_mul(E::one())?;
    for x in it {
        if x.shape().concrete() != acc.shape().concrete() {
            return Err(CpuError::WrongNumElements.into());
        }
        acc = acc.try_add(x)?;
    }
    Ok(acc)
}

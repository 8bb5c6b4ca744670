//! Batch normalisation from dfdx ops (the CUDA path and the reference): dfdx's own
//! training forward only takes an `OwnedTape`, so this is its computation for any tape.

// Tensor types with all their generics are long; aliases would only hide them.
#![allow(clippy::type_complexity)]

use dfdx::prelude::*;

use super::{layout, BatchNormArgs, NormStats};
use crate::backend::Backend;
use crate::element::Element;

/// `(outer, C, inner)`, normalised over axes 0 and 2.
type Seq<const C: usize, E, D, T> = Tensor<(usize, Const<C>, usize), E, D, T>;

/// See [`crate::Backend::batch_norm`]: `x` is read as `(outer, C, inner)`.
pub fn generic<const C: usize, S: Shape, E: Element, D: Backend<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
    args: BatchNormArgs<'_, C, E, D>,
) -> Result<Tensor<S, E, D, T>, D::Err> {
    let shape = *x.shape();
    let l = layout::<C, S>(&shape).ok_or_else(D::shape_error)?;
    let x: Seq<C, E, D, T> = x.try_reshape_like(&(l.outer, Const::<C>, l.inner))?;
    let eps = args.epsilon;
    let y = match args.stats {
        NormStats::Running { mean, var } => infer(x, (var, mean, args.scale, args.bias, eps))?,
        NormStats::Batch {
            running_mean,
            running_var,
            momentum,
        } => {
            let p = (
                running_var,
                running_mean,
                args.scale,
                args.bias,
                eps,
                momentum,
            );
            train(x, p)?
        }
    };
    y.try_reshape_like(&shape)
}

fn infer<const C: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Seq<C, E, D, T>,
    (var, mean, scale, bias, eps): (
        &Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
        f64,
    ),
) -> Result<Seq<C, E, D, T>, D::Err> {
    let shape = *x.shape();
    let std = var
        .clone()
        .try_add(E::from_f64(eps).unwrap_or_default())?
        .try_sqrt()?;
    // Scale and bias on the tape: they still learn when the forward is not in training mode.
    let scale = scale
        .retaped::<T>()
        .try_div(std)?
        .try_broadcast_like(&shape)?;
    let x = x.try_sub(mean.clone().try_broadcast_like(&shape)?)?;
    x.try_mul(scale)?
        .try_add(bias.retaped::<T>().try_broadcast_like(&shape)?)
}

/// dfdx's batch-norm training step (its own is only for `OwnedTape`), for any tape.
fn train<const C: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Seq<C, E, D, T>,
    (var, mean, scale, bias, eps, momentum): (
        &mut Tensor<Rank1<C>, E, D>,
        &mut Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
        f64,
        f64,
    ),
) -> Result<Seq<C, E, D, T>, D::Err> {
    let shape = *x.shape();
    let n = (shape.0 * shape.2) as f64;
    let mean_chan = x.retaped::<T>().try_mean::<Rank1<C>, Axes2<0, 2>>()?;
    mean.try_axpy(1.0 - momentum, &mean_chan, momentum)?;
    let centered = x.try_sub(mean_chan.try_broadcast_like(&shape)?)?;
    let var_chan = centered
        .retaped::<T>()
        .try_square()?
        .try_mean::<Rank1<C>, Axes2<0, 2>>()?;
    var.try_axpy(1.0 - momentum, &var_chan, momentum * n / (n - 1.0).max(1.0))?;
    let std = var_chan
        .try_add(E::from_f64(eps).unwrap_or_default())?
        .try_sqrt()?;
    let scale = scale
        .retaped::<T>()
        .try_div(std)?
        .try_broadcast_like(&shape)?;
    let bias = bias.retaped::<T>().try_broadcast_like(&shape)?;
    centered.try_mul(scale)?.try_add(bias)
}

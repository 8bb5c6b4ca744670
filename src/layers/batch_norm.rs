//! Batch normalisation for the code `network!` generates (reached through
//! `typenet::__private`): dfdx's `BatchNorm2D` and `BatchNorm1D` modules, run with
//! running statistics (inference) or batch statistics (training) on any tape; dfdx's own
//! training forward only takes an `OwnedTape`.

// Tensor types with all their generics are long; aliases would only hide them.
#![allow(clippy::type_complexity)]

use dfdx::nn::modules::{BatchNorm1D, BatchNorm2D};
use dfdx::prelude::*;

fn infer<const C: usize, S: Shape, Ax: Axes, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
    (var, mean, scale, bias, eps): (
        &Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
        f64,
    ),
) -> Result<Tensor<S, E, D, T>, D::Err>
where
    Rank1<C>: BroadcastShapeTo<S, Ax>,
{
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
fn train<const C: usize, S, Ax: Axes, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
    (var, mean, scale, bias, eps, momentum): (
        &mut Tensor<Rank1<C>, E, D>,
        &mut Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
        &Tensor<Rank1<C>, E, D>,
        f64,
        f64,
    ),
) -> Result<Tensor<S, E, D, T>, D::Err>
where
    S: Shape + HasAxes<Ax> + ReduceShapeTo<Rank1<C>, Ax>,
{
    let n = <S as HasAxes<Ax>>::size(x.shape()) as f64;
    let shape = *x.shape();
    let mean_chan = x.retaped::<T>().try_mean::<Rank1<C>, _>()?;
    mean.try_axpy(1.0 - momentum, &mean_chan, momentum)?;
    let centered = x.try_sub(mean_chan.try_broadcast_like(&shape)?)?;
    let var_chan = centered
        .retaped::<T>()
        .try_square()?
        .try_mean::<Rank1<C>, _>()?;
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

type Image<B, const C: usize, H, W, E, D, T> = Tensor<(B, Const<C>, H, W), E, D, T>;

/// `BatchNorm2D` with running statistics, for any tape.
pub fn batch_norm2d<
    B: Dim,
    const C: usize,
    H: Dim,
    W: Dim,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
>(
    bn: &BatchNorm2D<C, E, D>,
    x: Image<B, C, H, W, E, D, T>,
) -> Result<Image<B, C, H, W, E, D, T>, D::Err> {
    infer(
        x,
        (
            &bn.running_var,
            &bn.running_mean,
            &bn.scale,
            &bn.bias,
            bn.epsilon,
        ),
    )
}

/// `BatchNorm2D` with batch statistics (training), for any tape.
pub fn batch_norm2d_train<
    B: Dim,
    const C: usize,
    H: Dim,
    W: Dim,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
>(
    bn: &mut BatchNorm2D<C, E, D>,
    x: Image<B, C, H, W, E, D, T>,
) -> Result<Image<B, C, H, W, E, D, T>, D::Err> {
    let BatchNorm2D {
        scale,
        bias,
        running_mean,
        running_var,
        epsilon,
        momentum,
    } = bn;
    train(
        x,
        (
            running_var,
            running_mean,
            &*scale,
            &*bias,
            *epsilon,
            *momentum,
        ),
    )
}

/// `BatchNorm1D` with running statistics, for any tape.
pub fn batch_norm1d<B: Dim, const C: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    bn: &BatchNorm1D<C, E, D>,
    x: Tensor<(B, Const<C>), E, D, T>,
) -> Result<Tensor<(B, Const<C>), E, D, T>, D::Err> {
    infer(
        x,
        (
            &bn.running_var,
            &bn.running_mean,
            &bn.scale,
            &bn.bias,
            bn.epsilon,
        ),
    )
}

/// `BatchNorm1D` with batch statistics (training), for any tape.
pub fn batch_norm1d_train<B: Dim, const C: usize, E: Dtype, D: Device<E>, T: Tape<E, D>>(
    bn: &mut BatchNorm1D<C, E, D>,
    x: Tensor<(B, Const<C>), E, D, T>,
) -> Result<Tensor<(B, Const<C>), E, D, T>, D::Err> {
    let BatchNorm1D {
        scale,
        bias,
        running_mean,
        running_var,
        epsilon,
        momentum,
    } = bn;
    train(
        x,
        (
            running_var,
            running_mean,
            &*scale,
            &*bias,
            *epsilon,
            *momentum,
        ),
    )
}

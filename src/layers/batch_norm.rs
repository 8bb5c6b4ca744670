//! Batch normalisation for the code `network!` generates (reached through
//! `typenet::__private`): dfdx's `BatchNorm2D` and `BatchNorm1D` modules, run with
//! running statistics (inference) or batch statistics (training) on any tape, as one
//! [`Backend::batch_norm`] op (dfdx's own training forward only takes an `OwnedTape`).

use dfdx::nn::modules::{BatchNorm1D, BatchNorm2D};
use dfdx::prelude::*;

use crate::backend::{Backend, BatchNormArgs, Element, NormStats};

type Image<B, const C: usize, H, W, E, D, T> = Tensor<(B, Const<C>, H, W), E, D, T>;

/// `BatchNorm2D` with running statistics, for any tape.
pub fn batch_norm2d<
    B: Dim,
    const C: usize,
    H: Dim,
    W: Dim,
    E: Element,
    D: Backend<E>,
    T: Tape<E, D>,
>(
    bn: &BatchNorm2D<C, E, D>,
    x: Image<B, C, H, W, E, D, T>,
) -> Result<Image<B, C, H, W, E, D, T>, D::Err> {
    D::batch_norm(
        x,
        running(
            &bn.scale,
            &bn.bias,
            &bn.running_mean,
            &bn.running_var,
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
    E: Element,
    D: Backend<E>,
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
    D::batch_norm(
        x,
        batch(scale, bias, running_mean, running_var, *epsilon, *momentum),
    )
}

/// `BatchNorm1D` with running statistics, for any tape.
pub fn batch_norm1d<B: Dim, const C: usize, E: Element, D: Backend<E>, T: Tape<E, D>>(
    bn: &BatchNorm1D<C, E, D>,
    x: Tensor<(B, Const<C>), E, D, T>,
) -> Result<Tensor<(B, Const<C>), E, D, T>, D::Err> {
    D::batch_norm(
        x,
        running(
            &bn.scale,
            &bn.bias,
            &bn.running_mean,
            &bn.running_var,
            bn.epsilon,
        ),
    )
}

/// `BatchNorm1D` with batch statistics (training), for any tape.
pub fn batch_norm1d_train<B: Dim, const C: usize, E: Element, D: Backend<E>, T: Tape<E, D>>(
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
    D::batch_norm(
        x,
        batch(scale, bias, running_mean, running_var, *epsilon, *momentum),
    )
}

fn running<'a, const C: usize, E: Dtype, D: Storage<E>>(
    scale: &'a Tensor<Rank1<C>, E, D>,
    bias: &'a Tensor<Rank1<C>, E, D>,
    mean: &'a Tensor<Rank1<C>, E, D>,
    var: &'a Tensor<Rank1<C>, E, D>,
    epsilon: f64,
) -> BatchNormArgs<'a, C, E, D> {
    BatchNormArgs {
        scale,
        bias,
        stats: NormStats::Running { mean, var },
        epsilon,
    }
}

fn batch<'a, const C: usize, E: Dtype, D: Storage<E>>(
    scale: &'a Tensor<Rank1<C>, E, D>,
    bias: &'a Tensor<Rank1<C>, E, D>,
    running_mean: &'a mut Tensor<Rank1<C>, E, D>,
    running_var: &'a mut Tensor<Rank1<C>, E, D>,
    epsilon: f64,
    momentum: f64,
) -> BatchNormArgs<'a, C, E, D> {
    BatchNormArgs {
        scale,
        bias,
        stats: NormStats::Batch {
            running_mean,
            running_var,
            momentum,
        },
        epsilon,
    }
}

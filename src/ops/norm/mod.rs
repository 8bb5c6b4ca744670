//! Batch normalisation (`BatchNorm2D` on `(B, C, H, W)`, `BatchNorm1D` on `(B, C)`) as
//! one differentiable op: [`cpu`] (typenet's kernels: batch statistics with channels in
//! parallel, one affine pass, and one fused backward pass for the input, scale and bias
//! gradients) and [`generic`] (dfdx's ops: the CUDA path and the reference).
//!
//! Semantics are dfdx's (and Keras's): training normalises with the batch's mean and
//! biased variance and moves the running statistics by `momentum`, the variance's by its
//! unbiased estimate; inference uses the running statistics, with scale and bias still on
//! the tape.

mod generic;
pub mod kernels;

use dfdx::prelude::*;

pub use self::generic::generic;
use self::kernels::Layout;
use super::isa::Isa;
use super::scratch::data_of;
use crate::element::Element;

/// A batch-norm layer's tensors, as dfdx's `BatchNorm2D` and `BatchNorm1D` keep them.
pub struct BatchNormArgs<'a, const C: usize, E: Dtype, D: Storage<E>> {
    /// Gamma, learned.
    pub scale: &'a Tensor<Rank1<C>, E, D>,
    /// Beta, learned.
    pub bias: &'a Tensor<Rank1<C>, E, D>,
    /// Which statistics normalise.
    pub stats: NormStats<'a, C, E, D>,
    /// Added to the variance.
    pub epsilon: f64,
}

/// The statistics a batch norm normalises with.
pub enum NormStats<'a, const C: usize, E: Dtype, D: Storage<E>> {
    /// The running ones (inference).
    Running {
        mean: &'a Tensor<Rank1<C>, E, D>,
        var: &'a Tensor<Rank1<C>, E, D>,
    },
    /// The batch's (training); the running ones move towards them by `momentum`.
    Batch {
        running_mean: &'a mut Tensor<Rank1<C>, E, D>,
        running_var: &'a mut Tensor<Rank1<C>, E, D>,
        momentum: f64,
    },
}

/// `x`'s sizes as `(outer, C, inner)`: channels on axis 1.
fn layout<const C: usize, S: Shape>(s: &S) -> Option<Layout> {
    let d = s.concrete();
    if S::NUM_DIMS < 2 || d[1] != C {
        return None;
    }
    Some(Layout {
        outer: d[0],
        channels: C,
        inner: (2..S::NUM_DIMS).map(|i| d[i]).product(),
    })
}

/// See [`crate::Backend::batch_norm`].
pub fn cpu<const C: usize, S: Shape, E: Element, T: Tape<E, Cpu>>(
    x: Tensor<S, E, Cpu, T>,
    args: BatchNormArgs<'_, C, E, Cpu>,
) -> Result<Tensor<S, E, Cpu, T>, CpuError> {
    crate::alloc::tune_allocator();
    let l = layout::<C, S>(x.shape()).ok_or(CpuError::WrongNumElements)?;
    let isa = Isa::best();
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let xs = data_of(&x);
    let e = |v: f64| E::from_f64(v).unwrap_or_default();
    let eps = args.epsilon;
    // Per channel: the mean and 1/std normalising, in f64.
    let (stats, batch): (Vec<(f64, f64)>, bool) = match args.stats {
        NormStats::Running { mean, var } => {
            let (m, v) = (mean.as_vec(), var.as_vec());
            let f = |t: E| t.to_f64().unwrap_or(f64::NAN);
            let st = m
                .iter()
                .zip(&v)
                .map(|(&m, &v)| (f(m), 1.0 / (f(v) + eps).sqrt()));
            (st.collect(), false)
        }
        NormStats::Batch {
            running_mean,
            running_var,
            momentum,
        } => {
            let st = kernels::batch_stats(isa, l, &xs);
            let n = l.per_channel() as f64;
            let (keep, m) = (e(1.0 - momentum), e(momentum));
            let mv = e(momentum * n / (n - 1.0).max(1.0));
            // As dfdx's axpy: `running * (1 - momentum) + batch * momentum`, in E.
            let mut rm = running_mean.as_vec();
            let mut rv = running_var.as_vec();
            for ((rm, rv), &(mean, var)) in rm.iter_mut().zip(&mut rv).zip(&st) {
                *rm = *rm * keep + e(mean) * m;
                *rv = *rv * keep + e(var) * mv;
            }
            running_mean.copy_from(&rm);
            running_var.copy_from(&rv);
            let st = st.iter().map(|&(m, v)| (m, 1.0 / (v + eps).sqrt()));
            (st.collect(), true)
        }
    };
    let (scale, bias) = (args.scale.as_vec(), args.bias.as_vec());
    // y = a x + b with a = scale / std, b = bias - mean a.
    let a: Vec<E> = (0..C).map(|c| scale[c] * e(stats[c].1)).collect();
    let b: Vec<E> = (0..C).map(|c| bias[c] - e(stats[c].0) * a[c]).collect();
    let mut out = vec![E::zero(); xs.len()];
    kernels::affine(isa, l, &xs, &a, &b, &mut out);
    let y = x.device().try_tensor_from_vec(out, *x.shape())?;
    if T::OWNS_TAPE {
        // `x` itself (its data, borrowed again there), `y` as a ghost (its id).
        let y_id = y.ghost();
        let (gamma, beta) = (args.scale.ghost(), args.bias.ghost());
        tape.add_backward_op(move |grads| {
            let xs = data_of(&x);
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&y_id)?);
            let mean: Vec<E> = stats.iter().map(|s| e(s.0)).collect();
            let sums = kernels::grad_sums(isa, l, &xs, &gy, &mean);
            let n = l.per_channel().max(1) as f64;
            let k: Vec<[E; 3]> = (0..C)
                .map(|c| {
                    let (m, inv) = stats[c];
                    let (sg, sgx) = sums[c];
                    let k1 = a[c];
                    if !batch {
                        return [k1, E::zero(), E::zero()];
                    }
                    // dx = k1 (gy - sum gy / n - xhat sum(gy xhat) / n), xhat = (x - m) inv.
                    let k1f = k1.to_f64().unwrap_or(f64::NAN);
                    let k2 = -k1f * inv * inv * sgx / n;
                    let k3 = -k1f * sg / n - k2 * m;
                    [k1, e(k2), e(k3)]
                })
                .collect();
            kernels::input_grad(isa, l, &xs, &gy, &k, grads.get_or_alloc_mut(&x)?);
            let gg = grads.get_or_alloc_mut(&gamma)?;
            for (g, (s, &(_, inv))) in gg.iter_mut().zip(sums.iter().zip(&stats)) {
                *g += e(s.1 * inv);
            }
            let gb = grads.get_or_alloc_mut(&beta)?;
            for (g, s) in gb.iter_mut().zip(&sums) {
                *g += e(s.0);
            }
            **grads.get_or_alloc_mut(&y_id)? = gy;
            Ok(())
        });
    }
    Ok(y.put_tape(tape))
}

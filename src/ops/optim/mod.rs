//! One optimizer step on one parameter: dfdx's SGD, RMSprop and Adam rules. [`cpu`] runs
//! them over chunks of the parameter on rayon's threads (dfdx's CPU kernels run on one),
//! with the same arithmetic in the same order, so the results are dfdx's to the bit;
//! [`generic`] runs dfdx's own kernels (the CUDA path, and the reference).

pub(crate) mod kernels;

use dfdx::prelude::*;

use super::scratch::data_mut_of;
use crate::element::Element;

/// The rule of one step: dfdx's configurations, with what they need from the optimizer.
#[derive(Debug, Clone, Copy)]
pub enum UpdateRule {
    /// SGD (state: the velocity).
    Sgd(SgdConfig),
    /// RMSprop; `first` on the optimizer's first step, which starts the mean square at 1
    /// (as dfdx does). State: momentum, mean square, mean gradient.
    RMSprop { cfg: RMSpropConfig, first: bool },
    /// Adam at step `t` (from 1). State: the first and second moments.
    Adam { cfg: AdamConfig, t: i32 },
}

impl UpdateRule {
    /// How many state buffers of the parameter's size the rule keeps.
    pub fn slots(&self) -> usize {
        match self {
            UpdateRule::Sgd(_) => 1,
            UpdateRule::RMSprop { .. } => 3,
            UpdateRule::Adam { .. } => 2,
        }
    }
}

/// The state buffers of every parameter, one [`Gradients`] per slot (keyed by the
/// parameter, as dfdx's optimizers keep theirs).
pub type UpdateState<E, D> = [Gradients<E, D>; 3];

/// A new, empty [`UpdateState`].
pub fn new_update_state<E: Dtype, D: Storage<E>>() -> UpdateState<E, D> {
    [Gradients::leaky(), Gradients::leaky(), Gradients::leaky()]
}

/// The state buffers `rule` uses for `p`, allocated (zeros) on first use; RMSprop's mean
/// square filled with ones on its first step.
fn slots<'s, S: Shape, E: Dtype, D: Device<E>>(
    rule: &UpdateRule,
    p: &Tensor<S, E, D>,
    state: &'s mut UpdateState<E, D>,
) -> Result<Vec<&'s mut <D as Storage<E>>::Vec>, D::Err> {
    let n = rule.slots();
    let mut out = Vec::with_capacity(n);
    for g in state.iter_mut().take(n) {
        out.push(g.get_or_alloc_mut(p)?);
    }
    if let (UpdateRule::RMSprop { first: true, .. }, Some(sa)) = (rule, out.get_mut(1)) {
        p.device().try_fill_with_ones(sa)?;
    }
    Ok(out)
}

/// One step of `rule` on `p` with gradient `g` through dfdx's kernels.
pub fn generic<S: Shape, E: Dtype, D: Device<E>>(
    rule: &UpdateRule,
    p: &mut Tensor<S, E, D>,
    g: &<D as Storage<E>>::Vec,
    state: &mut UpdateState<E, D>,
) -> Result<(), D::Err> {
    let mut s = slots(rule, p, state)?;
    match (rule, s.as_mut_slice()) {
        (UpdateRule::Sgd(cfg), [v]) => cfg.try_update(p, v, g),
        (UpdateRule::RMSprop { cfg, .. }, [m, sa, ga]) => cfg.try_update(p, m, sa, ga, g),
        (UpdateRule::Adam { cfg, t }, [m, v]) => cfg.try_update(*t, p, m, v, g),
        _ => unreachable!("slots returns UpdateRule::slots buffers"),
    }
}

/// [`generic`] on the CPU, over chunks on rayon's threads (a parameter whose elements do
/// not lie in order in its buffer, which dfdx never makes, takes [`generic`]); with
/// `zero_grad`, `g` is left zero (as dfdx's `zero_grads` leaves it).
pub fn cpu<S: Shape, E: Element>(
    rule: &UpdateRule,
    p: &mut Tensor<S, E, Cpu>,
    g: &mut <Cpu as Storage<E>>::Vec,
    state: &mut UpdateState<E, Cpu>,
    zero_grad: bool,
) -> Result<(), CpuError>
where
    Cpu: Device<E>,
{
    if data_mut_of(p).is_none() {
        generic(rule, p, g, state)?;
        if zero_grad {
            slice_mut(g).fill(E::zero());
        }
        return Ok(());
    }
    let s = slots(rule, p, state)?;
    let mut s: Vec<&mut [E]> = s.into_iter().map(|b| slice_mut(b)).collect();
    let (pd, g) = (data_mut_of(p).unwrap_or_default(), slice_mut(g));
    if pd.len() != g.len() || s.iter().any(|b| b.len() != pd.len()) {
        return Err(CpuError::WrongNumElements);
    }
    let z = zero_grad;
    match (rule, s.as_mut_slice()) {
        (UpdateRule::Sgd(cfg), [v]) => kernels::sgd(cfg, pd, v, g, z),
        (UpdateRule::RMSprop { cfg, .. }, [m, sa, ga]) => {
            kernels::rmsprop(cfg, pd, m, sa, ga, g, z)
        }
        (UpdateRule::Adam { cfg, t }, [m, v]) => kernels::adam(cfg, *t, pd, m, v, g, z),
        _ => unreachable!("slots returns UpdateRule::slots buffers"),
    }
    Ok(())
}

/// A CPU buffer as a slice (here, unlike under `Cpu: Device<E>`, the buffer type is known
/// to be dfdx's CPU vector).
fn slice_mut<E: Unit>(v: &mut <Cpu as Storage<E>>::Vec) -> &mut [E] {
    v
}

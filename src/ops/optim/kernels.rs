//! dfdx 0.13's CPU optimizer kernels (`tensor_ops/{sgd,rmsprop,adam}/cpu_kernel.rs`),
//! operation for operation, over chunks of a parameter on rayon's threads, optionally
//! zeroing the gradient as they read it. Each element's update depends on that element
//! alone, so splitting changes no result.

use dfdx::prelude::*;
use rayon::prelude::*;

use crate::element::Element;
use crate::ops::isa::CHUNK;

/// `E` from an f64 hyper-parameter (f32 and f64 take every f64).
fn e<E: Element>(v: f64) -> E {
    <E as num_traits::NumCast>::from(v).unwrap_or_else(E::nan)
}

/// L2 and decoupled weight decay as factors (`wd`, `wd * lr`).
fn decay<E: Element>(wd: Option<WeightDecay>, lr: f64) -> (Option<E>, Option<E>) {
    match wd {
        Some(WeightDecay::L2(wd)) => (Some(e(wd)), None),
        Some(WeightDecay::Decoupled(wd)) => (None, Some(e(wd * lr))),
        None => (None, None),
    }
}

/// The gradient element, left zero when `zero` (the step's reads of the gradient are
/// its last, so the zeroing `zero_grads` would do costs no pass of its own).
#[inline(always)]
fn take<E: Element>(g: &mut E, zero: bool) -> E {
    let v = *g;
    if zero {
        *g = E::zero();
    }
    v
}

/// Whether a buffer of `n` is worth splitting over threads.
fn split(n: usize) -> bool {
    n > 2 * CHUNK
}

/// dfdx's `SgdKernel` for `Cpu`.
pub fn sgd<E: Element>(cfg: &SgdConfig, p: &mut [E], v: &mut [E], g: &mut [E], zero: bool) {
    let k = Sgd {
        lr: e(cfg.lr),
        momentum: cfg.momentum.map(|m| match m {
            Momentum::Classic(u) => (e(u), false),
            Momentum::Nesterov(u) => (e(u), true),
        }),
        decay: decay(cfg.weight_decay, cfg.lr),
    };
    if split(p.len()) {
        p.par_chunks_mut(CHUNK)
            .zip(v.par_chunks_mut(CHUNK))
            .zip(g.par_chunks_mut(CHUNK))
            .for_each(|((p, v), g)| k.run(p, v, g, zero));
    } else {
        k.run(p, v, g, zero);
    }
}

/// SGD's factors, in `E`.
struct Sgd<E> {
    lr: E,
    /// Momentum, and whether Nesterov's.
    momentum: Option<(E, bool)>,
    decay: (Option<E>, Option<E>),
}

impl<E: Element> Sgd<E> {
    fn run(&self, p: &mut [E], v: &mut [E], g: &mut [E], zero: bool) {
        let (lr, (l2, dec)) = (self.lr, self.decay);
        for ((p, g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
            let mut g = take(g, zero);
            if let Some(wd) = l2 {
                g += wd * *p;
            }
            match self.momentum {
                Some((u, false)) => {
                    *v = g + u * *v;
                    g = *v * lr;
                }
                Some((u, true)) => {
                    *v = g + u * *v;
                    g = (g + u * *v) * lr;
                }
                None => g *= lr,
            }
            if let Some(wd) = dec {
                g += wd * *p;
            }
            *p -= g;
        }
    }
}

/// dfdx's `RMSpropKernel` for `Cpu`.
pub fn rmsprop<E: Element>(
    cfg: &RMSpropConfig,
    p: &mut [E],
    m: &mut [E],
    sa: &mut [E],
    ga: &mut [E],
    g: &mut [E],
    zero: bool,
) {
    let k = RmsProp {
        alpha: e(cfg.alpha),
        eps: e(cfg.eps),
        lr: e(cfg.lr),
        centered: cfg.centered,
        momentum: cfg.momentum.map(e),
        decay: decay(cfg.weight_decay, cfg.lr),
    };
    if split(p.len()) {
        p.par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(sa.par_chunks_mut(CHUNK))
            .zip(ga.par_chunks_mut(CHUNK))
            .zip(g.par_chunks_mut(CHUNK))
            .for_each(|((((p, m), sa), ga), g)| k.run(p, m, sa, ga, g, zero));
    } else {
        k.run(p, m, sa, ga, g, zero);
    }
}

/// RMSprop's factors, in `E`.
struct RmsProp<E> {
    alpha: E,
    eps: E,
    lr: E,
    centered: bool,
    momentum: Option<E>,
    decay: (Option<E>, Option<E>),
}

impl<E: Element> RmsProp<E> {
    fn run(&self, p: &mut [E], m: &mut [E], sa: &mut [E], ga: &mut [E], g: &mut [E], zero: bool) {
        let (alpha, eps, lr, (l2, dec)) = (self.alpha, self.eps, self.lr, self.decay);
        let state = m.iter_mut().zip(sa.iter_mut().zip(ga.iter_mut()));
        for ((p, g), (m, (sa, ga))) in p.iter_mut().zip(g).zip(state) {
            let mut g = take(g, zero);
            if let Some(wd) = l2 {
                g += wd * *p;
            }
            *sa += (E::one() - alpha) * (g * g - *sa);
            let avg = if self.centered {
                *ga += (E::one() - alpha) * (g - *ga);
                (*sa - ga.powi(2) + eps).sqrt()
            } else {
                (*sa + eps).sqrt()
            };
            g /= avg;
            match self.momentum {
                Some(u) => {
                    *m = *m * u + g;
                    g = *m * lr;
                }
                None => g *= lr,
            }
            if let Some(wd) = dec {
                g += wd * *p;
            }
            *p -= g;
        }
    }
}

/// dfdx's `AdamKernel` for `Cpu`, at step `t`.
pub fn adam<E: Element>(
    cfg: &AdamConfig,
    t: i32,
    p: &mut [E],
    m: &mut [E],
    v: &mut [E],
    g: &mut [E],
    zero: bool,
) {
    let betas: [E; 2] = cfg.betas.map(e);
    let k = Adam {
        betas,
        // dfdx computes these per element; the values are the same.
        c: [
            (E::one() - betas[0].powi(t)).recip(),
            (E::one() - betas[1].powi(t)).recip(),
        ],
        eps: e(cfg.eps),
        lr: e(cfg.lr),
        decay: decay(cfg.weight_decay, cfg.lr),
    };
    if split(p.len()) {
        p.par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(g.par_chunks_mut(CHUNK))
            .for_each(|(((p, m), v), g)| k.run(p, m, v, g, zero));
    } else {
        k.run(p, m, v, g, zero);
    }
}

/// Adam's factors, in `E`.
struct Adam<E> {
    betas: [E; 2],
    /// `1 / (1 - beta^t)` for each moment.
    c: [E; 2],
    eps: E,
    lr: E,
    decay: (Option<E>, Option<E>),
}

impl<E: Element> Adam<E> {
    fn run(&self, p: &mut [E], m: &mut [E], v: &mut [E], g: &mut [E], zero: bool) {
        let (b, c, eps, lr, (l2, dec)) = (self.betas, self.c, self.eps, self.lr, self.decay);
        for ((p, g), (m, v)) in p.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut())) {
            let mut g = take(g, zero);
            if let Some(wd) = l2 {
                g += wd * *p;
            }
            *m = *m * b[0] + g * (E::one() - b[0]);
            *v = *v * b[1] + g.powi(2) * (E::one() - b[1]);
            let m_hat = *m * c[0];
            let v_hat = *v * c[1];
            g = lr * m_hat / (v_hat.sqrt() + eps);
            if let Some(wd) = dec {
                g += wd * *p;
            }
            *p -= g;
        }
    }
}

//! Joining branches, as differentiable dfdx ops: concatenation along axis 1 (channels of
//! `(B, C, ...)`, features of `(B, N)`) and the sum of N tensors. The CPU ops' backward
//! passes add into the input gradients, so one tensor may come in twice (`Add { [], [] }`);
//! the generic ones are built from dfdx ops (the CUDA path and the reference).

mod generic;

use dfdx::prelude::*;
use rayon::prelude::*;

pub use self::generic::{concat as concat_generic, sum as sum_generic};
use super::isa::CHUNK;
use super::scratch::data_of;
use super::tape::{add_into, add_into_par, put_grad, take_grad};
use crate::element::Element;

/// Batch and per-sample sizes of a concatenation along axis 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConcatGeom {
    pub batch: usize,
    /// Values per sample of `a`, of `b` (the output has their sum).
    pub na: usize,
    pub nb: usize,
}

/// `None` unless `out` is `a` and `b` joined along axis 1, all other dims equal, every
/// sample non-empty. Samples are channel-major, so each output sample is `a`'s sample
/// followed by `b`'s.
pub(crate) fn concat_geom<A: Shape, B: Shape, O: Shape>(
    a: &A,
    b: &B,
    out: &O,
) -> Option<ConcatGeom> {
    let dims = |s: Vec<usize>| (s.len() >= 2).then_some(s);
    let a = dims(a.concrete().into_iter().collect())?;
    let b = dims(b.concrete().into_iter().collect())?;
    let o = dims(out.concrete().into_iter().collect())?;
    let same_rest =
        a.len() == b.len() && a.len() == o.len() && a[2..] == b[2..] && a[2..] == o[2..];
    if !same_rest || a[0] != b[0] || a[0] != o[0] || Some(o[1]) != a[1].checked_add(b[1]) {
        return None;
    }
    let rest: usize = a[2..].iter().product();
    let (na, nb) = (a[1] * rest, b[1] * rest);
    (na > 0 && nb > 0).then_some(ConcatGeom {
        batch: a[0],
        na,
        nb,
    })
}

/// See [`crate::Backend::concat`].
pub fn cpu_concat<A: Shape, B: Shape, O: Shape, E: Element, T: Tape<E, Cpu> + Merge<T>>(
    a: Tensor<A, E, Cpu, T>,
    b: Tensor<B, E, Cpu, T>,
    out: O,
) -> Result<Tensor<O, E, Cpu, T>, CpuError> {
    let g = concat_geom(a.shape(), b.shape(), &out).ok_or(CpuError::WrongNumElements)?;
    let (a, ta) = a.try_contiguous()?.split_tape();
    let (b, tb) = b.try_contiguous()?.split_tape();
    let mut tape = ta.merge(tb);
    let (ad, bd) = (data_of(&a), data_of(&b));
    let n = g.na + g.nb;
    let mut y = vec![E::zero(); g.batch * n];
    y.par_chunks_mut(n)
        .zip(ad.par_chunks(g.na).zip(bd.par_chunks(g.nb)))
        .for_each(|(y, (a, b))| {
            y[..g.na].copy_from_slice(a);
            y[g.na..].copy_from_slice(b);
        });
    drop((ad, bd));
    let y = a.device().try_tensor_from_vec(y, out)?;
    if T::OWNS_TAPE {
        let y_id = y.clone();
        tape.add_backward_op(move |grads| {
            let gy = take_grad(grads, &y_id)?;
            let ga = grads.get_or_alloc_mut(&a)?;
            ga.par_chunks_mut(g.na)
                .zip(gy.par_chunks(n))
                .for_each(|(ga, gy)| add_into(ga, &gy[..g.na]));
            let gb = grads.get_or_alloc_mut(&b)?;
            gb.par_chunks_mut(g.nb)
                .zip(gy.par_chunks(n))
                .for_each(|(gb, gy)| add_into(gb, &gy[g.na..]));
            put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

/// See [`crate::Backend::sum`].
pub fn cpu_sum<S: Shape, E: Element, T: Tape<E, Cpu> + Merge<T>>(
    xs: Vec<Tensor<S, E, Cpu, T>>,
) -> Result<Tensor<S, E, Cpu, T>, CpuError> {
    let shape = *xs.first().ok_or(CpuError::WrongNumElements)?.shape();
    if xs.iter().any(|x| x.shape().concrete() != shape.concrete()) {
        return Err(CpuError::WrongNumElements);
    }
    let mut tape = T::default();
    let mut ins = Vec::with_capacity(xs.len());
    for x in xs {
        let (x, t) = x.try_contiguous()?.split_tape();
        tape = tape.merge(t);
        ins.push(x);
    }
    // The first two summed in one pass into the output (no zero fill, no copy first),
    // in chunks on rayon's threads.
    let first = data_of(&ins[0]);
    let mut y: Vec<E> = match ins.get(1) {
        Some(b) => first
            .par_iter()
            .zip(data_of(b).par_iter())
            .with_min_len(CHUNK)
            .map(|(&a, &b)| a + b)
            .collect(),
        None => first.to_vec(),
    };
    for x in ins.iter().skip(2) {
        add_into_par(&mut y, &data_of(x));
    }
    let y = ins[0].device().try_tensor_from_vec(y, shape)?;
    if T::OWNS_TAPE {
        let y_id = y.clone();
        tape.add_backward_op(move |grads| {
            let gy = take_grad(grads, &y_id)?;
            // One input after the other: the same tensor twice gets the gradient twice.
            for x in &ins {
                add_into_par(grads.get_or_alloc_mut(x)?, &gy);
            }
            put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

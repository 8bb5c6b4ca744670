//! `Conv2D, ReLU, MaxPool2D, Flatten, Dense` as one op on `Cpu` (f32, where the direct
//! convolution kernels apply): the pooled activations and their gradient live in reused
//! buffers instead of tensors, so a training step does not allocate, zero-fill, copy and
//! re-read them (memory traffic, not arithmetic, is what these passes cost).

use dfdx::prelude::*;

use super::conv2d::{self, direct, im2col, Argmax, Saved};
use super::dense::kernels::{backward as dense_backward, forward as dense_forward, input_grad};
use super::dense::{self, Sizes};
use super::geom::{conv_geom, pool_geom, ConvGeom, PoolGeom};
use super::scratch::{data_of, Scratch};
use super::tape::{add_into, put_grad, take_grad, untape};
use super::{Conv2DParams, DenseParams};
use crate::element::{f32s, f32s_mut, from_f32s, Element, Tensor4};

/// The geometry, when the fused op runs this case.
fn geometry<E: Element>(
    x: &(impl Dim, usize, usize, usize),
    w: &(usize, usize, usize, usize),
    p: Conv2DParams,
    dense_inputs: usize,
) -> Option<(ConvGeom, PoolGeom)> {
    let x = (x.0.size(), x.1, x.2, x.3);
    let g = conv_geom(&x, w, p)?;
    let pg = pool_geom(&(g.batch, g.c_out, g.h_out, g.w_out), p.max_pool?)?;
    let fits = g.c_out * pg.h_out * pg.w_out == dense_inputs;
    (fits && dense::fast_runs::<E>() && direct::applies::<E>(&g, Some(&pg))).then_some((g, pg))
}

/// See [`crate::Backend::conv2d_dense`]: the fused op where it applies, else
/// [`conv2d::cpu`] then [`dense::cpu`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn cpu<B: Dim, I: Dim, O: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
    p: Conv2DParams,
    dw: &Tensor<(O, I), E, Cpu>,
    db: Option<&Tensor<(O,), E, Cpu>>,
    dp: DenseParams,
) -> Result<Tensor<(B, O), E, Cpu, T>, CpuError>
where
    Cpu: Device<E>,
{
    match geometry::<E>(x.shape(), w.shape(), p, dw.shape().1.size()) {
        Some(geom) => fused(x, w, bias, p, geom, dw, db, dp),
        None => {
            let batch = x.shape().0;
            let h = conv2d::cpu(x, w, bias, p)?;
            dense::cpu(h, batch, dw, db, dp)
        }
    }
}

/// See [`crate::Backend::conv2d_dense`]: [`conv2d::generic`] then [`dense::generic`].
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) fn generic<B: Dim, I: Dim, O: Dim, E: Element, D: Device<E>, T: Tape<E, D> + Merge<T>>(
    x: Tensor4<B, E, D, T>,
    w: Tensor4<usize, E, D, T>,
    bias: Option<Tensor<(usize,), E, D, T>>,
    p: Conv2DParams,
    dw: &Tensor<(O, I), E, D>,
    db: Option<&Tensor<(O,), E, D>>,
    dp: DenseParams,
) -> Result<Tensor<(B, O), E, D, T>, D::Err>
where
    D::Err: From<CpuError>,
{
    let batch = x.shape().0;
    let h = conv2d::generic(x, w, bias, p)?;
    dense::generic(h, batch, dw, db, dp)
}

/// The fused op on the geometry [`geometry`] accepted.
#[allow(clippy::too_many_arguments)]
fn fused<B: Dim, I: Dim, O: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
    p: Conv2DParams,
    (g, pg): (ConvGeom, PoolGeom),
    dw: &Tensor<(O, I), E, Cpu>,
    db: Option<&Tensor<(O,), E, Cpu>>,
    dp: DenseParams,
) -> Result<Tensor<(B, O), E, Cpu, T>, CpuError> {
    crate::alloc::tune_allocator();
    let (o, i) = *dw.shape();
    let batch = x.shape().0;
    let (x, w, bias, mut tape) = untape(x, w, bias)?;
    let (xd, wd) = (data_of(&x), data_of(&w));
    let bd = bias.as_ref().map(data_of);
    let s = Sizes {
        batch: g.batch,
        inputs: i.size(),
        outputs: o.size(),
    };

    // The pooled activations (B, C*Hp*Wp), flat: what the dense layer reads.
    let mut h = Scratch::<E>::stale(s.batch * s.inputs);
    let mut arg = Scratch::<u8>::stale(if T::OWNS_TAPE { h.len() } else { 0 });
    direct::forward(
        direct::best(),
        &g,
        &pg,
        f32s(&xd),
        f32s(&wd),
        bd.as_deref().map(f32s::<E>),
        p.relu,
        f32s_mut(&mut h),
        &mut arg,
    );
    let dwd = data_of(dw);
    let (out, positive) = dense_forward(s, f32s(&h), f32s(&dwd), db, dp.relu, T::OWNS_TAPE);
    let y = x.device().try_tensor_from_vec(out, (batch, o))?;
    if T::OWNS_TAPE {
        let (y_id, dw, db) = (y.clone(), dw.clone(), db.cloned());
        tape.add_backward_op(move |grads| {
            let (xd, wd, dwd) = (data_of(&x), data_of(&w), data_of(&dw));
            let mut gy = take_grad(grads, &y_id)?;
            let gyf = f32s_mut(&mut gy);
            let live = dense_backward(s, gyf, &positive, f32s(&h), grads, &dw, db.as_ref())?;
            // The activations' gradient, written (not added): nothing else reads them.
            let mut gh = h;
            input_grad(s, &live, f32s(&dwd), f32s_mut(&mut gh), false);
            let (gw, gb) = if p.input_grad {
                let saved = Saved {
                    x: &xd,
                    w: &wd,
                    arg: &Argmax::Phase(arg),
                    pool: Some(&pg),
                };
                im2col::backward(&g, &saved, &gh, Some(grads.get_or_alloc_mut(&x)?))
            } else {
                let (gw, gb) =
                    direct::backward(direct::best(), &g, &pg, f32s(&xd), &arg, f32s(&gh));
                (from_f32s(gw), from_f32s(gb))
            };
            add_into(grads.get_or_alloc_mut(&w)?, &gw);
            if let Some(b) = &bias {
                add_into(grads.get_or_alloc_mut(b)?, &gb);
            }
            put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

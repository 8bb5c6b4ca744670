//! `Conv2D, ReLU, MaxPool2D, Flatten, Dense` as one op on `Cpu` (f32, where the direct
//! convolution kernels apply): the pooled activations and their gradient live in reused
//! buffers instead of tensors, so a training step does not allocate, zero-fill, copy and
//! re-read them (memory traffic, not arithmetic, is what these passes cost).

use dfdx::prelude::*;

use super::conv2d::direct::{self, f32s};
use super::conv2d::{add_into, conv_backward, put_grad, read, take_grad, untape, Argmax, Saved};
use super::dense::{self, f32s_mut, Sizes};
use super::generic::{conv_geom, pool_geom};
use super::scratch::{copy_of, Scratch};
use super::{Conv2DParams, ConvGeom, DenseParams, PoolGeom};
use crate::backend::{Element, Tensor4};

/// The geometry, when [`conv2d_dense`] runs this case; otherwise `Cpu` runs the two ops.
pub fn applies<E: 'static>(
    x: &(impl Dim, usize, usize, usize),
    w: &(usize, usize, usize, usize),
    p: Conv2DParams,
    dense_inputs: usize,
) -> bool {
    geometry::<E>(x, w, p, dense_inputs).is_some()
}

fn geometry<E: 'static>(
    x: &(impl Dim, usize, usize, usize),
    w: &(usize, usize, usize, usize),
    p: Conv2DParams,
    dense_inputs: usize,
) -> Option<(ConvGeom, PoolGeom)> {
    let x = (x.0.size(), x.1, x.2, x.3);
    let g = conv_geom(&x, w, p)?;
    let pg = pool_geom(&(g.batch, g.c_out, g.h_out, g.w_out), p.max_pool?)?;
    let fits = g.c_out * pg.h_out * pg.w_out == dense_inputs;
    (fits && dense::cpu_runs::<E>() && direct::applies::<E>(&g, Some(&pg))).then_some((g, pg))
}

/// See [`crate::Backend::conv2d_dense`]; callers check [`applies`] first.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_dense<B: Dim, I: Dim, O: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
    p: Conv2DParams,
    dw: &Tensor<(O, I), E, Cpu>,
    db: Option<&Tensor<(O,), E, Cpu>>,
    dp: DenseParams,
) -> Result<Tensor<(B, O), E, Cpu, T>, CpuError> {
    crate::alloc::tune_allocator();
    let (o, i) = *dw.shape();
    let (g, pg) =
        geometry::<E>(x.shape(), w.shape(), p, i.size()).ok_or(CpuError::WrongNumElements)?;
    let batch = x.shape().0;
    let (x, w, bias, mut tape) = untape(x, w, bias)?;
    let (xd, wd) = (read(&x), read(&w));
    let bd = bias.as_ref().map(read);
    let s = Sizes {
        batch: g.batch,
        inputs: i.size(),
        outputs: o.size(),
    };

    // The pooled activations (B, C*Hp*Wp), flat: what the dense layer reads.
    let mut h = Scratch::<E>::stale(s.batch * s.inputs);
    let mut arg = Scratch::<u8>::stale(if T::OWNS_TAPE { h.len() } else { 0 });
    direct::forward(
        &g,
        &pg,
        f32s(&xd),
        f32s(&wd),
        bd.as_deref().map(f32s::<E>),
        p.relu,
        f32s_mut(&mut h),
        &mut arg,
    );
    let dwd = copy_of(dw);
    let (out, positive) = dense::forward(s, f32s(&h), f32s(&dwd), db, dp.relu, T::OWNS_TAPE);
    let y = x.device().try_tensor_from_vec(out, (batch, o))?;
    if T::OWNS_TAPE {
        let (y_id, dw, db) = (y.clone(), dw.clone(), db.cloned());
        tape.add_backward_op(move |grads| {
            let mut gy = take_grad(grads, &y_id)?;
            let gyf = f32s_mut(&mut gy);
            let live = dense::backward(s, gyf, &positive, f32s(&h), grads, &dw, db.as_ref())?;
            // The activations' gradient, written (not added): nothing else reads them.
            let mut gh = h;
            dense::input_grad(s, &live, f32s(&dwd), f32s_mut(&mut gh), false);
            let (gw, gb) = if p.input_grad {
                let saved = Saved {
                    x: &xd,
                    w: &wd,
                    arg: &Argmax::Phase(arg),
                    pool: Some(&pg),
                };
                conv_backward(&g, &saved, &gh, Some(grads.get_or_alloc_mut(&x)?))
            } else {
                let (gw, gb) = direct::backward(&g, &pg, f32s(&xd), &arg, f32s(&gh));
                let back = |v| direct::from_f32::<E>(v).expect("direct path is f32");
                (back(gw), back(gb))
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

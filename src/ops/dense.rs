//! A dense (fully connected) layer as one differentiable op: `y = x W^T + b`, optionally
//! followed by ReLU, where `x` is any batched tensor read as `(batch, inputs)` — so a
//! `Flatten` before it costs nothing, in either direction.
//!
//! [`generic`] builds it from dfdx ops (the CUDA path, and the reference); [`cpu`] runs the
//! f32 products on [`super::gemm`]'s AVX-512 kernels, with bias, ReLU and the flattening
//! fused, and falls back to [`generic`] elsewhere.

use dfdx::prelude::*;

use super::gemm::{gemm, Operand};
use super::scratch::{copy_of, Scratch};
use super::DenseParams;
use crate::backend::Element;

/// Checks that `x` holds `batch` rows of `inputs`.
fn rows<S: Shape, B: Dim>(x: &S, batch: B, inputs: usize) -> Option<usize> {
    (x.num_elements() == batch.size() * inputs).then_some(batch.size())
}

/// See [`crate::Backend::dense`].
pub fn generic<S: Shape, B: Dim, I: Dim, O: Dim, E: Element, D: Device<E>, T: Tape<E, D>>(
    x: Tensor<S, E, D, T>,
    batch: B,
    w: &Tensor<(O, I), E, D>,
    bias: Option<&Tensor<(O,), E, D>>,
    p: DenseParams,
) -> Result<Tensor<(B, O), E, D, T>, D::Err>
where
    D::Err: From<CpuError>,
{
    let (o, i) = *w.shape();
    rows(x.shape(), batch, i.size()).ok_or(CpuError::WrongNumElements)?;
    let x = x.try_reshape_like(&(batch, i))?;
    let y = x.try_matmul(w.retaped::<T>().try_permute::<_, Axes2<1, 0>>()?)?;
    let y = match bias {
        Some(b) => y.try_add(b.retaped::<T>().try_broadcast_like(&(batch, o))?)?,
        None => y,
    };
    if p.relu {
        y.try_relu()
    } else {
        Ok(y)
    }
}

/// Whether [`cpu`] runs for `E` on this CPU; elsewhere `Cpu` runs [`generic`].
pub fn cpu_runs<E: 'static>() -> bool {
    is_f32::<E>() && super::gemm::available()
}

/// See [`crate::Backend::dense`].
pub fn cpu<S: Shape, B: Dim, I: Dim, O: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor<S, E, Cpu, T>,
    batch: B,
    w: &Tensor<(O, I), E, Cpu>,
    bias: Option<&Tensor<(O,), E, Cpu>>,
    p: DenseParams,
) -> Result<Tensor<(B, O), E, Cpu, T>, CpuError> {
    let relu = p.relu;
    assert!(cpu_runs::<E>(), "dense::cpu needs f32 and AVX-512");
    crate::alloc::tune_allocator();
    let (o, i) = *w.shape();
    let (no, ni) = (o.size(), i.size());
    let nb = rows(x.shape(), batch, ni).ok_or(CpuError::WrongNumElements)?;
    let (x, tape) = x.try_contiguous()?.split_tape();
    let xd = copy_of(&x);
    let wd = copy_of(w);
    let mut out = vec![E::zero(); nb * no];
    {
        let (xf, wf, yf) = (f32s(&xd), f32s(&wd), f32s_mut(&mut out));
        // y = x W^T: W read transposed (packed 8 x 8 blocks at a time by the kernel).
        let xa = Operand {
            data: xf,
            rs: ni,
            cs: 1,
        };
        let wt = Operand {
            data: wf,
            rs: 1,
            cs: ni,
        };
        gemm((nb, no, ni), xa, wt, yf, no, false);
        let bf = bias.map(copy_of);
        for row in yf.chunks_exact_mut(no.max(1)) {
            if let Some(b) = &bf {
                for (v, &b) in row.iter_mut().zip(f32s(b)) {
                    *v += b;
                }
            }
            if relu {
                // As dfdx's ReLU: NaN becomes 0.
                for v in row.iter_mut() {
                    *v = if *v > 0.0 { *v } else { 0.0 };
                }
            }
        }
    }
    let mut positive = Scratch::<bool>::stale(if relu && T::OWNS_TAPE { out.len() } else { 0 });
    for (p, &v) in positive.iter_mut().zip(&out) {
        *p = v > E::zero();
    }
    let y = x.device().try_tensor_from_vec(out, (batch, o))?;
    let mut tape = tape;
    if T::OWNS_TAPE {
        let (y_id, w, bias) = (y.clone(), w.clone(), bias.cloned());
        tape.add_backward_op(move |grads| {
            let mut gy = super::cpu::take_grad(grads, &y_id)?;
            {
                let g = f32s_mut(&mut gy);
                if relu {
                    for (g, &p) in g.iter_mut().zip(positive.iter()) {
                        if !p {
                            *g = 0.0;
                        }
                    }
                }
                if let Some(b) = &bias {
                    let gb = f32s_mut(&mut (**grads.get_or_alloc_mut(b)?)[..]);
                    for row in g.chunks_exact(no.max(1)) {
                        for (d, &v) in gb.iter_mut().zip(row) {
                            *d += v;
                        }
                    }
                }
                // dW (O x I) += gy^T (O x B) * x (B x I)
                let gyt = Operand {
                    data: g,
                    rs: 1,
                    cs: no,
                };
                let gw = f32s_mut(&mut (**grads.get_or_alloc_mut(&w)?)[..]);
                gemm((no, ni, nb), gyt, rows_of(&xd, ni), gw, ni, true);
                if p.input_grad {
                    // dx (B x I) += gy (B x O) * W (O x I)
                    let gya = Operand {
                        data: g,
                        rs: no,
                        cs: 1,
                    };
                    let gx = f32s_mut(&mut (**grads.get_or_alloc_mut(&x)?)[..]);
                    gemm((nb, ni, no), gya, rows_of(&wd, ni), gx, ni, true);
                }
            }
            super::cpu::put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

/// A row-major matrix of f32 `E`s with rows of `n`.
fn rows_of<E: Element>(data: &[E], n: usize) -> Operand<'_> {
    Operand {
        data: f32s(data),
        rs: n,
        cs: 1,
    }
}

fn is_f32<E: 'static>() -> bool {
    std::any::TypeId::of::<E>() == std::any::TypeId::of::<f32>()
}

/// `s` as f32s; only called where `E` is f32 ([`is_f32`]).
fn f32s<E: Element>(s: &[E]) -> &[f32] {
    assert!(is_f32::<E>());
    // SAFETY: E is f32 (checked above): same layout.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), s.len()) }
}

fn f32s_mut<E: Element>(s: &mut [E]) -> &mut [f32] {
    assert!(is_f32::<E>());
    // SAFETY: E is f32 (checked above): same layout.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) }
}

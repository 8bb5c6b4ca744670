//! A dense (fully connected) layer as one differentiable op: `y = x W^T + b`, optionally
//! followed by ReLU, where `x` is any batched tensor read as `(batch, inputs)` — so a
//! `Flatten` before it costs nothing, in either direction.
//!
//! [`generic`] builds it from dfdx ops (the CUDA path, and the reference); on `Cpu`, f32
//! runs its products on typenet's AVX-512 kernels (`ops/gemm.rs`) with bias, ReLU and the
//! flattening fused, and other cases fall back to [`generic`].

use dfdx::prelude::*;

use super::conv2d::direct::{as_f32_mut, f32s};
use super::conv2d::{put_grad, take_grad};
use super::gemm::{gemm, gemm_select, Operand, Select};
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
pub(crate) fn cpu_runs<E: 'static>() -> bool {
    std::any::TypeId::of::<E>() == std::any::TypeId::of::<f32>() && super::gemm::available()
}

/// See [`crate::Backend::dense`].
pub(crate) fn cpu<S: Shape, B: Dim, I: Dim, O: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor<S, E, Cpu, T>,
    batch: B,
    w: &Tensor<(O, I), E, Cpu>,
    bias: Option<&Tensor<(O,), E, Cpu>>,
    p: DenseParams,
) -> Result<Tensor<(B, O), E, Cpu, T>, CpuError> {
    assert!(cpu_runs::<E>(), "dense::cpu needs f32 and AVX-512");
    crate::alloc::tune_allocator();
    let (o, i) = *w.shape();
    let s = Sizes {
        batch: rows(x.shape(), batch, i.size()).ok_or(CpuError::WrongNumElements)?,
        inputs: i.size(),
        outputs: o.size(),
    };
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let xd = copy_of(&x);
    let wd = copy_of(w);
    let (out, positive) = forward(s, f32s(&xd), f32s(&wd), bias, p.relu, T::OWNS_TAPE);
    let y = x.device().try_tensor_from_vec(out, (batch, o))?;
    if T::OWNS_TAPE {
        let (y_id, w, bias) = (y.clone(), w.clone(), bias.cloned());
        tape.add_backward_op(move |grads| {
            let mut gy = take_grad(grads, &y_id)?;
            let g = f32s_mut(&mut gy);
            let live = backward(s, g, &positive, f32s(&xd), grads, &w, bias.as_ref())?;
            if p.input_grad {
                let gx = f32s_mut(grads.get_or_alloc_mut(&x)?);
                input_grad(s, &live, f32s(&wd), gx, true);
            }
            put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

/// Batch, input and output sizes of a dense layer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sizes {
    pub batch: usize,
    pub inputs: usize,
    pub outputs: usize,
}

/// `relu?(x W^T + bias)` (f32 data, `E` = f32) as a new output vector, and which outputs
/// were positive (when `keep_mask`, for ReLU's gradient).
pub(super) fn forward<O: Dim, E: Element>(
    s: Sizes,
    x: &[f32],
    w: &[f32],
    bias: Option<&Tensor<(O,), E, Cpu>>,
    relu: bool,
    keep_mask: bool,
) -> (Vec<E>, Scratch<bool>) {
    let (nb, ni, no) = (s.batch, s.inputs, s.outputs);
    let mut out = vec![E::zero(); nb * no];
    let y = f32s_mut(&mut out);
    // W read transposed (packed 8 x 8 blocks at a time by the kernel).
    let xa = Operand {
        data: x,
        rs: ni,
        cs: 1,
    };
    let wt = Operand {
        data: w,
        rs: 1,
        cs: ni,
    };
    gemm((nb, no, ni), xa, wt, y, no, false);
    let b = bias.map(copy_of);
    for row in y.chunks_exact_mut(no.max(1)) {
        if let Some(b) = &b {
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
    let mut positive = Scratch::<bool>::stale(if relu && keep_mask { y.len() } else { 0 });
    for (p, &v) in positive.iter_mut().zip(y.iter()) {
        *p = v > 0.0;
    }
    (out, positive)
}

/// The units a batch's output gradient reaches, and that gradient's columns for them: a
/// unit whose ReLU was off for every sample of the batch (common: a trained MNIST model
/// has about 40% of its hidden units dead for a given batch) contributes nothing to the
/// weight or input gradient, so its rows of those products are skipped.
pub(super) struct Live {
    units: Vec<usize>,
    /// `gy` restricted to `units`, `(batch, units.len())`.
    gy: Scratch<f32>,
}

impl Live {
    fn new(s: Sizes, gy: &[f32]) -> Self {
        let (nb, no) = (s.batch, s.outputs);
        let units: Vec<usize> = (0..no)
            .filter(|&o| (0..nb).any(|b| gy[b * no + o] != 0.0))
            .collect();
        let mut g = Scratch::<f32>::stale(nb * units.len());
        for (dst, src) in g
            .chunks_exact_mut(units.len().max(1))
            .zip(gy.chunks_exact(no.max(1)))
        {
            for (d, &o) in dst.iter_mut().zip(&units) {
                *d = src[o];
            }
        }
        Self { units, gy: g }
    }
}

/// [`forward`]'s backward pass but for the input: masks `gy` by ReLU (an empty `positive`
/// means no ReLU), adds the bias and weight gradients into `grads`, and returns the live
/// units for [`input_grad`].
pub(super) fn backward<O: Dim, I: Dim, E: Element>(
    s: Sizes,
    gy: &mut [f32],
    positive: &[bool],
    x: &[f32],
    grads: &mut Gradients<E, Cpu>,
    w: &Tensor<(O, I), E, Cpu>,
    bias: Option<&Tensor<(O,), E, Cpu>>,
) -> Result<Live, CpuError> {
    let (nb, ni, no) = (s.batch, s.inputs, s.outputs);
    if !positive.is_empty() {
        for (g, &p) in gy.iter_mut().zip(positive) {
            if !p {
                *g = 0.0;
            }
        }
    }
    if let Some(b) = bias {
        let gb = f32s_mut(grads.get_or_alloc_mut(b)?);
        for row in gy.chunks_exact(no.max(1)) {
            for (d, &v) in gb.iter_mut().zip(row) {
                *d += v;
            }
        }
    }
    let live = Live::new(s, gy);
    let nl = live.units.len();
    // dW (O x I) += gy^T (O x B) * x (B x I), over the live rows of dW.
    let gyt = Operand {
        data: &live.gy,
        rs: 1,
        cs: nl,
    };
    let gw = f32s_mut(grads.get_or_alloc_mut(w)?);
    let sel = Select {
        b_rows: None,
        c_rows: Some(&live.units),
    };
    gemm_select((nl, ni, nb), gyt, rows_of(x, ni), gw, ni, true, sel);
    Ok(live)
}

/// The input gradient `gx (B x I) [+]= gy (B x O) * W (O x I)`, over the live units.
pub(super) fn input_grad(s: Sizes, live: &Live, w: &[f32], gx: &mut [f32], accumulate: bool) {
    let nl = live.units.len();
    let gya = Operand {
        data: &live.gy,
        rs: nl,
        cs: 1,
    };
    let sel = Select {
        b_rows: Some(&live.units),
        c_rows: None,
    };
    gemm_select(
        (s.batch, s.inputs, nl),
        gya,
        rows_of(w, s.inputs),
        gx,
        s.inputs,
        accumulate,
        sel,
    );
}

/// A row-major matrix with rows of `n`.
fn rows_of(data: &[f32], n: usize) -> Operand<'_> {
    Operand { data, rs: n, cs: 1 }
}

/// `v` as mutable f32s; the callers run only where `E` is f32 ([`cpu_runs`]).
pub(super) fn f32s_mut<E: 'static>(v: &mut [E]) -> &mut [f32] {
    as_f32_mut(v).expect("the dense kernels run on f32 only")
}

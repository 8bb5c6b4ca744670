//! The f32 passes of the fast dense op: the forward product with bias and ReLU, and the
//! backward products over the units the gradient reaches.

use dfdx::prelude::*;

use super::Sizes;
use crate::element::{f32s, f32s_mut, Element};
use crate::ops::gemm::{gemm, gemm_select, Operand, Select};
use crate::ops::scratch::{data_of, Scratch};

/// `relu?(x W^T + bias)` (f32 data, `E` = f32) as a new output vector, and which outputs
/// were positive (when `keep_mask`, for ReLU's gradient).
pub(crate) fn forward<O: Dim, E: Element>(
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
    let b = bias.map(data_of);
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
pub(crate) struct Live {
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
pub(crate) fn backward<O: Dim, I: Dim, E: Element>(
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
pub(crate) fn input_grad(s: Sizes, live: &Live, w: &[f32], gx: &mut [f32], accumulate: bool) {
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

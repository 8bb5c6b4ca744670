//! Embedding lookup as a differentiable op: token ids `(B, L)` (exact integers carried in
//! the float element type) and a table `(V, M)` give `(B, M, L)`, each position's row of
//! the table laid out channels first. The backward pass scatter-adds the output gradient
//! into the table's rows. [`cpu`] runs typenet's loops (batch in parallel forward, table
//! columns in parallel backward); [`generic`] is built from dfdx's `gather` (the CUDA
//! path, and the reference).

mod generic;

use dfdx::prelude::*;
use rayon::prelude::*;

pub use self::generic::generic;
use super::scratch::data_of;
use super::tape::{put_grad, take_grad};
use crate::element::Element;

/// The table row of each token, or `None` when a value is not an integer in `0..vocab`
/// (never clamped: the data side rejects such ids with a message, see
/// `Dataset::from_tokens`).
pub(crate) fn token_ids<E: Element>(tokens: &[E], vocab: usize) -> Option<Vec<usize>> {
    tokens
        .iter()
        .map(|&t| {
            let ok = t >= E::zero() && t.fract() == E::zero();
            ok.then(|| t.to_usize()).flatten().filter(|&i| i < vocab)
        })
        .collect()
}

/// See [`crate::Backend::embedding`].
pub fn cpu<B: Dim, L: Dim, V: Dim, M: Dim, E: Element, T: Tape<E, Cpu>>(
    tokens: Tensor<(B, L), E, Cpu, T>,
    table: &Tensor<(V, M), E, Cpu>,
) -> Result<Tensor<(B, M, L), E, Cpu, T>, CpuError> {
    let (b, l) = *tokens.shape();
    let (v, m) = *table.shape();
    let (tokens, mut tape) = tokens.try_contiguous()?.split_tape();
    let ids = token_ids(&data_of(&tokens), v.size()).ok_or(CpuError::WrongNumElements)?;
    let (len, dim) = (l.size(), m.size());
    let rows = data_of(table);
    let mut out = vec![E::zero(); b.size() * dim * len];
    if !out.is_empty() {
        out.par_chunks_mut(dim * len)
            .zip(ids.par_chunks(len))
            .for_each(|(y, ids)| {
                for (j, &id) in ids.iter().enumerate() {
                    for (c, &w) in rows[id * dim..(id + 1) * dim].iter().enumerate() {
                        y[c * len + j] = w;
                    }
                }
            });
    }
    let y = tokens.device().try_tensor_from_vec(out, (b, m, l))?;
    if T::OWNS_TAPE {
        let (y_id, table) = (y.clone(), table.clone());
        let vocab = v.size();
        tape.add_backward_op(move |grads| {
            let gy = take_grad(grads, &y_id)?;
            scatter_add(
                &ids,
                &gy,
                (vocab, dim, len),
                grads.get_or_alloc_mut(&table)?,
            );
            put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

/// `gt[id][c] += gy[b][c][j]` for every position `(b, j)` holding `id`. Each thread owns
/// some columns `c` of the table (accumulated transposed, then added in), so no two
/// threads write the same row entry.
fn scatter_add<E: Element>(
    ids: &[usize],
    gy: &[E],
    (vocab, dim, len): (usize, usize, usize),
    gt: &mut [E],
) {
    if gy.is_empty() || dim == 0 {
        return;
    }
    let mut cols = vec![E::zero(); dim * vocab];
    cols.par_chunks_mut(vocab).enumerate().for_each(|(c, col)| {
        for (gyb, idb) in gy.chunks(dim * len).zip(ids.chunks(len)) {
            for (&g, &id) in gyb[c * len..(c + 1) * len].iter().zip(idb) {
                col[id] += g;
            }
        }
    });
    gt.par_chunks_mut(dim).enumerate().for_each(|(id, row)| {
        for (c, r) in row.iter_mut().enumerate() {
            *r += cols[c * vocab + id];
        }
    });
}

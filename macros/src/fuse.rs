//! Every fusion decision, in one pass over a planned layer list: which layers run inside
//! the op of a layer before them (a ReLU in its Conv2D or Dense, a max pooling in its
//! Conv2D, `Flatten, Dense` after a pooled Conv2D; at inference a `BatchNorm2D` folded
//! into the Conv2D before it), which layer receives the network's
//! input (and can skip that gradient in `fit`), and whether a final softmax is left out
//! of the logits. Layers keep their fields and summary rows either way.

use crate::plan::{Fused, FusedDense, Pass, Plan, Planned, Role};
use crate::shape::Shape;

pub struct Fusion {
    /// Per layer: what runs inside its op.
    pub fused: Vec<Fused>,
    /// Per layer: it runs inside the op of a layer before it, and emits nothing.
    pub absorbed: Vec<bool>,
    /// Per layer: its `activation = ...` runs inside its op, or is a final softmax left out.
    pub act_inside: Vec<bool>,
    /// The output of the last layer fused into each layer's op.
    pub last: Vec<usize>,
    /// The layer receiving the network's input, which `fit` lets skip its gradient.
    pub input_layer: Option<usize>,
}

/// Whether a layer is a bare one: no cast before it and no `activation = ...` after it.
fn plain(l: &Planned) -> bool {
    l.cast_in.is_none() && l.act.is_none()
}

fn is(l: Option<&Planned>, want: fn(&Role) -> bool) -> bool {
    l.is_some_and(|l| want(&l.layer.role()))
}

/// The fusions of `plan`, whose input is `input`, in `pass`; `logits` (the network's own
/// list, not a `Residual`'s) leaves a final softmax out.
pub fn fuse(plan: &Plan, input: &Shape, logits: bool, pass: Pass) -> Fusion {
    let n = plan.layers.len();
    let mut f = Fusion {
        fused: (0..n).map(|_| Fused::default()).collect(),
        absorbed: vec![false; n],
        act_inside: vec![false; n],
        last: (0..n).collect(),
        input_layer: input_layer(plan),
    };
    let layers = &plan.layers;
    let mut cur = input;
    for i in 0..n {
        let l = &layers[i];
        let into = l.cast_in.as_ref().unwrap_or(cur);
        cur = &l.output;
        if f.absorbed[i] {
            continue;
        }
        match l.layer.role() {
            Role::Conv => conv(&mut f, plan, i, pass == Pass::Infer),
            Role::Dense => {
                let next = layers.get(i + 1);
                if matches!(l.act_role(), Some(Role::Relu)) {
                    f.fused[i].relu = true;
                    f.act_inside[i] = true;
                } else if l.act.is_none()
                    && next.is_some_and(plain)
                    && is(next, |r| matches!(r, Role::Relu))
                {
                    f.fused[i].relu = true;
                    absorb(&mut f, i, i + 1);
                }
            }
            Role::Flatten => {
                let spatial = matches!(into, Shape::Sized(s) if s.len() > 1);
                let next = layers.get(i + 1);
                f.fused[i].into_dense = spatial
                    && l.act.is_none()
                    && next.is_some_and(|d| d.cast_in.is_none())
                    && is(next, |r| matches!(r, Role::Dense));
            }
            _ => {}
        }
    }
    if logits {
        if let Some(last) = n.checked_sub(1) {
            let l = &layers[last];
            if matches!(l.act_role(), Some(Role::Softmax)) {
                f.act_inside[last] = true;
            } else if l.act.is_none()
                && matches!(l.layer.role(), Role::Softmax)
                && !f.absorbed[last]
            {
                f.absorbed[last] = true;
            }
        }
    }
    f
}

/// `j` runs inside `i`'s op.
fn absorb(f: &mut Fusion, i: usize, j: usize) {
    f.absorbed[j] = true;
    f.last[i] = j;
}

/// A Conv2D's batch norm (`infer`: folded into its weights), its ReLU, then its max
/// pooling, then `Flatten, Dense` (with a ReLU; not after a folded batch norm).
fn conv(f: &mut Fusion, plan: &Plan, i: usize, infer: bool) {
    let layers = &plan.layers;
    let l = &layers[i];
    let mut end = i;
    let next = layers.get(i + 1);
    if infer
        && l.act.is_none()
        && next.is_some_and(plain)
        && is(next, |r| matches!(r, Role::BatchNorm2D))
    {
        f.fused[i].bn = next.map(|n| n.field.clone());
        absorb(f, i, i + 1);
        end = i + 1;
    }
    // The ReLU: `activation = relu`, or a ReLU layer right after.
    let next = layers.get(end + 1);
    let bn = f.fused[i].bn.is_some();
    if !bn && matches!(l.act_role(), Some(Role::Relu)) {
        f.fused[i].relu = true;
        f.act_inside[i] = true;
    } else if layers[end].act.is_none()
        && (!bn || next.is_some_and(plain))
        && is(next, |r| matches!(r, Role::Relu))
    {
        f.fused[i].relu = true;
        absorb(f, i, end + 1);
        end += 1;
    }
    if !f.fused[i].relu {
        return;
    }
    let Some(pool) = layers.get(end + 1).filter(|p| plain(p)) else {
        return;
    };
    let Role::MaxPool(pool) = pool.layer.role() else {
        return;
    };
    f.fused[i].max_pool = Some(pool);
    absorb(f, i, end + 1);
    if f.fused[i].bn.is_some() {
        return;
    }
    // `Flatten, Dense` after the pooling, the Dense with no activation but ReLU.
    let (fl, d) = (end + 2, end + 3);
    let (Some(flatten), Some(dense)) = (layers.get(fl), layers.get(d)) else {
        return;
    };
    let flat_ok = plain(flatten) && matches!(flatten.layer.role(), Role::Flatten);
    let dense_ok = dense.cast_in.is_none()
        && matches!(dense.layer.role(), Role::Dense)
        && matches!(dense.act_role(), None | Some(Role::Relu));
    if !(flat_ok && dense_ok) {
        return;
    }
    let relu_after = dense.act.is_none() && {
        let r = layers.get(d + 1);
        r.is_some_and(plain) && is(r, |r| matches!(r, Role::Relu))
    };
    f.fused[i].dense = Some(FusedDense {
        field: dense.field.clone(),
        relu: dense.act.is_some() || relu_after,
    });
    absorb(f, i, fl);
    absorb(f, i, d);
    if relu_after {
        absorb(f, i, d + 1);
    }
}

/// The layer that receives the network's input and can skip its gradient: a first
/// `Conv2D` or `Dense`, or a `Dense` right after a first `Flatten` that it absorbs.
fn input_layer(plan: &Plan) -> Option<usize> {
    let first = plan.layers.first()?;
    if first.cast_in.is_some() {
        return None;
    }
    match first.layer.role() {
        Role::Conv | Role::Dense => Some(0),
        Role::Flatten if first.act.is_none() => {
            let next = plan.layers.get(1)?;
            (next.cast_in.is_none() && matches!(next.layer.role(), Role::Dense)).then_some(1)
        }
        _ => None,
    }
}

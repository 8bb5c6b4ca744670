//! Fast CPU kernels: im2col convolution (gemm, or vectorised loops when a kernel has few
//! taps) with fused bias, ReLU and max pooling, and pooling that records its argmax for the
//! backward pass. Work is split across cores by image; weight gradients are summed over
//! fixed chunks of images in a fixed order, so results do not depend on the scheduling.

use dfdx::prelude::*;
use gemm::Parallelism;
use rayon::prelude::*;

pub(crate) mod direct;

use self::direct::f32s;
use super::generic::{conv_geom, pool_geom};
use super::scratch::Scratch;
use super::{Conv2DParams, ConvGeom, Pool2DKind, Pool2DParams, PoolGeom};
use crate::backend::{Element, Tensor4};

/// See [`crate::Backend::conv2d`]. With `p.max_pool`, each image's convolution output
/// lives only in a per-thread scratch buffer: it is pooled straight away, and the backward
/// pass routes the gradient through the recorded argmax.
///
/// f32 convolutions with stride 1 and no dilation followed by `MaxPool2D(2)` run the
/// direct AVX-512 kernels (`ops/direct.rs`) where the CPU has them.
pub fn conv2d<B: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
    p: Conv2DParams,
) -> Result<Tensor4<B, E, Cpu, T>, CpuError> {
    conv2d_impl(x, w, bias, p, true)
}

/// [`conv2d`] without the direct kernels (always im2col), for tests that compare the two.
#[doc(hidden)]
pub fn conv2d_im2col<B: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
    p: Conv2DParams,
) -> Result<Tensor4<B, E, Cpu, T>, CpuError> {
    conv2d_impl(x, w, bias, p, false)
}

fn conv2d_impl<B: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
    p: Conv2DParams,
    allow_direct: bool,
) -> Result<Tensor4<B, E, Cpu, T>, CpuError> {
    crate::alloc::tune_allocator();
    let g = conv_geom(x.shape(), w.shape(), p).ok_or(CpuError::WrongNumElements)?;
    let pool = match p.max_pool {
        Some(pp) => Some(
            pool_geom(&(g.batch, g.c_out, g.h_out, g.w_out), pp)
                .ok_or(CpuError::WrongNumElements)?,
        ),
        None => None,
    };
    let (x, w, bias, mut tape) = untape(x, w, bias)?;
    let xd = read(&x);
    let wd = read(&w);
    let bd = bias.as_ref().map(read);

    let (h_out, w_out) = pool.map_or((g.h_out, g.w_out), |pg| (pg.h_out, pg.w_out));
    let plain = pool.is_none() && allow_direct && direct::applies::<E>(&g, None);
    // The unpooled direct kernels allocate their output (written once, not zeroed first).
    let n_out = g.batch * g.c_out * h_out * w_out;
    let mut out = vec![E::zero(); if plain { 0 } else { n_out }];
    // The argmax is only kept when a backward pass will need it.
    let keep_arg = pool.is_some() && T::OWNS_TAPE;
    let arg = match pool.as_ref() {
        Some(pg) if allow_direct && direct::applies::<E>(&g, pool.as_ref()) => {
            let mut arg = Scratch::<u8>::stale(if keep_arg { out.len() } else { 0 });
            direct::forward(
                &g,
                pg,
                f32s(&xd),
                f32s(&wd),
                bd.as_deref().map(f32s::<E>),
                p.relu,
                direct::as_f32_mut(&mut out).expect("applies checked f32"),
                &mut arg,
            );
            Argmax::Phase(arg)
        }
        None if plain => {
            let mut pos = Scratch::<u8>::stale(if T::OWNS_TAPE && p.relu { n_out } else { 0 });
            out = direct::from_f32(direct::forward_plain(
                &g,
                f32s(&xd),
                f32s(&wd),
                bd.as_deref().map(f32s::<E>),
                p.relu,
                &mut pos,
            ))
            .expect("applies checked f32");
            Argmax::Positive(pos)
        }
        _ => {
            let mut arg = vec![0u32; if keep_arg { out.len() } else { 0 }];
            conv_forward(
                &g,
                pool.as_ref(),
                &xd,
                &wd,
                bd.as_deref(),
                p.relu,
                &mut out,
                &mut arg,
            );
            Argmax::Plane(arg)
        }
    };
    // Without pooling, ReLU's gradient only needs to know which outputs were positive.
    // (In chunks: rayon's per-element iterators cost more than the comparisons.)
    let mut mask: Vec<bool> = Vec::new();
    if T::OWNS_TAPE && p.relu && matches!(arg, Argmax::Plane(_)) && pool.is_none() {
        mask = vec![false; out.len()];
        mask.par_chunks_mut(CHUNK)
            .zip(out.par_chunks(CHUNK))
            .for_each(|(m, o)| {
                for (m, &v) in m.iter_mut().zip(o) {
                    *m = v > E::zero();
                }
            });
    }
    let y = x
        .device()
        .try_tensor_from_vec(out, (x.shape().0, g.c_out, h_out, w_out))?;
    if T::OWNS_TAPE {
        let y_id = y.clone();
        tape.add_backward_op(move |grads| {
            let mut gy = take_grad(grads, &y_id)?;
            if !mask.is_empty() {
                gy.par_chunks_mut(CHUNK)
                    .zip(mask.par_chunks(CHUNK))
                    .for_each(|(g, m)| {
                        for (g, &m) in g.iter_mut().zip(m) {
                            if !m {
                                *g = E::zero();
                            }
                        }
                    });
            }
            let saved = Saved {
                x: &xd,
                w: &wd,
                arg: &arg,
                pool: pool.as_ref(),
            };
            let (gw, gb) = match (&arg, pool.as_ref()) {
                // The first layer's fast case: no input gradient, direct kernels.
                (Argmax::Phase(a), Some(pg)) if !p.input_grad => {
                    let (gw, gb) = direct::backward(&g, pg, f32s(&xd), a, f32s(&gy));
                    let back = |v| direct::from_f32::<E>(v).expect("direct path is f32");
                    (back(gw), back(gb))
                }
                // Unpooled direct path: `gy` is masked by the kernels.
                (Argmax::Positive(pos), None) => {
                    let gx = match p.input_grad {
                        true => Some(grads.get_or_alloc_mut(&x)?),
                        false => None,
                    };
                    let gx = gx.map(|v| direct::as_f32_mut(v).expect("direct path is f32"));
                    let (gw, gb) =
                        direct::backward_plain(&g, f32s(&xd), f32s(&wd), pos, f32s(&gy), gx);
                    let back = |v| direct::from_f32::<E>(v).expect("direct path is f32");
                    (back(gw), back(gb))
                }
                _ if p.input_grad => {
                    conv_backward(&g, &saved, &gy, Some(grads.get_or_alloc_mut(&x)?))
                }
                _ => conv_backward(&g, &saved, &gy, None),
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

/// See [`crate::Backend::pool2d`].
pub fn pool2d<B: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    kind: Pool2DKind,
    p: Pool2DParams,
) -> Result<Tensor4<B, E, Cpu, T>, CpuError> {
    crate::alloc::tune_allocator();
    let g = pool_geom(x.shape(), p).ok_or(CpuError::WrongNumElements)?;
    let (x, mut tape) = x.try_contiguous()?.split_tape();
    let xd = read(&x);
    let plane_out = g.h_out * g.w_out;
    let mut out = vec![E::zero(); g.planes * plane_out];
    let mut arg = match kind {
        Pool2DKind::Max => vec![0u32; g.planes * plane_out],
        Pool2DKind::Avg => Vec::new(),
    };
    pool_forward(&g, kind, &xd, &mut out, &mut arg);
    drop(xd);
    let (b, c, _, _) = *x.shape();
    let y = x
        .device()
        .try_tensor_from_vec(out, (b, c, g.h_out, g.w_out))?;
    if T::OWNS_TAPE {
        let y_id = y.clone();
        tape.add_backward_op(move |grads| {
            let gy = take_grad(grads, &y_id)?;
            pool_backward(&g, kind, &arg, &gy, grads.get_or_alloc_mut(&x)?);
            put_grad(grads, &y_id, gy)
        });
    }
    Ok(y.put_tape(tape))
}

/// A convolution's operands, contiguous and without their tapes, and the merged tape.
#[allow(clippy::type_complexity)]
pub(super) fn untape<B: Dim, E: Element, T: Tape<E, Cpu>>(
    x: Tensor4<B, E, Cpu, T>,
    w: Tensor4<usize, E, Cpu, T>,
    bias: Option<Tensor<(usize,), E, Cpu, T>>,
) -> Result<
    (
        Tensor4<B, E, Cpu, NoneTape>,
        Tensor4<usize, E, Cpu, NoneTape>,
        Option<Tensor<(usize,), E, Cpu>>,
        T,
    ),
    CpuError,
> {
    let (x, x_tape) = x.try_contiguous()?.split_tape();
    let (w, w_tape) = w.try_contiguous()?.split_tape();
    let mut tape = x_tape.merge(w_tape);
    let bias = match bias {
        Some(b) => {
            let (b, b_tape) = b.split_tape();
            tape = tape.merge(b_tape);
            Some(b)
        }
        None => None,
    };
    Ok((x, w, bias, tape))
}

/// A contiguous tensor's elements.
pub(super) fn read<S: Shape, E: Element>(t: &Tensor<S, E, Cpu>) -> Vec<E> {
    let mut v = vec![E::zero(); t.shape().num_elements()];
    t.copy_into(&mut v);
    v
}

/// Moves the gradient of `t` out of `grads` (no copy); give it back with [`put_grad`].
pub(super) fn take_grad<S: Shape, E: Element>(
    grads: &mut Gradients<E, Cpu>,
    t: &Tensor<S, E, Cpu>,
) -> Result<Vec<E>, CpuError> {
    Ok(std::mem::take(&mut **grads.get_or_alloc_mut(t)?))
}

pub(super) fn put_grad<S: Shape, E: Element>(
    grads: &mut Gradients<E, Cpu>,
    t: &Tensor<S, E, Cpu>,
    v: Vec<E>,
) -> Result<(), CpuError> {
    **grads.get_or_alloc_mut(t)? = v;
    Ok(())
}

pub(super) fn add_into<E: Element>(dst: &mut [E], src: &[E]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

/// Elements per rayon task in elementwise passes.
const CHUNK: usize = 1 << 16;

/// Up to this many taps per output (`C*K*K`), convolutions use [`small`]'s loops instead of
/// gemm: for thin products (MNIST's first layer has 9 taps) gemm's packing dominates.
const SMALL_K: usize = 32;

/// Loops for thin matrix products, compiled twice: for the baseline target and with AVX2
/// (chosen at run time), so that LLVM vectorises them 8 floats wide where the CPU can.
mod small {
    use crate::backend::Element;

    /// Whether this CPU runs the AVX2 + FMA versions.
    #[inline]
    fn fast() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// `y (m x n) += a (m x k) * b (k x n)`, all row-major; `k` small.
    pub fn matmul_acc<E: Element>(mnk: (usize, usize, usize), y: &mut [E], a: &[E], b: &[E]) {
        #[cfg(target_arch = "x86_64")]
        if fast() {
            // SAFETY: the CPU has AVX2 and FMA (checked by `fast`).
            return unsafe { matmul_acc_fma(mnk, y, a, b) };
        }
        matmul_acc_impl::<E, false>(mnk, y, a, b)
    }

    /// `y (m x k) += a (m x n) * b^T`, with `b` (k x n) row-major: dot products of rows.
    pub fn matmul_bt_acc<E: Element>(mkn: (usize, usize, usize), y: &mut [E], a: &[E], b: &[E]) {
        #[cfg(target_arch = "x86_64")]
        if fast() {
            // SAFETY: the CPU has AVX2 and FMA (checked by `fast`).
            return unsafe { matmul_bt_acc_fma(mkn, y, a, b) };
        }
        matmul_bt_acc_impl::<E, false>(mkn, y, a, b)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn matmul_acc_fma<E: Element>(
        mnk: (usize, usize, usize),
        y: &mut [E],
        a: &[E],
        b: &[E],
    ) {
        matmul_acc_impl::<E, true>(mnk, y, a, b)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn matmul_bt_acc_fma<E: Element>(
        mkn: (usize, usize, usize),
        y: &mut [E],
        a: &[E],
        b: &[E],
    ) {
        matmul_bt_acc_impl::<E, true>(mkn, y, a, b)
    }

    /// `acc + x * y`, fused where the CPU has FMA (elsewhere `mul_add` is a slow libm call).
    #[inline(always)]
    fn madd<E: Element, const FMA: bool>(acc: E, x: E, y: E) -> E {
        if FMA {
            x.mul_add(y, acc)
        } else {
            acc + x * y
        }
    }

    #[inline(always)]
    fn matmul_acc_impl<E: Element, const FMA: bool>(
        (m, n, k): (usize, usize, usize),
        y: &mut [E],
        a: &[E],
        b: &[E],
    ) {
        for (yr, ar) in y.chunks_exact_mut(n).zip(a.chunks_exact(k)).take(m) {
            for (&s, br) in ar.iter().zip(b.chunks_exact(n)) {
                for (yv, &bv) in yr.iter_mut().zip(br) {
                    *yv = madd::<E, FMA>(*yv, s, bv);
                }
            }
        }
    }

    /// The sum of `x`, in independent lanes (vectorisable, unlike one running sum).
    pub fn sum<E: Element>(x: &[E]) -> E {
        const LANES: usize = 8;
        let mut acc = [E::zero(); LANES];
        let chunks = x.chunks_exact(LANES);
        let tail = chunks.remainder().iter().fold(E::zero(), |s, &v| s + v);
        for c in chunks {
            for l in 0..LANES {
                acc[l] += c[l];
            }
        }
        acc.iter().fold(tail, |s, &v| s + v)
    }

    #[inline(always)]
    fn matmul_bt_acc_impl<E: Element, const FMA: bool>(
        (m, k, n): (usize, usize, usize),
        y: &mut [E],
        a: &[E],
        b: &[E],
    ) {
        const LANES: usize = 16;
        for (yr, ar) in y.chunks_exact_mut(k).zip(a.chunks_exact(n)).take(m) {
            for (yv, br) in yr.iter_mut().zip(b.chunks_exact(n)) {
                // Independent lanes: a float sum in one accumulator cannot be vectorised.
                let mut acc = [E::zero(); LANES];
                let (ac, br_c) = (ar.chunks_exact(LANES), br.chunks_exact(LANES));
                let (at, bt) = (ac.remainder(), br_c.remainder());
                for (x, z) in ac.zip(br_c) {
                    for l in 0..LANES {
                        acc[l] = madd::<E, FMA>(acc[l], x[l], z[l]);
                    }
                }
                let mut sum = acc.iter().fold(E::zero(), |s, &v| s + v);
                for (&x, &z) in at.iter().zip(bt) {
                    sum += x * z;
                }
                *yv += sum;
            }
        }
    }

    /// The versions for CPUs without AVX2 and FMA, callable directly by the tests.
    #[cfg(test)]
    pub mod portable {
        use crate::backend::Element;

        pub fn matmul_acc<E: Element>(mnk: (usize, usize, usize), y: &mut [E], a: &[E], b: &[E]) {
            super::matmul_acc_impl::<E, false>(mnk, y, a, b)
        }

        pub fn matmul_bt_acc<E: Element>(
            mkn: (usize, usize, usize),
            y: &mut [E],
            a: &[E],
            b: &[E],
        ) {
            super::matmul_bt_acc_impl::<E, false>(mkn, y, a, b)
        }
    }
}

/// `dst (m x n) = [dst +] lhs (m x k) * rhs (k x n)`, each given as (pointer, row stride,
/// column stride). Single-threaded: callers parallelise over images.
#[allow(clippy::too_many_arguments)]
fn matmul<E: Element>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [E],
    accumulate: bool,
    lhs: &[E],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[E],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    debug_assert!(dst.len() >= m * n);
    debug_assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    debug_assert!(k == 0 || n == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the asserts above bound every index gemm touches within the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            E::one(),
            E::one(),
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

/// Fills `cols` `(C*K*K, Ho*Wo)` with the input taps of one image `x` `(C, H, W)`.
fn im2col<E: Element>(g: &ConvGeom, x: &[E], cols: &mut [E]) {
    let hw_out = g.h_out * g.w_out;
    let mut row = 0;
    for c in 0..g.c_in {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.k {
            for kj in 0..g.k {
                let dst = &mut cols[row * hw_out..(row + 1) * hw_out];
                for oi in 0..g.h_out {
                    let d = &mut dst[oi * g.w_out..(oi + 1) * g.w_out];
                    let r = (oi * g.stride + ki * g.dil).wrapping_sub(g.pad);
                    if r >= g.h {
                        d.fill(E::zero());
                        continue;
                    }
                    let src = &plane[r * g.w..(r + 1) * g.w];
                    if g.stride == 1 {
                        // Output column oj reads input column oj + off: one contiguous run.
                        let off = (kj * g.dil) as isize - g.pad as isize;
                        let lo = (-off).clamp(0, g.w_out as isize) as usize;
                        let hi = (g.w as isize - off).clamp(lo as isize, g.w_out as isize) as usize;
                        d[..lo].fill(E::zero());
                        d[hi..].fill(E::zero());
                        if hi > lo {
                            let s0 = (lo as isize + off) as usize;
                            d[lo..hi].copy_from_slice(&src[s0..s0 + (hi - lo)]);
                        }
                        continue;
                    }
                    for (oj, v) in d.iter_mut().enumerate() {
                        let col = (oj * g.stride + kj * g.dil).wrapping_sub(g.pad);
                        *v = if col < g.w { src[col] } else { E::zero() };
                    }
                }
                row += 1;
            }
        }
    }
}

/// Adds `cols` `(C*K*K, Ho*Wo)` back onto the taps of one image gradient `gx` `(C, H, W)`.
fn col2im<E: Element>(g: &ConvGeom, cols: &[E], gx: &mut [E]) {
    let hw_out = g.h_out * g.w_out;
    let mut row = 0;
    for c in 0..g.c_in {
        let plane = &mut gx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.k {
            for kj in 0..g.k {
                let src = &cols[row * hw_out..(row + 1) * hw_out];
                for oi in 0..g.h_out {
                    let r = (oi * g.stride + ki * g.dil).wrapping_sub(g.pad);
                    if r >= g.h {
                        continue;
                    }
                    let dst = &mut plane[r * g.w..(r + 1) * g.w];
                    for (oj, &v) in src[oi * g.w_out..(oi + 1) * g.w_out].iter().enumerate() {
                        let col = (oj * g.stride + kj * g.dil).wrapping_sub(g.pad);
                        if col < g.w {
                            dst[col] += v;
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// What the forward pass keeps for the backward pass.
pub(super) struct Saved<'a, E> {
    pub x: &'a [E],
    pub w: &'a [E],
    pub arg: &'a Argmax,
    pub pool: Option<&'a PoolGeom>,
}

/// The argmax of each pooled output, kept for the backward pass (empty without one).
pub(super) enum Argmax {
    /// Index in the conv output plane, or `NONE` (im2col path).
    Plane(Vec<u32>),
    /// Phase `di * 2 + dj` in the 2x2 window, or [`direct::NONE`] (direct path).
    Phase(Scratch<u8>),
    /// No pooling, direct path: 1 where the output is positive, else 0 (empty without
    /// ReLU).
    Positive(Scratch<u8>),
}

/// Images per partial weight gradient (see [`conv_backward`]).
pub(super) const IMAGES_PER_PARTIAL: usize = 8;

/// An argmax that gets no gradient: ReLU zeroed the window's maximum.
const NONE: u32 = u32::MAX;

#[allow(clippy::too_many_arguments)]
fn conv_forward<E: Element>(
    g: &ConvGeom,
    pool: Option<&PoolGeom>,
    x: &[E],
    w: &[E],
    bias: Option<&[E]>,
    relu: bool,
    out: &mut [E],
    arg: &mut [u32],
) {
    let (chw, ckk, hw_out) = (g.c_in * g.h * g.w, g.c_in * g.k * g.k, g.h_out * g.w_out);
    let out_len = out.len() / g.batch.max(1);
    if out.is_empty() || chw == 0 {
        return;
    }
    // Without a kept argmax (inference), pooling writes it to a per-thread scratch.
    let keep_arg = !arg.is_empty();
    let scratch = || {
        let (y, a) = match pool {
            Some(_) => (
                vec![E::zero(); g.c_out * hw_out],
                vec![0u32; if keep_arg { 0 } else { out_len }],
            ),
            None => (Vec::new(), Vec::new()),
        };
        (vec![E::zero(); ckk * hw_out], y, a)
    };
    let args: Vec<Option<&mut [u32]>> = if keep_arg {
        arg.chunks_mut(out_len).map(Some).collect()
    } else {
        (0..g.batch).map(|_| None).collect()
    };
    out.par_chunks_mut(out_len)
        .zip(x.par_chunks(chw))
        .zip(args)
        .for_each_init(
            scratch,
            |(cols, y_scratch, a_scratch), ((out_b, xb), arg_b)| {
                let arg_b: &mut [u32] = match arg_b {
                    Some(a) => a,
                    None => a_scratch,
                };
                im2col(g, xb, cols);
                let (y, pooled): (&mut [E], Option<&mut [E]>) = match pool {
                    Some(_) => (y_scratch, Some(out_b)),
                    None => (out_b, None),
                };
                if let Some(b) = bias {
                    for (o, yo) in y.chunks_mut(hw_out).enumerate() {
                        yo.fill(b[o]);
                    }
                }
                if ckk <= SMALL_K {
                    if bias.is_none() {
                        y.fill(E::zero());
                    }
                    small::matmul_acc((g.c_out, hw_out, ckk), y, w, cols);
                } else {
                    matmul(
                        (g.c_out, hw_out, ckk),
                        y,
                        bias.is_some(),
                        w,
                        (ckk, 1),
                        cols,
                        (hw_out, 1),
                    );
                }
                match (pool, pooled) {
                    (Some(pg), Some(out_b)) => {
                        let plane_out = pg.h_out * pg.w_out;
                        for ((yp, op), ap) in y
                            .chunks(hw_out)
                            .zip(out_b.chunks_mut(plane_out))
                            .zip(arg_b.chunks_mut(plane_out))
                        {
                            max_pool_plane(pg, yp, op, ap);
                            if relu {
                                for (v, a) in op.iter_mut().zip(ap.iter_mut()) {
                                    if *v <= E::zero() {
                                        *v = E::zero();
                                        *a = NONE;
                                    }
                                }
                            }
                        }
                    }
                    (None, _) if relu => {
                        for v in y.iter_mut() {
                            if *v < E::zero() {
                                *v = E::zero();
                            }
                        }
                    }
                    _ => {}
                }
            },
        );
}

/// Adds the input gradient into `gx` (when given) and returns the weight and bias
/// gradients. `gy` is the gradient of the (pooled) output, already ReLU-masked when
/// there is no pooling.
pub(super) fn conv_backward<E: Element>(
    g: &ConvGeom,
    s: &Saved<'_, E>,
    gy: &[E],
    gx: Option<&mut [E]>,
) -> (Vec<E>, Vec<E>) {
    let (chw, ckk, hw_out) = (g.c_in * g.h * g.w, g.c_in * g.k * g.k, g.h_out * g.w_out);
    let gy_len = gy.len() / g.batch.max(1);
    let zero = || (vec![E::zero(); g.c_out * ckk], vec![E::zero(); g.c_out]);
    if gy.is_empty() || chw == 0 {
        return zero();
    }
    let gx_parts: Vec<Option<&mut [E]>> = match gx {
        Some(gx) => gx.chunks_mut(chw).map(Some).collect(),
        None => (0..g.batch).map(|_| None).collect(),
    };
    let scratch = || {
        let gyc = if s.pool.is_some() {
            vec![E::zero(); g.c_out * hw_out]
        } else {
            Vec::new()
        };
        (
            zero(),
            vec![E::zero(); ckk * hw_out],
            vec![E::zero(); ckk * hw_out],
            gyc,
        )
    };
    // w^T (CKK, O), contiguous, for the thin-product loops of the input gradient.
    let mut w_t = vec![E::zero(); if ckk <= SMALL_K { ckk * g.c_out } else { 0 }];
    if !w_t.is_empty() {
        for o in 0..g.c_out {
            for q in 0..ckk {
                w_t[q * g.c_out + o] = s.w[o * ckk + q];
            }
        }
    }
    #[allow(clippy::too_many_arguments)]
    let per_image = |b: usize,
                     gxb: Option<&mut [E]>,
                     xb: &[E],
                     gyb: &[E],
                     acc: &mut (Vec<E>, Vec<E>),
                     cols: &mut Vec<E>,
                     gcols: &mut Vec<E>,
                     gyc: &mut Vec<E>| {
        // The gradient of this image's convolution output.
        let gyc_b: &[E] = match s.pool {
            Some(pg) => {
                gyc.fill(E::zero());
                let plane_out = pg.h_out * pg.w_out;
                let bounds = b * gy_len..(b + 1) * gy_len;
                for (o, gp) in gyb.chunks(plane_out).enumerate() {
                    let plane = &mut gyc[o * hw_out..(o + 1) * hw_out];
                    let ap = o * plane_out..(o + 1) * plane_out;
                    match s.arg {
                        Argmax::Plane(arg) => {
                            for (&v, &a) in gp.iter().zip(&arg[bounds.clone()][ap]) {
                                if let Some(d) = plane.get_mut(a as usize) {
                                    *d += v;
                                }
                            }
                        }
                        Argmax::Phase(arg) => {
                            let ap = &arg[bounds.clone()][ap];
                            for (i, (&v, &a)) in gp.iter().zip(ap).enumerate() {
                                if a != direct::NONE {
                                    let (pi, pj) = (i / pg.w_out, i % pg.w_out);
                                    let r = 2 * pi + (a / 2) as usize;
                                    plane[r * g.w_out + 2 * pj + (a % 2) as usize] += v;
                                }
                            }
                        }
                        Argmax::Positive(_) => unreachable!("only unpooled outputs"),
                    }
                }
                gyc
            }
            None => gyb,
        };
        let (gw, gb) = acc;
        for (o, row) in gyc_b.chunks(hw_out).enumerate() {
            gb[o] += small::sum(row);
        }
        im2col(g, xb, cols);
        // gw (O, CKK) += gy (O, HoWo) * cols^T (HoWo, CKK)
        if ckk <= SMALL_K {
            small::matmul_bt_acc((g.c_out, ckk, hw_out), gw, gyc_b, cols);
        } else {
            matmul(
                (g.c_out, ckk, hw_out),
                gw,
                true,
                gyc_b,
                (hw_out, 1),
                cols,
                (1, hw_out),
            );
        }
        if let Some(gxb) = gxb {
            // gcols (CKK, HoWo) = w^T (CKK, O) * gy (O, HoWo)
            if ckk <= SMALL_K {
                gcols.fill(E::zero());
                small::matmul_acc((ckk, hw_out, g.c_out), gcols, &w_t, gyc_b);
            } else {
                matmul(
                    (ckk, hw_out, g.c_out),
                    gcols,
                    false,
                    s.w,
                    (1, ckk),
                    gyc_b,
                    (hw_out, 1),
                );
            }
            col2im(g, gcols, gxb);
        }
    };
    // Partial weight gradients over fixed chunks of images, summed in chunk order: the
    // result does not depend on how rayon schedules the chunks (training is reproducible).
    let mut items: Vec<(usize, Option<&mut [E]>)> = gx_parts.into_iter().enumerate().collect();
    let partials: Vec<(Vec<E>, Vec<E>)> = items
        .par_chunks_mut(IMAGES_PER_PARTIAL)
        .map(|chunk| {
            let (mut acc, mut cols, mut gcols, mut gyc) = scratch();
            for (b, gxb) in chunk.iter_mut() {
                let (b, gxb) = (*b, gxb.take());
                let xb = &s.x[b * chw..(b + 1) * chw];
                let gyb = &gy[b * gy_len..(b + 1) * gy_len];
                per_image(b, gxb, xb, gyb, &mut acc, &mut cols, &mut gcols, &mut gyc);
            }
            acc
        })
        .collect();
    partials
        .into_iter()
        .fold(zero(), |(mut gw, mut gb), (gw2, gb2)| {
            add_into(&mut gw, &gw2);
            add_into(&mut gb, &gb2);
            (gw, gb)
        })
}

/// `MaxPool2D(2)`: the common case, written so that LLVM vectorises it (selects, no
/// branches); see [`max_pool_plane`].
fn max_pool_2x2<E: Element>(g: &PoolGeom, x: &[E], y: &mut [E], arg: &mut [u32]) {
    #[inline(always)]
    fn gt<E: Element>(a: E, b: E) -> bool {
        (a > b) | (a.is_nan() & !b.is_nan())
    }
    for oi in 0..g.h_out {
        let (ra, rb) = (
            &x[2 * oi * g.w..(2 * oi + 1) * g.w],
            &x[(2 * oi + 1) * g.w..(2 * oi + 2) * g.w],
        );
        let y_row = &mut y[oi * g.w_out..(oi + 1) * g.w_out];
        let a_row = &mut arg[oi * g.w_out..(oi + 1) * g.w_out];
        let base = (2 * oi * g.w) as u32;
        let w = g.w as u32;
        for ((((yv, at), a), b), oj) in y_row
            .iter_mut()
            .zip(a_row.iter_mut())
            .zip(ra.chunks_exact(2))
            .zip(rb.chunks_exact(2))
            .zip(0u32..)
        {
            let ta = gt(a[1], a[0]);
            let ma = if ta { a[1] } else { a[0] };
            let tb = gt(b[1], b[0]);
            let mb = if tb { b[1] } else { b[0] };
            let t = gt(mb, ma);
            *yv = if t { mb } else { ma };
            let col = if t { w + tb as u32 } else { ta as u32 };
            *at = base + 2 * oj + col;
        }
    }
}

/// Max pooling of one plane, recording the argmax (index in the plane) of each output.
///
/// Speed: a scalar compare-and-select on loaded floats compiles to a branch that
/// mispredicts about half the time on real data. Instead, each tap's values for a whole
/// output row are gathered as integer order keys into a contiguous buffer, and the
/// running maximum is updated by a loop over the row that LLVM vectorises (vector selects
/// never become branches). A (positive) NaN wins, as in PyTorch.
fn max_pool_plane<E: Element>(g: &PoolGeom, x: &[E], y: &mut [E], arg: &mut [u32]) {
    if g.k == 2 && g.stride == 2 && g.pad == 0 {
        return max_pool_2x2(g, x, y, arg);
    }
    let mut keys = vec![i64::MIN; g.w_out];
    let mut tap = vec![i64::MIN; g.w_out];
    for oi in 0..g.h_out {
        let a_row = &mut arg[oi * g.w_out..(oi + 1) * g.w_out];
        a_row.fill(NONE);
        keys.fill(i64::MIN);
        for ki in 0..g.k {
            let r = (oi * g.stride + ki).wrapping_sub(g.pad);
            if r >= g.h {
                continue;
            }
            let row = &x[r * g.w..(r + 1) * g.w];
            for kj in 0..g.k {
                for (oj, t) in tap.iter_mut().enumerate() {
                    let c = (oj * g.stride + kj).wrapping_sub(g.pad);
                    *t = row.get(c).map_or(i64::MIN, |v| v.order_key());
                }
                // Index in the plane of output oj's tap: base + oj * stride.
                let base = (r * g.w + kj).wrapping_sub(g.pad) as u32;
                let step = g.stride as u32;
                for (((key, at), &t), oj) in
                    keys.iter_mut().zip(a_row.iter_mut()).zip(&tap).zip(0u32..)
                {
                    let better = t > *key;
                    *key = if better { t } else { *key };
                    *at = if better {
                        base.wrapping_add(oj * step)
                    } else {
                        *at
                    };
                }
            }
        }
        for (yv, &at) in y[oi * g.w_out..(oi + 1) * g.w_out]
            .iter_mut()
            .zip(a_row.iter())
        {
            *yv = x.get(at as usize).copied().unwrap_or(E::neg_infinity());
        }
    }
}

fn pool_forward<E: Element>(
    g: &PoolGeom,
    kind: Pool2DKind,
    x: &[E],
    out: &mut [E],
    arg: &mut [u32],
) {
    let (hw, hw_out) = (g.h * g.w, g.h_out * g.w_out);
    if out.is_empty() {
        return;
    }
    let scale = E::one() / E::from(g.k * g.k).unwrap_or(E::one());
    match kind {
        Pool2DKind::Max => out
            .par_chunks_mut(hw_out)
            .zip(arg.par_chunks_mut(hw_out))
            .zip(x.par_chunks(hw))
            .for_each(|((y, a), xp)| max_pool_plane(g, xp, y, a)),
        Pool2DKind::Avg => out
            .par_chunks_mut(hw_out)
            .zip(x.par_chunks(hw))
            .for_each(|(y, xp)| {
                for oi in 0..g.h_out {
                    for oj in 0..g.w_out {
                        let mut s = E::zero();
                        for ki in 0..g.k {
                            for kj in 0..g.k {
                                if let Some((r, c)) = g.src(oi, oj, ki, kj) {
                                    s += xp[r * g.w + c];
                                }
                            }
                        }
                        y[oi * g.w_out + oj] = s * scale;
                    }
                }
            }),
    }
}

fn pool_backward<E: Element>(g: &PoolGeom, kind: Pool2DKind, arg: &[u32], gy: &[E], gx: &mut [E]) {
    let (hw, hw_out) = (g.h * g.w, g.h_out * g.w_out);
    if gy.is_empty() {
        return;
    }
    let scale = E::one() / E::from(g.k * g.k).unwrap_or(E::one());
    match kind {
        Pool2DKind::Max => gx
            .par_chunks_mut(hw)
            .zip(gy.par_chunks(hw_out))
            .zip(arg.par_chunks(hw_out))
            .for_each(|((gxp, gyp), a)| {
                for (&v, &i) in gyp.iter().zip(a) {
                    if let Some(d) = gxp.get_mut(i as usize) {
                        *d += v;
                    }
                }
            }),
        Pool2DKind::Avg => {
            gx.par_chunks_mut(hw)
                .zip(gy.par_chunks(hw_out))
                .for_each(|(gxp, gyp)| {
                    for oi in 0..g.h_out {
                        for oj in 0..g.w_out {
                            let v = gyp[oi * g.w_out + oj] * scale;
                            for ki in 0..g.k {
                                for kj in 0..g.k {
                                    if let Some((r, c)) = g.src(oi, oj, ki, kj) {
                                        gxp[r * g.w + c] += v;
                                    }
                                }
                            }
                        }
                    }
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::small;

    /// The portable loops (used on CPUs without AVX2/FMA) agree with naive ones; the tests
    /// elsewhere run whichever version this CPU picks.
    #[test]
    fn portable_thin_products_match_naive_loops() {
        let (m, n, k) = (3, 37, 5);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let mut y = vec![0.5; m * n];
        small::portable::matmul_acc((m, n, k), &mut y, &a, &b);
        for i in 0..m {
            for j in 0..n {
                let want = 0.5 + (0..k).map(|q| a[i * k + q] * b[q * n + j]).sum::<f64>();
                assert!((y[i * n + j] - want).abs() < 1e-12);
            }
        }
        // y2 (m x k) += a2 (m x n) * b^T with b (k x n).
        let a2: Vec<f64> = (0..m * n).map(|i| (i as f64 * 0.7).sin()).collect();
        let mut y2 = vec![0.0; m * k];
        small::portable::matmul_bt_acc((m, k, n), &mut y2, &a2, &b);
        for i in 0..m {
            for q in 0..k {
                let want: f64 = (0..n).map(|j| a2[i * n + j] * b[q * n + j]).sum();
                assert!((y2[i * k + q] - want).abs() < 1e-12);
            }
        }
        assert!((small::sum(&a2) - a2.iter().sum::<f64>()).abs() < 1e-12);
    }
}

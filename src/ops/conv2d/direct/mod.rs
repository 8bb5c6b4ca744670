//! Direct (im2col-free) f32 convolution fused with ReLU and `MaxPool2D(2)`, or with ReLU
//! alone, with AVX-512.
//!
//! Each image is copied into a polyphase layout, `xp[c][r][s][a][b] = xpad[c][2a+r][2b+s]`,
//! so that for 16 consecutive pooled columns, each of the four conv outputs of a 2x2 window
//! reads 16 consecutive floats per tap. The conv output never leaves the registers: it is
//! pooled straight away. Taps are summed in the order (c, ki, kj) with FMA, starting from the
//! bias, as the im2col path's thin-product loops do, so both agree bit for bit when that path
//! uses them (`C*K*K <= SMALL_K`).
//!
//! Without pooling ([`Plain`]), each image is copied zero-padded and a block computes two
//! output rows of 16 columns for up to 12 channels. The input gradient is the same kernel
//! on the (padded, ReLU-masked) output gradient with the flipped, transposed weights.

use std::any::{Any, TypeId};
use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::ops::{ConvGeom, PoolGeom};

/// The argmax of a pooled output that gets no gradient: ReLU zeroed the window's maximum.
pub(crate) const NONE: u8 = u8::MAX;

/// Lanes per vector.
const L: usize = 16;

/// Whether the direct kernels handle this convolution: f32 on a CPU with AVX-512, stride 1,
/// no dilation, followed by nothing or by max pooling with window 2, stride 2, no padding.
pub(crate) fn applies<E: 'static>(g: &ConvGeom, pool: Option<&PoolGeom>) -> bool {
    TypeId::of::<E>() == TypeId::of::<f32>()
        && g.stride == 1
        && g.dil == 1
        && g.c_in > 0
        && g.c_out > 0
        && g.h_out > 0
        && g.w_out > 0
        && pool
            .is_none_or(|p| p.k == 2 && p.stride == 2 && p.pad == 0 && p.h_out > 0 && p.w_out > 0)
        && avx512()
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `v` as f32s, or `None` when `E` is not f32.
pub(crate) fn as_f32<E: 'static>(v: &[E]) -> Option<&[f32]> {
    (TypeId::of::<E>() == TypeId::of::<f32>()).then(|| {
        // SAFETY: `E` is f32 (same TypeId): same size, alignment and valid bit patterns.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<f32>(), v.len()) }
    })
}

/// `v` as f32s, for callers that checked [`applies`].
pub(crate) fn f32s<E: 'static>(v: &[E]) -> &[f32] {
    as_f32(v).expect("the direct kernels run on f32 only")
}

/// `v` as mutable f32s, or `None` when `E` is not f32.
pub(crate) fn as_f32_mut<E: 'static>(v: &mut [E]) -> Option<&mut [f32]> {
    (TypeId::of::<E>() == TypeId::of::<f32>()).then(|| {
        // SAFETY: `E` is f32 (same TypeId); the borrow of `v` moves into the result.
        unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<f32>(), v.len()) }
    })
}

/// `v` as a `Vec<E>`, or `None` when `E` is not f32.
pub(crate) fn from_f32<E: 'static>(v: Vec<f32>) -> Option<Vec<E>> {
    let b: Box<dyn Any> = Box::new(v);
    b.downcast::<Vec<E>>().ok().map(|b| *b)
}

/// `v` split into one slice per image of `n` elements, or all `None` when `v` is empty.
fn per_image<T>(v: &mut [T], n: usize, batch: usize) -> Vec<Option<&mut [T]>> {
    if v.is_empty() {
        (0..batch).map(|_| None).collect()
    } else {
        v.chunks_mut(n).map(Some).collect()
    }
}

/// Sums 16-lane partials `(.., 16)` per row.
fn lanes(v: &[f32]) -> Vec<f32> {
    v.chunks_exact(L).map(|c| c.iter().sum()).collect()
}

/// Adds partial (weight, bias) gradients in order: the result does not depend on the
/// scheduling.
fn sum_partials(
    zero: (Vec<f32>, Vec<f32>),
    partials: Vec<(Vec<f32>, Vec<f32>)>,
) -> (Vec<f32>, Vec<f32>) {
    partials
        .into_iter()
        .fold(zero, |(mut gw, mut gb), (gw2, gb2)| {
            gw.iter_mut().zip(&gw2).for_each(|(a, b)| *a += b);
            gb.iter_mut().zip(&gb2).for_each(|(a, b)| *a += b);
            (gw, gb)
        })
}

/// Sizes of one image's polyphase copy and of the pooled output.
#[derive(Debug, Clone, Copy)]
struct Layout {
    c_in: usize,
    c_out: usize,
    k: usize,
    ckk: usize,
    h: usize,
    w: usize,
    pad: usize,
    /// Pooled output rows and columns.
    hq: usize,
    wq: usize,
    /// 16-lane blocks per pooled row.
    nb: usize,
    /// Rows and row stride of one phase plane.
    rows: usize,
    bs: usize,
}

impl Layout {
    fn new(g: &ConvGeom, pg: &PoolGeom) -> Self {
        let (hq, wq) = (pg.h_out, pg.w_out);
        let nb = wq.div_ceil(L);
        // Pooled row pi reads phase rows pi + (di+ki)/2 <= hq - 1 + k/2; a 16-lane block
        // starting at column j0 reads up to j0 + 15 + k/2. Rows are padded to that.
        Self {
            c_in: g.c_in,
            c_out: g.c_out,
            k: g.k,
            ckk: g.c_in * g.k * g.k,
            h: g.h,
            w: g.w,
            pad: g.pad,
            hq,
            wq,
            nb,
            rows: (g.h + 2 * g.pad).div_ceil(2).max(hq + g.k / 2),
            bs: (g.w + 2 * g.pad).div_ceil(2).max(nb * L + g.k / 2),
        }
    }

    /// Floats in one image's polyphase copy.
    fn len(&self) -> usize {
        self.c_in * 4 * self.rows * self.bs
    }

    /// For each tap (c, ki, kj) and phase (di, dj), in that order, the offset of its input
    /// vector from the start of the pooled block (`pi * bs + j0`).
    fn offsets(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.ckk * 4);
        for c in 0..self.c_in {
            for ki in 0..self.k {
                for kj in 0..self.k {
                    for di in 0..2 {
                        for dj in 0..2 {
                            let (rr, ss) = (di + ki, dj + kj);
                            let plane = c * 4 + (rr % 2) * 2 + ss % 2;
                            v.push((plane * self.rows + rr / 2) * self.bs + ss / 2);
                        }
                    }
                }
            }
        }
        v
    }

    /// One past the last float a kernel reads, given [`Layout::offsets`].
    fn reads_end(&self, offs: &[usize]) -> usize {
        let last_block = (self.hq - 1) * self.bs + (self.nb - 1) * L;
        last_block + offs.iter().copied().max().unwrap_or(0) + L
    }

    /// Copies image `x` `(C, H, W)` into `xp`, whose padding must already be zero (it is
    /// never written, so a zeroed scratch can be reused for images of the same geometry).
    fn fill(&self, x: &[f32], xp: &mut [f32]) {
        let pad = self.pad;
        // Input column j lands in phase s = (j + pad) % 2 at b = (j + pad) / 2: even columns
        // in phase pad % 2 from b = pad / 2, odd ones in the other from (pad + 1) / 2.
        let (se, so) = (pad % 2, 1 - pad % 2);
        for c in 0..self.c_in {
            for i in 0..self.h {
                let pr = i + pad;
                let src = &x[(c * self.h + i) * self.w..][..self.w];
                let row = |s: usize| ((c * 4 + (pr % 2) * 2 + s) * self.rows + pr / 2) * self.bs;
                let (re, ro) = (row(se) + pad / 2, row(so) + pad.div_ceil(2));
                // Two disjoint rows (different phase planes) of `xp`.
                let (lo, hi, lo_is_even) = if re < ro {
                    let (a, b) = xp.split_at_mut(ro);
                    (&mut a[re..], b, true)
                } else {
                    let (a, b) = xp.split_at_mut(re);
                    (&mut a[ro..], b, false)
                };
                let (de, dodd) = if lo_is_even { (lo, hi) } else { (hi, lo) };
                let pairs = src.chunks_exact(2);
                if let [last] = pairs.remainder() {
                    de[self.w / 2] = *last;
                }
                for ((e, o), p) in de.iter_mut().zip(dodd.iter_mut()).zip(pairs) {
                    *e = p[0];
                    *o = p[1];
                }
            }
        }
    }
}

/// Forward pass: `out` `(B, O, Hq, Wq)` gets max-pooled (and ReLU'd) conv outputs of `x`
/// `(B, C, H, W)` with `w` `(O, C, K, K)`; `arg` (empty, or one per output) the phase
/// `di * 2 + dj` of each maximum, or [`NONE`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    g: &ConvGeom,
    pg: &PoolGeom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
    arg: &mut [u8],
) {
    assert!(
        applies::<f32>(g, Some(pg)),
        "direct conv: unsupported geometry or CPU"
    );
    let l = Layout::new(g, pg);
    let (chw, out_len) = (l.c_in * l.h * l.w, l.c_out * l.hq * l.wq);
    assert!(x.len() == g.batch * chw && out.len() == g.batch * out_len);
    assert!(w.len() == l.c_out * l.ckk && bias.is_none_or(|b| b.len() == l.c_out));
    assert!(arg.is_empty() || arg.len() == out.len());
    if out.is_empty() {
        return;
    }
    let offs = l.offsets();
    let args = per_image(arg, out_len, g.batch);
    out.par_chunks_mut(out_len)
        .zip(x.par_chunks(chw))
        .zip(args)
        .for_each_init(
            || vec![0.0f32; l.len()],
            |xp, ((out_b, xb), arg_b)| {
                l.fill(xb, xp);
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `applies` checked AVX-512 F/BW/VL; the sizes were checked above.
                unsafe {
                    kernels::forward_image(&l, &offs, xp, w, bias, relu, out_b, arg_b)
                };
            },
        );
}

/// Weight and bias gradients from `gy` `(B, O, Hq, Wq)`, the gradient of the pooled output,
/// routed through `arg` (from [`forward`]). Partial sums over fixed chunks of images are
/// added in chunk order, so the result does not depend on the scheduling.
pub(crate) fn backward(
    g: &ConvGeom,
    pg: &PoolGeom,
    x: &[f32],
    arg: &[u8],
    gy: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    assert!(
        applies::<f32>(g, Some(pg)),
        "direct conv: unsupported geometry or CPU"
    );
    let l = Layout::new(g, pg);
    let (chw, out_len) = (l.c_in * l.h * l.w, l.c_out * l.hq * l.wq);
    assert!(x.len() == g.batch * chw && gy.len() == g.batch * out_len && arg.len() == gy.len());
    let zero = || (vec![0.0f32; l.c_out * l.ckk], vec![0.0f32; l.c_out]);
    if gy.is_empty() {
        return zero();
    }
    let offs = l.offsets();
    let per = super::IMAGES_PER_PARTIAL;
    let partials: Vec<(Vec<f32>, Vec<f32>)> = (0..g.batch.div_ceil(per))
        .into_par_iter()
        .map(|chunk| {
            let mut xp = vec![0.0f32; l.len()];
            let mut gw = vec![0.0f32; l.c_out * l.ckk * L];
            let mut gb = vec![0.0f32; l.c_out * L];
            for b in chunk * per..((chunk + 1) * per).min(g.batch) {
                l.fill(&x[b * chw..(b + 1) * chw], &mut xp);
                let (gy_b, arg_b) = (
                    &gy[b * out_len..(b + 1) * out_len],
                    &arg[b * out_len..(b + 1) * out_len],
                );
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `applies` checked AVX-512 F/BW/VL; the sizes were checked above.
                unsafe {
                    kernels::backward_image(&l, &offs, &xp, gy_b, arg_b, &mut gw, &mut gb)
                };
            }
            (lanes(&gw), lanes(&gb))
        })
        .collect();
    sum_partials(zero(), partials)
}

/// A zero-padded copy of one image, `(C, rows, bs)`, for the unpooled kernels, and the
/// output grid computed from it: output `(i, j)` reads the window at copy row `org + i`,
/// column `org + j`. Blocks are two output rows by 16 columns.
#[derive(Debug, Clone, Copy)]
struct Plain {
    c_in: usize,
    c_out: usize,
    k: usize,
    ckk: usize,
    h: usize,
    w: usize,
    /// Zero rows and columns before the image in the copy.
    pad: usize,
    org: usize,
    ho: usize,
    wo: usize,
    /// 16-lane blocks per output row.
    nb: usize,
    rows: usize,
    bs: usize,
}

impl Plain {
    fn new(
        (c_in, c_out, k): (usize, usize, usize),
        (h, w): (usize, usize),
        pad: usize,
        org: usize,
        (ho, wo): (usize, usize),
    ) -> Self {
        let nb = wo.div_ceil(L);
        // The last row pair reads rows up to org + 2 * ceil(ho / 2) + k - 2; the last block
        // columns up to org + nb * 16 + k - 2.
        Self {
            c_in,
            c_out,
            k,
            ckk: c_in * k * k,
            h,
            w,
            pad,
            org,
            ho,
            wo,
            nb,
            rows: (h + 2 * pad).max(org + ho.div_ceil(2) * 2 + k - 1),
            bs: (w + 2 * pad).max(org + nb * L + k - 1),
        }
    }

    /// The forward convolution of `g`.
    fn forward(g: &ConvGeom) -> Self {
        let (h, w) = (g.h, g.w);
        Self::new((g.c_in, g.c_out, g.k), (h, w), g.pad, 0, (g.h_out, g.w_out))
    }

    /// The input gradient of `g`: the output gradient padded by `k - 1` correlated with the
    /// flipped kernel, read from `pad` on.
    fn input_grad(g: &ConvGeom) -> Self {
        let (ho, wo) = (g.h_out, g.w_out);
        Self::new((g.c_out, g.c_in, g.k), (ho, wo), g.k - 1, g.pad, (g.h, g.w))
    }

    fn len(&self) -> usize {
        self.c_in * self.rows * self.bs
    }

    /// For each tap (c, ki, kj) and row r of the pair, in that order, the offset of its
    /// input vector from the block's base.
    fn offsets(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.ckk * 2);
        for c in 0..self.c_in {
            for ki in 0..self.k {
                for kj in 0..self.k {
                    for r in 0..2 {
                        v.push((c * self.rows + ki + r) * self.bs + kj);
                    }
                }
            }
        }
        v
    }

    /// The base, in the copy, of the block at output row `i`, column `j0`.
    fn base(&self, i: usize, j0: usize) -> usize {
        (self.org + i) * self.bs + self.org + j0
    }

    /// One past the last float a kernel reads, given [`Plain::offsets`].
    fn reads_end(&self, offs: &[usize]) -> usize {
        let last = self.base((self.ho.div_ceil(2) - 1) * 2, (self.nb - 1) * L);
        last + offs.iter().copied().max().unwrap_or(0) + L
    }

    /// Copies image `x` `(C, H, W)` into `xp`, whose padding must already be zero (it is
    /// never written).
    fn fill(&self, x: &[f32], xp: &mut [f32]) {
        for c in 0..self.c_in {
            for i in 0..self.h {
                let src = &x[(c * self.h + i) * self.w..][..self.w];
                let dst = &mut xp[(c * self.rows + i + self.pad) * self.bs + self.pad..][..self.w];
                dst.copy_from_slice(src);
            }
        }
    }
}

/// Where one image's unpooled output goes.
struct Out<'a> {
    /// `(O, Ho, Wo)`; every element gets written (with `add`, they must be initialised).
    y: &'a mut [MaybeUninit<f32>],
    relu: bool,
    /// 1 where the output is positive, else 0 (when given).
    pos: Option<&'a mut [u8]>,
    /// Add into `y` instead of storing.
    add: bool,
}

/// Forward pass without pooling: the (ReLU'd) conv outputs `(B, O, Ho, Wo)` of `x` `(B, C,
/// H, W)` with `w` `(O, C, K, K)`; `pos` (empty, or one per output) gets 1 where the output
/// is positive, else 0. The output is written once (no zero-filling first).
pub(crate) fn forward_plain(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    pos: &mut [u8],
) -> Vec<f32> {
    assert!(
        applies::<f32>(g, None),
        "direct conv: unsupported geometry or CPU"
    );
    let l = Plain::forward(g);
    let (chw, out_len) = (l.c_in * l.h * l.w, l.c_out * l.ho * l.wo);
    let n = g.batch * out_len;
    assert!(x.len() == g.batch * chw && (pos.is_empty() || pos.len() == n));
    assert!(w.len() == l.c_out * l.ckk && bias.is_none_or(|b| b.len() == l.c_out));
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let offs = l.offsets();
    let poss = per_image(pos, out_len, g.batch);
    out.spare_capacity_mut()[..n]
        .par_chunks_mut(out_len)
        .zip(x.par_chunks(chw))
        .zip(poss)
        .for_each_init(
            || vec![0.0f32; l.len()],
            |xp, ((y, xb), pos)| {
                l.fill(xb, xp);
                let out = Out {
                    y,
                    relu,
                    pos,
                    add: false,
                };
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `applies` checked AVX-512 F/BW/VL; the sizes were checked above.
                unsafe {
                    kernels::plain_image(&l, &offs, xp, w, bias, out)
                };
            },
        );
    // SAFETY: `plain_image` wrote each image's `out_len` outputs, every block's lanes.
    unsafe { out.set_len(n) };
    out
}

/// Backward pass without pooling: adds the input gradient into `gx` (when given) and
/// returns the weight and bias gradients, from `gy` `(B, O, Ho, Wo)` masked by `pos` (from
/// [`forward_plain`]; empty without ReLU). Partial sums as in [`backward`].
pub(crate) fn backward_plain(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    pos: &[u8],
    gy: &[f32],
    gx: Option<&mut [f32]>,
) -> (Vec<f32>, Vec<f32>) {
    assert!(
        applies::<f32>(g, None),
        "direct conv: unsupported geometry or CPU"
    );
    let (l, lg) = (Plain::forward(g), Plain::input_grad(g));
    let (chw, out_len) = (l.c_in * l.h * l.w, l.c_out * l.ho * l.wo);
    assert!(x.len() == g.batch * chw && gy.len() == g.batch * out_len);
    assert!(w.len() == l.c_out * l.ckk && (pos.is_empty() || pos.len() == gy.len()));
    assert!(gx.as_ref().is_none_or(|gx| gx.len() == x.len()));
    let zero = || (vec![0.0f32; l.c_out * l.ckk], vec![0.0f32; l.c_out]);
    if gy.is_empty() {
        return zero();
    }
    let (offs, offs_g) = (l.offsets(), lg.offsets());
    // w (O, C, K, K) flipped and transposed: (C, O, K, K), for the input gradient.
    let kk = l.k * l.k;
    let mut wf = vec![0.0f32; if gx.is_some() { w.len() } else { 0 }];
    for (i, v) in wf.iter_mut().enumerate() {
        let (c, o, t) = (i / (l.c_out * kk), i / kk % l.c_out, i % kk);
        *v = w[(o * l.c_in + c) * kk + kk - 1 - t];
    }
    let has_gx = gx.is_some();
    let mut items: Vec<(usize, Option<&mut [f32]>)> = match gx {
        Some(gx) => gx.chunks_mut(chw).map(Some).enumerate().collect(),
        None => (0..g.batch).map(|b| (b, None)).collect(),
    };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = items
        .par_chunks_mut(super::IMAGES_PER_PARTIAL)
        .map_init(
            || {
                let gyp = vec![0.0f32; if has_gx { lg.len() } else { 0 }];
                let gm = vec![0.0f32; if pos.is_empty() { 0 } else { out_len }];
                (vec![0.0f32; l.len()], gyp, gm)
            },
            |(xp, gyp, gm), chunk| {
                let mut gw = vec![0.0f32; l.c_out * l.ckk * L];
                let mut gb = vec![0.0f32; l.c_out * L];
                for (b, gxb) in chunk.iter_mut() {
                    let (b, gxb) = (*b, gxb.take());
                    let mut gy_b = &gy[b * out_len..(b + 1) * out_len];
                    let pos_b = pos.get(b * out_len..(b + 1) * out_len).unwrap_or(&[]);
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `applies` checked AVX-512 F/BW/VL; `gm` is empty or `out_len`.
                    unsafe {
                        kernels::mask_grads(l.c_out, gy_b, pos_b, gm, &mut gb)
                    };
                    if !pos_b.is_empty() {
                        gy_b = gm;
                    }
                    l.fill(&x[b * chw..(b + 1) * chw], xp);
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `applies` checked AVX-512 F/BW/VL; the sizes were checked above.
                    unsafe {
                        kernels::plain_weight_grads(&l, &offs, xp, gy_b, &mut gw)
                    };
                    if let Some(gxb) = gxb {
                        lg.fill(gy_b, gyp);
                        // SAFETY: `add` only writes initialised values, so `gxb` stays valid.
                        let y = unsafe { &mut *(gxb as *mut [f32] as *mut [MaybeUninit<f32>]) };
                        let out = Out {
                            y,
                            relu: false,
                            pos: None,
                            add: true,
                        };
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: as above; `wf` is `(C, O*K*K)`, `gxb` one image of `x`.
                        unsafe {
                            kernels::plain_image(&lg, &offs_g, gyp, &wf, None, out)
                        };
                    }
                }
                (lanes(&gw), lanes(&gb))
            },
        )
        .collect();
    sum_partials(zero(), partials)
}

#[cfg(target_arch = "x86_64")]
mod kernels {
    use std::arch::x86_64::*;

    use super::{Layout, Out, Plain, L, NONE};

    /// Output channels per register block: 4 phases x 6 channels, or 2 rows x 12 channels
    /// = 24 accumulators.
    const OB: usize = 6;
    const OB_PLAIN: usize = 12;

    /// `P` input vectors of one tap, at `off[0..P]` from `xb`.
    #[inline(always)]
    unsafe fn inputs<const P: usize>(xb: *const f32, off: *const usize) -> [__m512; P] {
        let mut x = [_mm512_setzero_ps(); P];
        for (p, v) in x.iter_mut().enumerate() {
            *v = _mm512_loadu_ps(xb.add(*off.add(p)));
        }
        x
    }

    /// The conv outputs of `N` channels at `P` positions: taps in the order (c, ki, kj),
    /// from the bias. `wp` points at the first channel's `ckk` weights, `offs` at `P`
    /// offsets per tap. With `S > 1`, tap `t` goes to partial sum `t % S` (another order:
    /// more independent chains when `N` is small).
    #[inline(always)]
    unsafe fn conv_taps<const N: usize, const P: usize, const S: usize>(
        xb: *const f32,
        offs: *const usize,
        wp: *const f32,
        ckk: usize,
        bias: Option<*const f32>,
    ) -> [[__m512; P]; N] {
        let mut acc = [[[_mm512_setzero_ps(); P]; N]; S];
        if let Some(bias) = bias {
            for (q, a) in acc[0].iter_mut().enumerate() {
                *a = [_mm512_set1_ps(*bias.add(q)); P];
            }
        }
        // Unrolled by `S` so that the partial sums stay in registers.
        let mut t = 0;
        while t + S <= ckk {
            for (s, a) in acc.iter_mut().enumerate() {
                conv_tap(xb, offs, wp, ckk, t + s, a);
            }
            t += S;
        }
        for t in t..ckk {
            conv_tap(xb, offs, wp, ckk, t, &mut acc[0]);
        }
        let mut sum = acc[0];
        for part in &acc[1..] {
            for (a, b) in sum.iter_mut().zip(part) {
                for p in 0..P {
                    a[p] = _mm512_add_ps(a[p], b[p]);
                }
            }
        }
        sum
    }

    /// Adds tap `t` into `acc` (see [`conv_taps`]).
    #[inline(always)]
    unsafe fn conv_tap<const N: usize, const P: usize>(
        xb: *const f32,
        offs: *const usize,
        wp: *const f32,
        ckk: usize,
        t: usize,
        acc: &mut [[__m512; P]; N],
    ) {
        let x = inputs::<P>(xb, offs.add(P * t));
        for (q, a) in acc.iter_mut().enumerate() {
            let wv = _mm512_set1_ps(*wp.add(q * ckk + t));
            for p in 0..P {
                a[p] = _mm512_fmadd_ps(wv, x[p], a[p]);
            }
        }
    }

    /// Adds `g[q][p] * input` of each tap into 16-lane partials `gw` `(N, ckk, 16)`.
    #[inline(always)]
    unsafe fn add_weight_grads<const N: usize, const P: usize>(
        xb: *const f32,
        offs: *const usize,
        ckk: usize,
        g: &[[__m512; P]; N],
        gw: *mut f32,
    ) {
        for t in 0..ckk {
            let x = inputs::<P>(xb, offs.add(P * t));
            for (q, gq) in g.iter().enumerate() {
                let p = gw.add((q * ckk + t) * L);
                let mut acc = _mm512_loadu_ps(p);
                for ph in 0..P {
                    acc = _mm512_fmadd_ps(gq[ph], x[ph], acc);
                }
                _mm512_storeu_ps(p, acc);
            }
        }
    }

    /// Adds `v` into the 16 partial sums at `p`.
    #[inline(always)]
    unsafe fn add_lanes(p: *mut f32, v: __m512) {
        _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), v));
    }

    /// The first `n` lanes (all when `n >= 16`).
    #[inline(always)]
    fn tail(n: usize) -> __mmask16 {
        if n >= L {
            0xffff
        } else {
            (1u16 << n) - 1
        }
    }

    /// Calls `$f::<N>` for each block of output channels: full blocks of `OB`, then the
    /// rest (`$n` lists 1 .. OB - 1).
    macro_rules! channel_blocks {
        ($c_out:expr, $ob:ident: $($n:literal)*, |$o:ident| $f:ident $args:tt) => {{
            let mut $o = 0;
            while $o + $ob <= $c_out {
                $f::<$ob> $args;
                $o += $ob;
            }
            match $c_out - $o {
                $($n => $f::<$n> $args,)*
                _ => {}
            }
        }};
    }

    /// One image. Needs AVX-512 F/BW/VL, `xp` filled by [`Layout::fill`] and at least
    /// [`Layout::reads_end`] long, `w` `(O, CKK)`, `bias` `(O,)`, `out` and `arg` (when
    /// given) `(O, Hq, Wq)`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn forward_image(
        l: &Layout,
        offs: &[usize],
        xp: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        relu: bool,
        out: &mut [f32],
        mut arg: Option<&mut [u8]>,
    ) {
        let plane = l.hq * l.wq;
        assert!(offs.len() == 4 * l.ckk && l.reads_end(offs) <= xp.len());
        assert!(w.len() >= l.c_out * l.ckk && out.len() >= l.c_out * plane);
        assert!(bias.is_none_or(|b| b.len() >= l.c_out));
        assert!(arg.as_ref().is_none_or(|a| a.len() >= l.c_out * plane));
        for pi in 0..l.hq {
            for jb in 0..l.nb {
                let j0 = jb * L;
                let mask = tail(l.wq - j0);
                let xb = xp.as_ptr().add(pi * l.bs + j0);
                let ob = out.as_mut_ptr().add(pi * l.wq + j0);
                let ab = arg
                    .as_deref_mut()
                    .map(|a| a.as_mut_ptr().add(pi * l.wq + j0));
                let blk = Block { l, offs, xb, mask };
                channel_blocks!(l.c_out, OB: 1 2 3 4 5, |o| forward_block(&blk, w, bias, relu, o, ob, ab));
            }
        }
    }

    /// Where one 16-lane block of one pooled row reads.
    struct Block<'a> {
        l: &'a Layout,
        offs: &'a [usize],
        /// The block's base in the polyphase copy: `xp + pi * bs + j0`.
        xb: *const f32,
        /// The lanes inside the pooled row.
        mask: __mmask16,
    }

    /// `gt(v, best)`: `v > best`, or `v` is NaN and `best` is not (a NaN wins).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn gt(v: __m512, best: __m512) -> __mmask16 {
        _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best)
            | (_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v)
                & !_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(best, best))
    }

    /// Output channels `o..o + N` of one block. `ob` and `ab` point at the block in channel
    /// 0's output and argmax planes.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn forward_block<const N: usize>(
        b: &Block<'_>,
        w: &[f32],
        bias: Option<&[f32]>,
        relu: bool,
        o: usize,
        ob: *mut f32,
        ab: Option<*mut u8>,
    ) {
        let l = b.l;
        let (wp, bias) = (w.as_ptr().add(o * l.ckk), bias.map(|v| v.as_ptr().add(o)));
        let acc = conv_taps::<N, 4, 1>(b.xb, b.offs.as_ptr(), wp, l.ckk, bias);
        let plane = l.hq * l.wq;
        for (q, a) in acc.iter().enumerate() {
            // The first maximum in the order (0,0), (0,1), (1,0), (1,1); a NaN wins.
            let mut best = a[0];
            let mut idx = _mm512_setzero_si512();
            for (ph, &v) in a.iter().enumerate().skip(1) {
                let m = gt(v, best);
                best = _mm512_mask_blend_ps(m, best, v);
                idx = _mm512_mask_blend_epi32(m, idx, _mm512_set1_epi32(ph as i32));
            }
            if relu {
                let zero = _mm512_setzero_ps();
                let off = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(best, zero);
                best = _mm512_mask_blend_ps(off, best, zero);
                idx = _mm512_mask_blend_epi32(off, idx, _mm512_set1_epi32(NONE as i32));
            }
            _mm512_mask_storeu_ps(ob.add((o + q) * plane), b.mask, best);
            if let Some(ab) = ab {
                _mm512_mask_cvtepi32_storeu_epi8(ab.add((o + q) * plane).cast(), b.mask, idx);
            }
        }
    }

    /// One image's weight and bias gradients, added into 16-lane partial sums `gw`
    /// `(O, CKK, 16)` and `gb` `(O, 16)`. Needs AVX-512 F/BW/VL, `xp` as for
    /// [`forward_image`], `gy` and `arg` `(O, Hq, Wq)`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn backward_image(
        l: &Layout,
        offs: &[usize],
        xp: &[f32],
        gy: &[f32],
        arg: &[u8],
        gw: &mut [f32],
        gb: &mut [f32],
    ) {
        let plane = l.hq * l.wq;
        assert!(offs.len() == 4 * l.ckk && l.reads_end(offs) <= xp.len());
        assert!(gy.len() >= l.c_out * plane && arg.len() >= l.c_out * plane);
        assert!(gw.len() >= l.c_out * l.ckk * L && gb.len() >= l.c_out * L);
        for pi in 0..l.hq {
            for jb in 0..l.nb {
                let j0 = jb * L;
                let blk = Block {
                    l,
                    offs,
                    xb: xp.as_ptr().add(pi * l.bs + j0),
                    mask: tail(l.wq - j0),
                };
                let gyb = gy.as_ptr().add(pi * l.wq + j0);
                let ab = arg.as_ptr().add(pi * l.wq + j0);
                let (gw, gb) = (gw.as_mut_ptr(), gb.as_mut_ptr());
                channel_blocks!(l.c_out, OB: 1 2 3 4 5, |o| backward_block(&blk, gyb, ab, o, gw, gb));
            }
        }
    }

    /// Output channels `o..o + N` of one block; `gyb` and `ab` point at the block in channel
    /// 0's gradient and argmax planes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn backward_block<const N: usize>(
        b: &Block<'_>,
        gyb: *const f32,
        ab: *const u8,
        o: usize,
        gw: *mut f32,
        gb: *mut f32,
    ) {
        let l = b.l;
        let plane = l.hq * l.wq;
        // The gradient of each phase's conv output: gy where that phase won, else 0.
        let mut g = [[_mm512_setzero_ps(); 4]; N];
        for (q, gq) in g.iter_mut().enumerate() {
            let v = _mm512_maskz_loadu_ps(b.mask, gyb.add((o + q) * plane));
            let a = _mm_maskz_loadu_epi8(b.mask, ab.add((o + q) * plane).cast());
            for (ph, gp) in gq.iter_mut().enumerate() {
                let m = _mm_mask_cmpeq_epi8_mask(b.mask, a, _mm_set1_epi8(ph as i8));
                *gp = _mm512_maskz_mov_ps(m, v);
            }
            let live = _mm_mask_cmpneq_epi8_mask(b.mask, a, _mm_set1_epi8(NONE as i8));
            add_lanes(gb.add((o + q) * L), _mm512_maskz_mov_ps(live, v));
        }
        add_weight_grads::<N, 4>(b.xb, b.offs.as_ptr(), l.ckk, &g, gw.add(o * l.ckk * L));
    }

    /// Where one block of two output rows by 16 columns reads and writes.
    struct PlainBlock<'a> {
        l: &'a Plain,
        offs: &'a [usize],
        xb: *const f32,
        /// The block's offset in channel 0's output plane.
        at: usize,
        /// The lanes inside the output, per row of the pair.
        masks: [__mmask16; 2],
    }

    /// Calls `f` for each block of the output grid of `l`.
    #[inline(always)]
    unsafe fn plain_blocks(
        l: &Plain,
        offs: &[usize],
        xp: &[f32],
        mut f: impl FnMut(&PlainBlock<'_>),
    ) {
        for i in (0..l.ho).step_by(2) {
            for jb in 0..l.nb {
                let j0 = jb * L;
                let m = tail(l.wo - j0);
                f(&PlainBlock {
                    l,
                    offs,
                    xb: xp.as_ptr().add(l.base(i, j0)),
                    at: i * l.wo + j0,
                    masks: [m, if i + 1 < l.ho { m } else { 0 }],
                });
            }
        }
    }

    /// One image without pooling. Needs AVX-512 F/BW/VL, `xp` filled by [`Plain::fill`]
    /// and at least [`Plain::reads_end`] long, `w` `(O, CKK)`, `bias` `(O,)`, `out.y` and
    /// `out.pos` (when given) `(O, Ho, Wo)`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn plain_image(
        l: &Plain,
        offs: &[usize],
        xp: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        mut out: Out<'_>,
    ) {
        let plane = l.ho * l.wo;
        assert!(offs.len() == 2 * l.ckk && l.reads_end(offs) <= xp.len());
        assert!(w.len() >= l.c_out * l.ckk && out.y.len() >= l.c_out * plane);
        assert!(bias.is_none_or(|b| b.len() >= l.c_out));
        assert!(out.pos.as_ref().is_none_or(|a| a.len() >= l.c_out * plane));
        let (y, pos) = (
            out.y.as_mut_ptr().cast::<f32>(),
            out.pos.as_deref_mut().map(|p| p.as_mut_ptr()),
        );
        let (relu, add) = (out.relu, out.add);
        plain_blocks(l, offs, xp, |b| {
            channel_blocks!(l.c_out, OB_PLAIN: 1 2 3 4 5 6 7 8 9 10 11, |o| plain_block(
                b, w, bias, o, y, pos, relu, add
            ));
        });
    }

    /// Output channels `o..o + N` of one block.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn plain_block<const N: usize>(
        b: &PlainBlock<'_>,
        w: &[f32],
        bias: Option<&[f32]>,
        o: usize,
        y: *mut f32,
        pos: Option<*mut u8>,
        relu: bool,
        add: bool,
    ) {
        let l = b.l;
        let (wp, bias) = (w.as_ptr().add(o * l.ckk), bias.map(|v| v.as_ptr().add(o)));
        let (xb, offs) = (b.xb, b.offs.as_ptr());
        // Gradients (`add`) need no fixed order: few channels get more chains.
        let acc = if add && N <= 2 {
            conv_taps::<N, 2, 4>(xb, offs, wp, l.ckk, bias)
        } else {
            conv_taps::<N, 2, 1>(xb, offs, wp, l.ckk, bias)
        };
        let zero = _mm512_setzero_ps();
        for (q, a) in acc.iter().enumerate() {
            for (r, (&m, &v)) in b.masks.iter().zip(a).enumerate() {
                let at = (o + q) * l.ho * l.wo + b.at + r * l.wo;
                let mut v = v;
                if add {
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, y.add(at)));
                }
                if relu {
                    // As the im2col path: only negatives become 0 (-0.0 and NaN stay).
                    v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(v, zero), v, zero);
                }
                _mm512_mask_storeu_ps(y.add(at), m, v);
                if let Some(pos) = pos {
                    let live = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, zero);
                    _mm_mask_storeu_epi8(pos.add(at).cast(), m, _mm_maskz_set1_epi8(live, 1));
                }
            }
        }
    }

    /// `gm` = `gy` `(O, plane)` where `pos` is not 0, else 0 (when `pos` is not empty), and
    /// the sums of the result added into 16-lane partials `gb` `(O, 16)`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn mask_grads(
        c_out: usize,
        gy: &[f32],
        pos: &[u8],
        gm: &mut [f32],
        gb: &mut [f32],
    ) {
        let plane = gy.len() / c_out;
        assert!(pos.is_empty() || (pos.len() == gy.len() && gm.len() >= gy.len()));
        assert!(gb.len() >= c_out * L);
        for o in 0..c_out {
            let mut sum = _mm512_setzero_ps();
            for j in (0..plane).step_by(L) {
                let (at, mut m) = (o * plane + j, tail(plane - j));
                if !pos.is_empty() {
                    let p = _mm_maskz_loadu_epi8(m, pos.as_ptr().add(at).cast());
                    m = _mm_test_epi8_mask(p, p);
                }
                let v = _mm512_maskz_loadu_ps(m, gy.as_ptr().add(at));
                if !pos.is_empty() {
                    _mm512_mask_storeu_ps(gm.as_mut_ptr().add(at), tail(plane - j), v);
                }
                sum = _mm512_add_ps(sum, v);
            }
            add_lanes(gb.as_mut_ptr().add(o * L), sum);
        }
    }

    /// One image's weight gradients without pooling, added into 16-lane partial sums `gw`
    /// `(O, CKK, 16)`. Needs AVX-512 F/BW/VL, `xp` as for [`plain_image`], `gy` `(O, Ho,
    /// Wo)` (already ReLU-masked).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(super) unsafe fn plain_weight_grads(
        l: &Plain,
        offs: &[usize],
        xp: &[f32],
        gy: &[f32],
        gw: &mut [f32],
    ) {
        assert!(offs.len() == 2 * l.ckk && l.reads_end(offs) <= xp.len());
        assert!(gy.len() >= l.c_out * l.ho * l.wo && gw.len() >= l.c_out * l.ckk * L);
        let (gy, gw) = (gy.as_ptr(), gw.as_mut_ptr());
        channel_blocks!(l.c_out, OB_PLAIN: 1 2 3 4 5 6 7 8 9 10 11, |o| plain_grad_taps(
            l, offs, xp, gy, o, gw
        ));
    }

    /// Output channels `o..o + N`: for each tap, the sum over the whole image in registers,
    /// two taps at a time (each gradient vector loaded serves both).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn plain_grad_taps<const N: usize>(
        l: &Plain,
        offs: &[usize],
        xp: &[f32],
        gy: *const f32,
        o: usize,
        gw: *mut f32,
    ) {
        let mut t = 0;
        while t + 2 <= l.ckk {
            grad_taps::<N, 2>(l, offs, xp, gy, o, gw, t);
            t += 2;
        }
        if t < l.ckk {
            grad_taps::<N, 1>(l, offs, xp, gy, o, gw, t);
        }
    }

    /// Taps `t0..t0 + T` of [`plain_grad_taps`].
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    unsafe fn grad_taps<const N: usize, const T: usize>(
        l: &Plain,
        offs: &[usize],
        xp: &[f32],
        gy: *const f32,
        o: usize,
        gw: *mut f32,
        t0: usize,
    ) {
        let plane = l.ho * l.wo;
        let mut acc = [[_mm512_setzero_ps(); T]; N];
        plain_blocks(l, offs, xp, |b| {
            let mut x = [[_mm512_setzero_ps(); 2]; T];
            for (u, xu) in x.iter_mut().enumerate() {
                *xu = inputs::<2>(b.xb, offs.as_ptr().add(2 * (t0 + u)));
            }
            for (q, a) in acc.iter_mut().enumerate() {
                for (r, &m) in b.masks.iter().enumerate() {
                    let g = _mm512_maskz_loadu_ps(m, gy.add((o + q) * plane + b.at + r * l.wo));
                    for (au, xu) in a.iter_mut().zip(&x) {
                        *au = _mm512_fmadd_ps(g, xu[r], *au);
                    }
                }
            }
        });
        for (q, a) in acc.iter().enumerate() {
            for (u, &v) in a.iter().enumerate() {
                add_lanes(gw.add(((o + q) * l.ckk + t0 + u) * L), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(stride: usize, dil: usize) -> ConvGeom {
        ConvGeom {
            batch: 2,
            c_in: 1,
            h: 8,
            w: 8,
            c_out: 3,
            k: 3,
            stride,
            pad: 0,
            dil,
            h_out: 6,
            w_out: 6,
        }
    }

    fn pool(k: usize, stride: usize, pad: usize) -> PoolGeom {
        PoolGeom {
            planes: 6,
            h: 6,
            w: 6,
            k,
            stride,
            pad,
            h_out: 3,
            w_out: 3,
        }
    }

    #[test]
    fn other_cases_keep_the_im2col_path() {
        let (g, p) = (geom(1, 1), pool(2, 2, 0));
        assert_eq!(applies::<f32>(&g, Some(&p)), avx512());
        assert!(!applies::<f64>(&g, Some(&p)));
        assert!(!applies::<f32>(&geom(2, 1), Some(&p)));
        assert!(!applies::<f32>(&geom(1, 2), Some(&p)));
        // Without pooling too (ReLU and bias are the kernels' choice).
        assert_eq!(applies::<f32>(&g, None), avx512());
        assert!(!applies::<f64>(&g, None));
        assert!(!applies::<f32>(&geom(2, 1), None));
        assert!(!applies::<f32>(&geom(1, 2), None));
        assert!(!applies::<f32>(&g, Some(&pool(3, 2, 0))));
        assert!(!applies::<f32>(&g, Some(&pool(2, 1, 0))));
        assert!(!applies::<f32>(&g, Some(&pool(2, 2, 1))));
    }

    #[test]
    fn casts_only_f32() {
        assert_eq!(as_f32(&[1.0f32, 2.0]), Some(&[1.0f32, 2.0][..]));
        assert!(as_f32(&[1.0f64]).is_none());
        assert_eq!(from_f32::<f32>(vec![3.0]), Some(vec![3.0f32]));
        assert!(from_f32::<f64>(vec![3.0]).is_none());
    }

    #[test]
    fn polyphase_copy_puts_each_input_where_the_taps_read() {
        let g = ConvGeom {
            batch: 1,
            c_in: 2,
            h: 5,
            w: 7,
            c_out: 1,
            k: 3,
            stride: 1,
            pad: 1,
            dil: 1,
            h_out: 5,
            w_out: 7,
        };
        let pg = PoolGeom {
            planes: 1,
            h: 5,
            w: 7,
            k: 2,
            stride: 2,
            pad: 0,
            h_out: 2,
            w_out: 3,
        };
        let l = Layout::new(&g, &pg);
        let x: Vec<f32> = (0..2 * 5 * 7).map(|i| i as f32 + 1.0).collect();
        let mut xp = vec![0.0; l.len()];
        l.fill(&x, &mut xp);
        let offs = l.offsets();
        assert!(l.reads_end(&offs) <= xp.len());
        for pi in 0..2 {
            for pj in 0..3 {
                for (t, taps) in offs.chunks(4).enumerate() {
                    let (c, ki, kj) = (t / 9, t / 3 % 3, t % 3);
                    for (ph, &off) in taps.iter().enumerate() {
                        let (r, s) = (2 * pi + ph / 2 + ki, 2 * pj + ph % 2 + kj);
                        let want = match (r.checked_sub(1), s.checked_sub(1)) {
                            (Some(r), Some(s)) if r < 5 && s < 7 => x[(c * 5 + r) * 7 + s],
                            _ => 0.0,
                        };
                        assert_eq!(xp[pi * l.bs + pj + off], want, "{pi} {pj} {t} {ph}");
                    }
                }
            }
        }
    }

    #[test]
    fn padded_copies_put_each_input_where_the_taps_read() {
        let g = ConvGeom {
            batch: 1,
            c_in: 2,
            h: 5,
            w: 19,
            c_out: 3,
            k: 3,
            stride: 1,
            pad: 2,
            dil: 1,
            h_out: 7,
            w_out: 21,
        };
        // The forward reads x padded by `pad`; the input gradient reads gy padded by k - 1
        // from `pad` on: gx[i][j] takes gy[i + pad - ki][j + pad - kj] with the flipped tap.
        for (l, (h, w), (ho, wo), pad) in [
            (Plain::forward(&g), (5, 19), (7, 21), 2),
            (Plain::input_grad(&g), (7, 21), (5, 19), 0),
        ] {
            let x: Vec<f32> = (0..l.c_in * h * w).map(|i| i as f32 + 1.0).collect();
            let mut xp = vec![0.0; l.len()];
            l.fill(&x, &mut xp);
            let offs = l.offsets();
            assert!(l.reads_end(&offs) <= xp.len());
            assert_eq!((l.ho, l.wo), (ho, wo));
            for i in 0..ho {
                for j in 0..wo {
                    let base = l.base(i / 2 * 2, j / 16 * 16) + j % 16;
                    for (t, rows) in offs.chunks(2).enumerate() {
                        let (c, ki, kj) = (t / 9, t / 3 % 3, t % 3);
                        let (r, s) = if pad == 2 {
                            ((i + ki).checked_sub(2), (j + kj).checked_sub(2))
                        } else {
                            ((i + 2 + ki).checked_sub(2), (j + 2 + kj).checked_sub(2))
                        };
                        let want = match (r, s) {
                            (Some(r), Some(s)) if r < h && s < w => x[(c * h + r) * w + s],
                            _ => 0.0,
                        };
                        assert_eq!(xp[base + rows[i % 2]], want, "{i} {j} {t}");
                    }
                }
            }
        }
    }
}

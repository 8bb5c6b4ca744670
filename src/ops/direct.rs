//! Direct (im2col-free) f32 convolution fused with ReLU and `MaxPool2D(2)`, with AVX-512.
//!
//! Each image is copied into a polyphase layout, `xp[c][r][s][a][b] = xpad[c][2a+r][2b+s]`,
//! so that for 16 consecutive pooled columns, each of the four conv outputs of a 2x2 window
//! reads 16 consecutive floats per tap. The conv output never leaves the registers: it is
//! pooled straight away. Taps are summed in the order (c, ki, kj) with FMA, starting from the
//! bias, as the im2col path's thin-product loops do, so both agree bit for bit when that path
//! uses them (`C*K*K <= SMALL_K`).

use std::any::{Any, TypeId};

use rayon::prelude::*;

use super::{ConvGeom, PoolGeom};

/// The argmax of a pooled output that gets no gradient: ReLU zeroed the window's maximum.
pub(crate) const NONE: u8 = u8::MAX;

/// Lanes per vector.
const L: usize = 16;

/// Whether the direct kernels handle this convolution: f32 on a CPU with AVX-512, stride 1,
/// no dilation, followed by max pooling with window 2, stride 2 and no padding.
pub(crate) fn applies<E: 'static>(g: &ConvGeom, pool: Option<&PoolGeom>) -> bool {
    TypeId::of::<E>() == TypeId::of::<f32>()
        && g.stride == 1
        && g.dil == 1
        && g.c_in > 0
        && g.c_out > 0
        && pool
            .is_some_and(|p| p.k == 2 && p.stride == 2 && p.pad == 0 && p.h_out > 0 && p.w_out > 0)
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
    let args: Vec<Option<&mut [u8]>> = if arg.is_empty() {
        (0..g.batch).map(|_| None).collect()
    } else {
        arg.chunks_mut(out_len).map(Some).collect()
    };
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
    let per = super::cpu::IMAGES_PER_PARTIAL;
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
            let lanes =
                |v: Vec<f32>| -> Vec<f32> { v.chunks_exact(L).map(|c| c.iter().sum()).collect() };
            (lanes(gw), lanes(gb))
        })
        .collect();
    partials
        .into_iter()
        .fold(zero(), |(mut gw, mut gb), (gw2, gb2)| {
            gw.iter_mut().zip(&gw2).for_each(|(a, b)| *a += b);
            gb.iter_mut().zip(&gb2).for_each(|(a, b)| *a += b);
            (gw, gb)
        })
}

#[cfg(target_arch = "x86_64")]
mod kernels {
    use std::arch::x86_64::*;

    use super::{Layout, L, NONE};

    /// Output channels per register block: 4 phases x 6 channels = 24 accumulators.
    const OB: usize = 6;

    /// The input vectors of one tap for the four pooling phases, at `off[0..4]` from `xb`.
    #[inline(always)]
    unsafe fn phase_inputs(xb: *const f32, off: *const usize) -> [__m512; 4] {
        [
            _mm512_loadu_ps(xb.add(*off)),
            _mm512_loadu_ps(xb.add(*off.add(1))),
            _mm512_loadu_ps(xb.add(*off.add(2))),
            _mm512_loadu_ps(xb.add(*off.add(3))),
        ]
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

    /// Calls `$f::<N>` for each block of output channels: full blocks, then the rest.
    macro_rules! channel_blocks {
        ($c_out:expr, |$o:ident| $f:ident($($args:expr),*)) => {{
            let mut $o = 0;
            while $o + OB <= $c_out {
                $f::<OB>($($args),*);
                $o += OB;
            }
            match $c_out - $o {
                1 => $f::<1>($($args),*),
                2 => $f::<2>($($args),*),
                3 => $f::<3>($($args),*),
                4 => $f::<4>($($args),*),
                5 => $f::<5>($($args),*),
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
                channel_blocks!(l.c_out, |o| forward_block(&blk, w, bias, relu, o, ob, ab));
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
        let mut acc = [[_mm512_setzero_ps(); 4]; N];
        if let Some(bias) = bias {
            for (q, a) in acc.iter_mut().enumerate() {
                *a = [_mm512_set1_ps(*bias.get_unchecked(o + q)); 4];
            }
        }
        let wp = w.as_ptr().add(o * l.ckk);
        for t in 0..l.ckk {
            let x = phase_inputs(b.xb, b.offs.as_ptr().add(4 * t));
            for (q, a) in acc.iter_mut().enumerate() {
                let wv = _mm512_set1_ps(*wp.add(q * l.ckk + t));
                for ph in 0..4 {
                    a[ph] = _mm512_fmadd_ps(wv, x[ph], a[ph]);
                }
            }
        }
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
                channel_blocks!(l.c_out, |o| backward_block(&blk, gyb, ab, o, gw, gb));
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
            let p = gb.add((o + q) * L);
            _mm512_storeu_ps(
                p,
                _mm512_add_ps(_mm512_loadu_ps(p), _mm512_maskz_mov_ps(live, v)),
            );
        }
        for t in 0..l.ckk {
            let x = phase_inputs(b.xb, b.offs.as_ptr().add(4 * t));
            for (q, gq) in g.iter().enumerate() {
                let p = gw.add(((o + q) * l.ckk + t) * L);
                let mut acc = _mm512_loadu_ps(p);
                for ph in 0..4 {
                    acc = _mm512_fmadd_ps(gq[ph], x[ph], acc);
                }
                _mm512_storeu_ps(p, acc);
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
        assert!(!applies::<f32>(&g, None));
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
}

//! The kernels of the direct convolution, one image per call, written once over 16-lane
//! vectors ([`Lanes`]) and compiled for AVX-512 and for AVX2 + FMA.
//!
//! The entry points (`forward_image`, `backward_image`, `plain_image`, `mask_grads`,
//! `plain_weight_grads`, in [`avx512`] and [`avx2`]) are safe `#[target_feature]` functions:
//! callers only need the CPU features; each entry point checks its layout and the lengths
//! of its slices, which bound every pointer the blocks below it read or write. The blocks
//! take raw pointers (a block addresses several planes at once) and are `unsafe fn`s whose
//! contracts those checks meet; they are inlined into the entry points, so they run with
//! the entry point's instruction set.

#![cfg(target_arch = "x86_64")]

use super::layout::{Layout, Plain};
use super::simd::{tail, Avx2, Avx512, Lanes};
use super::{Out, L, NONE};

/// Each instruction set's entry points and register blocks: output channels per block of
/// the pooled forward (4 phases each), pooled backward, unpooled forward (2 rows each)
/// and unpooled weight gradient (2 taps each). AVX-512 has 32 registers of 16 lanes,
/// AVX2 16 of 8: its blocks are a quarter of the size.
macro_rules! entry_points {
    ($isa:ident, $v:ty, $features:literal, $ob:literal, $obg:literal, $obp:literal, $obpg:literal) => {
        pub(super) mod $isa {
            use super::*;

            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = $features)]
            pub(in super::super) fn forward_image(
                l: &Layout,
                offs: &[usize],
                xp: &[f32],
                w: &[f32],
                bias: Option<&[f32]>,
                relu: bool,
                out: &mut [f32],
                arg: Option<&mut [u8]>,
            ) {
                // SAFETY: this function has the vectors' target features.
                unsafe { super::forward_image::<$v, $ob>(l, offs, xp, w, bias, relu, out, arg) }
            }

            #[target_feature(enable = $features)]
            pub(in super::super) fn backward_image(
                l: &Layout,
                offs: &[usize],
                xp: &[f32],
                gy: &[f32],
                arg: &[u8],
                gw: &mut [f32],
                gb: &mut [f32],
            ) {
                // SAFETY: as above.
                unsafe { super::backward_image::<$v, $obg>(l, offs, xp, gy, arg, gw, gb) }
            }

            #[target_feature(enable = $features)]
            pub(in super::super) fn plain_image(
                l: &Plain,
                offs: &[usize],
                xp: &[f32],
                w: &[f32],
                bias: Option<&[f32]>,
                out: Out<'_>,
            ) {
                // SAFETY: as above.
                unsafe { super::plain_image::<$v, $obp>(l, offs, xp, w, bias, out) }
            }

            #[target_feature(enable = $features)]
            pub(in super::super) fn mask_grads(
                c_out: usize,
                gy: &[f32],
                pos: &[u8],
                gm: &mut [f32],
                gb: &mut [f32],
            ) {
                // SAFETY: as above.
                unsafe { super::mask_grads::<$v>(c_out, gy, pos, gm, gb) }
            }

            #[target_feature(enable = $features)]
            pub(in super::super) fn plain_weight_grads(
                l: &Plain,
                offs: &[usize],
                xp: &[f32],
                gy: &[f32],
                gw: &mut [f32],
            ) {
                // SAFETY: as above.
                unsafe { super::plain_weight_grads::<$v, $obpg>(l, offs, xp, gy, gw) }
            }
        }
    };
}

entry_points!(avx512, Avx512, "avx512f,avx512bw,avx512vl", 6, 6, 12, 12);
entry_points!(avx2, Avx2, "avx2,fma", 1, 1, 2, 1);

/// Whether `len` holds the product of `dims` (which does not overflow).
fn holds(len: usize, dims: &[usize]) -> bool {
    dims.iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .is_some_and(|n| len >= n)
}

/// `P` input vectors of one tap, at `off[0..P]` from `xb`.
///
/// # Safety
/// The CPU has `V`'s instruction set; `off[0..P]` is readable, and so are the 16 floats
/// from `xb + off[p]` for each `p`.
#[inline(always)]
unsafe fn inputs<V: Lanes, const P: usize>(xb: *const f32, off: *const usize) -> [V; P] {
    // SAFETY: the caller guarantees the instruction set and the reads.
    unsafe {
        let mut x = [V::zero(); P];
        for (p, v) in x.iter_mut().enumerate() {
            *v = V::load(xb.add(*off.add(p)));
        }
        x
    }
}

/// The conv outputs of `N` channels at `P` positions: taps in the order (c, ki, kj),
/// from the bias. `wp` points at the first channel's `ckk` weights, `offs` at `P`
/// offsets per tap. With `S > 1`, tap `t` goes to partial sum `t % S` (another order:
/// more independent chains when `N` is small).
///
/// # Safety
/// The CPU has `V`'s instruction set; `wp[q * ckk + t]` (and `bias[q]`, when given) is
/// readable for `q < N`, `t < ckk`, and `offs` and `xb` are as [`inputs`] needs for each
/// tap's `P` offsets `offs[P * t..]`.
#[inline(always)]
unsafe fn conv_taps<V: Lanes, const N: usize, const P: usize, const S: usize>(
    xb: *const f32,
    offs: *const usize,
    wp: *const f32,
    ckk: usize,
    bias: Option<*const f32>,
) -> [[V; P]; N] {
    // SAFETY: the caller guarantees the instruction set and every read.
    unsafe {
        let mut acc = [[[V::zero(); P]; N]; S];
        if let Some(bias) = bias {
            for (q, a) in acc[0].iter_mut().enumerate() {
                *a = [V::splat(*bias.add(q)); P];
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
                    a[p] = V::add(a[p], b[p]);
                }
            }
        }
        sum
    }
}

/// Adds tap `t` into `acc` (see [`conv_taps`]).
///
/// # Safety
/// As for [`conv_taps`], for tap `t`.
#[inline(always)]
unsafe fn conv_tap<V: Lanes, const N: usize, const P: usize>(
    xb: *const f32,
    offs: *const usize,
    wp: *const f32,
    ckk: usize,
    t: usize,
    acc: &mut [[V; P]; N],
) {
    // SAFETY: the caller guarantees the instruction set and every read.
    unsafe {
        let x = inputs::<V, P>(xb, offs.add(P * t));
        for (q, a) in acc.iter_mut().enumerate() {
            let wv = V::splat(*wp.add(q * ckk + t));
            for p in 0..P {
                a[p] = V::fmadd(wv, x[p], a[p]);
            }
        }
    }
}

/// Adds `g[q][p] * input` of each tap into 16-lane partials `gw` `(N, ckk, 16)`.
///
/// # Safety
/// The CPU has `V`'s instruction set; `gw[..N * ckk * 16]` is writable, and `offs` and
/// `xb` are as [`inputs`] needs for each tap's `P` offsets `offs[P * t..]`, `t < ckk`.
#[inline(always)]
unsafe fn add_weight_grads<V: Lanes, const N: usize, const P: usize>(
    xb: *const f32,
    offs: *const usize,
    ckk: usize,
    g: &[[V; P]; N],
    gw: *mut f32,
) {
    // SAFETY: the caller guarantees the instruction set, the reads and the writes.
    unsafe {
        for t in 0..ckk {
            let x = inputs::<V, P>(xb, offs.add(P * t));
            for (q, gq) in g.iter().enumerate() {
                let p = gw.add((q * ckk + t) * L);
                let mut acc = V::load(p);
                for ph in 0..P {
                    acc = V::fmadd(gq[ph], x[ph], acc);
                }
                V::store(p, acc);
            }
        }
    }
}

/// Adds `v` into the 16 partial sums at `p`.
///
/// # Safety
/// The CPU has `V`'s instruction set; the 16 floats from `p` are readable and writable.
#[inline(always)]
unsafe fn add_lanes<V: Lanes>(p: *mut f32, v: V) {
    // SAFETY: the caller guarantees the instruction set and the access.
    unsafe { V::store(p, V::add(V::load(p), v)) }
}

/// Calls `$f::<V, N>` for each block of output channels: full blocks of `$ob`, then the
/// rest (`$n` lists 1 .. the largest `$ob` - 1). Every `o..o + N` it passes is within
/// `0..$c_out`.
macro_rules! channel_blocks {
    ($c_out:expr, $ob:ident: $($n:literal)*, |$o:ident| $f:ident $args:tt) => {{
        let mut $o = 0;
        while $o + $ob <= $c_out {
            $f::<V, $ob> $args;
            $o += $ob;
        }
        match $c_out - $o {
            $($n if $n < $ob => $f::<V, $n> $args,)*
            _ => {}
        }
    }};
}

/// One image: `out` and `arg` (when given) `(O, Hq, Wq)` get the pooled outputs and the
/// phase of each maximum, from `xp` filled by [`Layout::fill`], `w` `(O, CKK)` and `bias`
/// `(O,)`; blocks of `OB` channels.
///
/// # Safety
/// The CPU has `V`'s instruction set.
///
/// # Panics
/// When `l` is not [`Layout::valid`], or a slice is shorter than that.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn forward_image<V: Lanes, const OB: usize>(
    l: &Layout,
    offs: &[usize],
    xp: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
    mut arg: Option<&mut [u8]>,
) {
    assert!(l.valid() && offs.len() == 4 * l.ckk);
    assert!(l.reads_end(offs).is_some_and(|end| end <= xp.len()));
    assert!(holds(w.len(), &[l.c_out, l.ckk]) && holds(out.len(), &[l.c_out, l.hq, l.wq]));
    assert!(bias.is_none_or(|b| b.len() >= l.c_out));
    assert!(arg
        .as_ref()
        .is_none_or(|a| holds(a.len(), &[l.c_out, l.hq, l.wq])));
    for pi in 0..l.hq {
        for jb in 0..l.nb {
            // `valid`: the block starts inside the pooled row.
            let j0 = jb * L;
            let mask = tail(l.wq - j0);
            let at = pi * l.wq + j0;
            // SAFETY: `pi * bs + j0` is at most the last block's base (below `reads_end`),
            // `at` is inside channel 0's plane of `out` and `arg`.
            let (xb, ob, ab) = unsafe {
                (
                    xp.as_ptr().add(pi * l.bs + j0),
                    out.as_mut_ptr().add(at),
                    arg.as_deref_mut().map(|a| a.as_mut_ptr().add(at)),
                )
            };
            let blk = Block { l, offs, xb, mask };
            // SAFETY: the block reads the inputs below `reads_end` and the weights and bias
            // of channels `o..o + N` < `c_out`; it writes the lanes of `mask`, inside the
            // pooled row, of those channels' planes of `out` and `arg`; the instruction set
            // is the caller's.
            unsafe {
                channel_blocks!(l.c_out, OB: 1 2 3 4 5, |o| forward_block(&blk, w, bias, relu, o, ob, ab));
            }
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
    mask: u16,
}

/// `gt(v, best)`: `v > best`, or `v` is NaN and `best` is not (a NaN wins).
///
/// # Safety
/// The CPU has `V`'s instruction set.
#[inline(always)]
unsafe fn gt<V: Lanes>(v: V, best: V) -> u16 {
    // SAFETY: the caller's.
    unsafe { V::gt(v, best) | (V::is_nan(v) & !V::is_nan(best)) }
}

/// Output channels `o..o + N` of one block. `ob` and `ab` point at the block in channel
/// 0's output and argmax planes.
///
/// # Safety
/// The CPU has `V`'s instruction set; `b.xb` and `b.offs` are as [`inputs`] needs for
/// every tap; `w` and `bias` hold channels `o..o + N`; the lanes of `b.mask` from `ob` and
/// `ab` (when given), plus `(o + q) * hq * wq` for `q < N`, are writable.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn forward_block<V: Lanes, const N: usize>(
    b: &Block<'_>,
    w: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    o: usize,
    ob: *mut f32,
    ab: Option<*mut u8>,
) {
    let l = b.l;
    let plane = l.hq * l.wq;
    // SAFETY: channels `o..o + N` are inside `w` and `bias`; the reads, the writes and
    // the instruction set are the caller's.
    unsafe {
        let (wp, bias) = (w.as_ptr().add(o * l.ckk), bias.map(|v| v.as_ptr().add(o)));
        let acc = conv_taps::<V, N, 4, 1>(b.xb, b.offs.as_ptr(), wp, l.ckk, bias);
        for (q, a) in acc.iter().enumerate() {
            // The first maximum in the order (0,0), (0,1), (1,0), (1,1); a NaN wins.
            let mut best = a[0];
            let mut idx = V::zero();
            for (ph, &v) in a.iter().enumerate().skip(1) {
                let m = gt(v, best);
                best = V::blend(m, best, v);
                idx = V::blend(m, idx, V::splat(ph as f32));
            }
            if relu {
                let zero = V::zero();
                let off = V::le(best, zero);
                best = V::blend(off, best, zero);
                idx = V::blend(off, idx, V::splat(NONE as f32));
            }
            V::store_masked(ob.add((o + q) * plane), b.mask, best);
            if let Some(ab) = ab {
                V::store_bytes(ab.add((o + q) * plane), b.mask, idx);
            }
        }
    }
}

/// One image's weight and bias gradients, added into 16-lane partial sums `gw`
/// `(O, CKK, 16)` and `gb` `(O, 16)`, from `xp` as for [`forward_image`] and `gy` and
/// `arg` `(O, Hq, Wq)`; blocks of `OB` channels.
///
/// # Safety
/// The CPU has `V`'s instruction set.
///
/// # Panics
/// When `l` is not [`Layout::valid`], or a slice is shorter than that.
#[inline(always)]
unsafe fn backward_image<V: Lanes, const OB: usize>(
    l: &Layout,
    offs: &[usize],
    xp: &[f32],
    gy: &[f32],
    arg: &[u8],
    gw: &mut [f32],
    gb: &mut [f32],
) {
    assert!(l.valid() && offs.len() == 4 * l.ckk);
    assert!(l.reads_end(offs).is_some_and(|end| end <= xp.len()));
    assert!(holds(gy.len(), &[l.c_out, l.hq, l.wq]) && holds(arg.len(), &[l.c_out, l.hq, l.wq]));
    assert!(holds(gw.len(), &[l.c_out, l.ckk, L]) && holds(gb.len(), &[l.c_out, L]));
    for pi in 0..l.hq {
        for jb in 0..l.nb {
            // `valid`: the block starts inside the pooled row.
            let j0 = jb * L;
            let at = pi * l.wq + j0;
            // SAFETY: `pi * bs + j0` is at most the last block's base (below `reads_end`),
            // `at` is inside channel 0's plane of `gy` and `arg`.
            let (xb, gyb, ab) = unsafe {
                (
                    xp.as_ptr().add(pi * l.bs + j0),
                    gy.as_ptr().add(at),
                    arg.as_ptr().add(at),
                )
            };
            let blk = Block {
                l,
                offs,
                xb,
                mask: tail(l.wq - j0),
            };
            let (gw, gb) = (gw.as_mut_ptr(), gb.as_mut_ptr());
            // SAFETY: the block reads the inputs below `reads_end` and the lanes of `mask`,
            // inside the pooled row, of channels `o..o + N` < `c_out` of `gy` and `arg`; it
            // updates those channels' partial sums, inside `gw` and `gb`; the instruction
            // set is the caller's.
            unsafe {
                channel_blocks!(l.c_out, OB: 1 2 3 4 5, |o| backward_block(&blk, gyb, ab, o, gw, gb));
            }
        }
    }
}

/// Output channels `o..o + N` of one block; `gyb` and `ab` point at the block in channel
/// 0's gradient and argmax planes.
///
/// # Safety
/// The CPU has `V`'s instruction set; `b.xb` and `b.offs` are as [`inputs`] needs for
/// every tap; the lanes of `b.mask` from `gyb` and `ab` plus `(o + q) * hq * wq` are
/// readable, and `gw[(o..o + N) * ckk * 16]` and `gb[(o..o + N) * 16]` writable, for
/// `q < N`.
#[inline(always)]
unsafe fn backward_block<V: Lanes, const N: usize>(
    b: &Block<'_>,
    gyb: *const f32,
    ab: *const u8,
    o: usize,
    gw: *mut f32,
    gb: *mut f32,
) {
    let l = b.l;
    let plane = l.hq * l.wq;
    // SAFETY: the reads, the writes and the instruction set are the caller's.
    unsafe {
        // The gradient of each phase's conv output: gy where that phase won, else 0.
        let zero = V::zero();
        let mut g = [[zero; 4]; N];
        for (q, gq) in g.iter_mut().enumerate() {
            let v = V::load_masked(b.mask, gyb.add((o + q) * plane));
            let a = V::load_bytes(b.mask, ab.add((o + q) * plane));
            for (ph, gp) in gq.iter_mut().enumerate() {
                *gp = V::blend(b.mask & V::eq(a, V::splat(ph as f32)), zero, v);
            }
            let live = b.mask & !V::eq(a, V::splat(NONE as f32));
            add_lanes(gb.add((o + q) * L), V::blend(live, zero, v));
        }
        add_weight_grads::<V, N, 4>(b.xb, b.offs.as_ptr(), l.ckk, &g, gw.add(o * l.ckk * L));
    }
}

/// Where one block of two output rows by 16 columns reads and writes.
struct PlainBlock<'a> {
    l: &'a Plain,
    offs: &'a [usize],
    xb: *const f32,
    /// The block's offset in channel 0's output plane.
    at: usize,
    /// The lanes inside the output, per row of the pair (none for a row past the end).
    masks: [u16; 2],
}

impl PlainBlock<'_> {
    /// Row `r` of the block in plane `c` of a `(C, Ho, Wo)` array at `p`. A row past the
    /// end (mask 0) may point past the array: it is never accessed.
    fn row<T>(&self, p: *const T, c: usize, r: usize) -> *const T {
        let l = self.l;
        p.wrapping_add(c * l.ho * l.wo + self.at + r * l.wo)
    }
}

/// The block of the output grid of `l` at output row `i` (even), 16-lane block `jb`. With
/// read bounds checked, every block's `xb` is at most the last block's base, below
/// `l.reads_end(offs)`.
#[inline(always)]
fn plain_block_at<'a>(
    l: &'a Plain,
    offs: &'a [usize],
    xp: &[f32],
    (i, jb): (usize, usize),
) -> PlainBlock<'a> {
    // `valid`: the block starts inside the output row.
    let j0 = jb * L;
    let m = tail(l.wo - j0);
    PlainBlock {
        l,
        offs,
        xb: xp.as_ptr().wrapping_add(l.base(i, j0)),
        at: i * l.wo + j0,
        masks: [m, if i + 1 < l.ho { m } else { 0 }],
    }
}

/// One image without pooling: `out.y` and `out.pos` (when given) `(O, Ho, Wo)` get the
/// (ReLU'd) outputs and where they are positive, from `xp` filled by [`Plain::fill`], `w`
/// `(O, CKK)` and `bias` `(O,)`; blocks of `OB` channels. Every element of
/// `out.y[..O * Ho * Wo]` is written.
///
/// # Safety
/// The CPU has `V`'s instruction set.
///
/// # Panics
/// When `l` is not [`Plain::valid`], or a slice is shorter than that.
#[inline(always)]
unsafe fn plain_image<V: Lanes, const OB: usize>(
    l: &Plain,
    offs: &[usize],
    xp: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    mut out: Out<'_>,
) {
    assert!(l.valid() && offs.len() == 2 * l.ckk);
    assert!(l.reads_end(offs).is_some_and(|end| end <= xp.len()));
    assert!(holds(w.len(), &[l.c_out, l.ckk]) && holds(out.y.len(), &[l.c_out, l.ho, l.wo]));
    assert!(bias.is_none_or(|b| b.len() >= l.c_out));
    assert!(out
        .pos
        .as_ref()
        .is_none_or(|a| holds(a.len(), &[l.c_out, l.ho, l.wo])));
    let (y, pos) = (
        out.y.as_mut_ptr().cast::<f32>(),
        out.pos.as_deref_mut().map(|p| p.as_mut_ptr()),
    );
    let (relu, add) = (out.relu, out.add);
    for i in (0..l.ho).step_by(2) {
        for jb in 0..l.nb {
            let b = &plain_block_at(l, offs, xp, (i, jb));
            // SAFETY: the block reads the inputs below `reads_end` and the weights and bias
            // of channels `o..o + N` < `c_out`; it writes (and with `add` reads) the lanes
            // of its masks, inside the output rows, of those channels' planes of `y` and
            // `pos`; the instruction set is the caller's.
            unsafe {
                channel_blocks!(l.c_out, OB: 1 2 3 4 5 6 7 8 9 10 11, |o| plain_block(
                    b, w, bias, o, y, pos, relu, add
                ));
            }
        }
    }
}

/// Output channels `o..o + N` of one block.
///
/// # Safety
/// The CPU has `V`'s instruction set; `b.xb` and `b.offs` are as [`inputs`] needs for
/// every tap; `w` and `bias` hold channels `o..o + N`; the lanes of `b.masks` of rows
/// [`PlainBlock::row`] of planes `o..o + N` of `y` and `pos` (when given) are writable
/// (and, with `add`, `y`'s initialised).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn plain_block<V: Lanes, const N: usize>(
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
    let (xb, offs) = (b.xb, b.offs.as_ptr());
    // SAFETY: channels `o..o + N` are inside `w` and `bias`; the reads, the writes and the
    // instruction set are the caller's.
    unsafe {
        let (wp, bias) = (w.as_ptr().add(o * l.ckk), bias.map(|v| v.as_ptr().add(o)));
        // Gradients (`add`) need no fixed order: few channels get more chains.
        let acc = if add && N <= 2 && V::ONE_REGISTER {
            conv_taps::<V, N, 2, 4>(xb, offs, wp, l.ckk, bias)
        } else if add && N == 1 {
            conv_taps::<V, N, 2, 2>(xb, offs, wp, l.ckk, bias)
        } else {
            conv_taps::<V, N, 2, 1>(xb, offs, wp, l.ckk, bias)
        };
        let (zero, one) = (V::zero(), V::splat(1.0));
        for (q, a) in acc.iter().enumerate() {
            for (r, (&m, &v)) in b.masks.iter().zip(a).enumerate() {
                let yr = b.row(y, o + q, r).cast_mut();
                let mut v = v;
                if add {
                    v = V::add(v, V::load_masked(m, yr));
                }
                if relu {
                    // As the im2col path: only negatives become 0 (-0.0 and NaN stay).
                    v = V::blend(V::lt(v, zero), v, zero);
                }
                V::store_masked(yr, m, v);
                if let Some(pos) = pos {
                    let pr = b.row(pos, o + q, r).cast_mut();
                    V::store_bytes(pr, m, V::blend(V::gt(v, zero), zero, one));
                }
            }
        }
    }
}

/// `gm` = `gy` `(O, plane)` where `pos` is not 0, else 0 (when `pos` is not empty), and
/// the sums of the result added into 16-lane partials `gb` `(O, 16)`.
///
/// # Safety
/// The CPU has `V`'s instruction set.
///
/// # Panics
/// When a slice is shorter than that.
#[inline(always)]
unsafe fn mask_grads<V: Lanes>(
    c_out: usize,
    gy: &[f32],
    pos: &[u8],
    gm: &mut [f32],
    gb: &mut [f32],
) {
    let plane = gy.len() / c_out;
    assert!(pos.is_empty() || (pos.len() == gy.len() && gm.len() >= gy.len()));
    assert!(holds(gb.len(), &[c_out, L]));
    for o in 0..c_out {
        // SAFETY: the caller's instruction set.
        let mut sum = unsafe { V::zero() };
        for j in (0..plane).step_by(L) {
            let (at, full) = (o * plane + j, tail(plane - j));
            // SAFETY: the lanes of `full` from `at` are inside plane `o` of `gy` (and of
            // `pos` and `gm`, when `pos` is given: they are as long).
            unsafe {
                let mut m = full;
                if !pos.is_empty() {
                    let p = V::load_bytes(full, pos.as_ptr().add(at));
                    m &= !V::eq(p, V::zero());
                }
                let v = V::load_masked(m, gy.as_ptr().add(at));
                if !pos.is_empty() {
                    V::store_masked(gm.as_mut_ptr().add(at), full, v);
                }
                sum = V::add(sum, v);
            }
        }
        // SAFETY: channel `o`'s 16 partials are inside `gb`.
        unsafe { add_lanes(gb.as_mut_ptr().add(o * L), sum) };
    }
}

/// One image's weight gradients without pooling, added into 16-lane partial sums `gw`
/// `(O, CKK, 16)`, from `xp` as for [`plain_image`] and `gy` `(O, Ho, Wo)` (already
/// ReLU-masked); blocks of `OB` channels.
///
/// # Safety
/// The CPU has `V`'s instruction set.
///
/// # Panics
/// When `l` is not [`Plain::valid`], or a slice is shorter than that.
#[inline(always)]
unsafe fn plain_weight_grads<V: Lanes, const OB: usize>(
    l: &Plain,
    offs: &[usize],
    xp: &[f32],
    gy: &[f32],
    gw: &mut [f32],
) {
    assert!(l.valid() && offs.len() == 2 * l.ckk);
    assert!(l.reads_end(offs).is_some_and(|end| end <= xp.len()));
    assert!(holds(gy.len(), &[l.c_out, l.ho, l.wo]) && holds(gw.len(), &[l.c_out, l.ckk, L]));
    let (gy, gw) = (gy.as_ptr(), gw.as_mut_ptr());
    // SAFETY: each call reads the inputs below `reads_end` and the lanes inside the output
    // rows of planes `o..o + N` < `c_out` of `gy`; it updates those channels' partials; the
    // instruction set is the caller's.
    unsafe {
        channel_blocks!(l.c_out, OB: 1 2 3 4 5 6 7 8 9 10 11, |o| plain_grad_taps(
            l, offs, xp, gy, o, gw
        ));
    }
}

/// Output channels `o..o + N`: for each tap, the sum over the whole image in registers,
/// two taps at a time (each gradient vector loaded serves both).
///
/// # Safety
/// The CPU has `V`'s instruction set; `xp` and `offs` passed [`Plain::reads_end`]; the
/// lanes inside the output rows of planes `o..o + N` of `gy` are readable, and
/// `gw[(o..o + N) * ckk * 16]` writable.
#[inline(always)]
unsafe fn plain_grad_taps<V: Lanes, const N: usize>(
    l: &Plain,
    offs: &[usize],
    xp: &[f32],
    gy: *const f32,
    o: usize,
    gw: *mut f32,
) {
    let mut t = 0;
    // SAFETY: taps `t..t + T` < `ckk`, with the caller's bounds.
    unsafe {
        while t + 2 <= l.ckk {
            grad_taps::<V, N, 2>(l, offs, xp, gy, o, gw, t);
            t += 2;
        }
        if t < l.ckk {
            grad_taps::<V, N, 1>(l, offs, xp, gy, o, gw, t);
        }
    }
}

/// Taps `t0..t0 + T` of [`plain_grad_taps`].
///
/// # Safety
/// As for [`plain_grad_taps`], and `t0 + T <= ckk`.
#[inline(always)]
unsafe fn grad_taps<V: Lanes, const N: usize, const T: usize>(
    l: &Plain,
    offs: &[usize],
    xp: &[f32],
    gy: *const f32,
    o: usize,
    gw: *mut f32,
    t0: usize,
) {
    // SAFETY: the caller's instruction set.
    let mut acc = [[unsafe { V::zero() }; T]; N];
    for i in (0..l.ho).step_by(2) {
        for jb in 0..l.nb {
            let b = plain_block_at(l, offs, xp, (i, jb));
            // SAFETY: tap `t0 + u`'s two offsets are inside `offs`, its reads below
            // `reads_end`; the lanes of `m` in this row of plane `o + q` are the caller's.
            unsafe {
                let mut x = [[V::zero(); 2]; T];
                for (u, xu) in x.iter_mut().enumerate() {
                    *xu = inputs::<V, 2>(b.xb, offs.as_ptr().add(2 * (t0 + u)));
                }
                for (q, a) in acc.iter_mut().enumerate() {
                    for (r, &m) in b.masks.iter().enumerate() {
                        let g = V::load_masked(m, b.row(gy, o + q, r));
                        for (au, xu) in a.iter_mut().zip(&x) {
                            *au = V::fmadd(g, xu[r], *au);
                        }
                    }
                }
            }
        }
    }
    for (q, a) in acc.iter().enumerate() {
        for (u, &v) in a.iter().enumerate() {
            // SAFETY: channel `o + q`'s partials of tap `t0 + u` are the caller's.
            unsafe { add_lanes(gw.add(((o + q) * l.ckk + t0 + u) * L), v) };
        }
    }
}

//! The sizes of one convolution or pooling, all known at run time, per axis.

use dfdx::prelude::*;

use super::{out_size, Conv2DParams, PoolParams};

/// Sizes of one convolution: input `(batch, c_in, h, w)`, weight `(c_out, c_in, kh, kw)`,
/// output `(batch, c_out, h_out, w_out)`; stride, padding and dilation per axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub batch: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub dh: usize,
    pub dw: usize,
    pub h_out: usize,
    pub w_out: usize,
}

impl ConvGeom {
    /// Taps per output: `c_in * kh * kw`.
    pub fn taps(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// Input row and column of kernel tap (`ki`, `kj`) for output (`oi`, `oj`), or `None` in
    /// the padding.
    #[inline(always)]
    pub fn src(&self, oi: usize, oj: usize, ki: usize, kj: usize) -> Option<(usize, usize)> {
        let r = (oi * self.sh + ki * self.dh).checked_sub(self.ph)?;
        let c = (oj * self.sw + kj * self.dw).checked_sub(self.pw)?;
        (r < self.h && c < self.w).then_some((r, c))
    }

    /// The kernel size and padding when the convolution is square with stride 1 and no
    /// dilation (what the direct kernels compute), else `None`.
    pub fn square_unit(&self) -> Option<(usize, usize)> {
        let unit = [self.sh, self.sw, self.dh, self.dw] == [1; 4];
        (unit && self.kh == self.kw && self.ph == self.pw).then_some((self.kh, self.ph))
    }
}

/// Sizes of one pooling: `planes` planes of `h x w`, windows `kh x kw`, stride and padding
/// per axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolGeom {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub h_out: usize,
    pub w_out: usize,
}

impl PoolGeom {
    /// Input row and column of window tap (`ki`, `kj`) for output (`oi`, `oj`), or `None`
    /// in the padding.
    #[inline(always)]
    pub fn src(&self, oi: usize, oj: usize, ki: usize, kj: usize) -> Option<(usize, usize)> {
        let r = (oi * self.sh + ki).checked_sub(self.ph)?;
        let c = (oj * self.sw + kj).checked_sub(self.pw)?;
        (r < self.h && c < self.w).then_some((r, c))
    }

    /// Taps per window: `kh * kw`.
    pub fn taps(&self) -> usize {
        self.kh * self.kw
    }

    /// Whether one unpadded window covers the whole plane (a global pooling).
    pub fn is_global(&self) -> bool {
        [self.kh, self.kw, self.ph, self.pw] == [self.h, self.w, 0, 0]
    }

    /// Whether this is `MaxPool2D(2)`: 2x2 windows, stride 2, no padding.
    pub fn is_2x2(&self) -> bool {
        [self.kh, self.kw, self.sh, self.sw, self.ph, self.pw] == [2, 2, 2, 2, 0, 0]
    }
}

/// Geometry of a convolution, or `None` if the weight does not fit the input.
pub(crate) fn conv_geom<B: Dim>(
    x: &(B, usize, usize, usize),
    w: &(usize, usize, usize, usize),
    p: Conv2DParams,
) -> Option<ConvGeom> {
    let &(b, c_in, h, wd) = x;
    let &(c_out, wc, kh, kw) = w;
    if wc != c_in {
        return None;
    }
    let ([sh, sw], [ph, pw], [dh, dw]) = (p.stride, p.padding, p.dilation);
    Some(ConvGeom {
        batch: b.size(),
        c_in,
        h,
        w: wd,
        c_out,
        kh,
        kw,
        sh,
        sw,
        ph,
        pw,
        dh,
        dw,
        h_out: out_size(h, kh, sh, ph, dh)?,
        w_out: out_size(wd, kw, sw, pw, dw)?,
    })
}

/// Geometry of a pooling, or `None` if the window does not fit the input or the padding
/// is more than half the window.
pub(crate) fn pool_geom<B: Dim>(x: &(B, usize, usize, usize), p: PoolParams) -> Option<PoolGeom> {
    let &(b, c, h, w) = x;
    let ([kh, kw], [sh, sw], [ph, pw]) = (p.window, p.stride, p.padding);
    if 2 * ph > kh || 2 * pw > kw {
        return None;
    }
    Some(PoolGeom {
        planes: b.size() * c,
        h,
        w,
        kh,
        kw,
        sh,
        sw,
        ph,
        pw,
        h_out: out_size(h, kh, sh, ph, 1)?,
        w_out: out_size(w, kw, sw, pw, 1)?,
    })
}

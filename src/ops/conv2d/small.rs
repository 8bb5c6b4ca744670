//! Loops for thin matrix products (im2col convolutions whose kernels have few taps),
//! compiled twice: for the baseline target and with AVX2 (chosen at run time), so that
//! LLVM vectorises them 8 floats wide where the CPU can.

use crate::element::Element;

/// Whether this CPU runs the AVX2 + FMA versions.
#[inline]
fn fast() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `y (m x n) += a (m x k) * b (k x n)`, all row-major; `k` small.
pub(crate) fn matmul_acc<E: Element>(mnk: (usize, usize, usize), y: &mut [E], a: &[E], b: &[E]) {
    #[cfg(target_arch = "x86_64")]
    if fast() {
        // SAFETY: the CPU has AVX2 and FMA (checked by `fast`).
        return unsafe { matmul_acc_fma(mnk, y, a, b) };
    }
    matmul_acc_impl::<E, false>(mnk, y, a, b)
}

/// `y (m x k) += a (m x n) * b^T`, with `b` (k x n) row-major: dot products of rows.
pub(crate) fn matmul_bt_acc<E: Element>(mkn: (usize, usize, usize), y: &mut [E], a: &[E], b: &[E]) {
    #[cfg(target_arch = "x86_64")]
    if fast() {
        // SAFETY: the CPU has AVX2 and FMA (checked by `fast`).
        return unsafe { matmul_bt_acc_fma(mkn, y, a, b) };
    }
    matmul_bt_acc_impl::<E, false>(mkn, y, a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn matmul_acc_fma<E: Element>(mnk: (usize, usize, usize), y: &mut [E], a: &[E], b: &[E]) {
    matmul_acc_impl::<E, true>(mnk, y, a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn matmul_bt_acc_fma<E: Element>(mkn: (usize, usize, usize), y: &mut [E], a: &[E], b: &[E]) {
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
pub(crate) fn sum<E: Element>(x: &[E]) -> E {
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
pub(crate) mod portable {
    use crate::element::Element;

    pub(crate) fn matmul_acc<E: Element>(
        mnk: (usize, usize, usize),
        y: &mut [E],
        a: &[E],
        b: &[E],
    ) {
        super::matmul_acc_impl::<E, false>(mnk, y, a, b)
    }

    pub(crate) fn matmul_bt_acc<E: Element>(
        mkn: (usize, usize, usize),
        y: &mut [E],
        a: &[E],
        b: &[E],
    ) {
        super::matmul_bt_acc_impl::<E, false>(mkn, y, a, b)
    }
}

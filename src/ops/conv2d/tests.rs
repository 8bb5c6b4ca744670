//! The convolution's loops that the reference tests (`tests/ops_reference.rs`) cannot
//! reach on every CPU.

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

/// The operand check of im2col's gemm call: sizes, strides, empty matrices, overflow.
#[test]
fn matmul_operands_are_bounded() {
    use super::im2col::fits;
    assert!(fits(6, (2, 3), (3, 1)));
    assert!(!fits(5, (2, 3), (3, 1)));
    assert!(fits(6, (3, 2), (1, 3)));
    assert!(fits(0, (0, 5), (5, 1)) && fits(0, (5, 0), (1, 5)));
    assert!(!fits(usize::MAX, (3, 2), (usize::MAX / 2, 1)));
}

/// The im2col path against naive f64 loops, forward and both gradients, for geometries
/// with padding, stride 2 and many taps (the product path), each with one output row per
/// chunk and with the whole image in one chunk.
#[test]
fn im2col_chunks_match_naive_loops() {
    use super::im2col::{backward_in, forward_in};
    use super::{Argmax, Saved};
    use crate::ops::geom::ConvGeom;
    // (c_in, h = w, c_out, stride, padding, dilation, kernel)
    let cases = [
        (32usize, 9usize, 5usize, 1usize, 1usize, 1usize, 3usize),
        (7, 11, 6, 2, 1, 1, 3),
        (40, 6, 3, 1, 0, 1, 3),
        (5, 13, 4, 2, 2, 2, 3),
        (9, 10, 3, 3, 0, 1, 3),
        // The strided benchmark model's convs (9 taps: the thin product; 288: the gemm).
        (1, 28, 32, 2, 1, 1, 3),
        (32, 14, 64, 2, 1, 1, 3),
        // Stride 2 without padding, on an odd width, and a kernel wider than the stride
        // (fewer than 8 channels: the select per element).
        (3, 9, 4, 2, 0, 1, 5),
        // The same with 8 channels and more (the gathered im2col), and with dilation.
        (10, 9, 4, 2, 0, 1, 5),
        (8, 13, 4, 2, 2, 2, 3),
        // 64 outputs per chunk: padded im2col rows.
        (36, 8, 5, 1, 1, 1, 3),
        // 3x3, stride 1, 16 channels and more on each side, 512 pairs and more: Winograd,
        // forward, input gradient (padded, and padded only for the gradient) and weight
        // gradient; odd sizes (16 -> 32 on 7 x 7).
        (40, 26, 40, 1, 1, 1, 3),
        (20, 20, 64, 1, 0, 1, 3),
        (64, 18, 20, 1, 0, 1, 3),
        (16, 7, 32, 1, 1, 1, 3),
        // Rows of 16 and more, 1024 outputs per row and more, not 3x3: the product
        // straight from the padded image, forward only and input gradient only.
        (20, 20, 64, 1, 2, 1, 5),
        (64, 18, 20, 1, 2, 1, 5),
    ];
    let mut winograd = 0;
    for &(c_in, h, c_out, s, p, d, k) in &cases {
        let ho = (h + 2 * p - d * (k - 1) - 1) / s + 1;
        let g = ConvGeom {
            batch: 2,
            c_in,
            h,
            w: h,
            c_out,
            kh: k,
            kw: k,
            sh: s,
            sw: s,
            ph: p,
            pw: p,
            dh: d,
            dw: d,
            h_out: ho,
            w_out: ho,
        };
        let rows = super::implicit::Rows::forward::<f32>(&g);
        winograd += rows.and_then(|r| r.winograd_tiles::<f32>()).is_some() as usize;
        let x: Vec<f32> = (0..2 * c_in * h * h)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let w: Vec<f32> = (0..c_out * c_in * k * k)
            .map(|i| ((i * 104729) % 997) as f32 / 997.0 - 0.5)
            .collect();
        let gy: Vec<f32> = (0..2 * c_out * ho * ho)
            .map(|i| ((i * 31) % 101) as f32 / 101.0 - 0.5)
            .collect();
        let xi = |b: usize, c: usize, r: isize, q: isize| -> f64 {
            if r < 0 || q < 0 || r >= h as isize || q >= h as isize {
                0.0
            } else {
                x[((b * c_in + c) * h + r as usize) * h + q as usize] as f64
            }
        };
        let mut y_ref = vec![0f64; gy.len()];
        let mut gw_ref = vec![0f64; w.len()];
        let mut gx_ref = vec![0f64; x.len()];
        for b in 0..2 {
            for o in 0..c_out {
                for i in 0..ho {
                    for j in 0..ho {
                        let yi = ((b * c_out + o) * ho + i) * ho + j;
                        for c in 0..c_in {
                            for ki in 0..k {
                                for kj in 0..k {
                                    let (r, q) = (
                                        (i * s + ki * d) as isize - p as isize,
                                        (j * s + kj * d) as isize - p as isize,
                                    );
                                    let wi = ((o * c_in + c) * k + ki) * k + kj;
                                    y_ref[yi] += w[wi] as f64 * xi(b, c, r, q);
                                    gw_ref[wi] += gy[yi] as f64 * xi(b, c, r, q);
                                    if r >= 0 && q >= 0 && r < h as isize && q < h as isize {
                                        gx_ref
                                            [((b * c_in + c) * h + r as usize) * h + q as usize] +=
                                            gy[yi] as f64 * w[wi] as f64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for budget in [1usize, 1 << 30] {
            let mut out = vec![0f32; gy.len()];
            forward_in(&g, None, (&x, &w, None), false, &mut out, &mut [], budget);
            let arg = Argmax::Plane(Vec::new());
            let sv = Saved {
                x: &x,
                w: &w,
                arg: &arg,
                pool: None,
            };
            let mut gx = vec![0f32; x.len()];
            let (gw, _) = backward_in(&g, &sv, &gy, Some(&mut gx), budget);
            let close = |a: &[f32], b: &[f64], what: &str| {
                for (i, (&a, &b)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (a as f64 - b).abs() < 1e-4 * (1.0 + b.abs()),
                        "{what}[{i}]: {a} vs {b} ({c_in} {h} {c_out} {s} budget {budget})"
                    );
                }
            };
            close(&out, &y_ref, "y");
            close(&gw, &gw_ref, "gw");
            close(&gx, &gx_ref, "gx");
        }
    }
    // The four Winograd cases above take it (where the CPU runs typenet's product).
    if crate::ops::gemm::available() {
        assert_eq!(winograd, 4);
    }
}

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

// The shape arithmetic of `network!`, shared word for word with `typenet::ops::out_size`
// (tests/shape_proptest.rs includes this file and checks that the two agree).

/// Output size along one spatial axis: `(n + 2p - d(k-1) - 1) / s + 1`, or `None` when
/// the (dilated) kernel does not fit the padded input or a size is zero.
pub const fn out_size(n: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    if k == 0 || s == 0 || d == 0 {
        return None;
    }
    let span = d * (k - 1) + 1;
    let padded = n + 2 * p;
    if span > padded {
        return None;
    }
    Some((padded - span) / s + 1)
}

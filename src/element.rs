//! The element types the layers compute in, and the f32 views the fast kernels use.

use dfdx::prelude::*;

/// An element type the layers can compute in: `f32` or `f64`. Sealed: the kernels know
/// every element type.
pub trait Element:
    Dtype
    + num_traits::Float
    + rand_distr::uniform::SampleUniform
    + crate::ops::scratch::Reuse
    + sealed::F32View
    + Send
    + Sync
    + 'static
{
    /// An integer that orders like the float (IEEE total order, except that -0.0 and +0.0
    /// are equal; a positive NaN is above +inf). Integer compares let kernels select
    /// without branches.
    fn order_key(self) -> i64;
}

impl Element for f32 {
    #[inline(always)]
    fn order_key(self) -> i64 {
        // `+ 0.0` turns -0.0 into +0.0: the two zeros compare equal, as in IEEE.
        let b = (self + 0.0).to_bits() as i32;
        (b ^ (((b >> 31) as u32) >> 1) as i32) as i64
    }
}

impl Element for f64 {
    #[inline(always)]
    fn order_key(self) -> i64 {
        let b = (self + 0.0).to_bits() as i64;
        b ^ (((b >> 63) as u64) >> 1) as i64
    }
}

/// A 4-d tensor whose dimensions other than the batch are only known at run time.
pub type Tensor4<B, E, D, T> = Tensor<(B, usize, usize, usize), E, D, T>;

pub(crate) mod sealed {
    /// Data of an [`Element`](super::Element) as f32, where it is f32: the f32-only
    /// kernels take their slices from here instead of casting pointers.
    pub trait F32View: Sized {
        /// Whether the type is `f32` (then every view is `Some`).
        const IS_F32: bool;
        /// `v` as f32s, or `None` when `Self` is not f32.
        fn as_f32s(v: &[Self]) -> Option<&[f32]>;
        /// `v` as mutable f32s, or `None` when `Self` is not f32.
        fn as_f32s_mut(v: &mut [Self]) -> Option<&mut [f32]>;
        /// `v` as a vector of `Self`, or `None` when `Self` is not f32.
        fn from_f32_vec(v: Vec<f32>) -> Option<Vec<Self>>;
    }

    impl F32View for f32 {
        const IS_F32: bool = true;
        fn as_f32s(v: &[f32]) -> Option<&[f32]> {
            Some(v)
        }
        fn as_f32s_mut(v: &mut [f32]) -> Option<&mut [f32]> {
            Some(v)
        }
        fn from_f32_vec(v: Vec<f32>) -> Option<Vec<f32>> {
            Some(v)
        }
    }

    impl F32View for f64 {
        const IS_F32: bool = false;
        fn as_f32s(_: &[f64]) -> Option<&[f32]> {
            None
        }
        fn as_f32s_mut(_: &mut [f64]) -> Option<&mut [f32]> {
            None
        }
        fn from_f32_vec(_: Vec<f32>) -> Option<Vec<f64>> {
            None
        }
    }
}

/// `v` as f32s, for kernels that run only where `E` is f32 (their dispatch checked
/// [`F32View::IS_F32`](sealed::F32View::IS_F32)).
pub(crate) fn f32s<E: Element>(v: &[E]) -> &[f32] {
    E::as_f32s(v).expect("the f32 kernels run on f32 only")
}

/// The mutable version of [`f32s`].
pub(crate) fn f32s_mut<E: Element>(v: &mut [E]) -> &mut [f32] {
    E::as_f32s_mut(v).expect("the f32 kernels run on f32 only")
}

/// An f32 kernel's result as `E`s, for the same callers as [`f32s`].
pub(crate) fn from_f32s<E: Element>(v: Vec<f32>) -> Vec<E> {
    E::from_f32_vec(v).expect("the f32 kernels run on f32 only")
}

#[cfg(test)]
mod tests {
    use super::sealed::F32View;

    #[test]
    fn views_exist_for_f32_only() {
        assert_eq!(f32::as_f32s(&[1.0f32, 2.0]), Some(&[1.0f32, 2.0][..]));
        assert!(f64::as_f32s(&[1.0f64]).is_none());
        assert!(f64::as_f32s_mut(&mut [1.0f64]).is_none());
        assert_eq!(f32::from_f32_vec(vec![3.0]), Some(vec![3.0f32]));
        assert!(f64::from_f32_vec(vec![3.0]).is_none());
        const { assert!(<f32 as F32View>::IS_F32 && !<f64 as F32View>::IS_F32) };
    }
}

//! Reused buffers for the kernels' large per-step data (copies of the inputs kept for the
//! backward pass, packed operands): a buffer goes back to a small pool when dropped and
//! the next step takes it again, so a training step does not allocate, zero-fill and
//! page-fault megabytes it just freed.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use dfdx::prelude::*;

/// An element type with a pool of buffers.
#[doc(hidden)]
pub trait Reuse: Copy + Default + Send + 'static {
    fn pool() -> &'static Mutex<Vec<Vec<Self>>>;
}

macro_rules! reuse {
    ($($t:ty),*) => {$(
        impl Reuse for $t {
            fn pool() -> &'static Mutex<Vec<Vec<Self>>> {
                static POOL: Mutex<Vec<Vec<$t>>> = Mutex::new(Vec::new());
                &POOL
            }
        }
    )*};
}
reuse!(f32, f64, u32, u8, bool);

/// Buffers kept per element type; more are freed.
const KEPT: usize = 16;

/// A buffer from the pool; it returns there when dropped.
pub struct Scratch<T: Reuse> {
    v: Vec<T>,
}

impl<T: Reuse> Scratch<T> {
    /// `len` elements with unspecified (initialised) values: the caller overwrites them.
    pub fn stale(len: usize) -> Self {
        let reused = {
            let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
            // The smallest buffer that fits, else the largest (it grows once).
            let fit = (0..pool.len())
                .filter(|&i| pool[i].capacity() >= len)
                .min_by_key(|&i| pool[i].capacity());
            let pick = fit.or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].capacity()));
            pick.map(|i| pool.swap_remove(i))
        };
        let mut v = reused.unwrap_or_default();
        if v.len() >= len {
            v.truncate(len);
        } else {
            v.resize(len, T::default());
        }
        Self { v }
    }

    /// `len` default values (zeros).
    #[cfg(test)]
    pub fn zeroed(len: usize) -> Self {
        let mut s = Self::stale(len);
        s.v.fill(T::default());
        s
    }
}

impl<T: Reuse> Drop for Scratch<T> {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.v);
        if v.capacity() == 0 {
            return;
        }
        let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < KEPT {
            pool.push(v);
        }
    }
}

impl<T: Reuse> Deref for Scratch<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.v
    }
}

impl<T: Reuse> DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.v
    }
}

/// A contiguous tensor's elements, in a reused buffer.
pub fn copy_of<S: Shape, E: Dtype + Reuse>(t: &Tensor<S, E, Cpu>) -> Scratch<E> {
    let mut s = Scratch::stale(t.shape().num_elements());
    t.copy_into(&mut s[..]);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_sized() {
        let a = Scratch::<u8>::zeroed(1000);
        let p = a.as_ptr();
        drop(a);
        let mut b = Scratch::<u8>::stale(10);
        assert_eq!(b.len(), 10);
        b.fill(7);
        // Another test may take the same pool's buffer in between: only check when ours.
        if b.as_ptr() == p {
            drop(b);
            let c = Scratch::<u8>::zeroed(900);
            assert!(c.iter().all(|&x| x == 0));
            assert_eq!(c.len(), 900);
        }
        let big = Scratch::<u8>::stale(5000);
        assert_eq!(big.len(), 5000);
    }
}

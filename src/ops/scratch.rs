//! Reused buffers for the kernels' large per-step data (copies of the inputs kept for the
//! backward pass, packed operands): a buffer goes back to a small pool when dropped and
//! the next step takes it again, so a training step does not allocate, zero-fill and
//! page-fault megabytes it just freed.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::thread::LocalKey;

use dfdx::prelude::*;

/// An element type with a pool of buffers.
#[doc(hidden)]
pub trait Reuse: Copy + Default + Send + 'static {
    fn pool() -> &'static Mutex<Vec<Vec<Self>>>;
    fn local() -> &'static LocalKey<RefCell<Vec<Vec<Self>>>>;
}

macro_rules! reuse {
    ($($t:ty),*) => {$(
        impl Reuse for $t {
            fn pool() -> &'static Mutex<Vec<Vec<Self>>> {
                static POOL: Mutex<Vec<Vec<$t>>> = Mutex::new(Vec::new());
                &POOL
            }
            fn local() -> &'static LocalKey<RefCell<Vec<Vec<Self>>>> {
                thread_local!(static LOCAL: RefCell<Vec<Vec<$t>>> = const { RefCell::new(Vec::new()) });
                &LOCAL
            }
        }
    )*};
}
reuse!(f32, f64, u32, u8, bool);

/// Buffers kept per element type; more are freed. A training step holds one per saved
/// input of each layer (tens), and they come back for the next step.
const KEPT: usize = 64;

/// A buffer from the pool; it returns there when dropped.
pub struct Scratch<T: Reuse> {
    v: Vec<T>,
    len: usize,
}

impl<T: Reuse> Scratch<T> {
    /// `len` elements with unspecified (initialised) values: the caller overwrites them.
    pub fn stale(len: usize) -> Self {
        let reused = {
            let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
            // The smallest buffer that fits without wasting more than half of it. Not a
            // larger one (a big buffer taken for a small copy sends the next big request to
            // a fresh allocation), nor one grown from a smaller one (its copy and zero fill
            // cost more than a fresh allocation).
            let fit = (0..pool.len())
                .filter(|&i| (len..=2 * len + 1024).contains(&pool[i].capacity()))
                .min_by_key(|&i| pool[i].capacity());
            fit.map(|i| pool.swap_remove(i))
        };
        Self::sized(reused.unwrap_or_default(), len)
    }

    /// `len` default values (zeros).
    #[cfg(test)]
    pub fn zeroed(len: usize) -> Self {
        let mut s = Self::stale(len);
        s.fill(T::default());
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

/// A working buffer of the calling thread (a kernel's per-task scratch: im2col matrices,
/// their gradients): taken from a per-thread stack and pushed back when dropped. The
/// kernels take their buffers in the same order every call, so each one gets the buffer it
/// had last time, already grown to its size; unlike [`Scratch`], no other thread's (or
/// op's) requests of other sizes reach it.
pub struct Local<T: Reuse> {
    v: Vec<T>,
    len: usize,
}

impl<T: Reuse> Local<T> {
    /// `len` elements with unspecified (initialised) values: the caller overwrites them.
    pub fn stale(len: usize) -> Self {
        if len == 0 {
            return Self::sized(Vec::new(), 0);
        }
        let v = T::local()
            .with_borrow_mut(|stack| stack.pop())
            .unwrap_or_default();
        Self::sized(v, len)
    }
}

impl<T: Reuse> Drop for Local<T> {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.v);
        if v.capacity() > 0 {
            // At thread exit the stack may be gone: then the buffer is just freed.
            let _ = T::local().try_with(|stack| stack.borrow_mut().push(v));
        }
    }
}

/// Both buffers: built from a reused `Vec` that keeps all its initialised elements (so a
/// buffer used for a short request and then for a long one again is not zero-filled
/// again), and read and written as a slice of the requested length.
macro_rules! slice_deref {
    ($($ty:ident),*) => {$(
        impl<T: Reuse> $ty<T> {
            /// `v` grown with default values to at least `len` elements; `len` of them seen.
            fn sized(mut v: Vec<T>, len: usize) -> Self {
                if v.len() < len {
                    v.resize(len, T::default());
                }
                Self { v, len }
            }
        }

        impl<T: Reuse> Deref for $ty<T> {
            type Target = [T];
            fn deref(&self) -> &[T] {
                &self.v[..self.len]
            }
        }

        impl<T: Reuse> DerefMut for $ty<T> {
            fn deref_mut(&mut self) -> &mut [T] {
                &mut self.v[..self.len]
            }
        }
    )*};
}
slice_deref!(Scratch, Local);

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
    fn local_buffers_come_back_in_order() {
        // Taken in the same order as last time, each buffer comes back (a fresh thread,
        // so no other test's buffers are on its stack).
        std::thread::spawn(|| {
            let (a, b) = (Local::<u32>::stale(100), Local::<u32>::stale(7));
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            drop(b);
            drop(a);
            let (a, b) = (Local::<u32>::stale(50), Local::<u32>::stale(7));
            assert_eq!((a.as_ptr(), b.as_ptr(), a.len(), b.len()), (pa, pb, 50, 7));
            let c = Local::<u32>::stale(3000);
            assert_eq!(c.len(), 3000);
        })
        .join()
        .unwrap();
    }

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

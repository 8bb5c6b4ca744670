//! Reused buffers for the kernels' large per-step data (masks and activations kept for the
//! backward pass, packed operands): a buffer goes back to a small pool when dropped and
//! the next step takes it again, so a training step does not allocate, zero-fill and
//! page-fault megabytes it just freed. And [`data_of`]: a tensor's elements without a copy.

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

/// A CPU tensor's elements in order: borrowed where they lie contiguous in its buffer
/// (every tensor typenet's ops make, and dfdx's but broadcasts and permutations), else
/// copied in order. dfdx 0.13 gives no slice of a tensor's data, and its `copy_into`
/// copies the buffer as it lies (a permuted tensor's elements out of order).
pub fn data_of<S: Shape, E: Dtype>(t: &Tensor<S, E, Cpu>) -> Data<'_, E> {
    match contiguous(t) {
        Some(s) => Data::Borrowed(s),
        None => Data::Copied(t.as_vec()),
    }
}

/// A CPU tensor's elements as a mutable slice of its buffer (made its own first, as
/// dfdx's writes do), when they lie there in order; `None` otherwise.
pub fn data_mut_of<S: Shape, E: Dtype>(t: &mut Tensor<S, E, Cpu>) -> Option<&mut [E]> {
    let n = contiguous(t)?.len();
    if n == 0 {
        return Some(&mut []);
    }
    // dfdx's `IndexMut` makes the buffer unique (`Arc::make_mut`) and hands out its
    // element 0.
    let base: *mut E = &mut t[S::Concrete::default()];
    // SAFETY: as in `contiguous`: elements 0..n of the buffer are the tensor's, in order;
    // the buffer is no longer shared, and the borrow of `t` keeps it alive and unaliased.
    Some(unsafe { std::slice::from_raw_parts_mut(base, n) })
}

/// A tensor's elements, from [`data_of`].
pub enum Data<'a, E> {
    Borrowed(&'a [E]),
    Copied(Vec<E>),
}

impl<E> Deref for Data<'_, E> {
    type Target = [E];
    fn deref(&self) -> &[E] {
        match self {
            Data::Borrowed(s) => s,
            Data::Copied(c) => c,
        }
    }
}

/// `t`'s elements as a slice of its buffer, when they lie there in order.
fn contiguous<S: Shape, E: Dtype>(t: &Tensor<S, E, Cpu>) -> Option<&[E]> {
    let shape = *t.shape();
    let n = shape.num_elements();
    if n == 0 {
        return Some(&[]);
    }
    let (sizes, strides) = (shape.concrete(), shape.strides());
    let zero = S::Concrete::default();
    // dfdx indexes a tensor's buffer at the sum of index times stride (no offset), and
    // checks the buffer's bounds: `base` is its element 0.
    let base: *const E = &t[zero];
    let at = |i: S::Concrete| (&t[i] as *const E as usize).wrapping_sub(base as usize);
    let size = std::mem::size_of::<E>();
    for d in 0..S::NUM_DIMS {
        let mut i = zero;
        i[d] = 1;
        if sizes[d] > 1 && at(i) != strides[d] * size {
            return None;
        }
    }
    let mut last = zero;
    for d in 0..S::NUM_DIMS {
        last[d] = sizes[d] - 1;
    }
    if at(last) != (n - 1) * size {
        return None;
    }
    // SAFETY: elements 0 and n - 1 of the tensor's buffer (one `Vec`, initialised up to its
    // length) exist (dfdx's bounds-checked index reached them), so 0..n are in it; the
    // strides just checked are the row-major ones, so they are the tensor's elements in
    // order. The borrow of `t` keeps the buffer alive and unchanged: dfdx writes a shared
    // buffer only after copying it (`Arc::make_mut`), and this one is shared with `t`.
    Some(unsafe { std::slice::from_raw_parts(base, n) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_of_borrows_contiguous_tensors_and_copies_others() {
        let dev = Cpu::default();
        let t = dev.tensor([[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let d = data_of(&t);
        assert!(matches!(d, Data::Borrowed(_)));
        assert_eq!(&d[..], &t.as_vec()[..]);
        // A permutation and a broadcast: strides that are not row-major, copied in order.
        let p = t.clone().permute::<_, Axes2<1, 0>>();
        let d = data_of(&p);
        assert!(matches!(d, Data::Copied(_)));
        assert_eq!(&d[..], &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let b: Tensor<Rank2<2, 3>, f32, Cpu> = dev.tensor([7.0f32, 8.0, 9.0]).broadcast();
        let d = data_of(&b);
        assert!(matches!(d, Data::Copied(_)));
        assert_eq!(&d[..], &[7.0, 8.0, 9.0, 7.0, 8.0, 9.0]);
        // Sizes of 1 (any stride), a scalar, no elements.
        let one = dev.tensor([[[5.0f32]], [[6.0]]]);
        assert!(matches!(data_of(&one), Data::Borrowed(s) if s == [5.0, 6.0]));
        let s = dev.tensor(4.0f32);
        assert!(matches!(data_of(&s), Data::Borrowed(v) if v == [4.0]));
        let e: Tensor<(usize, Const<3>), f32, Cpu> = dev.zeros_like(&(0, Const));
        assert!(data_of(&e).is_empty());
    }

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

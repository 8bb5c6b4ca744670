//! Keeping glibc from returning training buffers to the OS after every step.
//!
//! A training step allocates and frees buffers of a few MB (activations, gradients). By
//! default glibc serves each with `mmap` and frees it with `munmap`, so every step pays for
//! fresh zeroed pages, page faults and cross-core TLB shootdowns: measured, that is half of
//! the MNIST CNN's step time on 2 cores (`cargo run --release --example bench`, 19.7 ms vs
//! 9.8 ms per step). Raising the thresholds keeps those buffers in the heap for reuse; the
//! resident memory of the benchmark stays at about 68 MB either way.

use std::sync::Once;

/// Environment variable that, when set, leaves the allocator's settings alone.
pub const KEEP_MALLOC_ENV: &str = "TYPENET_KEEP_MALLOC";

/// Raises glibc's mmap and trim thresholds (to 32 MiB and 64 MiB) once per process. Called
/// by the CPU kernels and by `fit`; a no-op on other platforms and C libraries, and when
/// `TYPENET_KEEP_MALLOC` is set.
pub(crate) fn tune_allocator() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os(KEEP_MALLOC_ENV).is_some() {
            return;
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    });
}

//! The instruction set the elementwise, normalisation and dropout kernels run with, and
//! how they split work across threads.
//!
//! Each kernel is portable Rust compiled twice: for the baseline target and with AVX2 +
//! FMA (chosen once at run time), so LLVM vectorises it 8 floats wide where the CPU can.
//! `TYPENET_CPU=portable` forces the baseline code (the benchmark's `--cpu` sets it).

use std::sync::OnceLock;

/// Where the kernels' CPU-feature path is chosen (shared with the benchmark's `--cpu`).
pub const CPU_ENV: &str = "TYPENET_CPU";

/// A kernel's instruction set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Baseline x86-64 (SSE2) or any other target.
    Portable,
    /// AVX2 and FMA.
    Avx2,
}

impl Isa {
    /// The fastest one this CPU runs, unless `TYPENET_CPU=portable`.
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| {
            let forced = std::env::var(CPU_ENV).is_ok_and(|v| v == "portable");
            if !forced && Isa::Avx2.available() {
                Isa::Avx2
            } else {
                Isa::Portable
            }
        })
    }

    /// Whether this CPU runs it.
    pub fn available(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 => false,
        }
    }

    /// Whether the AVX-512 kernels (the matrix product's, the direct convolutions') may
    /// run: the CPU has AVX-512F, BW and VL, and `TYPENET_CPU` is not `avx2` or `portable`
    /// (which force the AVX2 + FMA or baseline paths, to measure them on such a CPU).
    pub fn avx512() -> bool {
        static ON: OnceLock<bool> = OnceLock::new();
        *ON.get_or_init(|| {
            let forced = std::env::var(CPU_ENV).is_ok_and(|v| v == "avx2" || v == "portable");
            #[cfg(target_arch = "x86_64")]
            let cpu = std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl");
            #[cfg(not(target_arch = "x86_64"))]
            let cpu = false;
            cpu && !forced
        })
    }

    /// Every instruction set this CPU runs (for tests of each path).
    pub fn all_available() -> Vec<Isa> {
        [Isa::Portable, Isa::Avx2]
            .into_iter()
            .filter(|i| i.available())
            .collect()
    }
}

/// The instruction set of the hand-written x86 kernels (the matrix product, the direct
/// convolutions): AVX-512 where [`Isa::avx512`], else AVX2 + FMA where [`Isa::best`] is
/// that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Simd {
    Avx512,
    Avx2,
}

impl Simd {
    /// The best this CPU runs, unless [`CPU_ENV`] forces a lesser path (none: the
    /// portable or library code).
    pub(crate) fn best() -> Option<Simd> {
        if Isa::avx512() {
            Some(Simd::Avx512)
        } else if Isa::best() == Isa::Avx2 {
            Some(Simd::Avx2)
        } else {
            None
        }
    }

    /// Whether this CPU runs it (what the kernels' target features need).
    pub(crate) fn runs(self) -> bool {
        match self {
            Simd::Avx512 => Isa::avx512(),
            Simd::Avx2 => Isa::Avx2.available(),
        }
    }

    /// Every one this CPU runs (for tests of each).
    #[cfg(test)]
    pub(crate) fn all_available() -> Vec<Simd> {
        [Simd::Avx512, Simd::Avx2]
            .into_iter()
            .filter(|s| s.runs())
            .collect()
    }
}

/// Elements per parallel task: large enough that rayon's overhead does not show, small
/// enough that both cores get work on a 64 KiB activation.
pub(crate) const CHUNK: usize = 8 * 1024;

/// `acc + x * y`, fused where the CPU has FMA (elsewhere `mul_add` is a slow libm call).
#[inline(always)]
pub(crate) fn madd<E: num_traits::Float, const FMA: bool>(acc: E, x: E, y: E) -> E {
    if FMA {
        x.mul_add(y, acc)
    } else {
        acc + x * y
    }
}

/// Defines `fn $name<E: Element>(isa: Isa, args..)` running `$imp::<E, FMA>(args..)`:
/// with `FMA = true` compiled for AVX2 + FMA where `isa` asks for it and the CPU has it,
/// else the portable build. `$imp` must be `#[inline(always)]` so it is compiled into
/// each version.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? = $imp:ident;) => {
        $(#[$m])*
        $vis fn $name<E: $crate::element::Element>(
            isa: $crate::ops::isa::Isa,
            $($a: $t),*
        ) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            if isa == $crate::ops::isa::Isa::Avx2 && $crate::ops::isa::Isa::Avx2.available() {
                #[target_feature(enable = "avx2,fma")]
                fn avx2<E: $crate::element::Element>($($a: $t),*) $(-> $r)? {
                    $imp::<E, true>($($a),*)
                }
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                return unsafe { avx2::<E>($($a),*) };
            }
            let _ = isa;
            $imp::<E, false>($($a),*)
        }
    };
}
pub(crate) use multiversion;

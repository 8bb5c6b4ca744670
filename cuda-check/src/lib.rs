//! The checks typenet's CUDA build makes before anything is compiled: which GPU architecture
//! to build for, and whether dfdx 0.13's kernels can be built for it with the CUDA toolkit
//! on `PATH` (they cannot on Turing with CUDA 12.2 or newer, dfdx issue #855).
//!
//! This crate's own build script runs them with typenet's `cuda` feature. As a build
//! dependency with no dependencies of its own, it is compiled and run in a build's first
//! seconds, before dfdx's build script spends a minute compiling kernels that cannot
//! compile: the user sees typenet's message, not dfdx's nvcc errors. typenet's build script
//! uses the same functions to compile `src/cuda/*.cu` for the same architecture. The
//! decisions are pure functions, tested in `tests/decisions.rs`.

use std::process::Command;

/// The GPU architecture to build for and the CUDA release of the nvcc on `PATH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Toolkit {
    /// Compute capability as digits: 90 for 9.0.
    pub arch: u32,
    /// (major, minor) of `nvcc --version`.
    pub cuda: (u32, u32),
}

/// Asks `CUDA_COMPUTE_CAP`, `nvidia-smi` and `nvcc` which architecture to build for, and
/// checks that dfdx 0.13 can build for it (unless `TYPENET_DFDX_PATCHED=1`: a patched dfdx,
/// as typenet's README shows). The error is one line that says what to do.
pub fn check_toolkit() -> Result<Toolkit, String> {
    let env_cap = match std::env::var("CUDA_COMPUTE_CAP") {
        Ok(v) => Some(parse_env_compute_cap(&v)?),
        Err(_) => None,
    };
    let gpu_cap = output("nvidia-smi", &["--query-gpu=compute_cap", "--format=csv"])
        .ok()
        .and_then(|out| parse_smi_compute_cap(&out).ok());
    let nvcc_missing = |e: String| {
        format!(
            "typenet: cannot run `nvcc` ({e}); the CUDA build needs a CUDA toolkit's nvcc on \
             PATH (scripts/cuda-build.sh installs one from PyPI)"
        )
    };
    let cuda = parse_nvcc_release(&output("nvcc", &["--version"]).map_err(nvcc_missing)?)?;
    let codes = parse_gpu_codes(&output("nvcc", &["--list-gpu-code"]).map_err(nvcc_missing)?);
    let arch = choose_arch(env_cap, gpu_cap, &codes)?;
    if std::env::var("TYPENET_DFDX_PATCHED").as_deref() != Ok("1") {
        turing_check(arch, cuda)?;
    }
    Ok(Toolkit { arch, cuda })
}

/// A tool's standard output, or why it could not be had.
fn output(tool: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("`{tool}` exited with {}", out.status));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

/// The first GPU's compute capability in the output of
/// `nvidia-smi --query-gpu=compute_cap --format=csv` (`compute_cap\n9.0\n` gives 90).
pub fn parse_smi_compute_cap(out: &str) -> Result<u32, String> {
    let mut lines = out.lines().map(str::trim);
    let value = match (lines.next(), lines.next()) {
        (Some("compute_cap"), Some(v)) => v,
        _ => return Err(format!("unexpected nvidia-smi output {out:?}")),
    };
    let parsed = value
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?)));
    match parsed {
        Some((major, minor)) if minor < 10 => Ok(major * 10 + minor),
        _ => Err(format!(
            "unexpected compute capability {value:?} from nvidia-smi"
        )),
    }
}

/// `CUDA_COMPUTE_CAP` as dfdx 0.13 reads it: digits, `90` for compute capability 9.0.
pub fn parse_env_compute_cap(value: &str) -> Result<u32, String> {
    value.trim().parse::<u32>().map_err(|_| {
        format!(
            "typenet: CUDA_COMPUTE_CAP={value:?} is not a compute capability; write it as \
             digits, e.g. 90 for 9.0 (H100, H200), 80 for A100, 89 for RTX 40xx, 75 for T4"
        )
    })
}

/// (major, minor) from `nvcc --version` (`... release 13.0, V13.0.88`).
pub fn parse_nvcc_release(out: &str) -> Result<(u32, u32), String> {
    let release = out
        .split("release ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|v| v.trim().split_once('.'))
        .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)));
    release.ok_or_else(|| {
        format!("typenet: cannot read the CUDA release from `nvcc --version`: {out:?}")
    })
}

/// The `sm_XX` codes in `nvcc --list-gpu-code`, sorted.
pub fn parse_gpu_codes(out: &str) -> Vec<u32> {
    let mut codes: Vec<u32> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("sm_")?.parse().ok())
        .collect();
    codes.sort_unstable();
    codes
}

/// The architecture to build for, as dfdx 0.13's build script picks it: `CUDA_COMPUTE_CAP`
/// when set, else the GPU's; either must be one nvcc can target.
pub fn choose_arch(
    env_cap: Option<u32>,
    gpu_cap: Option<u32>,
    codes: &[u32],
) -> Result<u32, String> {
    let (cap, from) = match (env_cap, gpu_cap) {
        (Some(cap), _) => (cap, "CUDA_COMPUTE_CAP"),
        (None, Some(cap)) => (cap, "nvidia-smi"),
        (None, None) => {
            return Err(
                "typenet: cannot tell which GPU to build the CUDA kernels for: \
                        `nvidia-smi` is not on PATH or sees no GPU, and CUDA_COMPUTE_CAP is not \
                        set; set it, e.g. CUDA_COMPUTE_CAP=90 for H100/H200 (dfdx's build script \
                        still runs nvidia-smi: on a machine without a GPU use \
                        scripts/cuda-build.sh)"
                    .to_string(),
            )
        }
    };
    if codes.contains(&cap) {
        Ok(cap)
    } else {
        Err(format!(
            "typenet: nvcc cannot build for sm_{cap} (from {from}); it targets {codes:?}: \
             use a CUDA toolkit that supports this GPU"
        ))
    }
}

/// Why dfdx 0.13's CUDA kernels cannot be built for compute capability `cap` with CUDA
/// `cuda` (major, minor), and what to do; `Ok` where they build.
///
/// CUDA 12.2 and newer define `__hmax_nan` and `__hmin_nan` for every GPU; dfdx 0.13's
/// `compatibility.cuh` defines them again below compute capability 8.0, so 44 of its 49
/// kernels fail to compile there (dfdx PR #855 fixed it after 0.13; it was never released).
pub fn turing_check(cap: u32, cuda: (u32, u32)) -> Result<(), String> {
    if cap >= 80 || cuda < (12, 2) {
        return Ok(());
    }
    let (major, minor) = (cap / 10, cap % 10);
    let (cuda_major, cuda_minor) = cuda;
    if cuda_major >= 13 && cap < 75 {
        return Err(format!(
            "typenet: CUDA {cuda_major}.{cuda_minor} cannot build for compute capability \
             {major}.{minor}: CUDA 13 dropped GPUs older than 7.5, and CUDA 12.2 to 12.9 cannot \
             build dfdx 0.13's kernels below 8.0; build with a CUDA toolkit of 12.1 or older \
             (its nvcc first on PATH)"
        ));
    }
    Err(format!(
        "typenet: dfdx 0.13 cannot build its CUDA kernels for compute capability {major}.{minor} \
         with CUDA {cuda_major}.{cuda_minor}: CUDA 12.2 and newer define `__hmax_nan` and \
         `__hmin_nan` for every GPU, and dfdx 0.13 defines them again below compute capability \
         8.0 (fixed by dfdx PR #855, never released). Build with a CUDA toolkit of 12.1 or older \
         (its nvcc first on PATH), or patch dfdx through `[patch.crates-io]` as README.md shows \
         under \"Turing GPUs\" and set TYPENET_DFDX_PATCHED=1"
    ))
}

/// The Rust source that gives the crate the PTX of each kernel file: `(name, PTX path)` in
/// `kernels`, built for `sm_{arch}` (`arch` 0: a `cuda-ci-check` build, whose PTX is empty).
pub fn kernels_rs(arch: u32, kernels: &[(String, String)]) -> String {
    let mut s = format!(
        "// Generated by typenet's build.rs: the PTX of each src/cuda/*.cu file.\n\
         /// The compute capability the PTX is for (0: a `cuda-ci-check` build, no PTX).\n\
         pub const COMPUTE_CAP: u32 = {arch};\n\
         /// (file stem, PTX) of each kernel file.\n\
         pub const KERNELS: &[(&str, &str)] = &[\n"
    );
    for (name, path) in kernels {
        s.push_str(&format!("    ({name:?}, include_str!({path:?})),\n"));
    }
    s.push_str("];\n");
    s
}

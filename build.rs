//! With the `cuda` feature: compiles each `src/cuda/*.cu` to PTX in `OUT_DIR` for the GPU
//! architecture that dfdx's kernels are built for, listed in `OUT_DIR/cuda_kernels.rs` for
//! the crate to `include!`. The checks (and the message where dfdx 0.13 cannot build, on
//! Turing with CUDA 12.2 or newer) run earlier, in the build script of the build dependency
//! `typenet-cuda-check`. With `cuda-ci-check` no CUDA tool runs and the PTX is empty, as
//! with dfdx's `ci-check`.
#[cfg(feature = "cuda")]
use std::path::{Path, PathBuf};
#[cfg(feature = "cuda")]
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "cuda")]
    if let Err(e) = cuda() {
        // One line under cargo's "failed to run custom build command".
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<(), String> {
    use typenet_cuda_check::{check_toolkit, kernels_rs};
    println!("cargo:rerun-if-changed=src/cuda");
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    println!("cargo:rerun-if-env-changed=TYPENET_DFDX_PATCHED");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let kernels = kernel_files(Path::new("src/cuda"))?;
    let ptx: Vec<(String, String)> = kernels
        .iter()
        .map(|(name, _)| {
            let path = out_dir.join(format!("{name}.ptx"));
            (name.clone(), path.display().to_string())
        })
        .collect();
    let arch = if cfg!(feature = "cuda-ci-check") {
        for (_, path) in &ptx {
            std::fs::write(path, "").map_err(|e| format!("typenet: cannot write {path}: {e}"))?;
        }
        0
    } else {
        let arch = check_toolkit()?.arch;
        compile_ptx(arch, &kernels, &out_dir)?;
        arch
    };
    let rs = out_dir.join("cuda_kernels.rs");
    std::fs::write(&rs, kernels_rs(arch, &ptx))
        .map_err(|e| format!("typenet: cannot write {}: {e}", rs.display()))
}

#[cfg(feature = "cuda")]
/// `(stem, path)` of each `.cu` file in `dir`, sorted; none when `dir` does not exist.
fn kernel_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        println!("cargo:rerun-if-changed={}", path.display());
        if path.extension().is_some_and(|e| e == "cu") {
            let stem = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            files.push((stem, path));
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(feature = "cuda")]
/// All kernel files compiled at once, one nvcc each, with dfdx's flags.
fn compile_ptx(arch: u32, kernels: &[(String, PathBuf)], out_dir: &Path) -> Result<(), String> {
    let children: Vec<_> = kernels
        .iter()
        .map(|(name, path)| {
            Command::new("nvcc")
                .arg(format!("--gpu-architecture=sm_{arch}"))
                .args([
                    "--ptx",
                    "--default-stream",
                    "per-thread",
                    "-Isrc/cuda",
                    "-o",
                ])
                .arg(out_dir.join(format!("{name}.ptx")))
                .arg(path)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("typenet: cannot run nvcc: {e}"))
        })
        .collect::<Result<_, _>>()?;
    for ((_, path), child) in kernels.iter().zip(children) {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "typenet: nvcc could not compile {} for sm_{arch}:\n{}{}",
                path.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

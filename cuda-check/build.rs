//! With the `build-check` feature (typenet's `cuda`), stops the build in its first seconds
//! where dfdx 0.13's CUDA kernels cannot be built, with a message that says what to do.
#[path = "src/lib.rs"]
#[allow(dead_code)]
mod check;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/lib.rs");
    let on = |f: &str| std::env::var_os(format!("CARGO_FEATURE_{f}")).is_some();
    // `ci-check` (typenet's `cuda-ci-check`) type-checks without a CUDA toolkit.
    if !on("BUILD_CHECK") || on("CI_CHECK") {
        return;
    }
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    println!("cargo:rerun-if-env-changed=TYPENET_DFDX_PATCHED");
    if let Err(e) = check::check_toolkit() {
        // One line under cargo's "failed to run custom build command".
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

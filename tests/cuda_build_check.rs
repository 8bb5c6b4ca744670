//! What typenet's build script compiled with `--features cuda`: one PTX per `src/cuda/*.cu`,
//! for the GPU architecture of the build (`scripts/cuda-build.sh` runs this without a GPU).
//! The checks before it are tested in `cuda-check/tests/decisions.rs`.

/// What build.rs compiled: one PTX per `src/cuda/*.cu`, for the GPU it was built for.
#[cfg(feature = "cuda")]
mod ptx {
    include!(concat!(env!("OUT_DIR"), "/cuda_kernels.rs"));

    #[test]
    #[cfg_attr(feature = "cuda-ci-check", ignore = "cuda-ci-check writes empty PTX")]
    fn every_kernel_file_is_compiled_to_ptx_for_the_target_gpu() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/cuda");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "cu"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let names: Vec<&str> = KERNELS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, files);
        assert!(COMPUTE_CAP >= 50, "{COMPUTE_CAP}");
        for (name, ptx) in KERNELS {
            assert!(
                ptx.contains(&format!("\n.target sm_{COMPUTE_CAP}")),
                "{name}: {ptx}"
            );
            assert!(
                ptx.contains(".visible .entry"),
                "{name} has no kernel: {ptx}"
            );
        }
        let (_, fill) = KERNELS.iter().find(|(n, _)| *n == "fill").unwrap();
        assert!(fill.contains(".visible .entry typenet_fill_f32("), "{fill}");
    }
}

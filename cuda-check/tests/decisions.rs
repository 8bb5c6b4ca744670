//! The decisions of typenet's CUDA build checks, without a CUDA toolkit: the exact messages
//! a user sees, and the architecture picked as dfdx 0.13's build script picks it.
use typenet_cuda_check::*;

const TURING_13_0: &str = "typenet: dfdx 0.13 cannot build its CUDA kernels for compute \
    capability 7.5 with CUDA 13.0: CUDA 12.2 and newer define `__hmax_nan` and `__hmin_nan` for \
    every GPU, and dfdx 0.13 defines them again below compute capability 8.0 (fixed by dfdx PR \
    #855, never released). Build with a CUDA toolkit of 12.1 or older (its nvcc first on PATH), \
    or patch dfdx through `[patch.crates-io]` as README.md shows under \"Turing GPUs\" and set \
    TYPENET_DFDX_PATCHED=1";

#[test]
fn turing_with_cuda_12_2_or_newer_stops_with_what_to_do() {
    assert_eq!(turing_check(75, (13, 0)), Err(TURING_13_0.to_string()));
    for cuda in [(12, 2), (12, 9), (13, 1), (13, 5)] {
        let e = turing_check(75, cuda).unwrap_err();
        assert!(
            e.contains(&format!("7.5 with CUDA {}.{}:", cuda.0, cuda.1)),
            "{e}"
        );
        assert!(
            e.contains("12.1 or older") && e.contains("[patch.crates-io]"),
            "{e}"
        );
    }
    // Volta with CUDA 12.2-12.9: the same dfdx bug.
    assert!(turing_check(70, (12, 4))
        .unwrap_err()
        .contains("capability 7.0 with CUDA 12.4"));
}

#[test]
fn volta_with_cuda_13_is_told_that_only_an_older_toolkit_helps() {
    assert_eq!(
        turing_check(70, (13, 0)),
        Err(
            "typenet: CUDA 13.0 cannot build for compute capability 7.0: CUDA 13 dropped GPUs \
             older than 7.5, and CUDA 12.2 to 12.9 cannot build dfdx 0.13's kernels below 8.0; \
             build with a CUDA toolkit of 12.1 or older (its nvcc first on PATH)"
                .to_string()
        )
    );
}

#[test]
fn old_toolkits_and_ampere_or_newer_build() {
    for cuda in [(11, 8), (12, 0), (12, 1)] {
        for cap in [61, 70, 75, 80, 90] {
            assert_eq!(turing_check(cap, cuda), Ok(()), "sm_{cap}, CUDA {cuda:?}");
        }
    }
    for cuda in [(12, 2), (12, 9), (13, 0), (13, 5)] {
        for cap in [80, 86, 89, 90, 100, 120] {
            assert_eq!(turing_check(cap, cuda), Ok(()), "sm_{cap}, CUDA {cuda:?}");
        }
    }
}

#[test]
fn reads_nvidia_smi_compute_cap() {
    assert_eq!(parse_smi_compute_cap("compute_cap\n9.0\n"), Ok(90));
    assert_eq!(parse_smi_compute_cap("compute_cap\n7.5\n8.6\n"), Ok(75)); // first GPU
    assert_eq!(parse_smi_compute_cap("compute_cap\r\n12.0\r\n"), Ok(120));
    assert!(parse_smi_compute_cap("").is_err());
    assert!(parse_smi_compute_cap("No devices were found\n").is_err());
    assert!(parse_smi_compute_cap("compute_cap\n[N/A]\n").is_err());
}

#[test]
fn reads_cuda_compute_cap_as_dfdx_does() {
    assert_eq!(parse_env_compute_cap("90"), Ok(90));
    assert_eq!(parse_env_compute_cap("75"), Ok(75));
    assert_eq!(
        parse_env_compute_cap("9.0"),
        Err(
            "typenet: CUDA_COMPUTE_CAP=\"9.0\" is not a compute capability; write it as digits, \
             e.g. 90 for 9.0 (H100, H200), 80 for A100, 89 for RTX 40xx, 75 for T4"
                .to_string()
        )
    );
}

#[test]
fn reads_the_nvcc_release() {
    let v13 = "nvcc: NVIDIA (R) Cuda compiler driver\nCopyright (c) 2005-2025 NVIDIA Corporation\n\
               Built on Wed_Aug_20_01:58:59_PM_PDT_2025\n\
               Cuda compilation tools, release 13.0, V13.0.88\nBuild cuda_13.0.r13.0/compiler.36424714_0\n";
    assert_eq!(parse_nvcc_release(v13), Ok((13, 0)));
    assert_eq!(
        parse_nvcc_release("Cuda compilation tools, release 11.8, V11.8.89\n"),
        Ok((11, 8))
    );
    assert_eq!(
        parse_nvcc_release("Cuda compilation tools, release 12.10, V12.10.1\n"),
        Ok((12, 10))
    );
    assert!(parse_nvcc_release("command not found").is_err());
}

#[test]
fn picks_the_architecture_as_dfdx_does() {
    let codes = parse_gpu_codes("sm_75\nsm_80\nsm_86\nsm_90\nsm_100\nsm_120\n");
    assert_eq!(codes, [75, 80, 86, 90, 100, 120]);
    assert_eq!(choose_arch(Some(80), Some(90), &codes), Ok(80)); // CUDA_COMPUTE_CAP wins
    assert_eq!(choose_arch(None, Some(90), &codes), Ok(90));
    assert_eq!(
        choose_arch(Some(70), None, &codes),
        Err(
            "typenet: nvcc cannot build for sm_70 (from CUDA_COMPUTE_CAP); it targets [75, 80, \
             86, 90, 100, 120]: use a CUDA toolkit that supports this GPU"
                .to_string()
        )
    );
    let e = choose_arch(None, None, &codes).unwrap_err();
    assert!(
        e.contains("set it, e.g. CUDA_COMPUTE_CAP=90") && e.contains("scripts/cuda-build.sh"),
        "{e}"
    );
}

#[test]
fn lists_each_kernel_with_its_ptx() {
    let rs = kernels_rs(
        90,
        &[
            ("fill".into(), "/o/fill.ptx".into()),
            ("c\"d".into(), "C:\\o\\x.ptx".into()),
        ],
    );
    assert!(rs.contains("pub const COMPUTE_CAP: u32 = 90;"), "{rs}");
    assert!(
        rs.contains("(\"fill\", include_str!(\"/o/fill.ptx\")),"),
        "{rs}"
    );
    assert!(
        rs.contains("(\"c\\\"d\", include_str!(\"C:\\\\o\\\\x.ptx\")),"),
        "{rs}"
    );
}

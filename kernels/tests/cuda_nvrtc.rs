//! Every `.cu` kernel source compiles with NVRTC for each target architecture, and exports
//! every kernel the backend loads. NVRTC runs on the CPU, so this needs no GPU: CI installs the
//! `nvidia-cuda-nvrtc` wheel (`.ci/run`). Without NVRTC the test fails under `CI=true` or
//! `RNNGYM_REQUIRE_GPU=1` and otherwise prints why it skipped.

use rnngym_kernels::cuda::{compile_ptx, nvrtc_available, NVRTC_TEST_ARCHS, SOURCES};

/// Whether NVRTC can be used; panics in CI (where it must be installed), else prints a skip.
fn nvrtc_or_skip(test: &str) -> bool {
    if nvrtc_available() {
        return true;
    }
    let why = "libnvrtc.so.13 not loadable (pip install --target DIR \"nvidia-cuda-nvrtc==13.0.*\" and add DIR/nvidia/cu13/lib to LD_LIBRARY_PATH)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: CI=true but {why}");
    }
    // A GPU bundle run requires every GPU check, this one included.
    if std::env::var("RNNGYM_REQUIRE_GPU").is_ok_and(|v| v == "1") {
        panic!("{test}: RNNGYM_REQUIRE_GPU=1 but {why}");
    }
    // Written to stderr directly: libtest's capture only intercepts the print macros.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    false
}

#[test]
fn every_kernel_source_compiles_for_every_arch() {
    if !nvrtc_or_skip("every_kernel_source_compiles_for_every_arch") {
        return;
    }
    let mut failures = Vec::new();
    for src in SOURCES {
        for &arch in NVRTC_TEST_ARCHS {
            match compile_ptx(src, arch) {
                Ok(ptx) => {
                    let text = ptx.to_src();
                    for k in src.kernels {
                        if !text.contains(&format!(".entry {k}(")) {
                            failures
                                .push(format!("{} ({arch}): no kernel `{k}` in the PTX", src.file));
                        }
                    }
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "NVRTC failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn sources_list_every_cu_file() {
    // A new .cu file must be registered in SOURCES, or the backend would never load it.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/cuda/kernels");
    let Ok(entries) = std::fs::read_dir(dir) else {
        // A test binary copied to another machine (scripts/gpu-check.sh) has no source tree.
        return;
    };
    let mut on_disk: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".cu"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = SOURCES.iter().map(|s| s.file.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn kernels_are_header_free() {
    // NVRTC ships no CUDA headers; the fp32 kernels must not need any.
    for src in SOURCES {
        assert!(
            !src.src.contains("#include"),
            "{} includes a header",
            src.file
        );
    }
}

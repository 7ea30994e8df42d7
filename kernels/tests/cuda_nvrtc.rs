//! Every `.cu` kernel source compiles with NVRTC for each target architecture, to PTX and to
//! machine code (the CUBIN the backend loads), and exports every kernel the backend loads.
//! NVRTC runs on the CPU, so this needs no GPU: CI installs the `nvidia-cuda-nvrtc` wheel
//! (`.ci/run`). Without NVRTC the tests fail under `CI=true` or `RNNGYM_REQUIRE_GPU=1` and
//! otherwise print why they skipped.

mod common;
use common::nvrtc_or_skip;
use rnngym_kernels::cuda::{compile_cubin, compile_ptx, NVRTC_TEST_ARCHS, SOURCES};

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

/// ELF machine number of CUDA images.
const EM_CUDA: u16 = 190;

#[test]
fn every_kernel_source_compiles_to_a_cubin_for_every_arch() {
    if !nvrtc_or_skip("every_kernel_source_compiles_to_a_cubin_for_every_arch") {
        return;
    }
    let mut failures = Vec::new();
    for src in SOURCES {
        let mut images = Vec::new();
        for &arch in NVRTC_TEST_ARCHS {
            let cubin = match compile_cubin(src, arch) {
                Ok(c) => c,
                Err(e) => {
                    failures.push(e.to_string());
                    continue;
                }
            };
            let machine = cubin.get(18..20).map(|b| u16::from_le_bytes([b[0], b[1]]));
            if !cubin.starts_with(b"\x7fELF") || machine != Some(EM_CUDA) {
                failures.push(format!("{} ({arch}): not a CUDA ELF image", src.file));
            }
            // Kernel names are in the image's symbol string table, NUL-terminated.
            for k in src.kernels {
                let sym = format!("{k}\0");
                if !cubin.windows(sym.len()).any(|w| w == sym.as_bytes()) {
                    failures.push(format!(
                        "{} ({arch}): no symbol `{k}` in the CUBIN",
                        src.file
                    ));
                }
            }
            images.push(cubin);
        }
        if images.len() == 2 && images[0] == images[1] {
            failures.push(format!(
                "{}: the same CUBIN for two architectures",
                src.file
            ));
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

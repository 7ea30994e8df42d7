//! Detecting CUDA without panicking: cudarc's `dynamic-loading` panics on the first call into a
//! library that is not there, so every entry point asks these probes first.

use std::sync::OnceLock;

use crate::{KernelError, Result};

/// Which of the libraries the backend needs could be opened (probed once per process).
struct Present {
    driver: bool,
    nvrtc: bool,
    cublas: bool,
}

fn present() -> &'static Present {
    static P: OnceLock<Present> = OnceLock::new();
    // SAFETY: the probes only try to dlopen the library under its usual names.
    P.get_or_init(|| unsafe {
        Present {
            driver: cudarc::driver::sys::is_culib_present(),
            nvrtc: cudarc::nvrtc::sys::is_culib_present(),
            cublas: cudarc::cublas::sys::is_culib_present(),
        }
    })
}

/// Whether NVRTC (`libnvrtc.so.13`) can be loaded: enough to compile the kernels, no GPU needed.
pub fn nvrtc_available() -> bool {
    present().nvrtc
}

/// Checks that the driver, NVRTC and cuBLAS libraries load; the error names the missing ones.
pub fn libraries() -> Result<()> {
    let p = present();
    let missing: Vec<&str> = [
        (p.driver, "libcuda (the NVIDIA driver)"),
        (p.nvrtc, "libnvrtc (CUDA 13 NVRTC)"),
        (p.cublas, "libcublas"),
    ]
    .iter()
    .filter(|(ok, _)| !ok)
    .map(|&(_, name)| name)
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(KernelError::Unavailable(format!(
            "CUDA libraries not found: {} (install the NVIDIA driver and the CUDA 13 libraries, or add their folder to LD_LIBRARY_PATH)",
            missing.join(", ")
        )))
    }
}

/// Number of visible CUDA devices; 0 when the libraries or the driver are unusable.
pub fn device_count() -> usize {
    if libraries().is_err() {
        return 0;
    }
    let n = std::panic::catch_unwind(cudarc::driver::CudaContext::device_count);
    match n {
        Ok(Ok(n)) => n.max(0) as usize,
        _ => 0,
    }
}

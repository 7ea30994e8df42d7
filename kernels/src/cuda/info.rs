//! [`CudaInfo`]: what actually loaded when a [`CudaBackend`](super::CudaBackend) opened (the
//! driver, NVRTC and cuBLAS versions, the library files, and whether the kernels went in as
//! machine code or PTX), so a log or a GPU bundle run shows it instead of guessing.

use std::fmt;

use cudarc::cublas::sys as cublas;
use cudarc::driver::sys as driver;

/// Versions and origins of what a CUDA backend loaded.
#[derive(Clone, Debug, Default)]
pub struct CudaInfo {
    /// The device's name (`"NVIDIA H100 80GB HBM3"`).
    pub device: String,
    /// The architecture the kernels were compiled for (`"sm_90"`).
    pub arch: String,
    /// The CUDA version the driver supports (`"13.0"`).
    pub driver: String,
    /// The NVRTC that compiled the kernels (`"13.0"`).
    pub nvrtc: String,
    /// The cuBLAS that runs the GEMMs (`"13.1.0"`).
    pub cublas: String,
    /// How the kernels were loaded: CUBIN (from the cache or compiled) or the PTX fallback.
    pub kernels: String,
    /// The CUDA library files mapped into this process.
    pub library_files: Vec<String>,
}

impl fmt::Display for CudaInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): driver CUDA {}, NVRTC {}, cuBLAS {}; kernels: {}",
            self.device, self.arch, self.driver, self.nvrtc, self.cublas, self.kernels
        )
    }
}

/// The CUDA version the driver supports, as `major.minor` (`"?"` when the query fails).
pub(crate) fn driver_version() -> String {
    let mut v = 0;
    // SAFETY: the driver library is loaded (the caller opened a context); writes one int.
    match unsafe { driver::cuDriverGetVersion(&mut v) } {
        driver::CUresult::CUDA_SUCCESS => format!("{}.{}", v / 1000, (v % 1000) / 10),
        e => format!("? ({e:?})"),
    }
}

/// The cuBLAS version behind `handle`, as `major.minor.patch`.
pub(crate) fn cublas_version(handle: cublas::cublasHandle_t) -> String {
    let mut v = 0;
    // SAFETY: `handle` is a live cuBLAS handle; writes one int.
    match unsafe { cublas::cublasGetVersion_v2(handle, &mut v) } {
        cublas::cublasStatus_t::CUBLAS_STATUS_SUCCESS => {
            format!("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100)
        }
        e => format!("? ({e:?})"),
    }
}

/// The CUDA libraries (driver, NVRTC, cuBLAS) mapped into this process, from
/// `/proc/self/maps`: the files the dynamic loader actually picked, whatever the search path
/// held. Empty where `/proc` is missing.
pub fn loaded_library_files() -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut files: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| {
            let name = p.rsplit('/').next().unwrap_or("");
            ["libcuda.so", "libnvrtc", "libcublas"]
                .iter()
                .any(|lib| name.starts_with(lib))
        })
        .map(str::to_owned)
        .collect();
    files.sort();
    files.dedup();
    files
}

//! Picking the numeric backend from `model.device`: `"cpu"`, `"cuda"` / `"cuda:N"` (an error
//! when that GPU cannot be used), or `"auto"` (the GPU when one is usable, else the CPU, with
//! the reason logged).

use rnngym_kernels::{Backend, CpuBackend, CudaBackend, KernelError};

use crate::config::{Config, DeviceChoice};

/// An opened numeric backend; match on it to call code that is generic over [`Backend`].
pub enum Device {
    /// The CPU backend.
    Cpu(CpuBackend),
    /// A CUDA GPU.
    Cuda(Box<CudaBackend>),
}

impl Device {
    /// The backend's name for logs (`"cpu (2 threads)"`, `"cuda:0 NVIDIA H100 … (sm_90)"`).
    pub fn name(&self) -> String {
        match self {
            Device::Cpu(be) => be.name(),
            Device::Cuda(be) => be.name(),
        }
    }
}

/// The GPU a `cuda` / `cuda:N` choice names cannot be used; one line, naming where the choice
/// came from.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {error}; use \"cpu\" or \"auto\"")]
pub struct DeviceError {
    /// Where the choice came from: `model.device = "cuda"`, `--device cuda:1`.
    pub origin: String,
    /// Why the CUDA backend did not open (its text is in the message, so it is not also a
    /// `source()`).
    pub error: KernelError,
}

/// Opens the backend `cfg.model.device` names (the CPU uses `train.threads` threads).
///
/// `"auto"` tries CUDA device 0 and falls back to the CPU, logging why; `"cuda"` / `"cuda:N"`
/// without a usable GPU is a one-line [`DeviceError`].
pub fn select(cfg: &Config) -> Result<Device, DeviceError> {
    let origin = format!("model.device = \"{}\"", cfg.model.device);
    open(cfg.model.device, &origin, cfg.train.threads)
}

/// Opens `choice` as [`select`] does; `origin` names where the choice came from in logs and
/// errors (`model.device = "cuda"`, `--device cuda`).
pub fn open(choice: DeviceChoice, origin: &str, threads: usize) -> Result<Device, DeviceError> {
    let cpu = || Device::Cpu(CpuBackend::new(threads));
    match choice {
        DeviceChoice::Cpu => Ok(cpu()),
        DeviceChoice::Auto => match CudaBackend::new(DeviceChoice::DEFAULT_CUDA) {
            Ok(be) => {
                log::info!("{origin}: using {}", be.name());
                Ok(Device::Cuda(Box::new(be)))
            }
            Err(e) => {
                log::log!(
                    auto_fallback_level(&e),
                    "{origin}: {}; using the CPU",
                    auto_fallback_reason(&e)
                );
                Ok(cpu())
            }
        },
        DeviceChoice::Cuda(n) => CudaBackend::new(n.unwrap_or(DeviceChoice::DEFAULT_CUDA))
            .map(|be| Device::Cuda(Box::new(be)))
            .map_err(|error| DeviceError {
                origin: origin.to_string(),
                error,
            }),
    }
}

/// How loudly `auto` reports falling back to the CPU: quietly (info) when there is no GPU
/// to use (no driver or libraries, no device), but as a warning when a GPU is there and failed
/// (a kernel that does not load, a driver error): that is a problem to fix, not a machine
/// without a GPU.
fn auto_fallback_level(e: &KernelError) -> log::Level {
    match e {
        KernelError::Unavailable(_) => log::Level::Info,
        KernelError::Device(_) | KernelError::Shape(_) => log::Level::Warn,
    }
}

/// The words for [`auto_fallback_level`]'s two cases.
fn auto_fallback_reason(e: &KernelError) -> String {
    match e {
        KernelError::Unavailable(_) => format!("no usable GPU ({e})"),
        _ => format!("the GPU is present but failed ({e}); use \"cuda\" to make this an error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_warns_when_a_present_gpu_fails_and_is_quiet_without_one() {
        let missing = KernelError::Unavailable("CUDA libraries not found: libcuda".into());
        assert_eq!(auto_fallback_level(&missing), log::Level::Info);
        assert!(auto_fallback_reason(&missing).starts_with("no usable GPU"));
        let broken = KernelError::Device(
            "loading cells.cu for sm_90: CUDA_ERROR_UNSUPPORTED_PTX_VERSION".into(),
        );
        assert_eq!(auto_fallback_level(&broken), log::Level::Warn);
        let why = auto_fallback_reason(&broken);
        assert!(
            why.contains("present but failed") && why.contains("UNSUPPORTED_PTX_VERSION"),
            "{why}"
        );
    }

    #[test]
    fn cpu_is_always_available() {
        let mut c = Config::default();
        c.model.device = DeviceChoice::Cpu;
        assert!(matches!(select(&c), Ok(Device::Cpu(_))));
    }

    #[test]
    fn auto_falls_back_or_uses_the_gpu_and_cuda_errs_in_one_line() {
        let mut c = Config::default();
        c.model.device = DeviceChoice::Auto;
        let auto = select(&c).unwrap();
        c.model.device = DeviceChoice::Cuda(Some(4096));
        let err = select(&c)
            .err()
            .expect("no machine has 4097 GPUs")
            .to_string();
        assert!(err.starts_with("model.device = \"cuda:4096\": "), "{err}");
        assert!(!err.contains('\n'), "{err}");
        if let Device::Cpu(_) = auto {
            // No GPU here: plain "cuda" must be refused the same way.
            c.model.device = DeviceChoice::Cuda(None);
            assert!(select(&c).is_err());
        }
    }
}

//! Picking the numeric backend from `model.device`: `"cpu"`, `"cuda"` / `"cuda:N"` (an error
//! when that GPU cannot be used), or `"auto"` (the GPU when one is usable, else the CPU, with
//! the reason logged).

use rnngym_kernels::{Backend, CpuBackend, CudaBackend};

use crate::config::{Config, DeviceChoice};
use crate::trainer::TrainerError;

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

/// Opens the backend `cfg.model.device` names (the CPU uses `train.threads` threads).
///
/// `"auto"` tries CUDA device 0 and falls back to the CPU, logging why; `"cuda"` / `"cuda:N"`
/// without a usable GPU is a one-line [`TrainerError::Config`].
pub fn select(cfg: &Config) -> Result<Device, TrainerError> {
    let cpu = || Device::Cpu(CpuBackend::new(cfg.train.threads));
    match cfg.model.device_kind() {
        DeviceChoice::Cpu => Ok(cpu()),
        DeviceChoice::Auto => match CudaBackend::new(0) {
            Ok(be) => {
                log::info!("model.device = \"auto\": using {}", be.name());
                Ok(Device::Cuda(Box::new(be)))
            }
            Err(e) => {
                log::info!("model.device = \"auto\": no usable GPU ({e}); using the CPU");
                Ok(cpu())
            }
        },
        DeviceChoice::Cuda(n) => CudaBackend::new(n)
            .map(|be| Device::Cuda(Box::new(be)))
            .map_err(|e| {
                TrainerError::Config(format!(
                    "model.device = \"{}\": {e}; use \"cpu\" or \"auto\"",
                    cfg.model.device
                ))
            }),
    }
}

/// The CPU backend for `cfg`, for callers that only run on the CPU: `"auto"` means the CPU
/// here (logged) and `"cuda"` is refused with a clear message.
pub fn cpu_backend_for(cfg: &Config) -> Result<CpuBackend, TrainerError> {
    match cfg.model.device_kind() {
        DeviceChoice::Cpu => {}
        DeviceChoice::Auto => log::info!("model.device = \"auto\": using the CPU"),
        DeviceChoice::Cuda(n) => {
            return Err(TrainerError::Config(format!(
                "model.device = \"{}\": this command runs on the CPU only (cuda:{n} requested); use \"cpu\" or \"auto\"",
                cfg.model.device
            )))
        }
    }
    Ok(CpuBackend::new(cfg.train.threads))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available() {
        let mut c = Config::default();
        c.model.device = "cpu".into();
        assert!(matches!(select(&c), Ok(Device::Cpu(_))));
    }

    #[test]
    fn auto_falls_back_or_uses_the_gpu_and_cuda_errs_in_one_line() {
        let mut c = Config::default();
        c.model.device = "auto".into();
        let auto = select(&c).unwrap();
        c.model.device = "cuda:4096".into();
        let err = select(&c)
            .err()
            .expect("no machine has 4097 GPUs")
            .to_string();
        assert!(err.starts_with("model.device = \"cuda:4096\": "), "{err}");
        assert!(!err.contains('\n'), "{err}");
        if let Device::Cpu(_) = auto {
            // No GPU here: plain "cuda" must be refused the same way.
            c.model.device = "cuda".into();
            assert!(select(&c).is_err());
        }
    }
}

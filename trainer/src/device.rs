//! Picking the numeric backend from `model.device`.

use rnngym_kernels::CpuBackend;

use crate::config::{Config, DeviceChoice};
use crate::trainer::TrainerError;

/// The backend for `cfg`: the CPU with `train.threads` threads. `"auto"` falls back to the CPU
/// (logged); `"cuda"` is refused with a clear message because this build has no CUDA backend.
pub fn cpu_backend_for(cfg: &Config) -> Result<CpuBackend, TrainerError> {
    match cfg.model.device_kind() {
        DeviceChoice::Cpu => {}
        DeviceChoice::Auto => log::info!("model.device = \"auto\": using the CPU (no CUDA backend in this build)"),
        DeviceChoice::Cuda(n) => {
            return Err(TrainerError::Config(format!(
                "model.device = \"{}\": this build of rnngym has no CUDA backend yet (cuda:{n} requested); use \"cpu\" or \"auto\"",
                cfg.model.device
            )))
        }
    }
    Ok(CpuBackend::new(cfg.train.threads))
}

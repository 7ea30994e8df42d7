//! Picking the numeric backend from `model.device`: `"cpu"`, `"cuda"` / `"cuda:N"` (an error
//! when that GPU cannot be used), or `"auto"` (the GPU when one is usable, else the CPU: one
//! short line when there is no GPU, the reason at debug level; a warning when one failed).

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
    select_for_rank(cfg, None)
}

/// [`select`] for process `local_rank` of its node in a data-parallel job (see
/// [`open_for_rank`]).
pub fn select_for_rank(cfg: &Config, local_rank: Option<usize>) -> Result<Device, DeviceError> {
    let origin = format!("model.device = \"{}\"", cfg.model.device);
    open_for_rank(cfg.model.device, &origin, cfg.train.threads, local_rank)
}

/// Opens `choice` as [`select`] does; `origin` names where the choice came from in logs and
/// errors (`model.device = "cuda"`, `--device cuda`).
pub fn open(choice: DeviceChoice, origin: &str, threads: usize) -> Result<Device, DeviceError> {
    open_for_rank(choice, origin, threads, None)
}

/// [`open`] for one rank of a data-parallel job that is process `local_rank` of its node
/// (`None` outside a job): `"cuda"` and `"auto"` then take the GPU of that index, so the ranks
/// of a node use one GPU each (set `CUDA_VISIBLE_DEVICES` to choose which). A rank beyond the
/// node's GPUs is an error for `"cuda"` and runs on the CPU for `"auto"`; `"cuda:N"` is
/// taken as given.
pub fn open_for_rank(
    choice: DeviceChoice,
    origin: &str,
    threads: usize,
    local_rank: Option<usize>,
) -> Result<Device, DeviceError> {
    let cpu = || Device::Cpu(CpuBackend::new(threads));
    let ordinal = local_rank.unwrap_or(DeviceChoice::DEFAULT_CUDA);
    let visible = || rnngym_kernels::cuda::device_count();
    if let Some(k) = local_rank.filter(|_| choice != DeviceChoice::Cpu) {
        let count = visible();
        if count > 0 && k >= count {
            let why = format!(
                "this rank is process {k} of its node, which has {count} GPU(s): start at most \
                 {count} rank(s) per node"
            );
            if choice == DeviceChoice::Auto {
                log::warn!("{origin}: {why}; this rank uses the CPU");
                return Ok(cpu());
            }
            if choice == DeviceChoice::Cuda(None) {
                return Err(DeviceError {
                    origin: origin.to_string(),
                    error: KernelError::Unavailable(why),
                });
            }
        }
    }
    match choice {
        DeviceChoice::Cpu => Ok(cpu()),
        DeviceChoice::Auto => match CudaBackend::new(ordinal) {
            Ok(be) => {
                log::info!("{origin}: using {}", be.name());
                Ok(Device::Cuda(Box::new(be)))
            }
            Err(e) => {
                let level = auto_fallback_level(&e);
                log::log!(level, "{}", auto_fallback_line(&e, origin));
                if level == log::Level::Info {
                    log::debug!("{origin}: {e}");
                }
                Ok(cpu())
            }
        },
        DeviceChoice::Cuda(n) => CudaBackend::new(n.unwrap_or(ordinal))
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

/// The line for [`auto_fallback_level`]'s two cases. No GPU is the common case, printed by
/// every command on a laptop or CPU server: one short line, with the loader's long reason
/// (which libraries it looked for) at debug level. A GPU that failed gets the whole reason.
fn auto_fallback_line(e: &KernelError, origin: &str) -> String {
    match e {
        KernelError::Unavailable(_) => {
            "device: cpu (no CUDA GPU found; RUST_LOG=debug for details)".to_string()
        }
        _ => format!(
            "{origin}: the GPU is present but failed ({e}); using the CPU (use \"cuda\" to make \
             this an error)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_warns_when_a_present_gpu_fails_and_is_quiet_without_one() {
        let missing = KernelError::Unavailable("CUDA libraries not found: libcuda".into());
        assert_eq!(auto_fallback_level(&missing), log::Level::Info);
        let short = auto_fallback_line(&missing, "model.device = \"auto\"");
        assert_eq!(
            short,
            "device: cpu (no CUDA GPU found; RUST_LOG=debug for details)"
        );
        let broken = KernelError::Device(
            "loading cells.cu for sm_90: CUDA_ERROR_UNSUPPORTED_PTX_VERSION".into(),
        );
        assert_eq!(auto_fallback_level(&broken), log::Level::Warn);
        let why = auto_fallback_line(&broken, "--device auto");
        assert!(
            why.starts_with("--device auto: the GPU is present but failed")
                && why.contains("UNSUPPORTED_PTX_VERSION"),
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

    #[test]
    fn each_rank_of_a_node_takes_its_own_gpu_or_says_why_not() {
        let gpus = rnngym_kernels::cuda::device_count();
        let mut c = Config::default();
        c.model.device = DeviceChoice::Cpu;
        assert!(matches!(select_for_rank(&c, Some(3)), Ok(Device::Cpu(_))));
        // One rank more than the node has GPUs (or rank 1 on a machine without any).
        let beyond = gpus.max(1);
        c.model.device = DeviceChoice::Auto;
        assert!(matches!(
            select_for_rank(&c, Some(beyond)),
            Ok(Device::Cpu(_))
        ));
        c.model.device = DeviceChoice::Cuda(None);
        let err = select_for_rank(&c, Some(beyond)).err().unwrap().to_string();
        assert!(err.starts_with("model.device = \"cuda\": "), "{err}");
        assert!(!err.contains('\n'), "{err}");
        if gpus > 0 {
            assert!(err.contains(&format!("which has {gpus} GPU(s)")), "{err}");
            match select_for_rank(&c, Some(gpus - 1)).unwrap() {
                Device::Cuda(be) => assert!(be.name().starts_with(&format!("cuda:{}", gpus - 1))),
                Device::Cpu(_) => panic!("rank {} should have taken its GPU", gpus - 1),
            }
        } else {
            eprintln!("no GPU here: the per-rank GPU choice is checked for its errors only");
            assert!(err.contains("CUDA libraries not found"), "{err}");
        }
    }
}

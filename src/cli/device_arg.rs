//! `--device` of the commands that run a model (`sample`, `generate-audio`, `bench`): which
//! backend opens, with the same names and fallback as `model.device`.

use std::path::{Path, PathBuf};

use rnngym_gyms::{CodecRegistry, GymRegistry};
use rnngym_trainer::config::DeviceChoice;
use rnngym_trainer::device::{self, Device};
use rnngym_trainer::state::{self, Loaded};

/// Help text of every `--device` flag.
pub const HELP: &str = "cpu, auto (the GPU when one is usable, else the CPU), cuda or cuda:N";

/// Opens the device `name` (`cpu`, `auto`, `cuda`, `cuda:N`), which came from `source` (named
/// in messages: `--device cuda`, `model.device = "cuda"`); the CPU gets `threads` threads.
pub fn open(name: &str, source: &str, threads: usize) -> anyhow::Result<Device> {
    open_for_rank(name, source, threads, None)
}

/// [`open`] for process `local_rank` of its node in a data-parallel job (its own GPU; see
/// [`device::open_for_rank`]).
pub fn open_for_rank(
    name: &str,
    source: &str,
    threads: usize,
    local_rank: Option<usize>,
) -> anyhow::Result<Device> {
    let choice: DeviceChoice = name
        .parse()
        .map_err(|_| anyhow::anyhow!("{source}: expected one of {HELP}"))?;
    Ok(device::open_for_rank(choice, source, threads, local_rank)?)
}

/// The flags of the commands that run a checkpoint's model: which checkpoint, where it runs,
/// and on how many CPU threads.
#[derive(clap::Args, Debug)]
pub struct CheckpointArgs {
    /// Checkpoint file, or a run directory (uses best.safetensors, else latest.safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Where the model runs: cpu, auto, cuda or cuda:N [default: the checkpoint's
    /// model.device]. On a GPU only the chosen tokens come back to the host.
    #[arg(long)]
    pub device: Option<String>,
    /// CPU threads (0 = every core; 1 keeps the model off the other cores of a busy machine).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl CheckpointArgs {
    /// [`open_checkpoint`] with these flags, the codec rebuilt through `registry`.
    pub fn open(&self, registry: &GymRegistry) -> anyhow::Result<(Device, Loaded, PathBuf)> {
        open_checkpoint(
            self.device.as_deref(),
            &self.checkpoint,
            self.threads,
            registry.codecs(),
        )
    }
}

/// Reads the checkpoint `--checkpoint` names (a file, or a run directory: see
/// [`checkpoint_file`](super::sample::checkpoint_file)), its codec rebuilt through `codecs`, and
/// opens the device `flag` names,
/// else the one its config's `model.device` names (the CPU when that GPU cannot be used),
/// with `threads` threads on the CPU (0: every core of this machine; `train.threads` was
/// chosen for the machine that trained, which may have more).
pub fn open_checkpoint(
    flag: Option<&str>,
    checkpoint: &Path,
    threads: usize,
    codecs: &CodecRegistry,
) -> anyhow::Result<(Device, Loaded, PathBuf)> {
    let path = super::sample::checkpoint_file(checkpoint)?;
    let loaded = state::read_with(&path, codecs)?;
    let dev = match flag {
        Some(d) => open(d, &format!("--device {d}"), threads)?,
        None => {
            let saved = loaded.config.model.device;
            match device::open(saved, &format!("model.device = \"{saved}\""), threads) {
                Ok(dev) => dev,
                // The checkpoint names the GPU it was trained on, which this machine may not
                // have and the user cannot edit: fall back to the CPU, as "auto" does, and say
                // how to choose.
                Err(e) => {
                    log::info!(
                        "the checkpoint's model.device = \"{saved}\" cannot be used here; \
                         using the CPU instead (pass --device to choose)"
                    );
                    log::debug!("{e:#}");
                    Device::Cpu(rnngym_kernels::CpuBackend::new(threads))
                }
            }
        }
    };
    Ok((dev, loaded, path))
}

/// Runs `$body` with `$be` bound to the opened backend of a [`Device`], so generic code runs
/// on whichever device was picked.
macro_rules! on_device {
    ($dev:expr, $be:ident => $body:expr) => {
        match $dev {
            rnngym_trainer::device::Device::Cpu($be) => {
                let $be = &$be;
                $body
            }
            rnngym_trainer::device::Device::Cuda($be) => {
                let $be = &*$be;
                $body
            }
        }
    };
}
pub(crate) use on_device;

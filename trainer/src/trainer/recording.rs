//! [`Trainer::attach_run_dir`]: the run directory's files, as `rnngym train` writes them, for
//! programs that drive a [`Trainer`] themselves.

use rnngym_kernels::Backend;

use super::{Trainer, TrainerError};
use crate::fsutil;
use crate::lock::RunLock;
use crate::observers::{MetricsWriter, SampleWriter};
use crate::run_dir::RunDir;

impl<B: Backend> Trainer<B> {
    /// Makes `checkpoint.dir` a complete run directory, as `rnngym train` does: locks it
    /// against a second trainer (until this trainer is dropped), removes temporary files an
    /// interrupted write left, writes the resolved `config.toml`, and attaches the writers of
    /// `metrics.jsonl` (every `train.log_every` iterations) and `samples.jsonl` / `samples/`,
    /// so `rnngym plot`, `sample` and `train --resume` work on it. Call it once, before `train`.
    pub fn attach_run_dir(&mut self) -> Result<(), TrainerError> {
        if self.run_lock.is_some() {
            return Err(TrainerError::Config(format!(
                "{}: attach_run_dir was already called for this trainer",
                self.checkpoints.dir.path().display()
            )));
        }
        let dir = self.checkpoints.dir.path().to_path_buf();
        // Nothing is written to the directory before the lock is held.
        self.run_lock = Some(RunLock::acquire(&dir)?);
        let stale = fsutil::remove_stale_temps(&dir, RunDir::files());
        if stale > 0 {
            log::info!(
                "removed {stale} temporary file(s) left in {} by an interrupted write",
                dir.display()
            );
        }
        let config = self.checkpoints.dir.config();
        fsutil::atomic_write(&config, self.cfg.to_toml_string().as_bytes()).map_err(|error| {
            TrainerError::RunDir {
                path: config,
                action: "cannot write",
                error,
            }
        })?;
        self.add_observer(Box::new(MetricsWriter::new(&dir, self.cfg.train.log_every)));
        self.add_observer(Box::new(SampleWriter::new(&dir)));
        Ok(())
    }
}

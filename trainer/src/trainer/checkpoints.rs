//! The checkpoint policy, as one component: where checkpoints go (the [`RunDir`]), which are
//! due, and the one held back until the next step shows it sane (finite loss under the
//! divergence bound, finite gradients), so a diverging run never overwrites a good file.

use std::path::PathBuf;

use rnngym_kernels::Backend;

use super::snapshot::Snapshot;
use super::{Trainer, TrainerError};
use crate::run_dir::{CheckpointKind, RunDir};

/// Where checkpoints go and the one waiting to be written.
pub(crate) struct Checkpoints {
    /// The run directory (`checkpoint.dir`).
    pub dir: RunDir,
    /// `checkpoint.every`: a checkpoint is due every this many iterations (0: only at the end).
    every: u64,
    /// A due `latest` held back until the next step shows its state sane.
    pub pending: Option<Snapshot>,
}

impl Checkpoints {
    /// Checkpoints into `dir` every `every` iterations.
    pub fn new(dir: RunDir, every: u64) -> Self {
        Checkpoints {
            dir,
            every,
            pending: None,
        }
    }

    /// Whether a checkpoint is due after iteration `it` of a call ending at `target`.
    pub fn due(&self, it: u64, target: u64) -> bool {
        super::every(self.every, it) || it == target
    }
}

impl<B: Backend> Trainer<B> {
    /// Writes the current state as the `kind` checkpoint, atomically, and returns its path.
    pub fn save(&mut self, kind: CheckpointKind) -> Result<PathBuf, TrainerError> {
        let snap = self.capture()?;
        self.write_snapshot(kind, snap)
    }

    /// Writes `snap` as the `kind` checkpoint; a written `latest` becomes the newest state that
    /// a divergence rolls back to (see `history`).
    pub(crate) fn write_snapshot(
        &mut self,
        kind: CheckpointKind,
        snap: Snapshot,
    ) -> Result<PathBuf, TrainerError> {
        let path = self.checkpoints.dir.checkpoint(kind);
        let latest = kind == CheckpointKind::Latest;
        if !self.rollbacks.good.writes() {
            // Another rank writes the files: keep the same bookkeeping, write nothing.
            if latest {
                self.rollbacks.good.make_room(snap.meta.iteration)?;
                self.rollbacks.good.latest_written(snap)?;
            }
            return Ok(path);
        }
        let dir = self.checkpoints.dir.path();
        std::fs::create_dir_all(dir).map_err(|error| TrainerError::RunDir {
            path: dir.to_path_buf(),
            action: "cannot create checkpoint.dir",
            error,
        })?;
        if latest {
            // Before the file is replaced: the state it holds may move to the rollback folder.
            self.rollbacks.good.make_room(snap.meta.iteration)?;
        }
        snap.write(&path)?;
        self.observers
            .iter_mut()
            .for_each(|o| o.on_checkpoint(&path, kind.name()));
        if latest {
            self.rollbacks.good.latest_written(snap)?;
        }
        Ok(path)
    }

    /// Writes the held-back checkpoint, if any: the step just taken showed its state sane.
    pub(crate) fn write_pending(&mut self) -> Result<(), TrainerError> {
        match self.checkpoints.pending.take() {
            Some(snap) => self.write_snapshot(CheckpointKind::Latest, snap).map(drop),
            None => Ok(()),
        }
    }
}

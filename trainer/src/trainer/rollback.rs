//! Divergence handling, as one component: roll back to the last good state with the learning
//! rate halved (to an older good state when a rollback to the last one diverged again, see
//! `history`), at most `train.max_rollbacks` times in a run, then stop with a message that
//! says what happened.

use std::path::Path;

use rnngym_kernels::Backend;

use super::history::History;
use super::{Divergence, Trainer, TrainerError};
use crate::config::Config;
use crate::observer::Rollback;
use crate::run_dir::{CheckpointKind, RunDir};

/// The rollback state of a run: the learning-rate multiplier, the rollbacks so far and the
/// good states to go back to.
pub(crate) struct Rollbacks {
    /// Multiplies the scheduled learning rate; halved by each rollback.
    pub lr_scale: f64,
    /// Rollbacks so far in this run (saved in checkpoints).
    pub count: u32,
    /// The states a divergence rolls back to: the last `latest` written (or where `train`
    /// began) in memory, older ones in `<checkpoint.dir>/rollback/`.
    pub good: History,
}

impl Rollbacks {
    /// No rollback yet; good states kept in `dir` as `cfg.train.rollback_depth` says.
    pub fn new(cfg: &Config, dir: RunDir) -> Self {
        Rollbacks {
            lr_scale: 1.0,
            count: 0,
            good: History::new(dir, cfg.train.rollback_depth),
        }
    }

    /// The error that ends a diverged run: where, why, what was tried, what is kept on disk.
    pub fn diverged(&self, cfg: &Config, at: u64, what: &str) -> TrainerError {
        let latest = RunDir::new(&cfg.checkpoint.dir).latest();
        let mut kept = if latest.exists() {
            format!("the last good checkpoint {} is kept", latest.display())
        } else {
            "no checkpoint was written yet".to_string()
        };
        if let Some(given_up) = &self.good.given_up {
            kept.push_str(&format!(
                " (and {}, a newer state given up after it diverged again after a rollback)",
                given_up.display()
            ));
        }
        let tried = match cfg.train.max_rollbacks {
            0 => String::new(),
            max => format!(
                "; gave up after {} rollback(s) (train.max_rollbacks = {max}), each halving the learning rate (down to train.lr × {})",
                self.count, self.lr_scale
            ),
        };
        TrainerError::Diverged(format!(
            "training diverged at iteration {at}: {what}{tried}; {kept}; try a lower train.lr (now {})",
            cfg.train.lr
        ))
    }
}

impl<B: Backend> Trainer<B> {
    /// Handles the divergence of iteration `at` (1-based): rolls back and returns `Ok` so
    /// training goes on, or returns the error that ends the run once rollbacks are used up.
    pub(crate) fn on_divergence(&mut self, at: u64, why: &Divergence) -> Result<(), TrainerError> {
        let what = &why.to_string();
        // A held-back checkpoint led to this divergence (or is this state): never write it.
        self.checkpoints.pending = None;
        let max = self.cfg.train.max_rollbacks;
        if self.rollbacks.count >= max {
            return Err(self.rollbacks.diverged(&self.cfg, at, what));
        }
        // A second divergence from the same state gives it up for the next older one.
        let stepped_back = self.rollbacks.good.step_back()?;
        let Some(good) = self.rollbacks.good.newest.take() else {
            // `train` takes a snapshot before its first step, so this is a bug, not bad input.
            return Err(TrainerError::Diverged(format!(
                "training diverged at iteration {at}: {what}; no state to roll back to"
            )));
        };
        let restored = self.restore(&good.meta, &good.tensors, Path::new("rollback snapshot"));
        self.rollbacks.good.newest = Some(good);
        restored?;
        self.rollbacks.good.retries += 1;
        self.rollbacks.count += 1;
        self.rollbacks.lr_scale *= 0.5;
        let r = Rollback {
            diverged_at: at,
            to_iteration: self.progress.iteration,
            reason: what.to_string(),
            lr_scale: self.rollbacks.lr_scale,
            rollbacks: self.rollbacks.count,
            max_rollbacks: max,
        };
        self.observers.iter_mut().for_each(|o| o.on_rollback(&r));
        // The good state again, now with the halved rate: a crash from here on resumes with it
        // instead of walking into the same divergence.
        self.save(CheckpointKind::Latest)?;
        if let Some(file) = stepped_back {
            // Every rank has read that file (rank 0 must not delete it before): `latest`
            // holds that state now.
            self.comm.barrier()?;
            if self.rollbacks.good.writes() {
                let _ = std::fs::remove_file(file);
            }
        }
        Ok(())
    }
}

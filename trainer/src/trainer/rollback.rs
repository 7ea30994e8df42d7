//! Divergence handling: roll back to the last good state with the learning rate halved (to an
//! older good state when a rollback to the last one diverged again, see `history`), at most
//! `train.max_rollbacks` times in a run, then stop with a message that says what happened.

use std::path::Path;

use rnngym_kernels::Backend;

use super::{Trainer, TrainerError};
use crate::observer::Rollback;

impl<B: Backend> Trainer<B> {
    /// Handles the divergence of iteration `at` (1-based): rolls back and returns `Ok` so
    /// training goes on, or returns the error that ends the run once rollbacks are used up.
    pub(crate) fn on_divergence(&mut self, at: u64, what: &str) -> Result<(), TrainerError> {
        // A held-back checkpoint led to this divergence (or is this state): never write it.
        self.pending = None;
        let max = self.cfg.train.max_rollbacks;
        if self.rollbacks >= max {
            return Err(self.diverged(at, what));
        }
        // A second divergence from the same state gives it up for the next older one.
        let stepped_back = self.step_back()?;
        let Some(good) = self.good.newest.take() else {
            // `train` takes a snapshot before its first step, so this is a bug, not bad input.
            return Err(TrainerError::Diverged(format!(
                "training diverged at iteration {at}: {what}; no state to roll back to"
            )));
        };
        let restored = self.restore(&good.meta, &good.tensors, Path::new("rollback snapshot"));
        self.good.newest = Some(good);
        restored?;
        self.good.retries += 1;
        self.rollbacks += 1;
        self.lr_scale *= 0.5;
        let r = Rollback {
            diverged_at: at,
            to_iteration: self.iteration,
            reason: what.to_string(),
            lr_scale: self.lr_scale,
            rollbacks: self.rollbacks,
            max_rollbacks: max,
        };
        self.observers.iter_mut().for_each(|o| o.on_rollback(&r));
        // The good state again, now with the halved rate: a crash from here on resumes with it
        // instead of walking into the same divergence.
        self.save("latest")?;
        if let Some(file) = stepped_back {
            // `latest` holds that state now.
            let _ = std::fs::remove_file(file);
        }
        Ok(())
    }

    /// The error that ends a diverged run: where, why, what was tried, what is kept on disk.
    pub(crate) fn diverged(&self, at: u64, what: &str) -> TrainerError {
        let latest = Path::new(&self.cfg.checkpoint.dir).join("latest.safetensors");
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
        let tried = match self.cfg.train.max_rollbacks {
            0 => String::new(),
            max => format!(
                "; gave up after {} rollback(s) (train.max_rollbacks = {max}), each halving the learning rate (down to train.lr × {})",
                self.rollbacks, self.lr_scale
            ),
        };
        TrainerError::Diverged(format!(
            "training diverged at iteration {at}: {what}{tried}; {kept}; try a lower train.lr (now {})",
            self.cfg.train.lr
        ))
    }
}

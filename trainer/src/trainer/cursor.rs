//! The training cursor: where the gym's training stream stands (episode, windows served),
//! how to advance it, and how to put it back after validation or a resume.

use rnngym_gyms::{GymError, Shape, Split, Step};
use rnngym_kernels::{hash, Backend};

use super::{Trainer, TrainerError, VAL_SEED};

impl<B: Backend> Trainer<B> {
    /// The next training window, starting a new episode when the last one ended.
    pub(super) fn next_train_step(&mut self) -> Result<Step, TrainerError> {
        if !self.episode_live {
            self.reset_train_episode()?;
        }
        let step = self.gym.step()?;
        check_step(&step, self.cfg.train.batch, self.cfg.train.seq_len)?;
        self.episode_steps += 1;
        if step.episode_done {
            self.episode_live = false;
            self.episode += 1;
        }
        Ok(step)
    }

    /// Starts training episode `self.episode` with its own seed.
    fn reset_train_episode(&mut self) -> Result<(), TrainerError> {
        let shape = Shape {
            batch: self.cfg.train.batch,
            seq: self.cfg.train.seq_len,
        };
        let seed = hash::mix64(self.cfg.train.seed, self.episode);
        self.gym.reset(Split::Train, seed, shape)?;
        self.episode_live = true;
        self.episode_steps = 0;
        Ok(())
    }

    /// Puts the gym back where training left it: reset the episode and replay `steps` windows
    /// (gyms are deterministic under a seed, which `check_gym` verifies).
    pub(super) fn replay_train_cursor(&mut self, steps: u64) -> Result<(), TrainerError> {
        self.reset_train_episode()?;
        for _ in 0..steps {
            let s = self.gym.step()?;
            if s.episode_done {
                self.episode_live = false;
            }
        }
        self.episode_steps = steps;
        Ok(())
    }

    /// Fails early, with the gym's message, when a split cannot serve one window.
    pub(super) fn check_splits(&mut self) -> Result<(), TrainerError> {
        let shape = Shape {
            batch: self.cfg.train.batch,
            seq: self.cfg.train.seq_len,
        };
        self.gym.reset(Split::Train, 0, shape)?;
        if self.has_val {
            self.gym.reset(Split::Val, VAL_SEED, shape)?;
        }
        self.episode_live = false;
        Ok(())
    }
}

/// Checks a gym's window against the shape it was asked for.
pub(super) fn check_step(step: &Step, b: usize, t: usize) -> Result<(), TrainerError> {
    if step.inputs.len() != b * t || step.targets.len() != b * t || step.reset.len() != b {
        return Err(GymError::Contract(format!(
            "step returned {} inputs, {} targets, {} reset flags; expected {} , {} and {b}",
            step.inputs.len(),
            step.targets.len(),
            step.reset.len(),
            b * t,
            b * t
        ))
        .into());
    }
    Ok(())
}

//! The training cursor: the training gym and where its stream stands (episode, windows
//! served), how to advance it, and how to put it back after a resume or a rollback.

use rnngym_gyms::{Gym, Shape, Split, Step};
use rnngym_kernels::hash;

use super::splits::check_splits;
use super::TrainerError;
use crate::config::Config;
use crate::state::CheckpointMeta;

/// The training gym and its position.
pub(crate) struct Cursor {
    /// The gym as this rank sees it ([`crate::dist::RankGym`]: its lanes, windows checked).
    gym: Box<dyn Gym>,
    shape: Shape,
    /// `train.seed`: episode `e` is reset with `mix64(seed, e)`.
    seed: u64,
    /// Episodes completed.
    pub episode: u64,
    /// Windows served in the current episode.
    pub steps: u64,
    /// Whether an episode is under way (else the next window starts episode `episode`).
    pub live: bool,
}

impl Cursor {
    /// A cursor at the start of episode 0 of `gym`'s training split.
    pub fn new(gym: Box<dyn Gym>, shape: Shape, seed: u64) -> Self {
        Cursor {
            gym,
            shape,
            seed,
            episode: 0,
            steps: 0,
            live: false,
        }
    }

    /// The gym (validation borrows it when it has no gym of its own; see `evaluate`).
    pub fn gym(&mut self) -> &mut dyn Gym {
        self.gym.as_mut()
    }

    /// The next training window, starting a new episode when the last one ended.
    pub fn next(&mut self) -> Result<Step, TrainerError> {
        if !self.live {
            self.reset_episode()?;
        }
        let step = self.gym.step()?;
        self.steps += 1;
        if step.episode_done {
            self.live = false;
            self.episode += 1;
        }
        Ok(step)
    }

    /// Starts training episode `self.episode` with its own seed.
    fn reset_episode(&mut self) -> Result<(), TrainerError> {
        let seed = hash::mix64(self.seed, self.episode);
        self.gym.reset(Split::Train, seed, self.shape)?;
        self.live = true;
        self.steps = 0;
        Ok(())
    }

    /// Puts the gym back where training left it after someone else reset it: reset the
    /// episode and replay the windows served (gyms are deterministic under a seed, which
    /// `check_gym` verifies).
    pub fn replay(&mut self) -> Result<(), TrainerError> {
        let steps = self.steps;
        self.reset_episode()?;
        for _ in 0..steps {
            if self.gym.step()?.episode_done {
                self.live = false;
            }
        }
        self.steps = steps;
        Ok(())
    }

    /// Moves to the position a checkpoint saved.
    pub fn restore(&mut self, meta: &CheckpointMeta) -> Result<(), TrainerError> {
        self.episode = meta.episode;
        self.steps = meta.episode_steps;
        if meta.episode_live {
            self.replay()
        } else {
            // The next step starts a new episode, as it would have after `meta.iteration`.
            self.live = false;
            Ok(())
        }
    }

    /// Fails early, with the gym's message, when a split the run uses cannot serve a window
    /// (see [`check_splits`]).
    pub fn check_splits(&mut self, cfg: &Config) -> Result<(), TrainerError> {
        self.live = false;
        check_splits(self.gym.as_mut(), cfg)
    }
}

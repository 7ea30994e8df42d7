//! Evaluation: `test` runs validation windows from a zero state without moving the training
//! cursor; `validate` is the periodic pass that records the best loss and saves `best`.

use rnngym_gyms::{Shape, Split};
use rnngym_kernels::Backend;

use super::cursor::check_step;
use super::{Trainer, TrainerError, VAL_SEED};
use crate::model::Mode;
use crate::observer::ValMetrics;

impl<B: Backend> Trainer<B> {
    /// Evaluates up to `windows` validation windows (0 = the whole split) from a zero state
    /// and returns the mean loss. Does not change the model or the training cursor.
    pub fn test(&mut self, windows: u64) -> Result<ValMetrics, TrainerError> {
        if !self.has_val {
            return Err(TrainerError::Config(
                "no validation split: gym.val_fraction is 0".to_string(),
            ));
        }
        let (t, b) = (self.cfg.train.seq_len, self.cfg.train.batch);
        if self.val_ws.is_none() {
            self.val_ws = Some(self.model.workspace(&self.be, t, b)?);
        }
        let ws = self.val_ws.as_mut().expect("created above");
        ws.reset_state();
        let was_live = self.episode_live;
        self.gym
            .reset(Split::Val, VAL_SEED, Shape { batch: b, seq: t })?;
        self.episode_live = false; // the gym left the training stream; replayed below
        let (mut sum, mut count) = (0.0f64, 0u64);
        loop {
            let step = self.gym.step()?;
            check_step(&step, b, t)?;
            let loss = self.model.forward(
                &self.be,
                ws,
                &step.inputs,
                Some(&step.targets),
                &step.reset,
                Mode::Eval,
            )?;
            sum += loss.unwrap_or(f64::NAN);
            count += 1;
            if step.episode_done || (windows > 0 && count >= windows) {
                break;
            }
        }
        if was_live {
            self.replay_train_cursor(self.episode_steps)?;
        }
        let loss = sum / count as f64;
        let is_best = loss.is_finite() && self.best_val.is_none_or(|b| loss < b);
        Ok(ValMetrics {
            iteration: self.iteration,
            loss,
            bits_per_token: loss / std::f64::consts::LN_2,
            windows: count,
            tokens: count * (b * t) as u64,
            is_best,
        })
    }

    /// Validates on the configured number of windows; saves `best` on improvement.
    pub(super) fn validate(&mut self) -> Result<ValMetrics, TrainerError> {
        let v = self.test(self.cfg.train.val_windows)?;
        self.last_val = Some(v.loss);
        if v.is_best {
            self.best_val = Some(v.loss);
            if self.cfg.checkpoint.keep_best {
                self.save("best")?;
            }
        }
        self.observers.iter_mut().for_each(|o| o.on_validation(&v));
        Ok(v)
    }
}

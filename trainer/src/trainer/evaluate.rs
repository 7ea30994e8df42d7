//! Validation: its own gym (a [`Gym::fork`] of the training gym, so evaluating never moves
//! or replays the training stream) and its own workspace, run from a zero state; and the
//! periodic pass that records the best loss and saves `best`. On several ranks each
//! evaluates its lanes of every window and the losses are reduced.

use std::sync::atomic::{AtomicBool, Ordering};

use rnngym_gyms::{Gym, Shape, Split};
use rnngym_kernels::Backend;

use super::cursor::Cursor;
use super::{Trainer, TrainerError};
use crate::dist::{Collective, Shard};
use crate::model::{Model, Workspace};
use crate::observer::ValMetrics;
use crate::run_dir::CheckpointKind;

/// Seed of every validation pass: the same windows each time, so losses compare.
const VAL_SEED: u64 = 0x5EED_0F7A;

/// The validation split's gym and workspace.
pub(crate) struct Validator<B: Backend> {
    /// The gym's fork; `None` when the gym cannot fork (validation then borrows the training
    /// gym and replays the training stream afterwards).
    gym: Option<Box<dyn Gym>>,
    shape: Shape,
    /// Allocated on the first pass.
    ws: Option<Workspace<B>>,
}

impl<B: Backend> Validator<B> {
    /// Validation on `train`'s data (its fork when it has one); fails early, with the gym's
    /// message, when the split cannot serve one window of `shape`.
    pub fn new(cursor: &mut Cursor, shape: Shape) -> Result<Self, TrainerError> {
        let mut gym = cursor.gym().fork();
        match gym.as_mut() {
            Some(g) => g.reset(Split::Val, VAL_SEED, shape)?,
            None => cursor.gym().reset(Split::Val, VAL_SEED, shape)?,
        };
        if gym.is_none() {
            log::debug!("the gym cannot fork: validation replays the training stream after it");
        }
        Ok(Validator {
            gym,
            shape,
            ws: None,
        })
    }

    /// Evaluates up to `windows` validation windows (0 = the whole split) from a zero state;
    /// returns the mean loss and the windows evaluated, or `None` when `stop` was raised
    /// before the pass ended (a long pass must not hold up an interrupt). `shard`'s lanes of
    /// each window are evaluated here, the others on the other ranks of `comm`.
    #[allow(clippy::too_many_arguments)]
    pub fn test(
        &mut self,
        be: &B,
        model: &Model<B>,
        cursor: &mut Cursor,
        windows: u64,
        stop: Option<&AtomicBool>,
        shard: Shard,
        comm: &dyn Collective,
    ) -> Result<Option<(f64, u64)>, TrainerError> {
        let t = self.shape.seq;
        let ws = match &mut self.ws {
            Some(ws) => ws,
            none => none.insert(model.workspace(be, t, shard.lanes)?),
        };
        ws.reset_state();
        let was_live = cursor.live;
        let gym: &mut dyn Gym = match self.gym.as_mut() {
            Some(g) => g.as_mut(),
            None => {
                cursor.live = false; // the gym leaves the training stream; replayed below
                cursor.gym()
            }
        };
        gym.reset(Split::Val, VAL_SEED, self.shape)?;
        let (mut sum, mut count) = (0.0f64, 0u64);
        let mut stopped = false;
        loop {
            let raised = match comm.world() {
                1 => stop.is_some_and(|f| f.load(Ordering::SeqCst)),
                _ => super::stop_requested(stop, comm)?,
            };
            if raised {
                stopped = true;
                break;
            }
            let step = gym.step()?;
            // Per token of the data, also for a model predicting coded ids (the excitation).
            sum += model.token_loss(be, ws, &step.inputs, &step.targets, &step.reset)?;
            count += 1;
            if step.episode_done || (windows > 0 && count >= windows) {
                break;
            }
        }
        if self.gym.is_none() && was_live {
            cursor.replay()?;
        }
        if comm.world() > 1 {
            // Every rank evaluated the same windows, each over its lanes: the mean of the
            // ranks' means is the whole batch's.
            let mut v = [sum];
            comm.all_reduce_sum_f64(&mut v)?;
            sum = v[0] / comm.world() as f64;
        }
        Ok((!stopped).then(|| (sum / count as f64, count)))
    }
}

impl<B: Backend> Trainer<B> {
    /// Evaluates up to `windows` validation windows (0 = the whole split) from a zero state
    /// and returns the mean loss. Does not change the model or the training cursor.
    pub fn test(&mut self, windows: u64) -> Result<ValMetrics, TrainerError> {
        let metrics = self.test_until(windows, None)?;
        Ok(metrics.expect("no stop flag, so the pass ran to its end"))
    }

    /// [`Trainer::test`], given up (`None`) as soon as `stop` is raised.
    fn test_until(
        &mut self,
        windows: u64,
        stop: Option<&AtomicBool>,
    ) -> Result<Option<ValMetrics>, TrainerError> {
        let Some(val) = self.val.as_mut() else {
            return Err(TrainerError::Config(
                "no validation split: gym.val_fraction is 0".to_string(),
            ));
        };
        let model = &self.learner.model;
        let (shard, comm) = (self.learner.shard(), self.comm.as_ref());
        let pass = val.test(&self.be, model, &mut self.data, windows, stop, shard, comm)?;
        let Some((loss, count)) = pass else {
            return Ok(None);
        };
        let best = self.progress.best_val;
        Ok(Some(ValMetrics {
            iteration: self.progress.iteration,
            loss,
            bits_per_token: loss / std::f64::consts::LN_2,
            windows: count,
            tokens: count * (self.cfg.train.batch * self.cfg.train.seq_len) as u64,
            is_best: loss.is_finite() && best.is_none_or(|best| loss < best),
        }))
    }

    /// Validates on the configured number of windows; saves `best` on improvement. An
    /// interrupt during the pass gives it up (nothing recorded) and returns `None`, so that the
    /// training loop checkpoints at once.
    pub(super) fn validate(&mut self) -> Result<Option<ValMetrics>, TrainerError> {
        let stop = self.stop.clone();
        let Some(v) = self.test_until(self.cfg.train.val_windows, stop.as_deref())? else {
            return Ok(None);
        };
        self.progress.last_val = Some(v.loss);
        if v.is_best {
            self.progress.best_val = Some(v.loss);
            if self.cfg.checkpoint.keep_best {
                self.save(CheckpointKind::Best)?;
            }
        }
        self.observers.iter_mut().for_each(|o| o.on_validation(&v));
        Ok(Some(v))
    }
}

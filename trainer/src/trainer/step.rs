//! One optimizer step: forward, divergence check, backward, gradient clip, update.

use rnngym_gyms::Step;
use rnngym_kernels::{hash, Backend};

use super::{Trainer, TrainerError};
use crate::model::Mode;
use crate::optim::clip;

/// Salt that separates the dropout stream from the other uses of `train.seed`.
const DROPOUT_SALT: u64 = 0xD80F_0A7E;

impl<B: Backend> Trainer<B> {
    /// One forward / backward / clip / update. `Ok(Err(what))` when the loss or the gradient
    /// diverged (then nothing was updated); a held-back checkpoint is written once this step
    /// shows the state it holds to be sane.
    pub(super) fn train_step(
        &mut self,
        step: &Step,
        lr: f32,
    ) -> Result<Result<f64, String>, TrainerError> {
        let seed = hash::mix64(self.cfg.train.seed ^ DROPOUT_SALT, self.iteration);
        let loss = self
            .model
            .forward(
                &self.be,
                &mut self.ws,
                &step.inputs,
                Some(&step.targets),
                &step.reset,
                Mode::Train { dropout_seed: seed },
            )?
            .unwrap_or(f64::NAN);
        let bound = self.cfg.train.divergence_factor * (self.model.dims.vocab as f64).ln();
        if !loss.is_finite() {
            return Ok(Err(format!("the loss became {loss}")));
        }
        if bound > 0.0 && loss > bound {
            return Ok(Err(format!(
                "the loss reached {loss:.3e} nats, over train.divergence_factor × ln V = {bound:.1}"
            )));
        }
        self.model.backward(&self.be, &mut self.ws)?;
        let n = self.model.total;
        let norm =
            clip::clip_global_norm(&self.be, &mut self.model.grads, n, self.cfg.train.grad_clip)?;
        if !norm.is_finite() {
            return Ok(Err(format!("the gradient norm became {norm}")));
        }
        if let Some(snap) = self.pending.take() {
            self.write_snapshot("latest", snap)?;
        }
        self.last_grad_norm = norm;
        let m = &mut self.model;
        self.opt
            .step(&self.be, &self.cfg.train, &mut m.params, &m.grads, lr)?;
        Ok(Ok(loss))
    }
}

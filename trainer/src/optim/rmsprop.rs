//! RMSProp (PyTorch semantics, no momentum, not centred).

use rnngym_kernels::{Backend, RmsPropStep};

use crate::config::TrainConfig;

/// State values per parameter: the running average `sq`.
pub const STATE_PER_PARAM: usize = 1;

/// Running average of squared gradients for a flat parameter buffer.
pub struct RmsProp<B: Backend> {
    sq: B::Buf,
    n: usize,
}

impl<B: Backend> RmsProp<B> {
    /// Zero state for `n` parameters.
    pub fn new(be: &B, n: usize) -> rnngym_kernels::Result<Self> {
        Ok(RmsProp {
            sq: be.zeros(n)?,
            n,
        })
    }

    /// One step at learning rate `lr`.
    pub fn step(
        &mut self,
        be: &B,
        cfg: &TrainConfig,
        params: &mut B::Buf,
        grads: &B::Buf,
        lr: f32,
    ) -> rnngym_kernels::Result<()> {
        let s = RmsPropStep {
            lr,
            alpha: cfg.rms_alpha as f32,
            eps: cfg.eps as f32,
        };
        be.rmsprop_step(params, grads, &mut self.sq, self.n, &s)
    }

    /// `optim.rmsprop.sq`.
    pub fn state(&self, be: &B) -> rnngym_kernels::Result<Vec<(String, Vec<f32>)>> {
        let mut sq = vec![0.0; self.n];
        be.read(&self.sq, 0, &mut sq)?;
        Ok(vec![("optim.rmsprop.sq".into(), sq)])
    }

    /// Restores [`RmsProp::state`].
    pub fn load_state(
        &mut self,
        be: &B,
        get: &dyn Fn(&str) -> Option<Vec<f32>>,
    ) -> Result<(), super::StateError> {
        let sq = super::saved(get, "optim.rmsprop.sq", self.n)?;
        Ok(be.write(&mut self.sq, 0, &sq)?)
    }
}

//! Adam (PyTorch semantics, bias-corrected; decoupled weight decay when set).

use rnngym_kernels::{AdamStep, Backend};

use crate::config::TrainConfig;

/// State values per parameter: the moments `m` and `v`.
pub const STATE_PER_PARAM: usize = 2;

/// Adam moments for a flat parameter buffer.
pub struct Adam<B: Backend> {
    m: B::Buf,
    v: B::Buf,
    /// Steps taken so far (bias correction needs it).
    pub t: u64,
    n: usize,
}

impl<B: Backend> Adam<B> {
    /// Zero moments for `n` parameters.
    pub fn new(be: &B, n: usize) -> rnngym_kernels::Result<Self> {
        Ok(Adam {
            m: be.zeros(n)?,
            v: be.zeros(n)?,
            t: 0,
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
        self.t += 1;
        let s = AdamStep {
            lr,
            beta1: cfg.beta1 as f32,
            beta2: cfg.beta2 as f32,
            eps: cfg.eps as f32,
            weight_decay: cfg.weight_decay as f32,
            step: self.t,
        };
        be.adam_step(params, grads, &mut self.m, &mut self.v, self.n, &s)
    }

    /// `optim.adam.m`, `optim.adam.v` and `optim.adam.t` (as one float).
    pub fn state(&self, be: &B) -> rnngym_kernels::Result<Vec<(String, Vec<f32>)>> {
        let mut m = vec![0.0; self.n];
        let mut v = vec![0.0; self.n];
        be.read(&self.m, 0, &mut m)?;
        be.read(&self.v, 0, &mut v)?;
        // Split the step count so it survives f32 exactly.
        let t = vec![(self.t >> 24) as f32, (self.t & 0xFF_FFFF) as f32];
        Ok(vec![
            ("optim.adam.m".into(), m),
            ("optim.adam.v".into(), v),
            ("optim.adam.t".into(), t),
        ])
    }

    /// Restores [`Adam::state`].
    pub fn load_state(
        &mut self,
        be: &B,
        get: &dyn Fn(&str) -> Option<Vec<f32>>,
    ) -> Result<(), super::StateError> {
        let m = super::saved(get, "optim.adam.m", self.n)?;
        let v = super::saved(get, "optim.adam.v", self.n)?;
        let t = super::saved(get, "optim.adam.t", 2)?;
        be.write(&mut self.m, 0, &m)?;
        be.write(&mut self.v, 0, &v)?;
        self.t = ((t[0] as u64) << 24) | t[1] as u64;
        Ok(())
    }
}

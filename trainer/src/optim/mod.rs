//! Optimizers over the model's flat parameter buffer, gradient clipping and LR schedules.

pub mod adam;
pub mod clip;
pub mod rmsprop;
pub mod schedule;

use rnngym_kernels::{Backend, KernelError};

use crate::config::{OptimizerKind, TrainConfig};

impl OptimizerKind {
    /// Values of optimizer state kept per parameter (Adam's two moments, RMSProp's one
    /// running average): what the memory budget counts.
    pub fn state_per_param(self) -> usize {
        match self {
            OptimizerKind::Adam => adam::STATE_PER_PARAM,
            OptimizerKind::Rmsprop => rmsprop::STATE_PER_PARAM,
        }
    }
}

/// The optimizer state (moments), held on the device beside the parameters.
pub enum Optimizer<B: Backend> {
    /// Adam / AdamW.
    Adam(adam::Adam<B>),
    /// RMSProp.
    RmsProp(rmsprop::RmsProp<B>),
}

impl<B: Backend> Optimizer<B> {
    /// Fresh state for `n` parameters, as chosen by `train.optimizer`.
    pub fn new(be: &B, cfg: &TrainConfig, n: usize) -> rnngym_kernels::Result<Self> {
        Ok(match cfg.optimizer {
            OptimizerKind::Adam => Optimizer::Adam(adam::Adam::new(be, n)?),
            OptimizerKind::Rmsprop => Optimizer::RmsProp(rmsprop::RmsProp::new(be, n)?),
        })
    }

    /// One update of `params` from `grads` at learning rate `lr`.
    pub fn step(
        &mut self,
        be: &B,
        cfg: &TrainConfig,
        params: &mut B::Buf,
        grads: &B::Buf,
        lr: f32,
    ) -> rnngym_kernels::Result<()> {
        match self {
            Optimizer::Adam(a) => a.step(be, cfg, params, grads, lr),
            Optimizer::RmsProp(r) => r.step(be, cfg, params, grads, lr),
        }
    }

    /// Named state tensors for checkpoints (`optim.*`), flat, in parameter order.
    pub fn state(&self, be: &B) -> rnngym_kernels::Result<Vec<(String, Vec<f32>)>> {
        match self {
            Optimizer::Adam(a) => a.state(be),
            Optimizer::RmsProp(r) => r.state(be),
        }
    }

    /// Restores state saved by [`Optimizer::state`]; `get` looks a tensor up by name.
    pub fn load_state(
        &mut self,
        be: &B,
        get: &dyn Fn(&str) -> Option<Vec<f32>>,
    ) -> Result<(), StateError> {
        match self {
            Optimizer::Adam(a) => a.load_state(be, get),
            Optimizer::RmsProp(r) => r.load_state(be, get),
        }
    }
}

/// Why saved optimizer state could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A state tensor is absent.
    #[error("optimizer state '{name}' is missing")]
    Missing {
        /// The tensor's name (`optim.adam.m`, ...).
        name: String,
    },
    /// A state tensor has the wrong number of values.
    #[error("optimizer state '{name}' has {found} values, expected {expected}")]
    WrongSize {
        /// The tensor's name.
        name: String,
        /// Values in the saved tensor.
        found: usize,
        /// Values the optimizer holds.
        expected: usize,
    },
    /// The backend could not take the values.
    #[error(transparent)]
    Kernel(#[from] KernelError),
}

/// Fetches a saved state tensor of exactly `n` elements or explains what is wrong.
pub(crate) fn saved(
    get: &dyn Fn(&str) -> Option<Vec<f32>>,
    name: &str,
    n: usize,
) -> Result<Vec<f32>, StateError> {
    let v = get(name).ok_or_else(|| StateError::Missing { name: name.into() })?;
    if v.len() != n {
        return Err(StateError::WrongSize {
            name: name.into(),
            found: v.len(),
            expected: n,
        });
    }
    Ok(v)
}

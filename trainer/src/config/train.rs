//! `[train]`: optimizer, schedule and evaluation cadence, with their defaults.

use serde::{Deserialize, Serialize};

/// The optimizer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam / AdamW (decoupled weight decay).
    #[default]
    Adam,
    /// RMSprop.
    Rmsprop,
}

/// The learning-rate schedule applied after warmup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Constant learning rate.
    #[default]
    Constant,
    /// Multiply by `decay_rate` every `decay_every` iterations.
    Step,
    /// Cosine from `lr` to `min_lr` over the remaining iterations.
    Cosine,
}

/// `[train]`: optimization and evaluation cadence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Number of optimizer steps.
    pub iterations: u64,
    /// B: sequences per batch.
    pub batch: usize,
    /// T: time steps per window (truncated BPTT length).
    pub seq_len: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Seed for initialization, data order and dropout.
    pub seed: u64,
    /// "adam" or "rmsprop".
    pub optimizer: OptimizerKind,
    /// Adam first-moment decay.
    pub beta1: f64,
    /// Adam second-moment decay.
    pub beta2: f64,
    /// Denominator epsilon for Adam and RMSprop.
    pub eps: f64,
    /// Decoupled weight decay (0 disables).
    pub weight_decay: f64,
    /// RMSprop squared-gradient decay.
    pub rms_alpha: f64,
    /// Global gradient-norm clip (0 disables).
    pub grad_clip: f64,
    /// "constant", "step" or "cosine".
    pub schedule: ScheduleKind,
    /// Iterations of linear warmup from 0 to `lr`.
    pub warmup: u64,
    /// Step schedule: iterations between decays.
    pub decay_every: u64,
    /// Step schedule: factor applied at each decay.
    pub decay_rate: f64,
    /// Floor of the step and cosine schedules.
    pub min_lr: f64,
    /// Iterations between validation passes (0 disables periodic validation).
    pub val_every: u64,
    /// Validation windows per pass (0 means the whole validation split).
    pub val_windows: u64,
    /// Iterations between log lines (and `metrics.jsonl` training records).
    pub log_every: u64,
    /// Iterations between samples generated during training (0 disables); see
    /// `sample.train_length` and `sample.train_temperature`.
    pub sample_every: u64,
    /// CPU worker threads (0 means all cores).
    pub threads: usize,
    /// Audio: standard deviation, in quantization levels, of the Gaussian noise added to each
    /// training input (rounded; targets stay clean), so that the model learns to continue
    /// from imperfect history — its own samples when it generates (LPCNet's remedy for
    /// exposure bias). 0 disables.
    pub input_noise: f64,
    /// Stop as diverged when the loss exceeds this many times the uniform baseline ln V
    /// (0 disables; NaN / inf always stop).
    pub divergence_factor: f64,
    /// On divergence, roll back to the last good checkpoint with the learning rate halved, at
    /// most this many times in a run (0 = stop at the first divergence).
    pub max_rollbacks: u32,
    /// Good states kept to roll back to (at least 1): the last one in memory, up to this
    /// many − 1 older ones as files in `<checkpoint.dir>/rollback/`. A divergence right after
    /// a rollback to a state (before a newer good one) goes back to the next older state.
    pub rollback_depth: u32,
    /// Data-parallel runs: seconds a rank may wait in one collective (an all-reduce, a
    /// barrier) for the others before it ends the job as hung (a rank that stopped
    /// responding without dying); 0 waits forever. Covers rank 0's checkpoint and sample
    /// writing, which the others wait for.
    pub collective_timeout_s: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            iterations: 2000,
            batch: 32,
            seq_len: 64,
            lr: 2e-3,
            seed: 42,
            optimizer: OptimizerKind::Adam,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            rms_alpha: 0.99,
            grad_clip: 5.0,
            schedule: ScheduleKind::Constant,
            warmup: 0,
            decay_every: 1000,
            decay_rate: 0.5,
            min_lr: 0.0,
            val_every: 200,
            val_windows: 0,
            log_every: 50,
            sample_every: 0,
            threads: 0,
            divergence_factor: 10.0,
            input_noise: 0.0,
            max_rollbacks: 3,
            rollback_depth: 3,
            collective_timeout_s: 600.0,
        }
    }
}

//! Observers receive every training update: logging, progress bars, metrics files and plots
//! are all observers, so the trainer itself never prints.

use std::time::Duration;

/// One optimizer step's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// 1-based iteration just completed.
    pub iteration: u64,
    /// Total iterations of this `train` call's target.
    pub target: u64,
    /// Mean training loss over the window (nats/token).
    pub loss: f64,
    /// The same in bits/token.
    pub bits_per_token: f64,
    /// Learning rate used for the step.
    pub lr: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Training throughput over the recent past (tokens/s).
    pub tokens_per_sec: f64,
    /// Wall time since training started.
    pub elapsed: Duration,
}

/// A validation pass's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct ValMetrics {
    /// Iteration at which it ran.
    pub iteration: u64,
    /// Mean loss (nats/token).
    pub loss: f64,
    /// The same in bits/token.
    pub bits_per_token: f64,
    /// Windows evaluated.
    pub windows: u64,
    /// Tokens evaluated.
    pub tokens: u64,
    /// Whether this is the best validation loss so far.
    pub is_best: bool,
}

/// A sample generated with the current weights during training: text every
/// `train.sample_every` iterations, or audio at each checkpoint for audio gyms.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSample {
    /// Iteration after which it was generated.
    pub iteration: u64,
    /// Softmax temperature used.
    pub temperature: f32,
    /// The priming text (rendered); empty for audio.
    pub prime: String,
    /// The generated tokens.
    pub tokens: Vec<u32>,
    /// The generated tokens rendered by the codec; empty for audio (see `audio`).
    pub text: String,
    /// The generated audio, when the gym's codec is an audio codec.
    pub audio: Option<AudioClip>,
}

/// Mono audio generated during training.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioClip {
    /// Samples per second.
    pub sample_rate: u32,
    /// Sample values in [-1, 1], one per generated token.
    pub samples: Vec<f32>,
}

/// A divergence the trainer recovered from by rolling back (`train.max_rollbacks`).
#[derive(Clone, Debug, PartialEq)]
pub struct Rollback {
    /// The iteration whose step diverged (1-based, as in [`Update::iteration`]).
    pub diverged_at: u64,
    /// Iterations completed in the state rolled back to (the last good checkpoint, or the
    /// state the `train` call started from when none was written since).
    pub to_iteration: u64,
    /// What diverged, e.g. "the loss became NaN".
    pub reason: String,
    /// The learning-rate multiplier from now on (halved by every rollback).
    pub lr_scale: f64,
    /// Rollbacks so far in this run, this one included.
    pub rollbacks: u32,
    /// `train.max_rollbacks`.
    pub max_rollbacks: u32,
}

/// Receives the trainer's per-iteration updates. Every method has an empty default.
pub trait Observer: Send {
    /// Called once before the first iteration of a `train` call (the resolved config as TOML).
    fn on_start(&mut self, _config_toml: &str, _start_iteration: u64, _target: u64) {}
    /// Called after every optimizer step.
    fn on_update(&mut self, _u: &Update) {}
    /// Called after every validation pass.
    fn on_validation(&mut self, _v: &ValMetrics) {}
    /// Called after a checkpoint was written (`kind` is "latest" or "best").
    fn on_checkpoint(&mut self, _path: &std::path::Path, _kind: &str) {}
    /// Called after a training sample was generated (every `train.sample_every` iterations for
    /// text gyms, at each periodic checkpoint for audio gyms).
    fn on_sample(&mut self, _s: &TrainSample) {}
    /// Called when a `train` call ends, normally or interrupted, with the last iteration.
    fn on_end(&mut self, _iteration: u64, _interrupted: bool) {}
    /// Called after a divergence was rolled back: iterations after `to_iteration` are undone
    /// and will be trained again (so per-iteration logs should drop theirs).
    fn on_rollback(&mut self, _r: &Rollback) {}
}

/// Logs through the `log` crate: an info line every `every` iterations and each validation.
pub struct LogObserver {
    every: u64,
    iterations: bool,
}

impl LogObserver {
    /// Logs every `every` iterations (0 ⇒ only the first and last).
    pub fn new(every: u64) -> Self {
        LogObserver {
            every,
            iterations: true,
        }
    }

    /// Logs validations, samples and checkpoints but no iteration lines (a progress bar shows them).
    pub fn without_iterations() -> Self {
        LogObserver {
            every: 0,
            iterations: false,
        }
    }
}

/// Whether iteration `u` is one that periodic loggers record: the first, the last, and every
/// `every`-th (0 ⇒ only the first and last).
pub fn log_due(u: &Update, every: u64) -> bool {
    u.iteration == 1 || u.iteration == u.target || (every > 0 && u.iteration.is_multiple_of(every))
}

impl Observer for LogObserver {
    fn on_update(&mut self, u: &Update) {
        if self.iterations && log_due(u, self.every) {
            log::info!(
                "iter {:>6}/{}  loss {:.4}  ({:.3} bits/token)  lr {:.2e}  |g| {:.3}  {:.0} tok/s",
                u.iteration,
                u.target,
                u.loss,
                u.bits_per_token,
                u.lr,
                u.grad_norm,
                u.tokens_per_sec
            );
        }
    }

    fn on_validation(&mut self, v: &ValMetrics) {
        log::info!(
            "val  @ {:>6}  loss {:.4}  ({:.3} bits/token) over {} tokens{}",
            v.iteration,
            v.loss,
            v.bits_per_token,
            v.tokens,
            if v.is_best { "  (best)" } else { "" }
        );
    }

    fn on_checkpoint(&mut self, path: &std::path::Path, kind: &str) {
        log::debug!("wrote {kind} checkpoint {}", path.display());
    }

    fn on_rollback(&mut self, r: &Rollback) {
        log::warn!(
            "training diverged at iteration {} ({}); rolled back to iteration {} with the learning rate halved (multiplier {}), rollback {} of at most {} (train.max_rollbacks)",
            r.diverged_at,
            r.reason,
            r.to_iteration,
            r.lr_scale,
            r.rollbacks,
            r.max_rollbacks
        );
    }

    fn on_sample(&mut self, s: &TrainSample) {
        if s.audio.is_some() {
            return; // the SampleWriter that writes the WAV names it in its own log line
        }
        log::info!(
            "sample @ {:>6} (temperature {}):\n{}{}\n",
            s.iteration,
            s.temperature,
            s.prime,
            s.text.trim_end()
        );
    }
}

//! The episode-based `Trainer`: `train` / `test` / `run`, after MyCaffe's
//! `IXMyCaffeCustomTrainerRNN`. Truncated BPTT with the hidden state carried across the
//! consecutive windows of a stream and reset where the gym says a lane starts a new source.

mod cursor;
mod evaluate;
mod history;
mod rollback;
mod snapshot;
mod step;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::Rng;
use rnngym_gyms::{Codec, Gym, GymError, WindowError};
use rnngym_kernels::{Backend, KernelError};

use crate::budget;
use crate::checkpoint::CheckpointError;
use crate::config::Config;
use crate::generate::Generator;
use crate::model::{Model, Workspace};
use crate::observer::{Observer, Update};
use crate::optim::{schedule, Optimizer};
use crate::sample::SampleOptions;
use crate::state;

use snapshot::Snapshot;

mod training_sample;

/// Errors from training, validation, generation and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum TrainerError {
    /// A numeric backend failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The gym failed (a window it cannot serve is [`TrainerError::Window`]).
    #[error(transparent)]
    Gym(GymError),
    /// The gym cannot serve windows of `train.batch` lanes × `train.seq_len` steps.
    #[error("{}", window_message(.0))]
    Window(WindowError),
    /// A checkpoint file could not be written or read.
    #[error(transparent)]
    CheckpointFile(#[from] CheckpointError),
    /// A checkpoint's contents do not fit this run (the message names the file).
    #[error("{0}")]
    Checkpoint(String),
    /// A checkpoint file's contents cannot be used (the message names the file).
    #[error(transparent)]
    CheckpointContents(Box<state::ContentsError>),
    /// The model or batch cannot fit (the message names the keys to change).
    #[error(transparent)]
    Budget(#[from] budget::BudgetError),
    /// The loss or the gradients stopped being finite.
    #[error("{0}")]
    Diverged(String),
    /// The configuration cannot be used.
    #[error("{0}")]
    Config(String),
    /// The stop flag was raised; `checkpoint` holds the state after `iteration` iterations.
    #[error("interrupted after iteration {iteration}; checkpoint {}", checkpoint.display())]
    Interrupted {
        /// Iterations completed.
        iteration: u64,
        /// The checkpoint written on the way out.
        checkpoint: PathBuf,
    },
}

/// By hand rather than `#[from]` so that every `?` on a gym call turns a window the gym cannot
/// serve into [`TrainerError::Window`], which names the config keys that set the shape.
impl From<GymError> for TrainerError {
    fn from(e: GymError) -> Self {
        match e {
            GymError::Window(w) => TrainerError::Window(w),
            other => TrainerError::Gym(other),
        }
    }
}

/// The gym's own words about the window, then the config keys that set its shape.
fn window_message(e: &WindowError) -> String {
    match e {
        WindowError::Empty { .. } => {
            format!("{e}; train.batch and train.seq_len must both be at least 1")
        }
        WindowError::Overflow { .. } | WindowError::TooSmall { .. } => {
            format!("{e}; lower train.batch or train.seq_len")
        }
    }
}

/// Seed of every validation pass: the same windows each time, so losses compare.
const VAL_SEED: u64 = 0x5EED_0F7A;

/// Trains a [`Model`] on a [`Gym`] with the settings of a [`Config`].
pub struct Trainer<B: Backend> {
    be: B,
    cfg: Config,
    model: Model<B>,
    opt: Optimizer<B>,
    gym: Box<dyn Gym>,
    codec: Arc<dyn Codec>,
    ws: Workspace<B>,
    val_ws: Option<Workspace<B>>,
    has_val: bool,
    iteration: u64,
    episode: u64,
    episode_steps: u64,
    episode_live: bool,
    best_val: Option<f64>,
    last_val: Option<f64>,
    last_loss: Option<f64>,
    last_grad_norm: f64,
    observers: Vec<Box<dyn Observer>>,
    stop: Option<Arc<AtomicBool>>,
    /// Multiplies the scheduled learning rate; halved by each divergence rollback.
    lr_scale: f64,
    /// Divergence rollbacks so far in this run.
    rollbacks: u32,
    /// The states a divergence rolls back to: the last `latest` written (or where `train`
    /// began) in memory, older ones in `<checkpoint.dir>/rollback/`.
    good: history::History,
    /// A due checkpoint held back until the next step shows it sane (finite loss under the
    /// divergence bound, finite gradients), so a diverging run never overwrites a good file.
    pending: Option<Snapshot>,
}

impl<B: Backend> Trainer<B> {
    /// A fresh model for `gym`, initialised from `cfg.train.seed`.
    pub fn new(be: B, cfg: Config, gym: Box<dyn Gym>) -> Result<Self, TrainerError> {
        let codec = gym.codec();
        let dims = state::dims_of(&cfg, codec.vocab_size());
        // Refuse what cannot fit before allocating any of it.
        let (t, b) = (cfg.train.seq_len, cfg.train.batch);
        let has_val = cfg.gym.val_fraction > 0.0;
        budget::check_params(&dims)?;
        let dropout = cfg.model.dropout > 0.0;
        let fp = budget::Footprint::of(&dims, t, b, dropout, has_val, cfg.train.optimizer);
        budget::check_memory(&fp, t, b, be.memory_available(), &be.name())?;
        let mut model = Model::new(&be, dims, cfg.model.dropout as f32, cfg.train.seed)?;
        if cfg.model.init_scale > 0.0 {
            model.reinit_uniform(&be, cfg.model.init_scale as f32, cfg.train.seed)?;
        }
        if let Some(fb) = cfg.model.forget_bias {
            model.set_forget_bias(&be, fb as f32)?;
        }
        let opt = Optimizer::new(&be, &cfg.train, model.total)?;
        let ws = model.workspace(&be, cfg.train.seq_len, cfg.train.batch)?;
        let mut t = Trainer {
            be,
            model,
            opt,
            gym,
            codec,
            ws,
            val_ws: None,
            has_val: cfg.gym.val_fraction > 0.0,
            cfg,
            iteration: 0,
            episode: 0,
            episode_steps: 0,
            episode_live: false,
            best_val: None,
            last_val: None,
            last_loss: None,
            last_grad_norm: 0.0,
            observers: Vec::new(),
            stop: None,
            lr_scale: 1.0,
            rollbacks: 0,
            good: history::History::default(),
            pending: None,
        };
        t.check_splits()?;
        Ok(t)
    }

    /// Continues the run saved in `checkpoint`: parameters, optimizer state, carried state,
    /// counters and the data cursor. `cfg` must describe the same model.
    pub fn resume(
        be: B,
        cfg: Config,
        gym: Box<dyn Gym>,
        checkpoint: &Path,
    ) -> Result<Self, TrainerError> {
        let loaded = state::read(checkpoint)?;
        let mut t = Self::new(be, cfg, gym)?;
        if loaded.meta.vocab != t.codec.vocab_size() || loaded.codec.spec() != t.codec.spec() {
            return Err(TrainerError::Config(format!(
                "{}: the checkpoint's vocabulary differs from the corpus's; resume with the same data",
                checkpoint.display()
            )));
        }
        t.restore(&loaded.meta, &loaded.tensors, checkpoint)?;
        t.best_val = loaded.meta.best_val_loss;
        // Older good states this run's directory kept for rollbacks, and whether `latest` is
        // the file just loaded (so the state can later be kept by linking to it).
        let keep = t.cfg.train.rollback_depth.saturating_sub(1) as usize;
        let dir = history::folder(&t.cfg.checkpoint.dir);
        t.good.older = history::scan(&dir, t.iteration, keep);
        let latest = Path::new(&t.cfg.checkpoint.dir).join("latest.safetensors");
        if same_file(checkpoint, &latest) {
            t.good.latest_on_disk = Some(t.iteration);
        }
        (t.lr_scale, t.rollbacks) = (loaded.meta.lr_scale, loaded.meta.rollbacks);
        if t.rollbacks > 0 && loaded.config.train.lr != t.cfg.train.lr {
            // A new train.lr is the user's answer to the divergence: apply it as given.
            log::info!(
                "train.lr changed from {} to {}: dropping the learning-rate multiplier {} left by {} rollback(s)",
                loaded.config.train.lr,
                t.cfg.train.lr,
                t.lr_scale,
                t.rollbacks
            );
            (t.lr_scale, t.rollbacks) = (1.0, 0);
        }
        Ok(t)
    }

    /// Adds an observer of every update.
    pub fn add_observer(&mut self, o: Box<dyn Observer>) {
        self.observers.push(o);
    }

    /// A flag checked between iterations (a Ctrl-C handler sets it): when raised, `train`
    /// writes `latest` and returns [`TrainerError::Interrupted`].
    pub fn set_stop_flag(&mut self, flag: Arc<AtomicBool>) {
        self.stop = Some(flag);
    }

    /// Iterations completed so far.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// The model being trained.
    pub fn model(&self) -> &Model<B> {
        &self.model
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.be
    }

    /// The gym's codec.
    pub fn codec(&self) -> Arc<dyn Codec> {
        self.codec.clone()
    }

    /// The config in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Best validation loss so far.
    pub fn best_val_loss(&self) -> Option<f64> {
        self.best_val
    }

    /// The learning-rate multiplier (1, halved by each divergence rollback).
    pub fn lr_scale(&self) -> f64 {
        self.lr_scale
    }

    /// Divergence rollbacks so far in this run (saved in checkpoints).
    pub fn rollbacks(&self) -> u32 {
        self.rollbacks
    }

    /// Runs `iterations` more optimizer steps, validating and checkpointing as configured.
    /// A diverging step rolls back to the last good state with the learning rate halved (to
    /// an older one when the last one diverges again, see `train.rollback_depth`), up to
    /// `train.max_rollbacks` times, then ends in [`TrainerError::Diverged`]. Returns the last
    /// training loss.
    pub fn train(&mut self, iterations: u64) -> Result<f64, TrainerError> {
        let start_iter = self.iteration;
        let target = start_iter + iterations;
        let cfg_text = self.cfg.to_toml_string();
        self.observers
            .iter_mut()
            .for_each(|o| o.on_start(&cfg_text, start_iter, target));
        let tokens_per_step = (self.cfg.train.batch * self.cfg.train.seq_len) as f64;
        let started = Instant::now();
        let mut loss = self.last_loss.unwrap_or(f64::NAN);
        // Where a divergence before the first checkpoint of this call rolls back to.
        let start = self.capture()?;
        self.keep_good(start)?;
        while self.iteration < target {
            if self.stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) {
                // The held-back checkpoint is the current state: write that directly.
                self.pending = None;
                let checkpoint = self.save("latest")?;
                let iteration = self.iteration;
                self.observers
                    .iter_mut()
                    .for_each(|o| o.on_end(iteration, true));
                return Err(TrainerError::Interrupted {
                    iteration,
                    checkpoint,
                });
            }
            let step = self.next_train_step()?;
            let lr =
                (schedule::lr_at(&self.cfg.train, self.iteration) as f64 * self.lr_scale) as f32;
            loss = match self.train_step(&step, lr)? {
                Ok(loss) => loss,
                Err(what) => {
                    self.on_divergence(self.iteration + 1, &what)?;
                    continue;
                }
            };
            self.iteration += 1;
            self.last_loss = Some(loss);
            let elapsed = started.elapsed();
            let u = Update {
                iteration: self.iteration,
                target,
                loss,
                bits_per_token: loss / std::f64::consts::LN_2,
                lr,
                grad_norm: self.last_grad_norm,
                tokens_per_sec: self.iteration.saturating_sub(start_iter) as f64 * tokens_per_step
                    / elapsed.as_secs_f64().max(1e-9),
                elapsed,
            };
            self.observers.iter_mut().for_each(|o| o.on_update(&u));
            let it = self.iteration;
            let val_due = self.has_val && every(self.cfg.train.val_every, it);
            if val_due || (self.has_val && it == target) {
                self.validate()?;
            }
            // Text gyms sample every `sample_every`; audio gyms write a clip per checkpoint,
            // where a WAV is worth listening to and its weights are kept beside it.
            let audio = self.codec.audio().is_some();
            if !audio && every(self.cfg.train.sample_every, it) {
                self.emit_sample()?;
            }
            if every(self.cfg.checkpoint.every, it) || it == target {
                let snap = self.capture()?;
                if let Some(name) = snap.non_finite() {
                    let what = format!("tensor {name} holds a NaN or infinity");
                    self.on_divergence(it, &what)?;
                    continue;
                }
                if it == target {
                    self.write_snapshot("latest", snap)?;
                } else {
                    self.pending = Some(snap);
                }
                if audio && self.cfg.sample.train_seconds > 0.0 {
                    self.emit_sample()?;
                }
            }
        }
        let it = self.iteration;
        self.observers.iter_mut().for_each(|o| o.on_end(it, false));
        Ok(loss)
    }

    /// Generates `n` tokens after feeding `prime` (which must be non-empty), calling
    /// `on_token` with each as it is produced.
    pub fn run(
        &self,
        n: usize,
        prime: &[u32],
        opts: &SampleOptions,
        rng: &mut impl Rng,
        mut on_token: impl FnMut(u32),
    ) -> Result<Vec<u32>, TrainerError> {
        let mut g = Generator::new(&self.be, &self.model)?;
        if prime.is_empty() {
            return Err(TrainerError::Config(
                "generation needs at least one prime token".into(),
            ));
        }
        g.prime(&self.be, prime)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let tok = g.next(&self.be, opts, rng)?;
            on_token(tok);
            out.push(tok);
        }
        Ok(out)
    }

    /// Generates a training sample and hands it to the observers (none: nothing to generate).
    fn emit_sample(&mut self) -> Result<(), TrainerError> {
        if self.observers.is_empty() {
            return Ok(());
        }
        let s = self.training_sample()?;
        self.observers.iter_mut().for_each(|o| o.on_sample(&s));
        Ok(())
    }
}

/// Whether a periodic action with period `n` (0 = never) is due at iteration `it`.
fn every(n: u64, it: u64) -> bool {
    n > 0 && it.is_multiple_of(n)
}

/// Whether `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

//! The episode-based `Trainer`: `train` / `test` / `run`, after MyCaffe's
//! `IXMyCaffeCustomTrainerRNN`. Truncated BPTT with the hidden state carried across the
//! consecutive windows of a stream and reset where the gym says a lane starts a new source.

mod checkpoints;
mod cursor;
mod error;
mod evaluate;
mod history;
mod recording;
mod rollback;
mod snapshot;
mod splits;
mod step;
mod training_sample;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rand::Rng;
use rnngym_gyms::{Codec, Gym};
use rnngym_kernels::Backend;

use crate::budget;
use crate::config::Config;
use crate::dist::{Collective, Single};
use crate::generate::Generator;
use crate::model::Model;
use crate::observer::{Observer, Update};
use crate::optim::schedule;
use crate::run_dir::{CheckpointKind, RunDir};
use crate::sample::SampleOptions;
use crate::state;

use checkpoints::Checkpoints;
use cursor::Cursor;
pub use error::TrainerError;
use evaluate::Validator;
use rollback::Rollbacks;
pub use splits::check_splits;
pub use step::{Divergence, Gradients, Learner};

/// What the run has done and measured so far (saved in checkpoints).
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    /// Optimizer steps completed.
    iteration: u64,
    /// The last step's training loss.
    last_loss: Option<f64>,
    /// The last step's global gradient norm (before clipping).
    grad_norm: f64,
    /// The best validation loss so far.
    best_val: Option<f64>,
    /// The last validation loss.
    last_val: Option<f64>,
}

/// Trains a [`Model`] on a [`Gym`] with the settings of a [`Config`].
pub struct Trainer<B: Backend> {
    be: B,
    cfg: Config,
    codec: Arc<dyn Codec>,
    /// The model, its optimizer and the training step.
    learner: Learner<B>,
    /// The training gym and where its stream stands.
    data: Cursor,
    /// Validation on its own fork of the gym (`None` without a validation split).
    val: Option<Validator<B>>,
    /// Divergence handling: the learning-rate multiplier and the good states.
    rollbacks: Rollbacks,
    /// Where checkpoints go and the one held back.
    checkpoints: Checkpoints,
    progress: Progress,
    observers: Vec<Box<dyn Observer>>,
    stop: Option<Arc<AtomicBool>>,
    /// Held from [`Trainer::attach_run_dir`] until the trainer is dropped.
    run_lock: Option<crate::lock::RunLock>,
    /// The processes of the job (one, unless started by an MPI launcher); rank 0 writes.
    comm: Arc<dyn Collective>,
}

impl<B: Backend> Trainer<B> {
    /// A fresh model for `gym`, initialised from `cfg.train.seed`.
    pub fn new(be: B, cfg: Config, gym: Box<dyn Gym>) -> Result<Self, TrainerError> {
        Self::with_collective(be, cfg, gym, Arc::new(Single))
    }

    /// [`Trainer::new`] as one rank of a data-parallel job over `comm`: every rank starts from
    /// the same parameters, computes its share of `train.batch` and takes the same optimizer
    /// steps; only rank 0 writes checkpoints (see docs/DISTRIBUTED.md).
    pub fn with_collective(
        be: B,
        cfg: Config,
        gym: Box<dyn Gym>,
        comm: Arc<dyn Collective>,
    ) -> Result<Self, TrainerError> {
        let codec = gym.codec();
        // Each rank holds the activations of its own lanes only.
        let shard = crate::dist::Shard::new(comm.rank(), comm.world(), cfg.train.batch)?;
        training_sample::prime_tokens(codec.as_ref(), &cfg.sample)?;
        let dims = state::dims_of(&cfg, codec.vocab_size());
        // Refuse what cannot fit before allocating any of it.
        let (t, b) = (cfg.train.seq_len, shard.lanes);
        let has_val = splits::validates(&cfg);
        budget::check_params(&dims)?;
        let dropout = cfg.model.dropout > 0.0;
        let fp = budget::Footprint::of(&dims, t, b, dropout, has_val, cfg.train.optimizer);
        budget::check_memory(&fp, t, b, be.memory_available(), &be.name())?;
        let learner = Learner::with_collective(&be, &cfg, dims, &codec, comm.clone())?;
        let shape = splits::shape(&cfg);
        let gym = Box::new(crate::dist::RankGym::new(gym, shard));
        let mut data = Cursor::new(gym, shape, cfg.train.seed);
        // Fail early, with the gym's message, when a split cannot serve one window.
        data.check_splits(&cfg)?;
        let val = match has_val {
            true => Some(Validator::new(&mut data, shape)?),
            false => None,
        };
        let dir = RunDir::new(&cfg.checkpoint.dir);
        let mut rollbacks = Rollbacks::new(&cfg, dir.clone());
        rollbacks.good.set_writes(comm.rank() == 0);
        Ok(Trainer {
            rollbacks,
            checkpoints: Checkpoints::new(dir, cfg.checkpoint.every),
            be,
            cfg,
            codec,
            learner,
            data,
            val,
            progress: Progress::default(),
            observers: Vec::new(),
            stop: None,
            run_lock: None,
            comm,
        })
    }

    /// Continues the run saved in `checkpoint`: parameters, optimizer state, carried state,
    /// counters and the data cursor. `cfg` must describe the same model.
    pub fn resume(
        be: B,
        cfg: Config,
        gym: Box<dyn Gym>,
        checkpoint: &Path,
    ) -> Result<Self, TrainerError> {
        Self::resume_with_collective(be, cfg, gym, checkpoint, Arc::new(Single))
    }

    /// [`Trainer::resume`] as one rank of a data-parallel job: every rank reads the same
    /// checkpoint (written by any number of ranks: its carried state is the whole batch's).
    pub fn resume_with_collective(
        be: B,
        cfg: Config,
        gym: Box<dyn Gym>,
        checkpoint: &Path,
        comm: Arc<dyn Collective>,
    ) -> Result<Self, TrainerError> {
        // The gym's codec is the one in use: compare the saved spec with it, so a custom codec
        // kind needs no registry here.
        let loaded = state::read_saved(checkpoint)?;
        let mut t = Self::with_collective(be, cfg, gym, comm)?;
        if loaded.meta.vocab != t.codec.vocab_size() || loaded.meta.codec != t.codec.spec() {
            return Err(TrainerError::Config(format!(
                "{}: the checkpoint's vocabulary differs from the corpus's; resume with the same data",
                checkpoint.display()
            )));
        }
        t.restore(&loaded.meta, &loaded.tensors, checkpoint)?;
        t.progress.best_val = loaded.meta.best_val_loss;
        let retries = loaded.meta.rollback_retries;
        t.rollbacks
            .good
            .resume(t.progress.iteration, retries, checkpoint);
        let r = &mut t.rollbacks;
        (r.lr_scale, r.count) = (loaded.meta.lr_scale, loaded.meta.rollbacks);
        if r.count > 0 && loaded.config.train.lr != t.cfg.train.lr {
            // A new train.lr is the user's answer to the divergence: apply it as given.
            log::info!(
                "train.lr changed from {} to {}: dropping the learning-rate multiplier {} left by {} rollback(s)",
                loaded.config.train.lr,
                t.cfg.train.lr,
                r.lr_scale,
                r.count
            );
            (r.lr_scale, r.count) = (1.0, 0);
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

    /// Whether the ranks average their gradients on their devices (NCCL) rather than through
    /// host memory; false on one process.
    pub fn reduces_on_device(&self) -> bool {
        self.learner.reduces_on_device()
    }

    /// This process's rank in the job and the number of ranks (`(0, 1)` on one process).
    pub fn rank_and_world(&self) -> (usize, usize) {
        (self.comm.rank(), self.comm.world())
    }

    /// Whether the stop flag is raised: on any rank, so that every rank stops at the same
    /// iteration (one that stopped alone would leave the others waiting in a collective).
    fn stop_requested(&self) -> Result<bool, TrainerError> {
        stop_requested(self.stop.as_deref(), self.comm.as_ref())
    }

    /// Iterations completed so far.
    pub fn iteration(&self) -> u64 {
        self.progress.iteration
    }

    /// The model being trained.
    pub fn model(&self) -> &Model<B> {
        &self.learner.model
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

    /// The run directory checkpoints go to (`checkpoint.dir`).
    pub fn run_dir(&self) -> &RunDir {
        &self.checkpoints.dir
    }

    /// Best validation loss so far.
    pub fn best_val_loss(&self) -> Option<f64> {
        self.progress.best_val
    }

    /// The learning-rate multiplier (1, halved by each divergence rollback).
    pub fn lr_scale(&self) -> f64 {
        self.rollbacks.lr_scale
    }

    /// Divergence rollbacks so far in this run (saved in checkpoints).
    pub fn rollbacks(&self) -> u32 {
        self.rollbacks.count
    }

    /// Runs `iterations` more optimizer steps, validating and checkpointing as configured.
    /// A diverging step rolls back to the last good state with the learning rate halved (to
    /// an older one when the last one diverges again, see `train.rollback_depth`), up to
    /// `train.max_rollbacks` times, then ends in [`TrainerError::Diverged`]. Returns the last
    /// training loss.
    pub fn train(&mut self, iterations: u64) -> Result<f64, TrainerError> {
        let start_iter = self.progress.iteration;
        let target = start_iter + iterations;
        let cfg_text = self.cfg.to_toml_string();
        self.observers
            .iter_mut()
            .for_each(|o| o.on_start(&cfg_text, start_iter, target));
        let tokens_per_step = (self.cfg.train.batch * self.cfg.train.seq_len) as f64;
        let started = Instant::now();
        let mut loss = self.progress.last_loss.unwrap_or(f64::NAN);
        // Where a divergence before the first checkpoint of this call rolls back to.
        let start = self.capture()?;
        self.rollbacks.good.keep_good(start)?;
        while self.progress.iteration < target {
            if self.stop_requested()? {
                return Err(self.interrupted()?);
            }
            let it = self.progress.iteration;
            let window = self.data.next()?;
            let lr = (schedule::lr_at(&self.cfg.train, it) as f64 * self.rollbacks.lr_scale) as f32;
            let (l, grad_norm) =
                match self
                    .learner
                    .gradients(&self.be, &self.cfg.train, &window, it)?
                {
                    Gradients::Ready { loss, grad_norm } => (loss, grad_norm),
                    Gradients::Diverged(why) => {
                        self.on_divergence(it + 1, &why)?;
                        continue;
                    }
                };
            // This step showed the state held back for `latest` sane.
            self.write_pending()?;
            self.learner.update(&self.be, &self.cfg.train, lr)?;
            loss = l;
            let it = it + 1;
            self.progress.iteration = it;
            (self.progress.last_loss, self.progress.grad_norm) = (Some(loss), grad_norm);
            let elapsed = started.elapsed();
            let u = Update {
                iteration: it,
                target,
                loss,
                bits_per_token: loss / std::f64::consts::LN_2,
                lr,
                grad_norm,
                tokens_per_sec: (it - start_iter) as f64 * tokens_per_step
                    / elapsed.as_secs_f64().max(1e-9),
                elapsed,
            };
            self.observers.iter_mut().for_each(|o| o.on_update(&u));
            let has_val = self.val.is_some();
            if has_val && (every(self.cfg.train.val_every, it) || it == target) {
                // An interrupt gave the pass up: checkpoint now instead of finishing it.
                if self.validate()?.is_none() {
                    return Err(self.interrupted()?);
                }
            }
            // Text gyms sample every `sample_every`; audio gyms write a clip per checkpoint,
            // where a WAV is worth listening to and its weights are kept beside it.
            let audio = self.codec.audio().is_some();
            if !audio && every(self.cfg.train.sample_every, it) {
                self.emit_sample()?;
            }
            if self.checkpoints.due(it, target) {
                let snap = self.capture()?;
                if let Some(name) = snap.non_finite() {
                    let why = Divergence::NonFinite(name.to_string());
                    self.on_divergence(it, &why)?;
                    continue;
                }
                if it == target {
                    self.write_snapshot(CheckpointKind::Latest, snap)?;
                } else {
                    self.checkpoints.pending = Some(snap);
                }
                if audio && self.cfg.sample.train_seconds > 0.0 {
                    self.emit_sample()?;
                }
            }
        }
        let it = self.progress.iteration;
        self.observers.iter_mut().for_each(|o| o.on_end(it, false));
        Ok(loss)
    }

    /// The stop flag was raised: writes `latest` (the held-back checkpoint is the current
    /// state) and returns the error that says where it is.
    fn interrupted(&mut self) -> Result<TrainerError, TrainerError> {
        self.checkpoints.pending = None;
        let checkpoint = self.save(CheckpointKind::Latest)?;
        let iteration = self.progress.iteration;
        self.observers
            .iter_mut()
            .for_each(|o| o.on_end(iteration, true));
        Ok(TrainerError::Interrupted {
            iteration,
            checkpoint,
        })
    }

    /// Generates `n` tokens after feeding `prime` (which must be non-empty), calling
    /// `on_token` with each as it is produced; audio models with a pitch feature sample
    /// periodic stretches colder by `sample.pitch_sharpening`.
    pub fn run(
        &self,
        n: usize,
        prime: &[u32],
        opts: &SampleOptions,
        rng: &mut impl Rng,
        mut on_token: impl FnMut(u32),
    ) -> Result<Vec<u32>, TrainerError> {
        let sharpening = self.cfg.sample.pitch_sharpening as f32;
        let (be, model, precision) = (&self.be, &self.learner.model, self.cfg.sample.precision);
        let mut g =
            Generator::with_precision(be, model, precision)?.with_pitch_sharpening(sharpening);
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

/// Whether `stop` is raised on any rank of `comm` (a collective on several ranks).
fn stop_requested(stop: Option<&AtomicBool>, comm: &dyn Collective) -> Result<bool, TrainerError> {
    let raised = stop.is_some_and(|f| f.load(Ordering::SeqCst));
    if comm.world() == 1 {
        return Ok(raised);
    }
    let mut v = [f64::from(u8::from(raised))];
    comm.all_reduce_sum_f64(&mut v)?;
    Ok(v[0] > 0.0)
}

/// Whether a periodic action with period `n` (0 = never) is due at iteration `it`.
fn every(n: u64, it: u64) -> bool {
    n > 0 && it.is_multiple_of(n)
}

//! The training step, as a public component: a [`Learner`] holds the model, its optimizer and
//! its training workspace, and takes one optimizer step on one window — forward, divergence
//! check, backward, gradient clip, update. The [`Trainer`](super::Trainer), `rnngym bench` and
//! any other driver (a user's own loop) call the same code. On several processes (a
//! [`Collective`] of N ranks) each computes its [`Shard`] of the lanes, and the step reduces
//! the loss and the gradients so that every rank takes the same optimizer step, the one a
//! single process would take on the whole batch.

use std::sync::Arc;

use rnngym_gyms::{Codec, Step};
use rnngym_kernels::{hash, Backend, DeviceGroup};

use super::TrainerError;
use crate::config::{Config, TrainConfig};
use crate::dist::{Collective, Shard, Single};
use crate::model::{Mode, Model, ModelDims, Workspace};
use crate::optim::{clip, Optimizer};

/// Salt that separates the dropout stream from the other uses of `train.seed`.
const DROPOUT_SALT: u64 = 0xD80F_0A7E;
/// Salt of the input-noise stream (`train.input_noise`).
const NOISE_SALT: u64 = 0x0015_E0F5;

/// `tokens`, each moved by a rounded N(0, σ²) number of levels and clamped to `0..vocab`.
fn with_noise(tokens: &[u32], sigma: f64, vocab: usize, seed: u64) -> Vec<u32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let top = vocab.saturating_sub(1) as f64;
    tokens
        .iter()
        .map(|&t| {
            let z: f64 = rng.sample(rand_distr::StandardNormal);
            (f64::from(t) + (sigma * z).round()).clamp(0.0, top) as u32
        })
        .collect()
}

/// Why a step's loss or gradients cannot be used; nothing was updated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Divergence {
    /// The loss is NaN or infinite.
    #[error("the loss became {0}")]
    Loss(f64),
    /// The loss is finite but beyond `train.divergence_factor × ln V`.
    #[error("the loss reached {loss:.3e} nats, over train.divergence_factor × ln V = {bound:.1}")]
    LossOverBound {
        /// The loss, nats per token.
        loss: f64,
        /// The bound it crossed.
        bound: f64,
    },
    /// The global gradient norm is NaN or infinite.
    #[error("the gradient norm became {0}")]
    GradNorm(f64),
    /// A tensor of the state about to be checkpointed is not finite.
    #[error("tensor {0} holds a NaN or infinity")]
    NonFinite(String),
}

/// What the forward and backward half of a step found.
#[derive(Clone, Debug, PartialEq)]
pub enum Gradients {
    /// The gradients are in the model, clipped, ready for [`Learner::update`].
    Ready {
        /// Mean cross-entropy of the window, nats per token.
        loss: f64,
        /// Global gradient norm before clipping.
        grad_norm: f64,
    },
    /// The step diverged; the parameters and optimizer state are untouched.
    Diverged(Divergence),
}

/// The model being trained, its optimizer state and its training workspace.
pub struct Learner<B: Backend> {
    /// The model (parameters and their gradients).
    pub model: Model<B>,
    /// The optimizer state.
    pub opt: Optimizer<B>,
    /// Activations and the carried state for `[train.seq_len, lanes]` windows (`lanes` is
    /// `train.batch` on one process, this rank's share on several).
    pub ws: Workspace<B>,
    /// The job's processes (gradients and losses are reduced over them).
    comm: Arc<dyn Collective>,
    /// The lanes of the global batch this rank computes.
    shard: Shard,
    /// Host copy of the gradients for the all-reduce (empty on one process).
    host: Vec<f32>,
    /// The ranks' device communicator (NCCL), when every rank has one: gradients are then
    /// averaged on the devices instead of through `host`. Set up at the first reduction, once
    /// every rank is past its own setup (which may fail on one rank alone).
    group: Group<B>,
}

/// Where a learner averages its gradients over the ranks.
enum Group<B: Backend> {
    /// Not decided yet (no reduction so far).
    Undecided,
    /// Through host memory over the [`Collective`].
    Host,
    /// On the devices.
    Device(Box<dyn DeviceGroup<B::Buf>>),
}

/// The device communicator of a data-parallel job whose ranks all have device collectives
/// (GPUs with NCCL): rank 0 creates its id, the job broadcasts it over `comm`, every rank
/// joins. `None` on one process, on CPUs, or when any rank lacks them (the gradients then go
/// through host memory, which works everywhere). A rank that fails to join returns the error,
/// and the job ends (see `rnngym train`).
fn device_group<B: Backend>(
    be: &B,
    comm: &dyn Collective,
) -> Result<Option<Box<dyn DeviceGroup<B::Buf>>>, TrainerError> {
    let world = comm.world();
    if world == 1 {
        return Ok(None);
    }
    let mut able = [f64::from(u8::from(be.device_groups()))];
    comm.all_reduce_sum_f64(&mut able)?;
    let able = able[0] as usize;
    if able < world {
        if able > 0 && comm.rank() == 0 {
            log::warn!(
                "{} of {world} ranks have NCCL: gradients are averaged through host memory",
                able
            );
        }
        return Ok(None);
    }
    // Byte 0 says whether rank 0 made an id; the id follows.
    let mut msg = vec![0u8; 1 + 128];
    if comm.rank() == 0 {
        match be.device_group_id() {
            Ok(id) if id.len() == 128 => {
                msg[0] = 1;
                msg[1..].copy_from_slice(&id);
            }
            Ok(id) => log::warn!("a device-group id of {} bytes; using the host", id.len()),
            Err(e) => log::warn!("{e}: gradients are averaged through host memory"),
        }
    }
    comm.broadcast_bytes(&mut msg)?;
    if msg[0] == 0 {
        return Ok(None);
    }
    let group = be.join_device_group(&msg[1..], comm.rank(), world)?;
    if comm.rank() == 0 {
        log::info!("gradients are averaged on the devices (NCCL, {world} ranks)");
    }
    Ok(Some(group))
}

impl<B: Backend> Learner<B> {
    /// A fresh model of `dims` initialised as `cfg` says (seed, `model.init_scale`,
    /// `model.forget_bias`, `model.features` built for `codec`), with its optimizer and a
    /// workspace for `cfg.train`'s windows.
    pub fn new(
        be: &B,
        cfg: &Config,
        dims: ModelDims,
        codec: &Arc<dyn Codec>,
    ) -> Result<Self, TrainerError> {
        Self::with_collective(be, cfg, dims, codec, Arc::new(Single))
    }

    /// [`Learner::new`] for one rank of a data-parallel job: its workspace holds this rank's
    /// share of `train.batch` (an error naming both numbers when it does not divide).
    pub fn with_collective(
        be: &B,
        cfg: &Config,
        dims: ModelDims,
        codec: &Arc<dyn Codec>,
        comm: Arc<dyn Collective>,
    ) -> Result<Self, TrainerError> {
        let shard = Shard::new(comm.rank(), comm.world(), cfg.train.batch)
            .map_err(|e| TrainerError::Config(e.to_string()))?;
        let seed = cfg.train.seed;
        let mut model = Model::new(be, dims, cfg.model.dropout as f32, seed)?;
        crate::state::attach_features(&mut model, cfg, codec)?;
        if cfg.train.input_noise > 0.0 && codec.audio().is_none() {
            return Err(TrainerError::Config(format!(
                "train.input_noise = {}: noise is added to quantized audio samples; this gym's \
                 codec is '{}' (set it to 0)",
                cfg.train.input_noise,
                codec.kind()
            )));
        }
        if cfg.model.init_scale > 0.0 {
            model.reinit_uniform(be, cfg.model.init_scale as f32, seed)?;
        }
        if let Some(fb) = cfg.model.forget_bias {
            model.set_forget_bias(be, fb as f32)?;
        }
        if cfg.model.embed_init == crate::config::EmbedInit::Ramp {
            model.ramp_embeddings(be, seed)?;
        }
        let opt = Optimizer::new(be, &cfg.train, model.total)?;
        let ws = model.workspace(be, cfg.train.seq_len, shard.lanes)?;
        Ok(Learner {
            model,
            opt,
            ws,
            comm,
            shard,
            host: Vec::new(),
            group: Group::Undecided,
        })
    }

    /// Whether gradients are averaged on the devices (a [`DeviceGroup`]) instead of the host.
    pub fn reduces_on_device(&self) -> bool {
        matches!(self.group, Group::Device(_))
    }

    /// The lanes of the global batch this learner computes.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// One whole optimizer step on `window` at learning rate `lr`: [`Learner::gradients`],
    /// then [`Learner::update`] unless the step diverged.
    pub fn step(
        &mut self,
        be: &B,
        cfg: &TrainConfig,
        window: &Step,
        iteration: u64,
        lr: f32,
    ) -> Result<Gradients, TrainerError> {
        let g = self.gradients(be, cfg, window, iteration)?;
        if let Gradients::Ready { .. } = g {
            self.update(be, cfg, lr)?;
        }
        Ok(g)
    }

    /// Forward (dropout drawn from `train.seed` and `iteration`), the divergence checks,
    /// backward and the global-norm clip: the gradients of step `iteration + 1`, or why they
    /// cannot be used. Changes no parameter. `window` holds this rank's lanes (see
    /// [`crate::dist::RankGym`]); on several ranks the loss and the gradients are the global batch's
    /// (every rank gets the same ones, so every rank decides the same).
    pub fn gradients(
        &mut self,
        be: &B,
        cfg: &TrainConfig,
        window: &Step,
        iteration: u64,
    ) -> Result<Gradients, TrainerError> {
        // Masks are drawn per element of this rank's window: each rank needs a stream of its
        // own (one process keeps the stream it always had), so with dropout or noise an
        // N-rank run is a different, equally valid draw than a 1-rank one.
        let rank_seed = |s: u64| match self.shard.world {
            1 => s,
            _ => hash::mix64(s, self.shard.rank as u64),
        };
        let dropout_seed = rank_seed(hash::mix64(cfg.seed ^ DROPOUT_SALT, iteration));
        let noisy;
        let inputs = if cfg.input_noise > 0.0 {
            let seed = rank_seed(hash::mix64(cfg.seed ^ NOISE_SALT, iteration));
            let v = self.model.dims.vocab;
            noisy = with_noise(&window.inputs, cfg.input_noise, v, seed);
            &noisy
        } else {
            &window.inputs
        };
        let loss = self
            .model
            .forward(
                be,
                &mut self.ws,
                inputs,
                Some(&window.targets),
                &window.reset,
                Mode::Train { dropout_seed },
            )?
            .unwrap_or(f64::NAN);
        // Every rank's loss is the mean over its lanes, all of the same size: the global mean
        // is their mean (a NaN anywhere makes it NaN everywhere, so all ranks diverge alike).
        let loss = self.mean_over_ranks(loss)?;
        if !loss.is_finite() {
            return Ok(Gradients::Diverged(Divergence::Loss(loss)));
        }
        let bound = cfg.divergence_factor * (self.model.dims.vocab as f64).ln();
        if bound > 0.0 && loss > bound {
            return Ok(Gradients::Diverged(Divergence::LossOverBound {
                loss,
                bound,
            }));
        }
        self.model.backward(be, &mut self.ws)?;
        self.reduce_gradients(be)?;
        let n = self.model.total;
        let grad_norm = clip::clip_global_norm(be, &mut self.model.grads, n, cfg.grad_clip)?;
        if !grad_norm.is_finite() {
            return Ok(Gradients::Diverged(Divergence::GradNorm(grad_norm)));
        }
        Ok(Gradients::Ready { loss, grad_norm })
    }

    /// The mean of `x` over the ranks (`x` itself on one process).
    fn mean_over_ranks(&self, x: f64) -> Result<f64, TrainerError> {
        let world = self.shard.world;
        if world == 1 {
            return Ok(x);
        }
        let mut v = [x];
        self.comm.all_reduce_sum_f64(&mut v)?;
        Ok(v[0] / world as f64)
    }

    /// Replaces each rank's gradients (of the mean over its lanes) by their mean over the
    /// ranks: the gradient of the global batch's mean loss. One all-reduce of the flat buffer.
    fn reduce_gradients(&mut self, be: &B) -> Result<(), TrainerError> {
        let world = self.shard.world;
        if world == 1 {
            return Ok(());
        }
        let n = self.model.total;
        if let Group::Undecided = self.group {
            self.group = match device_group(be, self.comm.as_ref())? {
                Some(g) => Group::Device(g),
                None => Group::Host,
            };
        }
        if let Group::Device(group) = &self.group {
            group.all_reduce_mean(&mut self.model.grads, n)?;
            return Ok(());
        }
        self.host.resize(n, 0.0);
        be.read(&self.model.grads, 0, &mut self.host)?;
        self.comm.all_reduce_sum_f32(&mut self.host)?;
        let scale = 1.0 / world as f32;
        self.host.iter_mut().for_each(|g| *g *= scale);
        be.write(&mut self.model.grads, 0, &self.host)?;
        Ok(())
    }

    /// The optimizer update from the gradients of the last [`Learner::gradients`].
    pub fn update(&mut self, be: &B, cfg: &TrainConfig, lr: f32) -> Result<(), TrainerError> {
        let m = &mut self.model;
        Ok(self.opt.step(be, cfg, &mut m.params, &m.grads, lr)?)
    }
}

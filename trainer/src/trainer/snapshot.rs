//! The whole training state as host tensors plus metadata — parameters, optimizer state,
//! carried recurrent state, counters and the data cursor: exactly what a checkpoint file holds.
//! Kept in memory as well, so a divergence rolls back without reading the disk.

use std::collections::BTreeMap;
use std::path::Path;

use rnngym_gyms::GymError;
use rnngym_kernels::Backend;

use super::step::Learner;
use super::{Trainer, TrainerError};
use crate::checkpoint::{self, Tensor};
use crate::state::{self, CheckpointMeta};

/// The training state after some iteration, on the host.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    /// Counters, cursor, config and codec, as saved in the checkpoint's metadata.
    pub meta: CheckpointMeta,
    /// Parameters, `optim.*` and `state.*` tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
}

impl Snapshot {
    /// The first tensor holding a NaN or an infinity: such a state is never checkpointed.
    pub fn non_finite(&self) -> Option<&str> {
        self.tensors
            .iter()
            .find(|(_, t)| t.data.iter().any(|x| !x.is_finite()))
            .map(|(name, _)| name.as_str())
    }

    /// Writes this state to `path` as a checkpoint (atomically: temp file + rename).
    pub fn write(&self, path: &Path) -> Result<(), TrainerError> {
        let meta =
            serde_json::to_value(&self.meta).map_err(|error| TrainerError::Metadata { error })?;
        Ok(checkpoint::save_map(path, &meta, &self.tensors)?)
    }
}

/// The tensor holding each lane's input-feature state `[B, n]` (models with features).
const FEATURES: &str = "state.features";

impl<B: Backend> Trainer<B> {
    /// Copies the current training state to the host.
    pub(crate) fn capture(&self) -> Result<Snapshot, TrainerError> {
        let meta = CheckpointMeta {
            rnngym_version: env!("CARGO_PKG_VERSION").to_string(),
            config: self.cfg.to_toml_string(),
            codec: self.codec.spec(),
            vocab: self.codec.vocab_size(),
            iteration: self.progress.iteration,
            episode: self.data.episode,
            episode_steps: self.data.steps,
            episode_live: self.data.live,
            best_val_loss: self.progress.best_val,
            val_loss: self.progress.last_val,
            train_loss: self.progress.last_loss,
            lr_scale: self.rollbacks.lr_scale,
            rollbacks: self.rollbacks.count,
            rollback_retries: self.rollbacks.good.retries_of(self.progress.iteration),
        };
        let Learner { model, opt, ws, .. } = &self.learner;
        let mut tensors = BTreeMap::new();
        for info in &model.infos {
            let mut data = vec![0.0; info.len()];
            self.be.read(&model.params, info.off, &mut data)?;
            let shape = info.shape.clone();
            tensors.insert(info.name.clone(), Tensor { shape, data });
        }
        for (name, data) in opt.state(&self.be)? {
            let shape = vec![data.len()];
            tensors.insert(name, Tensor { shape, data });
        }
        // The carried state is saved for the whole batch, gathered from every rank in lane
        // order, so a checkpoint does not depend on how many processes wrote it.
        let (b, h) = (self.cfg.train.batch, model.dims.hidden);
        let comm = self.comm.as_ref();
        for (l, (hv, cv)) in ws.read_state(&self.be, h)?.into_iter().enumerate() {
            let t = |data| Tensor {
                shape: vec![b, h],
                data,
            };
            tensors.insert(format!("state.h.l{l}"), t(comm.all_gather_f32(&hv)?));
            if !cv.is_empty() {
                tensors.insert(format!("state.c.l{l}"), t(comm.all_gather_f32(&cv)?));
            }
        }
        let lanes = ws.read_features();
        if let Some(n) = lanes.first().map(Vec::len) {
            let data = comm.all_gather_f32(&lanes.concat())?;
            tensors.insert(
                FEATURES.into(),
                Tensor {
                    shape: vec![b, n],
                    data,
                },
            );
        }
        Ok(Snapshot { meta, tensors })
    }

    /// Puts back a saved state (from a checkpoint file, or a snapshot when rolling back):
    /// parameters, optimizer state, counters, the data cursor and the carried state. The best
    /// validation loss and the rollback bookkeeping are the callers' business. `source` names
    /// the state in messages.
    pub(crate) fn restore(
        &mut self,
        meta: &CheckpointMeta,
        tensors: &BTreeMap<String, Tensor>,
        source: &Path,
    ) -> Result<(), TrainerError> {
        let shard = self.learner.shard();
        let Learner { model, opt, ws, .. } = &mut self.learner;
        state::load_params(&self.be, model, tensors, source)?;
        let get = |name: &str| tensors.get(name).map(|t| t.data.clone());
        // This rank's lanes of a whole-batch state tensor.
        let lanes = |name: &str| {
            let t = tensors.get(name)?;
            shard.rows(&t.data).map(<[f32]>::to_vec)
        };
        opt.load_state(&self.be, &get)
            .map_err(|error| TrainerError::OptimizerState {
                path: source.to_path_buf(),
                error,
            })?;
        let layers = model.dims.layers;
        let carried: Option<Vec<_>> = (0..layers)
            .map(|l| {
                let h = lanes(&format!("state.h.l{l}"))?;
                let c = lanes(&format!("state.c.l{l}")).unwrap_or_default();
                Some((h, c))
            })
            .collect();
        if let Some(state) = carried {
            ws.write_state(&self.be, &state)?;
        } else {
            ws.reset_state();
        }
        if let Some(t) = tensors.get(FEATURES) {
            let n = t.shape.last().copied().unwrap_or(0).max(1);
            let mine = shard.rows(&t.data).unwrap_or_default();
            let lanes: Vec<Vec<f32>> = mine.chunks(n).map(<[f32]>::to_vec).collect();
            ws.write_features(&lanes).map_err(|e| {
                TrainerError::Config(format!(
                    "{}: tensor {FEATURES}: {e}; resume with the same model.features",
                    source.display()
                ))
            })?;
        } else if model.features().is_some() {
            // Saved without feature state: the lanes start afresh with the carried state.
            ws.reset_state();
        }
        self.progress.iteration = meta.iteration;
        (self.progress.last_val, self.progress.last_loss) = (meta.val_loss, meta.train_loss);
        self.data.restore(meta).map_err(|e| match e {
            // A gym process that failed while replaying says what happened to it; the
            // checkpoint is not to blame.
            TrainerError::Gym(error) if !matches!(error, GymError::Process { .. }) => {
                TrainerError::DamagedCursor {
                    path: source.to_path_buf(),
                    episode: meta.episode,
                    window: meta.episode_steps,
                    error,
                }
            }
            other => other,
        })?;
        Ok(())
    }
}

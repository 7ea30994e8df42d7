//! What a checkpoint holds beyond tensors (the JSON metadata), and loading a model back.
//!
//! Tensor names: the model's PyTorch-style names, `optim.*` for optimizer state and
//! `state.h.l{k}` / `state.c.l{k}` for the recurrent state carried into the next window.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rnngym_gyms::{Codec, CodecRegistry, GymError};
use rnngym_kernels::Backend;

use crate::budget::BudgetError;
use crate::checkpoint::{self, Tensor};
use crate::config::{Config, ConfigError};
use crate::model::{Model, ModelDims};
use crate::trainer::TrainerError;

/// A checkpoint file that was read but whose contents cannot be used; each names the file.
/// Where a typed error is the cause, its text is in the message, so it is not also a
/// `source()`.
#[derive(Debug, thiserror::Error)]
pub enum ContentsError {
    /// The JSON metadata does not match [`CheckpointMeta`].
    #[error("{}: invalid metadata: {error}", path.display())]
    Metadata {
        /// The checkpoint file.
        path: PathBuf,
        /// What the JSON parser found.
        error: serde_json::Error,
    },
    /// The saved config does not parse or validate.
    #[error("{}: {error}", path.display())]
    SavedConfig {
        /// The checkpoint file.
        path: PathBuf,
        /// The config error (its location names the file's saved config).
        error: ConfigError,
    },
    /// The saved codec spec does not describe a codec.
    #[error("{}: invalid codec: {error}", path.display())]
    Codec {
        /// The checkpoint file.
        path: PathBuf,
        /// Why the codec could not be rebuilt.
        error: GymError,
    },
    /// The codec and the model disagree on the vocabulary size.
    #[error(
        "{}: codec has {codec} tokens but the model was built for {model}",
        path.display()
    )]
    VocabMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// V of the saved codec.
        codec: usize,
        /// V the metadata says the model was built for.
        model: usize,
    },
    /// A tensor the model needs is not in the file.
    #[error("{}: tensor '{name}' is missing", path.display())]
    MissingTensor {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// A tensor's shape is not the one the config implies.
    #[error(
        "{}: tensor '{name}' has shape {found:?}, but the config needs {expected:?}",
        path.display()
    )]
    TensorShape {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Its shape in the file.
        found: Vec<usize>,
        /// The shape the config needs.
        expected: Vec<usize>,
    },
    /// A weight is NaN or infinite: training never saves such a state, so the file is damaged.
    #[error(
        "{}: tensor '{name}' holds a NaN or infinity at element {index}; training never saves \
         such a state, so the checkpoint is damaged (use an earlier one, e.g. from rollback/)",
        path.display()
    )]
    NonFinite {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The first bad element.
        index: usize,
    },
    /// The saved config describes a model that cannot fit.
    #[error("{}: {error}", path.display())]
    Budget {
        /// The checkpoint file.
        path: PathBuf,
        /// What does not fit.
        error: BudgetError,
    },
    /// The saved config needs more parameters than the file holds values.
    #[error(
        "{}: its config ({:?} {}×{}, embed {}, vocab {}) needs {need} parameters but the file \
         holds {held} values; the checkpoint is corrupted or was edited",
        path.display(),
        dims.cell,
        dims.layers,
        dims.hidden,
        dims.embed,
        dims.vocab
    )]
    TooFewValues {
        /// The checkpoint file.
        path: PathBuf,
        /// The dimensions the saved config implies.
        dims: ModelDims,
        /// Parameters those dimensions need.
        need: u128,
        /// Values the file's tensors hold.
        held: usize,
    },
}

/// Boxed: the variants carry whole errors, and `TrainerError` is returned everywhere.
impl From<ContentsError> for TrainerError {
    fn from(e: ContentsError) -> Self {
        TrainerError::CheckpointContents(Box::new(e))
    }
}

/// The JSON metadata stored in every checkpoint.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// Version of rnngym that wrote it.
    pub rnngym_version: String,
    /// The resolved config, as TOML.
    pub config: String,
    /// The codec's spec (`Codec::spec`), so sampling needs no corpus.
    pub codec: serde_json::Value,
    /// Vocabulary size the model was built for.
    pub vocab: usize,
    /// Iterations completed.
    pub iteration: u64,
    /// Training episodes started before the current one.
    pub episode: u64,
    /// Windows consumed from the current episode (the data cursor; replayed on resume).
    pub episode_steps: u64,
    /// Whether an episode is in progress (else the next step starts a new one).
    pub episode_live: bool,
    /// Best validation loss so far (nats/token).
    pub best_val_loss: Option<f64>,
    /// Latest validation loss.
    pub val_loss: Option<f64>,
    /// Latest training loss.
    pub train_loss: Option<f64>,
    /// Learning-rate multiplier left by divergence rollbacks (each halves it). Written only when
    /// it is not 1, so files of runs without a rollback stay readable by older builds.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub lr_scale: f64,
    /// Divergence rollbacks so far in this run (bounded by `train.max_rollbacks`); written only
    /// when non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rollbacks: u32,
    /// Rollbacks to this very state since it became the newest good one: a divergence after
    /// one gives it up for an older state, also after a kill and `--resume`. Written only when
    /// non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rollback_retries: u32,
}

fn one() -> f64 {
    1.0
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A checkpoint read back: metadata, parsed config, codec and tensors.
pub struct Loaded {
    /// Metadata.
    pub meta: CheckpointMeta,
    /// The config it was trained with.
    pub config: Config,
    /// Its codec.
    pub codec: Arc<dyn Codec>,
    /// All tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
}

/// A checkpoint's contents with its codec still in its saved form (`meta.codec`): what a
/// trainer that already has the gym's codec needs.
#[derive(Debug)]
pub struct Saved {
    /// Metadata.
    pub meta: CheckpointMeta,
    /// The config it was trained with.
    pub config: Config,
    /// All tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
}

/// Reads and checks a checkpoint file whose codec is a built-in kind.
pub fn read(path: &Path) -> Result<Loaded, TrainerError> {
    read_with(path, &CodecRegistry::with_builtins())
}

/// Reads and checks a checkpoint file, rebuilding its codec through `codecs` (which holds the
/// custom codec kinds of the program's gyms).
pub fn read_with(path: &Path, codecs: &CodecRegistry) -> Result<Loaded, TrainerError> {
    with_codec(read_saved(path)?, path, codecs)
}

/// Reads and checks a checkpoint file, leaving its codec unbuilt.
pub fn read_saved(path: &Path) -> Result<Saved, TrainerError> {
    let (meta, tensors) = checkpoint::load(path)?;
    check_saved(meta, tensors, path)
}

/// [`read`] on a checkpoint already in memory; `path` only names it in errors.
pub fn read_bytes(bytes: &[u8], path: &Path) -> Result<Loaded, TrainerError> {
    let (meta, tensors) = checkpoint::load_bytes(bytes, path)?;
    with_codec(
        check_saved(meta, tensors, path)?,
        path,
        &CodecRegistry::with_builtins(),
    )
}

fn check_saved(
    meta: serde_json::Value,
    tensors: BTreeMap<String, Tensor>,
    path: &Path,
) -> Result<Saved, TrainerError> {
    let path = path.to_path_buf();
    let meta: CheckpointMeta =
        serde_json::from_value(meta).map_err(|error| ContentsError::Metadata {
            path: path.clone(),
            error,
        })?;
    let label = format!("{} (saved config)", path.display());
    let config = Config::from_toml_str(&meta.config, &label).map_err(|error| {
        ContentsError::SavedConfig {
            path: path.clone(),
            error,
        }
    })?;
    Ok(Saved {
        meta,
        config,
        tensors,
    })
}

/// `saved` with its codec rebuilt through `codecs`, checked against the model's vocabulary.
fn with_codec(saved: Saved, path: &Path, codecs: &CodecRegistry) -> Result<Loaded, TrainerError> {
    let Saved {
        meta,
        config,
        tensors,
    } = saved;
    let path = path.to_path_buf();
    let codec = codecs
        .build(&meta.codec)
        .map_err(|error| ContentsError::Codec {
            path: path.clone(),
            error,
        })?;
    if codec.vocab_size() != meta.vocab {
        return Err(ContentsError::VocabMismatch {
            path,
            codec: codec.vocab_size(),
            model: meta.vocab,
        }
        .into());
    }
    Ok(Loaded {
        meta,
        config,
        codec,
        tensors,
    })
}

/// The model dimensions a config implies for a vocabulary of `vocab` tokens.
pub fn dims_of(cfg: &Config, vocab: usize) -> ModelDims {
    let m = &cfg.model;
    ModelDims::plain(m.cell, vocab, m.embed_dim(), m.hidden, m.layers)
        .with_channels(&m.feature_channels(vocab))
}

/// Builds `cfg`'s `[model.features]` (if any) for `codec` and sets them on `model`.
pub fn attach_features<B: Backend>(
    model: &mut Model<B>,
    cfg: &Config,
    codec: &Arc<dyn Codec>,
) -> Result<(), TrainerError> {
    if let Some(spec) = &cfg.model.features {
        model.set_features(spec.build(codec)?)?;
    }
    Ok(())
}

/// Copies every model tensor from `tensors` into `model`, checking names and shapes.
pub fn load_params<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    tensors: &BTreeMap<String, Tensor>,
    path: &Path,
) -> Result<(), TrainerError> {
    for info in &model.infos {
        let t = tensors
            .get(&info.name)
            .ok_or_else(|| ContentsError::MissingTensor {
                path: path.to_path_buf(),
                name: info.name.clone(),
            })?;
        if t.shape != info.shape || t.data.len() != info.len() {
            return Err(ContentsError::TensorShape {
                path: path.to_path_buf(),
                name: info.name.clone(),
                found: t.shape.clone(),
                expected: info.shape.clone(),
            }
            .into());
        }
        if let Some(index) = t.data.iter().position(|x| !x.is_finite()) {
            return Err(ContentsError::NonFinite {
                path: path.to_path_buf(),
                name: info.name.clone(),
                index,
            }
            .into());
        }
        be.write(&mut model.params, info.off, &t.data)?;
    }
    Ok(())
}

/// Loads a model (built from the checkpoint's own config) and its built-in codec for inference.
pub fn load_model<B: Backend>(be: &B, path: &Path) -> Result<(Model<B>, Loaded), TrainerError> {
    model_from(be, read(path)?, path)
}

/// [`load_model`] for a checkpoint whose codec kind is registered in `codecs`.
pub fn load_model_with<B: Backend>(
    be: &B,
    path: &Path,
    codecs: &CodecRegistry,
) -> Result<(Model<B>, Loaded), TrainerError> {
    model_from(be, read_with(path, codecs)?, path)
}

/// [`load_model`] on a checkpoint already in memory; `path` only names it in errors. The
/// `checkpoint_load` fuzz target and its regression tests drive this.
pub fn load_model_bytes<B: Backend>(
    be: &B,
    bytes: &[u8],
    path: &Path,
) -> Result<(Model<B>, Loaded), TrainerError> {
    model_from(be, read_bytes(bytes, path)?, path)
}

/// Builds the model a checkpoint already [`read`] describes on `be` (for callers that pick the
/// device from the checkpoint's config first); `path` only names it in errors.
pub fn model_from<B: Backend>(
    be: &B,
    loaded: Loaded,
    path: &Path,
) -> Result<(Model<B>, Loaded), TrainerError> {
    let dims = dims_of(&loaded.config, loaded.meta.vocab);
    // The saved config could describe anything: check before allocating the model.
    let bad = |error| ContentsError::Budget {
        path: path.to_path_buf(),
        error,
    };
    crate::budget::check_params(&dims).map_err(bad)?;
    let optimizer = loaded.config.train.optimizer;
    let fp = crate::budget::Footprint::of(&dims, 1, 1, false, false, optimizer);
    crate::budget::check_memory(&fp, 1, 1, be.memory_available(), &be.name()).map_err(bad)?;
    // The saved config and vocabulary are only text in the file: check that the file really
    // holds that many values (which bounds the allocation by the file's size), so an edited or
    // corrupted config cannot make a small file allocate a large model.
    let held: usize = loaded.tensors.values().map(|t| t.data.len()).sum();
    let need = crate::budget::param_count(&dims);
    if need > held as u128 {
        return Err(ContentsError::TooFewValues {
            path: path.to_path_buf(),
            dims,
            need,
            held,
        }
        .into());
    }
    let mut model = Model::new(be, dims, 0.0, 0)?;
    load_params(be, &mut model, &loaded.tensors, path)?;
    attach_features(&mut model, &loaded.config, &loaded.codec).map_err(|e| {
        TrainerError::Config(format!("{}: the saved model.features: {e}", path.display()))
    })?;
    Ok((model, loaded))
}

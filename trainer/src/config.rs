//! The run configuration: TOML sections with defaults in one place, `--set` overrides,
//! validation whose messages name the key, and one-line `FILE:LINE:COL` parse errors.

use std::path::{Path, PathBuf};

use rnngym_gyms::{GymSpec, UnknownPolicy};
use serde::{Deserialize, Serialize};

/// Largest hidden/embedding width accepted; beyond it the weights alone would not fit in memory.
pub const MAX_WIDTH: usize = 65536;
/// Largest number of stacked layers accepted.
pub const MAX_LAYERS: usize = 64;
/// Largest number of tokens (batch × seq_len) in one iteration.
pub const MAX_TOKENS_PER_BATCH: usize = 1 << 26;

/// A configuration problem, rendered as one line for the user.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The TOML text is malformed or does not match the schema.
    #[error("{location}: {message}")]
    Parse {
        /// `FILE:LINE:COL` (or just `FILE` when the parser gave no position).
        location: String,
        /// What is wrong, naming the dotted key where it is known.
        message: String,
    },
    /// A `--set section.key=value` override is malformed or does not fit the schema.
    #[error("--set {arg}: {message}")]
    Override {
        /// The override as given.
        arg: String,
        /// What is wrong with it.
        message: String,
    },
    /// A value parsed but is out of range.
    #[error("{key}: expected {expected}, got {got}")]
    Invalid {
        /// Dotted key, e.g. `train.batch`.
        key: String,
        /// What would have been accepted.
        expected: String,
        /// The offending value.
        got: String,
    },
    /// The config could not be rendered as TOML.
    #[error("cannot render config as TOML: {0}")]
    Serialize(String),
}

/// The recurrent cell type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Long short-term memory (PyTorch nn.LSTM semantics).
    #[default]
    Lstm,
    /// Gated recurrent unit (PyTorch nn.GRU semantics).
    Gru,
    /// Elman RNN with tanh.
    Rnn,
}

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

/// Where the model runs, parsed from `model.device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA device 0 when available, else the CPU.
    Auto,
    /// The CPU backend.
    Cpu,
    /// The CUDA device with this ordinal.
    Cuda(usize),
}

impl DeviceChoice {
    /// Parses "auto", "cpu", "cuda" or "cuda:N"; None for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(DeviceChoice::Auto),
            "cpu" => Some(DeviceChoice::Cpu),
            "cuda" => Some(DeviceChoice::Cuda(0)),
            _ => {
                let n = s.strip_prefix("cuda:")?;
                // usize::from_str accepts a leading '+', which we do not want to document.
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                n.parse().ok().map(DeviceChoice::Cuda)
            }
        }
    }
}

/// `[model]`: the network's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Cell type: "lstm", "gru" or "rnn".
    pub cell: CellKind,
    /// H: hidden width of every layer.
    pub hidden: usize,
    /// L: number of stacked layers.
    pub layers: usize,
    /// Embedding width; None means the same as `hidden`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embed: Option<usize>,
    /// Dropout probability between layers (0 disables).
    pub dropout: f64,
    /// "auto", "cpu", "cuda" or "cuda:N".
    pub device: String,
    /// Uniform init half-width; 0 means PyTorch's default 1/sqrt(H).
    pub init_scale: f64,
    /// LSTM forget-gate bias at init; unset keeps PyTorch's uniform draw, which trained
    /// better on tinyshakespeare than a bias of 1 (README, "Quality").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_bias: Option<f64>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            cell: CellKind::Lstm,
            hidden: 128,
            layers: 2,
            embed: None,
            dropout: 0.0,
            device: "auto".to_string(),
            init_scale: 0.0,
            forget_bias: None,
        }
    }
}

impl ModelConfig {
    /// The embedding width actually used.
    pub fn embed_dim(&self) -> usize {
        self.embed.unwrap_or(self.hidden)
    }

    /// The parsed device; an invalid string (which `validate` rejects) reads as Auto.
    pub fn device_kind(&self) -> DeviceChoice {
        DeviceChoice::parse(&self.device).unwrap_or(DeviceChoice::Auto)
    }
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
            max_rollbacks: 3,
            rollback_depth: 3,
        }
    }
}

/// `[sample]`: generation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleConfig {
    /// Tokens to generate.
    pub length: usize,
    /// Softmax temperature (> 0).
    pub temperature: f64,
    /// Keep only the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p (1 = off).
    pub top_p: f64,
    /// Text fed to the model before generation starts.
    pub prime: String,
    /// Sampling seed; None draws one from the OS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// What to do with priming characters outside the vocabulary: "error" or "skip".
    pub unknown: UnknownPolicy,
    /// Always pick the most likely token.
    pub argmax: bool,
    /// Tokens of each sample generated during training (`train.sample_every`).
    pub train_length: usize,
    /// Softmax temperature of the samples generated during training (> 0).
    pub train_temperature: f64,
    /// Audio gyms: seconds of audio generated at each checkpoint and written as a WAV beside
    /// it (0 disables; `train.sample_every` applies to text gyms only).
    pub train_seconds: f64,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            length: 500,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            prime: String::new(),
            seed: None,
            unknown: UnknownPolicy::Error,
            argmax: false,
            train_length: 200,
            train_temperature: 0.8,
            train_seconds: 1.0,
        }
    }
}

/// `[checkpoint]`: where and how often to save.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Run directory for checkpoints and logs.
    pub dir: String,
    /// Iterations between checkpoints (0 = only at the end).
    pub every: u64,
    /// Also keep the checkpoint with the best validation loss.
    pub keep_best: bool,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            dir: "runs/default".to_string(),
            every: 500,
            keep_best: true,
        }
    }
}

/// A whole run configuration; every section is optional.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[model]`.
    pub model: ModelConfig,
    /// `[train]`.
    pub train: TrainConfig,
    /// `[gym]`: which gym and its options.
    pub gym: GymSpec,
    /// `[sample]`.
    pub sample: SampleConfig,
    /// `[checkpoint]`.
    pub checkpoint: CheckpointConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            model: ModelConfig::default(),
            train: TrainConfig::default(),
            gym: GymSpec::new("text-v1"),
            sample: SampleConfig::default(),
            checkpoint: CheckpointConfig::default(),
        }
    }
}

impl Config {
    /// Parses and validates TOML `text`; `file_label` names the source in error messages.
    pub fn from_toml_str(text: &str, file_label: &str) -> Result<Config, ConfigError> {
        let cfg = parse_located(text, file_label)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Loads and validates a config file; relative gym paths resolve against its directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with_overrides(Some(path), &[])
    }

    /// Main entry: the file (or defaults when None), then each `section.key=value` override
    /// in order, then validation.
    pub fn load_with_overrides(
        path: Option<&Path>,
        overrides: &[String],
    ) -> Result<Config, ConfigError> {
        let (text, label) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                (text, p.display().to_string())
            }
            None => (String::new(), "<defaults>".to_string()),
        };
        // Parse the text alone first so that its errors carry FILE:LINE:COL.
        let mut cfg = parse_located(&text, &label)?;
        for arg in overrides {
            cfg.apply_override(arg)?;
        }
        if let Some(p) = path {
            cfg.gym.base_dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Applies one `section.key=value` override (not validated; `load_with_overrides` does).
    ///
    /// The value is parsed as TOML (`3`, `2e-3`, `true`, `"x"`), else taken as a bare string.
    pub fn apply_override(&mut self, arg: &str) -> Result<(), ConfigError> {
        // Starting from the resolved config (not the file's text) means every known key already
        // exists, so `model.hidden.x=1` is caught as "not a table" and `[gym]` keeps its id.
        let table =
            toml::Table::try_from(&*self).map_err(|e| ConfigError::Serialize(e.to_string()))?;
        let mut cfg = apply_to_table(table, arg)?;
        cfg.gym.base_dir = std::mem::take(&mut self.gym.base_dir);
        *self = cfg;
        Ok(())
    }

    /// The resolved config as TOML, for printing and for saving inside checkpoints.
    ///
    /// Every validated config renders; the only failure (an integer above TOML's 2^63-1, which
    /// `validate` refuses) renders as an `error = ...` line that a later load rejects loudly
    /// rather than as a silently empty (all-defaults) config.
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| {
            let msg = format!("config cannot be rendered as TOML: {e}");
            format!("error = {}\n", toml::Value::String(msg))
        })
    }

    /// Checks ranges; the error names the key, the value and what was expected.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        check_count("model.hidden", m.hidden, MAX_WIDTH)?;
        check_count("model.layers", m.layers, MAX_LAYERS)?;
        if let Some(e) = m.embed {
            check_count("model.embed", e, MAX_WIDTH)?;
        }
        // The vocabulary is not known yet: count the recurrent layers' parameters alone (the
        // trainer checks again with it, and against free memory, before allocating).
        let recurrent = crate::budget::param_count(&crate::model::ModelDims {
            cell: m.cell,
            vocab: 0,
            embed: m.embed_dim(),
            hidden: m.hidden,
            layers: m.layers,
        });
        if recurrent > crate::budget::MAX_PARAMS as u128 {
            return Err(invalid(
                "model.hidden × model.layers",
                format!("at most {} parameters", crate::budget::MAX_PARAMS),
                format!(
                    "{recurrent} parameters (model.hidden = {}, model.layers = {}, model.embed = {})",
                    m.hidden,
                    m.layers,
                    m.embed_dim()
                ),
            ));
        }
        check_f64("model.dropout", m.dropout, "a number in [0, 1)", |x| {
            (0.0..1.0).contains(&x)
        })?;
        if DeviceChoice::parse(&m.device).is_none() {
            return Err(invalid(
                "model.device",
                "\"auto\", \"cpu\", \"cuda\" or \"cuda:N\"",
                format!("{:?}", m.device),
            ));
        }
        check_f64("model.init_scale", m.init_scale, "a number >= 0", |x| {
            x >= 0.0
        })?;
        if let Some(fb) = m.forget_bias {
            check_f64("model.forget_bias", fb, "a finite number", |_| true)?;
            if m.cell != CellKind::Lstm {
                return Err(invalid(
                    "model.forget_bias",
                    "no value: only LSTM cells have a forget gate",
                    format!("{fb} with model.cell = {:?}", m.cell).to_lowercase(),
                ));
            }
        }

        let t = &self.train;
        if t.iterations == 0 {
            return Err(invalid("train.iterations", "a positive integer", "0"));
        }
        check_count("train.batch", t.batch, MAX_TOKENS_PER_BATCH)?;
        check_count("train.seq_len", t.seq_len, MAX_TOKENS_PER_BATCH)?;
        let tokens = t.batch.saturating_mul(t.seq_len);
        if tokens > MAX_TOKENS_PER_BATCH {
            return Err(invalid(
                "train.batch * train.seq_len",
                format!("at most {MAX_TOKENS_PER_BATCH} tokens per iteration"),
                format!("{} * {} = {tokens}", t.batch, t.seq_len),
            ));
        }
        check_f64("train.lr", t.lr, "a number > 0", |x| x > 0.0)?;
        let unit = "a number in [0, 1)";
        check_f64("train.beta1", t.beta1, unit, |x| (0.0..1.0).contains(&x))?;
        check_f64("train.beta2", t.beta2, unit, |x| (0.0..1.0).contains(&x))?;
        check_f64("train.rms_alpha", t.rms_alpha, unit, |x| {
            (0.0..1.0).contains(&x)
        })?;
        check_f64("train.eps", t.eps, "a number > 0", |x| x > 0.0)?;
        check_f64("train.weight_decay", t.weight_decay, "a number >= 0", |x| {
            x >= 0.0
        })?;
        check_f64(
            "train.grad_clip",
            t.grad_clip,
            "a number >= 0 (0 disables)",
            |x| x >= 0.0,
        )?;
        check_f64(
            "train.decay_rate",
            t.decay_rate,
            "a number in (0, 1]",
            |x| x > 0.0 && x <= 1.0,
        )?;
        check_f64("train.min_lr", t.min_lr, "a number in [0, train.lr]", |x| {
            x >= 0.0 && x <= t.lr
        })?;
        check_f64(
            "train.divergence_factor",
            t.divergence_factor,
            "a number >= 0 (0 disables)",
            |x| x >= 0.0,
        )?;
        if t.rollback_depth == 0 {
            return Err(invalid(
                "train.rollback_depth",
                "a positive integer (1 keeps only the last good state)",
                "0",
            ));
        }
        if t.schedule == ScheduleKind::Step && t.decay_every == 0 {
            return Err(invalid("train.decay_every", "a positive integer", "0"));
        }

        let g = &self.gym;
        if g.id.trim().is_empty() {
            return Err(invalid("gym.id", "a gym id like \"text-v1\"", "\"\""));
        }
        if !(g.val_fraction.is_finite() && (0.0..=0.5).contains(&g.val_fraction)) {
            return Err(invalid(
                "gym.val_fraction",
                "a number in [0, 0.5]",
                g.val_fraction.to_string(),
            ));
        }

        let s = &self.sample;
        check_f64("sample.temperature", s.temperature, "a number > 0", |x| {
            x > 0.0
        })?;
        check_f64("sample.top_p", s.top_p, "a number in (0, 1]", |x| {
            x > 0.0 && x <= 1.0
        })?;
        check_f64(
            "sample.train_temperature",
            s.train_temperature,
            "a number > 0",
            |x| x > 0.0,
        )?;
        // The cap catches a sample count typed where seconds were meant (16000 is 4.4 hours).
        check_f64(
            "sample.train_seconds",
            s.train_seconds,
            "a number of seconds in [0, 600] (0 disables)",
            |x| (0.0..=600.0).contains(&x),
        )?;
        if t.sample_every > 0 && s.train_length == 0 {
            return Err(invalid(
                "sample.train_length",
                "a positive integer when train.sample_every > 0",
                "0",
            ));
        }

        if self.checkpoint.dir.trim().is_empty() {
            return Err(invalid("checkpoint.dir", "a directory path", "\"\""));
        }
        check_toml_integers(self)
    }
}

/// TOML integers are i64; larger values (set from code or a CLI flag) could not be saved.
fn check_toml_integers(c: &Config) -> Result<(), ConfigError> {
    let t = &c.train;
    let ints = [
        ("train.iterations", t.iterations),
        ("train.seed", t.seed),
        ("train.warmup", t.warmup),
        ("train.decay_every", t.decay_every),
        ("train.val_every", t.val_every),
        ("train.val_windows", t.val_windows),
        ("train.log_every", t.log_every),
        ("train.sample_every", t.sample_every),
        ("train.threads", t.threads as u64),
        ("sample.length", c.sample.length as u64),
        ("sample.top_k", c.sample.top_k as u64),
        ("sample.train_length", c.sample.train_length as u64),
        ("sample.seed", c.sample.seed.unwrap_or(0)),
        ("checkpoint.every", c.checkpoint.every),
    ];
    for (key, v) in ints {
        if v > i64::MAX as u64 {
            let expected = format!("an integer at most {}", i64::MAX);
            return Err(invalid(key, expected, v.to_string()));
        }
    }
    Ok(())
}

fn invalid(key: &str, expected: impl Into<String>, got: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        expected: expected.into(),
        got: got.into(),
    }
}

fn check_count(key: &str, v: usize, max: usize) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(invalid(key, "a positive integer", "0"));
    }
    if v > max {
        return Err(invalid(key, format!("at most {max}"), v.to_string()));
    }
    Ok(())
}

/// Non-finite values fail every range check, so NaN and inf are refused here too.
fn check_f64(
    key: &str,
    v: f64,
    expected: &str,
    ok: impl Fn(f64) -> bool,
) -> Result<(), ConfigError> {
    if v.is_finite() && ok(v) {
        Ok(())
    } else {
        Err(invalid(key, expected, v.to_string()))
    }
}

fn parse_located(text: &str, label: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| located(text, label, &e))
}

/// Turns a multi-line toml error into `FILE:LINE:COL: message (key a.b)`.
fn located(text: &str, label: &str, err: &toml::de::Error) -> ConfigError {
    let msg = one_line(err.message());
    let Some(span) = err.span() else {
        return ConfigError::Parse {
            location: label.to_string(),
            message: msg,
        };
    };
    let offset = span.start.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    let key = key_at(text, offset);
    let message = match (unknown_field(&msg), &key) {
        (Some((field, expected)), Some(k)) => {
            // The line's key ends with the field; if the span landed elsewhere, trust the message.
            let full = if k.rsplit('.').next() == Some(field.as_str()) {
                k.clone()
            } else {
                format!(
                    "{}.{field}",
                    section_before(text, offset).unwrap_or_default()
                )
                .trim_start_matches('.')
                .to_string()
            };
            format!("unknown key {full}; {expected}")
        }
        (Some((field, expected)), None) => format!("unknown key {field}; {expected}"),
        (None, Some(k)) => format!("{msg} (key {k})"),
        (None, None) => msg,
    };
    ConfigError::Parse {
        location: format!("{label}:{line}:{col}"),
        message,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" into ("x", "expected one of a, b").
fn unknown_field(msg: &str) -> Option<(String, String)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (field, tail) = rest.split_once('`')?;
    let expected = tail.trim_start_matches(',').trim().replace('`', "");
    Some((field.to_string(), expected))
}

/// Normalizes a TOML key path as written (`a . "b"`) to `a.b`.
fn normalize_key(raw: &str) -> String {
    raw.split('.')
        .map(|p| p.trim().trim_matches('"').trim_matches('\''))
        .collect::<Vec<_>>()
        .join(".")
}

/// The header name if `line` is a `[table]` or `[[array]]` header.
fn header_name(line: &str) -> Option<String> {
    let l = line.trim();
    let inner = l.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(normalize_key(inner[..end].trim_start_matches('[')))
}

/// The last table header strictly before the line holding `offset`.
fn section_before(text: &str, offset: usize) -> Option<String> {
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    text[..line_start].lines().rev().find_map(header_name)
}

/// The full dotted key written on the line that holds `offset`, if the line has one.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    if let Some(h) = header_name(line) {
        return Some(h);
    }
    let (lhs, _) = line.split_once('=')?;
    let lhs = normalize_key(lhs);
    if lhs.is_empty() || lhs.starts_with('#') {
        return None;
    }
    Some(match section_before(text, offset) {
        Some(s) if !s.is_empty() => format!("{s}.{lhs}"),
        _ => lhs,
    })
}

/// Parses an override's value as TOML (numbers, booleans, quoted strings, arrays); anything
/// else is taken as a bare string so `--set model.device=cpu` needs no quoting.
fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) if t.len() == 1 => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        _ => toml::Value::String(raw.to_string()),
    }
}

/// Sets `arg` in `table` and re-deserializes; errors are attributed to `arg`.
fn apply_to_table(table: toml::Table, arg: &str) -> Result<Config, ConfigError> {
    let fail = |message: String| ConfigError::Override {
        arg: arg.to_string(),
        message,
    };
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| fail("expected section.key=value".to_string()))?;
    let path: Vec<&str> = key.trim().split('.').map(str::trim).collect();
    if path.iter().any(|p| p.is_empty()) {
        return Err(fail(format!("malformed key {:?}", key.trim())));
    }
    let raw = raw.trim();
    let typed = parse_value(raw);
    let first = try_set(table.clone(), &path, typed.clone());
    let result = match first {
        Ok(done) => Ok(done),
        // A value that happens to look like a number may be meant as a string (a path, a prime).
        Err(e) if !typed.is_str() => {
            try_set(table.clone(), &path, toml::Value::String(raw.to_string())).map_err(|_| e)
        }
        Err(e) => Err(e),
    };
    result.map_err(|m| fail(override_message(&m, &path)))
}

fn try_set(mut table: toml::Table, path: &[&str], value: toml::Value) -> Result<Config, String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut cur = &mut table;
    for (i, p) in parents.iter().enumerate() {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("{} is not a table", path[..=i].join(".")))?;
    }
    cur.insert(last.to_string(), value);
    table.try_into().map_err(|e| one_line(e.message()))
}

fn override_message(msg: &str, path: &[&str]) -> String {
    match unknown_field(msg) {
        Some((field, expected)) => {
            let n = path
                .iter()
                .position(|p| *p == field)
                .map_or(path.len(), |i| i + 1);
            format!("unknown key {}; {expected}", path[..n].join("."))
        }
        None => format!("{msg} (key {})", path.join(".")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
# A complete example: every key of every section.
[model]
cell = "gru"
hidden = 256
layers = 3
embed = 64
dropout = 0.25
device = "cuda:1"
init_scale = 0.08

[train]
iterations = 10000
batch = 50
seq_len = 100
lr = 1e-3
seed = 7
optimizer = "rmsprop"
beta1 = 0.8
beta2 = 0.99
eps = 1e-6
weight_decay = 0.01
rms_alpha = 0.95
grad_clip = 0
schedule = "step"
warmup = 100
decay_every = 2000
decay_rate = 0.97
min_lr = 1e-5
val_every = 500
val_windows = 64
log_every = 10
sample_every = 250
threads = 4
divergence_factor = 20
max_rollbacks = 5
rollback_depth = 2

[gym]
id = "text-v1"
path = "data/*.txt"
val_fraction = 0.05

[gym.options]
lowercase = true

[sample]
length = 2000
temperature = 0.8
top_k = 40
top_p = 0.9
prime = "ROMEO:"
seed = 123
unknown = "skip"
argmax = false
train_length = 300
train_temperature = 0.5
train_seconds = 2.5

[checkpoint]
dir = "runs/shakespeare"
every = 1000
keep_best = false
"#;

    fn err(text: &str) -> String {
        Config::from_toml_str(text, "configs/x.toml")
            .unwrap_err()
            .to_string()
    }

    fn over(args: &[&str]) -> Result<Config, ConfigError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Config::load_with_overrides(None, &args)
    }

    fn invalid_key(cfg: &Config) -> String {
        match cfg.validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_validate_and_empty_text_is_defaults() {
        Config::default().validate().unwrap();
        assert_eq!(Config::from_toml_str("", "x").unwrap(), Config::default());
        let d = Config::default();
        assert_eq!(d.model.embed_dim(), 128);
        assert_eq!(d.model.device_kind(), DeviceChoice::Auto);
        assert_eq!(d.gym.id, "text-v1");
    }

    #[test]
    fn full_example_parses() {
        let c = Config::from_toml_str(FULL, "full.toml").unwrap();
        assert_eq!(c.model.cell, CellKind::Gru);
        assert_eq!(c.model.embed_dim(), 64);
        assert_eq!(c.model.device_kind(), DeviceChoice::Cuda(1));
        assert_eq!(c.train.optimizer, OptimizerKind::Rmsprop);
        assert_eq!(c.train.schedule, ScheduleKind::Step);
        assert_eq!(c.train.grad_clip, 0.0);
        assert_eq!(c.train.lr, 1e-3);
        assert_eq!(c.train.max_rollbacks, 5);
        assert_eq!(c.train.rollback_depth, 2);
        assert_eq!(c.gym.path.as_deref(), Some("data/*.txt"));
        assert_eq!(
            c.gym.options.get("lowercase"),
            Some(&toml::Value::Boolean(true))
        );
        assert_eq!(c.sample.unknown, UnknownPolicy::Skip);
        assert_eq!(c.sample.seed, Some(123));
        assert!(!c.checkpoint.keep_best);
        assert_eq!(c.sample.train_seconds, 2.5);
    }

    #[test]
    fn toml_round_trip() {
        for c in [Config::default(), Config::from_toml_str(FULL, "f").unwrap()] {
            let text = c.to_toml_string();
            assert_eq!(Config::from_toml_str(&text, "rt").unwrap(), c, "{text}");
        }
        // An unrenderable config must not reload as a silently all-defaults one.
        let mut c = Config::default();
        c.train.seed = u64::MAX;
        assert!(Config::from_toml_str(&c.to_toml_string(), "rt").is_err());
    }

    #[test]
    fn typo_is_one_line_with_file_line_and_full_key() {
        let e = err("[train]\nlr = 1e-3\n\n[model]\nhidden = 3\nhiden = 3\n");
        assert!(!e.contains('\n'), "{e}");
        assert!(e.starts_with("configs/x.toml:6:"), "{e}");
        assert!(e.contains("unknown key model.hiden"), "{e}");
        assert!(e.contains("expected one of cell, hidden"), "{e}");
        let e = err("[modle]\nhidden = 3\n");
        assert!(
            e.starts_with("configs/x.toml:1:") && e.contains("unknown key modle"),
            "{e}"
        );
        let e = err("model.hiden = 3\n");
        assert!(e.contains("unknown key model.hiden"), "{e}");
        let e = err("[gym]\nid = \"text-v1\"\noptons = 1\n");
        assert!(
            e.starts_with("configs/x.toml:3:") && e.contains("gym.optons"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_key_and_position() {
        let e = err("[train]\nlr = 1e-3\nbatch = \"abc\"\n");
        assert_eq!(
            e,
            "configs/x.toml:3:9: invalid type: string \"abc\", expected usize (key train.batch)"
        );
        let e = err("[model]\ncell = \"lstmm\"\n");
        assert!(e.contains("lstmm") && e.contains("(key model.cell)"), "{e}");
        let e = err("[train\nbatch = 3\n");
        assert!(
            e.starts_with("configs/x.toml:1:") && !e.contains('\n'),
            "{e}"
        );
    }

    #[test]
    fn load_reads_file_and_sets_base_dir() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[model]\nhidden = 32\n[gym]\nid = \"text-v1\"\npath = \"a.txt\"\n",
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.model.hidden, 32);
        assert_eq!(c.gym.base_dir, dir.path());
        let missing = dir.path().join("nope.toml");
        let e = Config::load(&missing).unwrap_err().to_string();
        assert!(e.contains("nope.toml"), "{e}");
        std::fs::write(&p, "[train]\nbatch = 0\n").unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert_eq!(e, "train.batch: expected a positive integer, got 0");
        std::fs::write(&p, "[train]\nbatchh = 1\n").unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:2:", p.display())), "{e}");
        // File values come first, overrides after, in order.
        std::fs::write(&p, "[model]\nhidden = 32\n").unwrap();
        let args = ["model.hidden=8".to_string(), "model.layers=1".to_string()];
        let c = Config::load_with_overrides(Some(&p), &args).unwrap();
        assert_eq!((c.model.hidden, c.model.layers), (8, 1));
    }

    #[test]
    fn each_validation_rule_names_its_key() {
        type Case = (&'static str, fn(&mut Config));
        let cases: &[Case] = &[
            ("model.hidden", |c| c.model.hidden = 0),
            ("model.hidden", |c| c.model.hidden = MAX_WIDTH + 1),
            ("model.layers", |c| c.model.layers = 0),
            ("model.layers", |c| c.model.layers = 65),
            ("model.embed", |c| c.model.embed = Some(0)),
            ("model.hidden × model.layers", |c| {
                (c.model.hidden, c.model.layers) = (MAX_WIDTH, MAX_LAYERS)
            }),
            ("model.dropout", |c| c.model.dropout = 1.0),
            ("model.dropout", |c| c.model.dropout = -0.1),
            ("model.device", |c| c.model.device = "gpu".into()),
            ("model.device", |c| c.model.device = "cuda:".into()),
            ("model.init_scale", |c| c.model.init_scale = f64::NAN),
            ("model.forget_bias", |c| {
                c.model.forget_bias = Some(f64::NAN)
            }),
            ("model.forget_bias", |c| {
                c.model.cell = CellKind::Gru;
                c.model.forget_bias = Some(1.0);
            }),
            ("train.iterations", |c| c.train.iterations = 0),
            ("train.iterations", |c| c.train.iterations = u64::MAX),
            ("train.batch", |c| c.train.batch = 0),
            ("train.seq_len", |c| c.train.seq_len = 0),
            ("train.batch * train.seq_len", |c| c.train.batch = 1 << 21),
            ("train.lr", |c| c.train.lr = 0.0),
            ("train.lr", |c| c.train.lr = f64::INFINITY),
            ("train.lr", |c| c.train.lr = f64::NAN),
            ("train.seed", |c| c.train.seed = u64::MAX),
            ("train.beta1", |c| c.train.beta1 = 1.0),
            ("train.beta2", |c| c.train.beta2 = -0.5),
            ("train.rms_alpha", |c| c.train.rms_alpha = 1.5),
            ("train.eps", |c| c.train.eps = 0.0),
            ("train.weight_decay", |c| c.train.weight_decay = -1.0),
            ("train.grad_clip", |c| c.train.grad_clip = -1.0),
            ("train.decay_rate", |c| c.train.decay_rate = 0.0),
            ("train.min_lr", |c| c.train.min_lr = 1.0),
            ("train.decay_every", |c| {
                c.train.schedule = ScheduleKind::Step;
                c.train.decay_every = 0;
            }),
            ("gym.id", |c| c.gym.id = " ".into()),
            ("gym.val_fraction", |c| c.gym.val_fraction = 0.6),
            ("gym.val_fraction", |c| c.gym.val_fraction = -0.1),
            ("sample.temperature", |c| c.sample.temperature = 0.0),
            ("sample.temperature", |c| c.sample.temperature = f64::NAN),
            ("sample.top_p", |c| c.sample.top_p = 0.0),
            ("sample.top_p", |c| c.sample.top_p = 1.01),
            ("sample.seed", |c| c.sample.seed = Some(u64::MAX)),
            ("sample.train_temperature", |c| {
                c.sample.train_temperature = 0.0
            }),
            ("sample.train_seconds", |c| c.sample.train_seconds = -1.0),
            ("sample.train_seconds", |c| c.sample.train_seconds = 16000.0),
            ("sample.train_seconds", |c| {
                c.sample.train_seconds = f64::NAN
            }),
            ("sample.train_length", |c| {
                c.train.sample_every = 10;
                c.sample.train_length = 0;
            }),
            ("checkpoint.dir", |c| c.checkpoint.dir = String::new()),
        ];
        for (key, mutate) in cases {
            let mut c = Config::default();
            mutate(&mut c);
            assert_eq!(invalid_key(&c), *key);
        }
        let mut c = Config::default();
        c.train.batch = 0;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "train.batch: expected a positive integer, got 0"
        );
        // Boundary values that must stay accepted.
        let mut c = Config::default();
        c.train.grad_clip = 0.0;
        c.gym.val_fraction = 0.5;
        c.sample.top_p = 1.0;
        c.sample.train_seconds = 0.0;
        c.model.device = "cuda".into();
        c.validate().unwrap();
        c.sample.train_seconds = 600.0;
        c.validate().unwrap();
        assert_eq!(c.model.device_kind(), DeviceChoice::Cuda(0));
    }

    #[test]
    fn overrides_of_each_value_type() {
        let c = over(&[
            "model.hidden=64",
            "train.lr=2e-4",
            "train.seed=9",
            "sample.argmax=true",
            "model.cell=rnn",
            "model.device=cpu",
            "sample.prime=\"a\\nb\"",
            "sample.seed=5",
            "model.embed=16",
            "checkpoint.dir=2024",
            "gym.path=corpus/",
            "gym.options.min_count=2",
            "model.dropout=0",
        ])
        .unwrap();
        assert_eq!(c.model.hidden, 64);
        assert_eq!(c.train.lr, 2e-4);
        assert_eq!(c.train.seed, 9);
        assert!(c.sample.argmax);
        assert_eq!(c.model.cell, CellKind::Rnn);
        assert_eq!(c.model.device_kind(), DeviceChoice::Cpu);
        assert_eq!(c.sample.prime, "a\nb");
        assert_eq!(c.sample.seed, Some(5));
        assert_eq!(c.model.embed_dim(), 16);
        assert_eq!(c.checkpoint.dir, "2024");
        assert_eq!(c.gym.path.as_deref(), Some("corpus/"));
        assert_eq!(
            c.gym.options.get("min_count"),
            Some(&toml::Value::Integer(2))
        );
        // The last override of a key wins.
        assert_eq!(
            over(&["model.layers=3", "model.layers=4"])
                .unwrap()
                .model
                .layers,
            4
        );
    }

    #[test]
    fn bad_overrides_name_the_override() {
        let e = over(&["model.hiden=3"]).unwrap_err().to_string();
        assert!(
            e.starts_with("--set model.hiden=3: unknown key model.hiden; expected one of cell, hidden, layers"),
            "{e}"
        );
        let e = over(&["modle.hidden=3"]).unwrap_err().to_string();
        assert!(e.contains("unknown key modle;"), "{e}");
        let e = over(&["train.batch=abc"]).unwrap_err().to_string();
        assert!(
            e.contains("train.batch=abc") && e.contains("expected usize"),
            "{e}"
        );
        let e = over(&["model.hidden.x=1"]).unwrap_err().to_string();
        assert!(e.contains("model.hidden is not a table"), "{e}");
        for bad in ["train", "=3", "model..hidden=3"] {
            let e = over(&[bad]).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--set {bad}:")), "{e}");
        }
        // Overrides are validated too.
        let e = over(&["train.batch=0"]).unwrap_err().to_string();
        assert_eq!(e, "train.batch: expected a positive integer, got 0");
    }

    #[test]
    fn apply_override_keeps_base_dir() {
        let mut c = Config::default();
        c.gym.base_dir = PathBuf::from("/data");
        c.apply_override("train.iterations=5").unwrap();
        assert_eq!(c.train.iterations, 5);
        assert_eq!(c.gym.base_dir, PathBuf::from("/data"));
        assert!(c.apply_override("train.nope=5").is_err());
        assert_eq!(c.gym.base_dir, PathBuf::from("/data"));
    }
}

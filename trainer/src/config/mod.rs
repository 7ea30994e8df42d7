//! The run configuration: TOML sections with defaults in one place, `--set` overrides,
//! validation whose messages name the key, and one-line `FILE:LINE:COL` parse errors.

mod checkpoint;
mod device;
mod error;
mod located;
mod model;
mod overrides;
mod paths;
mod sample;
mod train;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

use rnngym_gyms::GymSpec;
use serde::{Deserialize, Serialize};

pub use checkpoint::CheckpointConfig;
pub use device::{DeviceChoice, ParseDeviceError};
pub use error::ConfigError;
pub use model::{CellKind, EmbedInit, ModelConfig};
pub use sample::SampleConfig;
pub use train::{OptimizerKind, ScheduleKind, TrainConfig};

use located::parse_located;

/// Most bytes a config file may have (a real one is a few kB; this stops `--config /dev/zero`
/// or a mistyped multi-GB path from being read without bound).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Largest hidden/embedding width accepted; beyond it the weights alone would not fit in memory.
pub const MAX_WIDTH: usize = 65536;
/// Largest number of stacked layers accepted.
pub const MAX_LAYERS: usize = 64;
/// Largest number of tokens (batch × seq_len) in one iteration.
pub const MAX_TOKENS_PER_BATCH: usize = 1 << 26;

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

    /// Loads and validates a config file; its relative paths resolve against its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with_overrides(Some(path), &[])
    }

    /// Main entry: the file (or defaults when None), then each `section.key=value` override
    /// in order, then validation. Relative paths from the file resolve against its folder,
    /// those from overrides against the current directory (see `paths`).
    pub fn load_with_overrides(
        path: Option<&Path>,
        overrides: &[String],
    ) -> Result<Config, ConfigError> {
        let (text, label) = match path {
            Some(p) => {
                let text = crate::fsutil::read_text(p, MAX_CONFIG_BYTES).map_err(|source| {
                    ConfigError::Read {
                        path: p.to_path_buf(),
                        source,
                    }
                })?;
                (text, p.display().to_string())
            }
            None => (String::new(), "<defaults>".to_string()),
        };
        // Parse the text alone first so that its errors carry FILE:LINE:COL.
        let mut cfg = parse_located(&text, &label)?;
        // The file's paths against its folder, before any override replaces one of them
        // with a path against the current directory.
        if let Some(p) = path {
            paths::resolve_from_file(&mut cfg, &paths::folder_of(p));
        }
        for arg in overrides {
            cfg.apply_override(arg)?;
        }
        cfg.validate()?;
        Ok(cfg)
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
}

//! `ConfigError`: every config problem, rendered as one line.

use std::path::PathBuf;

/// A configuration problem, rendered as one line for the user.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// Why reading failed: the `source()`, printed after this message by the error chain.
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
    /// The config could not be rendered as TOML (its text is in the message, so it is not
    /// also a `source()`).
    #[error("cannot render config as TOML: {0}")]
    Serialize(toml::ser::Error),
}

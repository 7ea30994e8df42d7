//! Gyms for rnngym: the [`Gym`] and [`Codec`] traits, the registry of versioned gym ids, the
//! [`check_gym`] conformance suite, and the built-in gyms: text (`text-v1`) and WAV audio
//! (`wav-v1`).

mod cache;
pub mod check;
pub mod codec;
pub mod gym;
pub mod registry;
pub mod text;
mod tokens;
pub mod wav;

pub use cache::{CacheOptions, DEFAULT_IN_MEMORY_MB};
pub use check::{check_gym, CheckReport};
pub use codec::{codec_from_spec, CharCodec, OpaqueCodec};
pub use gym::{AudioCodec, Codec, EpisodeInfo, Gym, Shape, Split, Step, UnknownPolicy};
pub use registry::{GymRegistry, GymSpec};

/// Errors raised by gyms and codecs; messages name the file / key / value involved.
#[derive(Debug, thiserror::Error)]
pub enum GymError {
    /// Reading a corpus file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file or pattern involved.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The data cannot be used as configured (empty corpus, split too small, ...).
    #[error("{0}")]
    Data(String),
    /// A gym option or id is invalid.
    #[error("{0}")]
    Config(String),
    /// A value outside the vocabulary.
    #[error("{0}")]
    Unknown(String),
    /// A gym broke the gym contract (found by `check_gym` or the trainer).
    #[error("gym contract violated: {0}")]
    Contract(String),
}

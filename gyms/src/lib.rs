//! Gyms for rnngym: the [`Gym`] and [`Codec`] traits, the registry of versioned gym ids, the
//! [`check_gym`] conformance suite, and the built-in gyms: text (`text-v1`), WAV audio
//! (`wav-v1`), and gyms in any language run as child processes (`process-v1`).

pub mod baselines;
mod cache;
pub mod check;
pub mod codec;
mod error;
pub mod features;
pub mod gym;
pub mod paths;
pub mod process;
pub mod registry;
pub mod text;
mod tokens;
mod walk;
pub mod wav;

pub use cache::{CacheOptions, DEFAULT_IN_MEMORY_MB};
pub use check::{check_gym, CheckReport};
pub use codec::{codec_from_spec, CharCodec, OpaqueCodec};
pub use error::{GymError, WindowError};
pub use features::{FeatureLane, Features, FeaturesSpec};
pub use gym::{AudioCodec, Codec, EpisodeInfo, Gym, Shape, Split, Step, UnknownPolicy};
pub use registry::{GymRegistry, GymSpec};

//! Gyms for rnngym: the [`Gym`] and [`Codec`] traits, the registry of versioned gym ids, the
//! [`check_gym`] conformance suite, and the built-in gyms: text (`text-v1`) and WAV audio
//! (`wav-v1`).

pub mod baselines;
mod cache;
pub mod check;
pub mod codec;
pub mod codecs;
mod error;
pub mod features;
pub mod gym;
pub mod paths;
pub mod registry;
pub mod text;
mod tokens;
mod walk;
pub mod wav;

pub use cache::{CacheOptions, DEFAULT_IN_MEMORY_MB};
pub use check::{check_gym, check_gym_with, CheckReport};
pub use codec::{CharCodec, CharSpec, OpaqueCodec, OpaqueSpec};
pub use codecs::{codec_from_spec, CodecRegistry, CodecSpec};
pub use error::{GymError, WindowError};
pub use features::{FeatureLane, Features, FeaturesSpec};
pub use gym::{AudioCodec, Codec, EpisodeInfo, Gym, Shape, Split, Step, UnknownPolicy};
pub use registry::{GymCtor, GymRegistry, GymSpec, NamedGym};

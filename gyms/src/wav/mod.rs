//! The built-in WAV gym (`wav-v1`): WAV files (a file, a directory or a glob) decoded with
//! hound, mixed down to mono (or one channel), resampled with rubato, quantized by a mu-law or
//! linear [`SampleCodec`], and served as char-rnn style windows, one file per episode.

pub mod codec;
pub mod corpus;
pub mod decode;
mod error;
pub mod files;
pub mod gym;
pub mod lpc;
pub mod options;
pub mod resample;
pub mod stats;
pub mod write;

pub use codec::{LinearSpec, MuLawSpec, Quantizer, SampleCodec};
pub use corpus::{load_mono, mono_from_bytes, WavCorpus};
pub use decode::{decode_wav, read_wav, Audio};
pub use error::WavError;
pub use gym::WavGym;
pub use options::{SplitMode, WavOptions};
pub use resample::resample;
pub use stats::{audio_stats, AudioStats};
pub use write::WavFileWriter;

/// The versioned id of the WAV gym.
pub const ID: &str = "wav-v1";

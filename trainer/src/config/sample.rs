//! `[sample]`: generation settings, with their defaults.

use rnngym_gyms::UnknownPolicy;
use rnngym_kernels::Precision;
use serde::{Deserialize, Serialize};

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
    /// Softmax temperature of the samples generated during training (> 0); unset, text
    /// samples use 0.8 and audio clips `sample.temperature` (what `generate-audio` plays).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_temperature: Option<f64>,
    /// Audio models with a pitch feature: how much colder periodic stretches are sampled
    /// (LPCNet's rule at 1, which halves the temperature on a perfectly periodic history; 0,
    /// the default, turns it off: on the speech models it locks into sustained whistles).
    pub pitch_sharpening: f64,
    /// Audio gyms: seconds of audio generated at each checkpoint and written as a WAV beside
    /// it (0 disables; `train.sample_every` applies to text gyms only).
    pub train_seconds: f64,
    /// Storage precision of the weights `sample` and `generate-audio` multiply by: "f32",
    /// "bf16" or "int8" (per-row scaled; activations and state stay f32), "w8a16" (int8, each
    /// product's input rounded to 16-bit integers) or "w8a8" (8-bit inputs); docs/PERFORMANCE.md
    /// has the speed and the loss of each.
    pub precision: Precision,
}

/// The training-time text samples' temperature when `sample.train_temperature` is unset:
/// char-rnn's customary setting, a little colder than the model's own distribution.
pub const TEXT_TRAIN_TEMPERATURE: f64 = 0.8;

impl SampleConfig {
    /// The temperature of samples made during training, for audio or text data.
    pub fn train_temperature(&self, audio: bool) -> f64 {
        match (self.train_temperature, audio) {
            (Some(t), _) => t,
            (None, true) => self.temperature,
            (None, false) => TEXT_TRAIN_TEMPERATURE,
        }
    }
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
            train_temperature: None,
            train_seconds: 1.0,
            pitch_sharpening: 0.0,
            precision: Precision::F32,
        }
    }
}

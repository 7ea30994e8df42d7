//! Samples generated from the current weights while training: text for text gyms, a short
//! clip for audio gyms. Each has its own random stream, seeded from `train.seed` and the
//! iteration, so it neither consumes nor perturbs training's: losses are bit-identical with
//! sampling on or off.

use rnngym_gyms::{AudioCodec, Codec, GymError, UnknownPolicy};
use rnngym_kernels::{hash, Backend};

use super::{Trainer, TrainerError};
use crate::config::SampleConfig;
use crate::observer::{AudioClip, TrainSample};
use crate::sample::{seeded_rng, SampleOptions};

/// Salt of the training samples' own random stream (it never touches the training stream).
const SAMPLE_SALT: u64 = 0x5A3B_1E00;

/// `sample.prime` as tokens under `sample.unknown`. The trainer calls it when it starts, so
/// that a prime the vocabulary lacks stops the run before any training (with `unknown =
/// "error"`) instead of being dropped from every sample, and instead of `rnngym sample`
/// failing on the finished checkpoint.
pub(crate) fn prime_tokens(codec: &dyn Codec, sc: &SampleConfig) -> Result<Vec<u32>, TrainerError> {
    codec.encode(&sc.prime, sc.unknown).map_err(|e| {
        let hint = match e {
            GymError::NotInVocabulary { .. } => {
                "; set sample.unknown = \"skip\" to drop what the vocabulary lacks"
            }
            _ => "",
        };
        TrainerError::Config(format!("sample.prime: {e}{hint}"))
    })
}

impl<B: Backend> Trainer<B> {
    /// A sample from the current weights at `sample.train_temperature` (unset: 0.8 for text,
    /// `sample.temperature` for audio, so the clips sound like `generate-audio`; with
    /// `sample.top_k` / `top_p`). Text gyms: `sample.train_length` tokens primed with `sample.prime` (else a
    /// newline). Audio gyms: `sample.train_seconds` of audio (at least one sample) primed with
    /// silence, returned in [`TrainSample::audio`].
    pub fn training_sample(&self) -> Result<TrainSample, TrainerError> {
        let sc = &self.cfg.sample;
        let opts = SampleOptions {
            temperature: sc.train_temperature(self.codec.audio().is_some()) as f32,
            top_k: sc.top_k,
            top_p: sc.top_p as f32,
            argmax: false,
        };
        let seed = hash::mix64(self.cfg.train.seed ^ SAMPLE_SALT, self.progress.iteration);
        let mut rng = seeded_rng(Some(seed));
        if let Some(audio) = self.codec.audio() {
            return self.audio_sample(audio, &opts, &mut rng);
        }
        let mut prime = prime_tokens(self.codec.as_ref(), sc)?;
        if prime.is_empty() {
            prime = self
                .codec
                .encode("\n", UnknownPolicy::Skip)
                .unwrap_or_default();
        }
        if prime.is_empty() {
            prime.push(0);
        }
        let tokens = self.run(sc.train_length, &prime, &opts, &mut rng, |_| {})?;
        Ok(TrainSample {
            iteration: self.progress.iteration,
            temperature: opts.temperature,
            prime: self.codec.render(&prime),
            text: self.codec.render(&tokens),
            tokens,
            audio: None,
        })
    }

    /// `sample.train_seconds` of audio from a silent start, like `rnngym generate-audio`.
    fn audio_sample(
        &self,
        audio: &dyn AudioCodec,
        opts: &SampleOptions,
        rng: &mut impl rand::Rng,
    ) -> Result<TrainSample, TrainerError> {
        let rate = audio.sample_rate();
        let n = (self.cfg.sample.train_seconds * f64::from(rate))
            .round()
            .max(1.0) as usize;
        let tokens = self.run(n, &[audio.token_of(0.0)], opts, rng, |_| {})?;
        let samples = tokens.iter().map(|&t| audio.sample_of(t)).collect();
        Ok(TrainSample {
            iteration: self.progress.iteration,
            temperature: opts.temperature,
            prime: String::new(),
            text: String::new(),
            tokens,
            audio: Some(AudioClip {
                sample_rate: rate,
                samples,
            }),
        })
    }
}

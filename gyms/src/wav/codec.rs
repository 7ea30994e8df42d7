//! Audio quantizers as codecs: mu-law (companded, `levels` = 256 by default, μ = levels − 1)
//! and linear (`levels` evenly spaced values over [-1, 1]). Token t of L levels stands for the
//! position `y = 2t / (L − 1) − 1` on the (companded) axis; encoding rounds to the nearest one,
//! so `encode(decode(t)) == t` and `|compand(decode(encode(x))) − compand(x)| ≤ 1 / (L − 1)`.
//! Rendered text is the decoded sample values; encoding text parses and quantizes them.

use std::sync::Arc;

use serde_json::Value;

use crate::codecs::tagged;
use crate::{AudioCodec, Codec, CodecSpec, GymError, UnknownPolicy};

/// The fewest quantization levels.
pub const MIN_LEVELS: u32 = 2;
/// The most quantization levels (tokens are stored as `u16`).
pub const MAX_LEVELS: u32 = 65536;

/// Which quantizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantizer {
    /// mu-law companding with μ = levels − 1, then uniform levels.
    MuLaw,
    /// Uniform levels over [-1, 1].
    Linear,
}

impl Quantizer {
    /// The codec kind tag ("mulaw" / "linear").
    pub fn kind(self) -> &'static str {
        match self {
            Quantizer::MuLaw => "mulaw",
            Quantizer::Linear => "linear",
        }
    }
}

/// A quantizer over [-1, 1] at a sample rate: the `wav-v1` codec.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleCodec {
    quantizer: Quantizer,
    levels: u32,
    sample_rate: u32,
    mu: f64,
}

impl SampleCodec {
    /// A codec with `levels` tokens at `sample_rate` Hz.
    pub fn new(quantizer: Quantizer, levels: u32, sample_rate: u32) -> Result<Self, GymError> {
        if !(MIN_LEVELS..=MAX_LEVELS).contains(&levels) {
            return Err(GymError::Config(format!(
                "gym.options.levels: {levels} is out of range; expected {MIN_LEVELS}..={MAX_LEVELS}"
            )));
        }
        if sample_rate == 0 {
            return Err(GymError::Config(
                "gym.options.sample_rate: must be at least 1 Hz".into(),
            ));
        }
        Ok(SampleCodec {
            quantizer,
            levels,
            sample_rate,
            mu: f64::from(levels - 1),
        })
    }

    /// The default codec: mu-law, 256 levels.
    pub fn mu_law(sample_rate: u32) -> Self {
        SampleCodec {
            quantizer: Quantizer::MuLaw,
            levels: 256,
            sample_rate,
            mu: 255.0,
        }
    }

    /// Which quantizer.
    pub fn quantizer(&self) -> Quantizer {
        self.quantizer
    }

    /// L: number of levels (= vocabulary size).
    pub fn levels(&self) -> u32 {
        self.levels
    }

    /// x ∈ [-1, 1] → position y ∈ [-1, 1] on the quantized axis.
    pub fn compand(&self, x: f64) -> f64 {
        let x = x.clamp(-1.0, 1.0);
        match self.quantizer {
            Quantizer::Linear => x,
            Quantizer::MuLaw => x.signum() * (self.mu * x.abs()).ln_1p() / self.mu.ln_1p(),
        }
    }

    /// Inverse of [`SampleCodec::compand`].
    pub fn expand(&self, y: f64) -> f64 {
        let y = y.clamp(-1.0, 1.0);
        match self.quantizer {
            Quantizer::Linear => y,
            Quantizer::MuLaw => y.signum() * ((self.mu.ln_1p() * y.abs()).exp() - 1.0) / self.mu,
        }
    }
}

/// The saved form of a mu-law [`SampleCodec`] (kind `mulaw`).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MuLawSpec {
    /// L: quantization levels (= vocabulary size).
    pub levels: u32,
    /// Samples per second.
    pub sample_rate: u32,
}

/// The saved form of a linear [`SampleCodec`] (kind `linear`).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearSpec {
    /// L: quantization levels (= vocabulary size).
    pub levels: u32,
    /// Samples per second.
    pub sample_rate: u32,
}

impl CodecSpec for MuLawSpec {
    const KIND: &'static str = "mulaw";

    fn build(self) -> Result<Arc<dyn Codec>, GymError> {
        Ok(Arc::new(SampleCodec::new(
            Quantizer::MuLaw,
            self.levels,
            self.sample_rate,
        )?))
    }
}

impl CodecSpec for LinearSpec {
    const KIND: &'static str = "linear";

    fn build(self) -> Result<Arc<dyn Codec>, GymError> {
        Ok(Arc::new(SampleCodec::new(
            Quantizer::Linear,
            self.levels,
            self.sample_rate,
        )?))
    }
}

impl AudioCodec for SampleCodec {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The midpoints between neighbouring levels on the companded axis, where `token_of`
    /// rounds.
    fn cell_edges(&self) -> Vec<f64> {
        let step = 2.0 / f64::from(self.levels - 1);
        (0..self.levels - 1)
            .map(|k| self.expand(-1.0 + (f64::from(k) + 0.5) * step))
            .collect()
    }

    fn sample_of(&self, token: u32) -> f32 {
        let t = f64::from(token.min(self.levels - 1));
        self.expand(2.0 * t / f64::from(self.levels - 1) - 1.0) as f32
    }

    fn token_of(&self, sample: f32) -> u32 {
        let x = if sample.is_nan() {
            0.0
        } else {
            f64::from(sample)
        };
        let y = self.compand(x);
        let t = ((y + 1.0) * 0.5 * f64::from(self.levels - 1)).round();
        t.clamp(0.0, f64::from(self.levels - 1)) as u32
    }
}

impl Codec for SampleCodec {
    fn kind(&self) -> &str {
        self.quantizer.kind()
    }

    fn vocab_size(&self) -> usize {
        self.levels as usize
    }

    fn encode(&self, text: &str, policy: UnknownPolicy) -> Result<Vec<u32>, GymError> {
        let mut out = Vec::new();
        for (i, word) in text.split_whitespace().enumerate() {
            match (word.parse::<f32>(), policy) {
                (Ok(x), _) if (-1.0..=1.0).contains(&x) => out.push(self.token_of(x)),
                (_, UnknownPolicy::Skip) => {}
                (_, UnknownPolicy::Error) => {
                    return Err(GymError::NotInVocabulary {
                        value: word.to_string(),
                        position: i,
                        message: format!(
                            "sample {i} '{word}' is not a number in [-1, 1]; audio text is \
                             whitespace-separated sample values"
                        ),
                    })
                }
            }
        }
        Ok(out)
    }

    fn render(&self, tokens: &[u32]) -> String {
        let words: Vec<String> = tokens
            .iter()
            .map(|&t| self.sample_of(t).to_string())
            .collect();
        words.join(self.separator())
    }

    fn separator(&self) -> &str {
        " "
    }

    fn spec(&self) -> Value {
        let (levels, sample_rate) = (self.levels, self.sample_rate);
        match self.quantizer {
            Quantizer::MuLaw => tagged(&MuLawSpec {
                levels,
                sample_rate,
            }),
            Quantizer::Linear => tagged(&LinearSpec {
                levels,
                sample_rate,
            }),
        }
    }

    fn audio(&self) -> Option<&dyn AudioCodec> {
        Some(self)
    }
}

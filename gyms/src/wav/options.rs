//! `[gym.options]` of `wav-v1`, with defaults and one-line errors that name the key.

use std::path::Path;

use super::codec::{Quantizer, SampleCodec};
use super::ID;
use crate::{CacheOptions, GymError};

/// Highest accepted `sample_rate`.
pub const MAX_RATE: u32 = 384_000;

/// How the validation split is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitMode {
    /// By file when `⌊files × val_fraction⌋ ≥ 1` and a training file remains, else by tail.
    Auto,
    /// The last `max(1, ⌊files × val_fraction⌋)` files (in path order) are validation.
    Files,
    /// The last `val_fraction` of every file is validation.
    Tail,
}

/// The options of the WAV gym.
#[derive(Clone, Debug, PartialEq)]
pub struct WavOptions {
    /// Rate every file is resampled to (Hz); default 16000.
    pub sample_rate: u32,
    /// mu-law (default) or linear.
    pub quantizer: Quantizer,
    /// Quantization levels = vocabulary size; default 256.
    pub levels: u32,
    /// Keep only this channel instead of mixing all channels down to mono.
    pub channel: Option<usize>,
    /// Skip files that cannot be decoded (reported) instead of stopping.
    pub skip_bad_files: bool,
    /// How to take the validation split.
    pub split: SplitMode,
    /// Where the decoded tokens are kept (`in_memory_mb`, `cache_dir`).
    pub cache: CacheOptions,
}

impl Default for WavOptions {
    fn default() -> Self {
        WavOptions {
            sample_rate: 16_000,
            quantizer: Quantizer::MuLaw,
            levels: 256,
            channel: None,
            skip_bad_files: false,
            split: SplitMode::Auto,
            cache: CacheOptions::default(),
        }
    }
}

const KNOWN: &str =
    "sample_rate, codec, levels, channel, skip_bad_files, split, in_memory_mb, cache_dir";

impl WavOptions {
    /// Parses `[gym.options]`; unknown keys and bad values are errors naming the key. A
    /// relative `cache_dir` resolves against `base_dir`.
    pub fn from_table(t: &toml::Table, base_dir: &Path) -> Result<WavOptions, GymError> {
        let mut o = WavOptions::default();
        let bad = |key: &str, want: &str, got: &toml::Value| {
            GymError::Config(format!("gym.options.{key}: expected {want}, got {got}"))
        };
        for (key, v) in t {
            if o.cache.parse_key(key, v, base_dir)? {
                continue;
            }
            match key.as_str() {
                "sample_rate" => {
                    o.sample_rate = v
                        .as_integer()
                        .filter(|r| (1..=i64::from(MAX_RATE)).contains(r))
                        .ok_or_else(|| bad(key, &format!("an integer in 1..={MAX_RATE} (Hz)"), v))?
                        as u32;
                }
                "codec" => {
                    o.quantizer = match v.as_str() {
                        Some("mulaw") | Some("mu-law") => Quantizer::MuLaw,
                        Some("linear") => Quantizer::Linear,
                        _ => return Err(bad(key, "\"mulaw\" or \"linear\"", v)),
                    }
                }
                "levels" => {
                    o.levels = v
                        .as_integer()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| bad(key, "an integer in 2..=65536", v))?;
                }
                "channel" => {
                    o.channel = Some(
                        v.as_integer()
                            .and_then(|n| usize::try_from(n).ok())
                            .ok_or_else(|| bad(key, "a channel index ≥ 0", v))?,
                    );
                }
                "skip_bad_files" => {
                    o.skip_bad_files = v.as_bool().ok_or_else(|| bad(key, "true or false", v))?;
                }
                "split" => {
                    o.split = match v.as_str() {
                        Some("auto") => SplitMode::Auto,
                        Some("files") => SplitMode::Files,
                        Some("tail") => SplitMode::Tail,
                        _ => return Err(bad(key, "\"auto\", \"files\" or \"tail\"", v)),
                    }
                }
                _ => {
                    return Err(GymError::Config(format!(
                        "gym.options.{key}: unknown option for {ID} (known: {KNOWN})"
                    )))
                }
            }
        }
        o.codec()?;
        Ok(o)
    }

    /// The codec these options describe.
    pub fn codec(&self) -> Result<SampleCodec, GymError> {
        SampleCodec::new(self.quantizer, self.levels, self.sample_rate)
    }
}

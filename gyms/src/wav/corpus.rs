//! Loading a WAV corpus: decode every file, mix down (or pick a channel), resample, quantize.
//! Bad files stop the load with their one-line error, or are skipped and reported when
//! `skip_bad_files = true`.

use std::path::{Path, PathBuf};

use super::codec::SampleCodec;
use super::decode::read_wav;
use super::files::list_wav_files;
use super::resample::resample;
use crate::{AudioCodec, GymError};

/// One decoded file, as tokens at the gym's rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clip {
    /// The file it came from.
    pub path: PathBuf,
    /// Quantized samples.
    pub tokens: Vec<u16>,
}

/// Every usable file of `gym.path`, and the ones skipped (with why).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WavCorpus {
    /// Decoded files, in path order.
    pub clips: Vec<Clip>,
    /// `"file: reason"` for each skipped file.
    pub skipped: Vec<String>,
    /// The resolved `gym.path`, for messages.
    pub source: String,
}

/// Reads one file as mono samples in [-1, 1] at `rate` Hz (mixdown, or `channel`), logging the
/// decoder's warnings. Errors name the file.
pub fn load_mono(path: &Path, channel: Option<usize>, rate: u32) -> Result<Vec<f32>, GymError> {
    let audio = read_wav(path)?;
    let err = |message: String| GymError::Io {
        path: path.display().to_string(),
        message,
    };
    for w in &audio.warnings {
        log::warn!("{}: {w}", path.display());
    }
    let mono = audio.to_mono(channel).map_err(err)?;
    resample(&mono, audio.sample_rate, rate).map_err(err)
}

/// Decodes and quantizes one file.
pub fn load_clip(
    path: &Path,
    channel: Option<usize>,
    codec: &SampleCodec,
) -> Result<Clip, GymError> {
    let mono = load_mono(path, channel, codec.sample_rate())?;
    if mono.is_empty() {
        return Err(GymError::Io {
            path: path.display().to_string(),
            message: "no audio samples after resampling".into(),
        });
    }
    let tokens = mono.iter().map(|&x| codec.token_of(x) as u16).collect();
    Ok(Clip {
        path: path.to_path_buf(),
        tokens,
    })
}

/// Loads every file of `path`; with `skip_bad_files` a bad file is logged and left out.
pub fn load_corpus(
    path: &str,
    base_dir: &Path,
    channel: Option<usize>,
    codec: &SampleCodec,
    skip_bad_files: bool,
) -> Result<WavCorpus, GymError> {
    let (files, source) = list_wav_files(path, base_dir)?;
    let mut clips = Vec::with_capacity(files.len());
    let mut skipped = Vec::new();
    for f in &files {
        match load_clip(f, channel, codec) {
            Ok(c) => clips.push(c),
            Err(e) if skip_bad_files => {
                log::warn!("skipping {e}");
                skipped.push(e.to_string());
            }
            Err(e) => {
                return Err(match e {
                    GymError::Io { path, message } => GymError::Io {
                        path,
                        message: format!(
                            "{message} (set gym.options.skip_bad_files = true to train on the \
                             other files)"
                        ),
                    },
                    other => other,
                })
            }
        }
    }
    if clips.is_empty() {
        return Err(GymError::Data(format!(
            "gym.path: no usable audio in {source}: all {} file(s) were skipped ({})",
            files.len(),
            skipped.join("; ")
        )));
    }
    if !skipped.is_empty() {
        log::warn!(
            "skipped {} of {} file(s) in {source}: {}",
            skipped.len(),
            files.len(),
            skipped.join("; ")
        );
    }
    let first = clips[0].tokens[0];
    if clips.iter().all(|c| c.tokens.iter().all(|&t| t == first)) {
        log::warn!(
            "every sample of {source} is the same value (silence?); a model trained on it learns \
             nothing useful"
        );
    }
    Ok(WavCorpus {
        clips,
        skipped,
        source,
    })
}

/// Entropy in bits of the token distribution of `streams` (the unigram baseline).
pub fn unigram_entropy_bits<'a>(streams: impl IntoIterator<Item = &'a [u16]>) -> f64 {
    let mut counts = vec![0u64; 1 << 16];
    let mut n = 0u64;
    for s in streams {
        for &t in s {
            counts[usize::from(t)] += 1;
        }
        n += s.len() as u64;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

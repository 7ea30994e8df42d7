//! Loading a WAV corpus: decode every file, mix down (or pick a channel), resample, quantize.
//! Bad files stop the load with their one-line error, or are skipped and reported when
//! `skip_bad_files = true`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::codec::SampleCodec;
use super::decode::{decode_wav, read_wav, Audio};
use super::error::WavError;
use super::files::list_wav_files;
use super::resample::resample;
use crate::tokens::{width_for, TokenStore, TokenWriter};
use crate::{AudioCodec, CacheOptions, Codec, GymError};

/// One decoded file: where its tokens lie in the corpus's token store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clip {
    /// The file it came from.
    pub path: PathBuf,
    /// Its quantized samples, as positions in the store.
    pub range: Range<usize>,
}

/// Every usable file of `gym.path`, decoded and quantized one at a time into one token store
/// (heap, or a mapped temporary file past `in_memory_mb`), and the files skipped (with why).
pub struct WavCorpus {
    /// The tokens of every clip, back to back.
    pub(crate) tokens: TokenStore,
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
    for w in &audio.warnings {
        log::warn!("{}: {w}", path.display());
    }
    audio_to_mono(audio, channel, rate).map_err(|e| GymError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// The whole decoding path on a WAV held in memory: decode, mix down (or pick `channel`),
/// resample to `rate` Hz. The error is the reason, without a file name. This is what the
/// `wav_decode` fuzz target and its regression tests drive.
pub fn mono_from_bytes(
    bytes: &[u8],
    channel: Option<usize>,
    rate: u32,
) -> Result<Vec<f32>, WavError> {
    audio_to_mono(decode_wav(bytes)?, channel, rate)
}

/// Each step drops its input before the next one allocates where it can: one file's samples
/// are held at most twice (resampling's input and output).
fn audio_to_mono(audio: Audio, channel: Option<usize>, rate: u32) -> Result<Vec<f32>, WavError> {
    let from = audio.sample_rate;
    let mono = audio.into_mono(channel)?;
    if from == rate {
        return Ok(mono);
    }
    resample(&mono, from, rate)
}

/// Decodes one file to mono samples at the codec's rate; an error names the file.
fn decode_file(
    path: &Path,
    channel: Option<usize>,
    codec: &SampleCodec,
) -> Result<Vec<f32>, GymError> {
    let mono = load_mono(path, channel, codec.sample_rate())?;
    if mono.is_empty() {
        return Err(GymError::Io {
            path: path.display().to_string(),
            message: "no audio samples after resampling".into(),
        });
    }
    Ok(mono)
}

/// Quantizes `mono` (not empty) into `writer` a block at a time (no whole-file token vector);
/// returns the first code and whether every code equals it.
fn push_tokens(
    mono: &[f32],
    codec: &SampleCodec,
    writer: &mut TokenWriter,
) -> Result<(u32, bool), GymError> {
    const BLOCK: usize = 1 << 16;
    let first = codec.token_of(mono[0]);
    let mut constant = true;
    let mut block = Vec::with_capacity(BLOCK.min(mono.len()));
    for xs in mono.chunks(BLOCK) {
        block.clear();
        block.extend(xs.iter().map(|&x| codec.token_of(x)));
        constant = constant && block.iter().all(|&t| t == first);
        writer.push(&block)?;
    }
    Ok((first, constant))
}

/// Loads every file of `path`, one at a time (only one file's samples are ever decoded in
/// memory); with `skip_bad_files` a bad file is logged and left out.
pub(crate) fn load_corpus(
    path: &str,
    base_dir: &Path,
    channel: Option<usize>,
    codec: &SampleCodec,
    skip_bad_files: bool,
    cache: &CacheOptions,
) -> Result<WavCorpus, GymError> {
    let (files, source) = list_wav_files(path, base_dir)?;
    let mut writer = cache.writer(width_for(codec.vocab_size()));
    let mut clips = Vec::with_capacity(files.len());
    let mut skipped = Vec::new();
    // Whether every sample so far has the same code (silence), and that code.
    let mut constant: Option<Option<u32>> = None;
    for f in &files {
        match decode_file(f, channel, codec) {
            Ok(mono) => {
                let start = writer.len();
                // Spill before the heap outgrows the budget, not after doubling past it.
                writer.reserve(mono.len())?;
                let (code, same) = push_tokens(&mono, codec, &mut writer)?;
                drop(mono);
                clips.push(Clip {
                    path: f.to_path_buf(),
                    range: start..writer.len(),
                });
                let first = *constant.get_or_insert(Some(code));
                if !same || first != Some(code) {
                    constant = Some(None);
                }
            }
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
    if constant.flatten().is_some() {
        log::warn!(
            "every sample of {source} is the same value (silence?); a model trained on it learns \
             nothing useful"
        );
    }
    Ok(WavCorpus {
        tokens: writer.finish()?,
        clips,
        skipped,
        source,
    })
}

/// Entropy in bits of the distribution whose counts are `counts` (the unigram baseline).
pub fn unigram_entropy_bits(counts: &[u64]) -> f64 {
    let n: u64 = counts.iter().sum();
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

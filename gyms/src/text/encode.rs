//! Corpus → tokens in two streaming passes: the first finds the vocabulary and the character
//! count, the second encodes into a [`TokenStore`] of the narrowest width, on the heap below
//! `in_memory_mb` and in a memory-mapped temporary file above it.

use std::path::{Path, PathBuf};

use super::stream::stream_text;
use super::vocab::{Encoder, VocabScan};
use super::ID;
use crate::tokens::{width_for, TokenStore};
use crate::{CacheOptions, CharCodec, GymError};

/// How a text corpus is read (the `text-v1` options besides `path`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// Fold case (`str::to_lowercase`) before building the vocabulary.
    pub lowercase: bool,
    /// Where the tokens are kept (`in_memory_mb`, `cache_dir`).
    pub cache: CacheOptions,
}

impl TextOptions {
    /// Parses `[gym.options]`; relative `cache_dir`s resolve against `base_dir`.
    pub fn from_table(table: &toml::Table, base_dir: &Path) -> Result<TextOptions, GymError> {
        let mut o = TextOptions::default();
        for (key, value) in table {
            if o.cache.parse_key(key, value, base_dir)? {
                continue;
            }
            let bad = |expected: &str| {
                GymError::Config(format!(
                    "gym.options.{key}: expected {expected}, got {value}"
                ))
            };
            match key.as_str() {
                "lowercase" => o.lowercase = value.as_bool().ok_or_else(|| bad("true or false"))?,
                _ => {
                    return Err(GymError::Config(format!(
                        "gym.options.{key}: unknown option for {ID} (known: lowercase, \
                         in_memory_mb, cache_dir)"
                    )));
                }
            }
        }
        Ok(o)
    }
}

/// A corpus turned into tokens.
pub(crate) struct Encoded {
    pub(crate) codec: CharCodec,
    pub(crate) tokens: TokenStore,
}

/// Encodes the text of `files` (in order) with `vocab`, else with the corpus's own
/// vocabulary; `source` names the corpus in messages.
pub(crate) fn encode_files(
    files: &[PathBuf],
    opts: &TextOptions,
    source: &str,
    vocab: Option<&CharCodec>,
) -> Result<Encoded, GymError> {
    encode_with(
        &mut |sink| stream_text(files, opts.lowercase, sink),
        opts,
        source,
        files.len(),
        vocab,
    )
}

/// Encodes in-memory text (always kept on the heap).
pub(crate) fn encode_str(text: &str, source: &str) -> Result<Encoded, GymError> {
    let opts = TextOptions {
        cache: CacheOptions {
            in_memory_mb: u64::MAX >> 20,
            cache_dir: None,
        },
        ..TextOptions::default()
    };
    encode_with(&mut |sink| sink(text), &opts, source, 1, None)
}

/// A re-runnable stream of text pieces.
type Source<'a> =
    dyn FnMut(&mut dyn FnMut(&str) -> Result<(), GymError>) -> Result<(), GymError> + 'a;

fn encode_with(
    stream: &mut Source<'_>,
    opts: &TextOptions,
    source: &str,
    n_files: usize,
    vocab: Option<&CharCodec>,
) -> Result<Encoded, GymError> {
    let mut scan = VocabScan::new();
    stream(&mut |piece| {
        scan.add(piece);
        Ok(())
    })?;
    if scan.chars == 0 {
        return Err(GymError::Data(format!(
            "gym.path: corpus {source} is empty ({n_files} file(s), 0 characters)"
        )));
    }
    let n = usize::try_from(scan.chars).map_err(|_| {
        GymError::Data(format!(
            "gym.path: corpus {source} has {} characters, more than this platform can index",
            scan.chars
        ))
    })?;
    let codec = match vocab {
        None => scan.codec(),
        Some(v) => {
            let unknown = scan
                .codec()
                .chars()
                .iter()
                .find(|&&c| v.token_of(c).is_none())
                .copied();
            if let Some(c) = unknown {
                return Err(GymError::Data(format!(
                    "gym.path: corpus {source} holds the character '{}', which is not in the \
                     vocabulary of {} characters",
                    c.escape_debug(),
                    v.chars().len()
                )));
            }
            v.clone()
        }
    };
    if codec.chars().len() < 2 {
        let only = codec.chars().first().map(|c| c.escape_debug().to_string());
        return Err(GymError::Data(format!(
            "gym.path: corpus {source} has only one distinct character ('{}'); {ID} needs at \
             least 2 distinct characters",
            only.unwrap_or_default()
        )));
    }
    let encoder = Encoder::new(&codec);
    let mut writer = opts.cache.writer(width_for(codec.chars().len()));
    writer.reserve(n)?;
    let changed = || {
        GymError::Data(format!(
            "gym.path: corpus {source} changed while it was being read; try again"
        ))
    };
    let mut ids = Vec::new();
    stream(&mut |piece| {
        ids.clear();
        encoder.encode(piece, &mut ids).ok_or_else(changed)?;
        writer.push(&ids)
    })?;
    let tokens = writer.finish()?;
    if tokens.len() != n {
        return Err(changed());
    }
    Ok(Encoded { codec, tokens })
}

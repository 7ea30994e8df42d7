//! Where a built-in gym keeps its tokens: the `in_memory_mb` and `cache_dir` options that
//! `text-v1` and `wav-v1` share, parsed and resolved in one place.

use std::path::{Path, PathBuf};

use crate::tokens::TokenWriter;
use crate::GymError;

/// Default for `gym.options.in_memory_mb`: corpora whose tokens fit stay on the heap.
pub const DEFAULT_IN_MEMORY_MB: u64 = 64;

/// The token-storage options of the built-in gyms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheOptions {
    /// Token storage up to this many MiB stays on the heap; more goes to a mapped file.
    pub in_memory_mb: u64,
    /// Directory of that file, already resolved against the config's directory (default: the
    /// system temporary directory).
    pub cache_dir: Option<PathBuf>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            in_memory_mb: DEFAULT_IN_MEMORY_MB,
            cache_dir: None,
        }
    }
}

impl CacheOptions {
    /// Reads `gym.options.<key>` if it is one of these options (a relative `cache_dir`
    /// resolves against `base_dir`); `Ok(false)` leaves any other key to the gym's parser.
    pub fn parse_key(
        &mut self,
        key: &str,
        value: &toml::Value,
        base_dir: &Path,
    ) -> Result<bool, GymError> {
        let bad = |expected: &str| {
            GymError::Config(format!(
                "gym.options.{key}: expected {expected}, got {value}"
            ))
        };
        match key {
            "in_memory_mb" => {
                let mb = value.as_integer().filter(|&v| v >= 0);
                self.in_memory_mb = mb.ok_or_else(|| bad("an integer >= 0"))? as u64;
            }
            "cache_dir" => {
                let dir = value.as_str().ok_or_else(|| bad("a directory path"))?;
                self.cache_dir = Some(base_dir.join(dir));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The directory of the token cache file.
    pub fn dir(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(std::env::temp_dir)
    }

    /// A writer of `width`-byte tokens that spills to [`CacheOptions::dir`] past the budget.
    pub(crate) fn writer(&self, width: usize) -> TokenWriter {
        TokenWriter::new(
            width,
            self.in_memory_mb.saturating_mul(1 << 20),
            &self.dir(),
        )
    }
}

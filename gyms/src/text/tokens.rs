//! Token storage at the narrowest width the vocabulary allows (1, 2 or 4 little-endian bytes
//! per token), either on the heap (small corpora) or in an anonymous temporary file mapped
//! read-only (large ones), so resident memory does not grow with the corpus.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::Path;

use memmap2::Mmap;

use crate::GymError;

/// A mapped store hands its pages back to the kernel after this many bytes were read, so a
/// long run over a big corpus does not accumulate them in its resident set.
const RELEASE_EVERY: usize = 32 << 20;

/// Bytes per token for a vocabulary of `vocab` tokens.
pub(crate) fn width_for(vocab: usize) -> usize {
    if vocab <= 1 << 8 {
        1
    } else if vocab <= 1 << 16 {
        2
    } else {
        4
    }
}

/// Where the token bytes live.
enum Backing {
    Heap(Vec<u8>),
    Map(Mmap),
}

/// A read-only sequence of tokens.
pub(crate) struct TokenStore {
    backing: Backing,
    width: usize,
    len: usize,
    /// Bytes read from a mapped store since its pages were last released.
    read_since_release: usize,
}

impl TokenStore {
    /// Tokens stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the tokens live in a memory-mapped file.
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self.backing, Backing::Map(_))
    }

    fn bytes(&self) -> &[u8] {
        match &self.backing {
            Backing::Heap(v) => v,
            Backing::Map(m) => m,
        }
    }

    /// Appends tokens `range` (which must lie within `0..len`) to `out`, widened to `u32`.
    pub(crate) fn extend(&self, range: Range<usize>, out: &mut Vec<u32>) {
        let b = &self.bytes()[range.start * self.width..range.end * self.width];
        match self.width {
            1 => out.extend(b.iter().map(|&x| u32::from(x))),
            2 => out.extend(
                b.chunks_exact(2)
                    .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))),
            ),
            _ => out.extend(
                b.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
        }
    }

    /// Records that `tokens` tokens were read; a mapped store periodically drops its pages
    /// from this process (they stay in the page cache and fault back in when read again).
    pub(crate) fn note_read(&mut self, tokens: usize) {
        let Backing::Map(map) = &self.backing else {
            return;
        };
        self.read_since_release += tokens * self.width;
        if self.read_since_release >= RELEASE_EVERY {
            self.read_since_release = 0;
            release(map);
        }
    }
}

#[cfg(unix)]
fn release(map: &Mmap) {
    // SAFETY: the map is a read-only, private mapping of a file only this process can reach
    // (it was unlinked at creation), so MADV_DONTNEED discards nothing that cannot be read back
    // unchanged from the file.
    if let Err(e) = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) } {
        log::debug!("madvise(DONTNEED) on the token cache failed: {e}");
    }
}

#[cfg(not(unix))]
fn release(_map: &Mmap) {}

/// Collects tokens as they are encoded, on the heap or in a temporary file.
pub(crate) struct TokenWriter {
    sink: Sink,
    width: usize,
    len: usize,
    buf: Vec<u8>,
}

enum Sink {
    Heap(Vec<u8>),
    File { file: BufWriter<File>, dir: String },
}

impl TokenWriter {
    /// A writer for `capacity` tokens of `width` bytes: in memory when they take at most
    /// `in_memory_bytes`, else in an anonymous temporary file created in `dir`.
    pub(crate) fn new(
        width: usize,
        capacity: usize,
        in_memory_bytes: u64,
        dir: &Path,
    ) -> Result<TokenWriter, GymError> {
        let bytes = (capacity as u64).saturating_mul(width as u64);
        let sink = if bytes <= in_memory_bytes {
            Sink::Heap(Vec::with_capacity(bytes as usize))
        } else {
            let dir_name = dir.display().to_string();
            // tempfile() is unlinked at once: nothing is left behind, even after a kill -9.
            let file = tempfile::tempfile_in(dir).map_err(|e| GymError::Io {
                path: dir_name.clone(),
                message: format!(
                    "cannot create the token cache file ({bytes} bytes) for a large corpus: {e}; \
                     set gym.options.cache_dir to a writable directory with enough space"
                ),
            })?;
            Sink::File {
                file: BufWriter::with_capacity(1 << 20, file),
                dir: dir_name,
            }
        };
        Ok(TokenWriter {
            sink,
            width,
            len: 0,
            buf: Vec::new(),
        })
    }

    /// Whether the tokens are kept on the heap (else in a temporary file).
    pub(crate) fn is_heap(&self) -> bool {
        matches!(self.sink, Sink::Heap(_))
    }

    /// Appends `tokens` (each below `256^width`).
    pub(crate) fn push(&mut self, tokens: &[u32]) -> Result<(), GymError> {
        self.len += tokens.len();
        let out = match &mut self.sink {
            Sink::Heap(v) => v,
            Sink::File { .. } => {
                self.buf.clear();
                &mut self.buf
            }
        };
        match self.width {
            1 => out.extend(tokens.iter().map(|&t| t as u8)),
            2 => out.extend(tokens.iter().flat_map(|&t| (t as u16).to_le_bytes())),
            _ => out.extend(tokens.iter().flat_map(|&t| t.to_le_bytes())),
        }
        if let Sink::File { file, dir } = &mut self.sink {
            file.write_all(&self.buf).map_err(|e| cache_err(dir, e))?;
        }
        Ok(())
    }

    /// The finished store; a file is mapped read-only.
    pub(crate) fn finish(self) -> Result<TokenStore, GymError> {
        let backing = match self.sink {
            Sink::Heap(v) => Backing::Heap(v),
            Sink::File { file, dir } => {
                let file = file
                    .into_inner()
                    .map_err(|e| cache_err(&dir, e.into_error()))?;
                // SAFETY: the file is unlinked and private to this process, which never writes
                // it again, so the mapped bytes cannot change underneath us.
                let map = unsafe { Mmap::map(&file) }.map_err(|e| cache_err(&dir, e))?;
                // Each lane streams forward through its own part of the corpus.
                #[cfg(unix)]
                if let Err(e) = map.advise(memmap2::Advice::Sequential) {
                    log::debug!("madvise(SEQUENTIAL) on the token cache failed: {e}");
                }
                Backing::Map(map)
            }
        };
        Ok(TokenStore {
            backing,
            width: self.width,
            len: self.len,
            read_since_release: 0,
        })
    }
}

fn cache_err(dir: &str, e: std::io::Error) -> GymError {
    GymError::Io {
        path: dir.to_string(),
        message: format!(
            "cannot write the token cache file: {e}; set gym.options.cache_dir to a writable \
             directory with enough space"
        ),
    }
}

//! Token storage shared by the built-in gyms, at the narrowest width the vocabulary allows (1,
//! 2 or 4 little-endian bytes per token), either on the heap (small corpora) or in an
//! anonymous temporary file mapped read-only (large ones), so resident memory does not grow
//! with the corpus.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// Bytes read from a mapped store since its pages were last released (atomic so that
    /// reading stays `&self` and forks of a gym can share the store).
    read_since_release: AtomicUsize,
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

    /// One batch of training windows: for each start `s`, inputs `s..s + seq` and targets
    /// shifted by one (`s + 1..s + seq + 1`), lane after lane; the read is recorded.
    pub(crate) fn windows(
        &self,
        starts: impl ExactSizeIterator<Item = usize>,
        seq: usize,
    ) -> (Vec<u32>, Vec<u32>) {
        let lanes = starts.len();
        let mut inputs = Vec::with_capacity(lanes * seq);
        let mut targets = Vec::with_capacity(lanes * seq);
        for start in starts {
            self.extend(start..start + seq, &mut inputs);
            self.extend(start + 1..start + seq + 1, &mut targets);
        }
        self.note_read(lanes * (seq + 1));
        (inputs, targets)
    }

    /// Records that `tokens` tokens were read; a mapped store periodically drops its pages
    /// from this process (they stay in the page cache and fault back in when read again).
    pub(crate) fn note_read(&self, tokens: usize) {
        let Backing::Map(map) = &self.backing else {
            return;
        };
        let read = self.read_since_release.load(Ordering::Relaxed) + tokens * self.width;
        if read >= RELEASE_EVERY {
            self.read_since_release.store(0, Ordering::Relaxed);
            release(map);
        } else {
            self.read_since_release.store(read, Ordering::Relaxed);
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

/// Collects tokens as they are produced: on the heap up to a byte budget, then (moving what
/// it has) in an anonymous temporary file, so the caller need not know the total in advance.
pub(crate) struct TokenWriter {
    sink: Sink,
    width: usize,
    len: usize,
    in_memory_bytes: u64,
    dir: PathBuf,
    buf: Vec<u8>,
}

enum Sink {
    Heap(Vec<u8>),
    File(BufWriter<File>),
}

impl TokenWriter {
    /// A writer of `width`-byte tokens that keeps up to `in_memory_bytes` on the heap and
    /// spills to a temporary file in `dir` beyond that.
    pub(crate) fn new(width: usize, in_memory_bytes: u64, dir: &Path) -> TokenWriter {
        TokenWriter {
            sink: Sink::Heap(Vec::new()),
            width,
            len: 0,
            in_memory_bytes,
            dir: dir.to_path_buf(),
            buf: Vec::new(),
        }
    }

    /// Announces `tokens` more tokens: heap room is reserved when they fit the budget, else
    /// the writer moves to its file now rather than growing the heap first.
    pub(crate) fn reserve(&mut self, tokens: usize) -> Result<(), GymError> {
        if let Sink::Heap(v) = &mut self.sink {
            let bytes = tokens.saturating_mul(self.width);
            if (v.len().saturating_add(bytes)) as u64 <= self.in_memory_bytes {
                v.reserve(bytes);
            } else {
                return self.spill();
            }
        }
        Ok(())
    }

    /// Tokens written so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends `tokens` (each below `256^width`).
    pub(crate) fn push(&mut self, tokens: &[u32]) -> Result<(), GymError> {
        self.len += tokens.len();
        self.buf.clear();
        let out = match &mut self.sink {
            Sink::Heap(v) => v,
            Sink::File(_) => &mut self.buf,
        };
        match self.width {
            1 => out.extend(tokens.iter().map(|&t| t as u8)),
            2 => out.extend(tokens.iter().flat_map(|&t| (t as u16).to_le_bytes())),
            _ => out.extend(tokens.iter().flat_map(|&t| t.to_le_bytes())),
        }
        match &mut self.sink {
            Sink::Heap(v) => {
                if v.len() as u64 > self.in_memory_bytes {
                    self.spill()?;
                }
                Ok(())
            }
            Sink::File(f) => f.write_all(&self.buf).map_err(|e| cache_err(&self.dir, e)),
        }
    }

    /// Moves the heap contents to a new temporary file, which takes every later token.
    fn spill(&mut self) -> Result<(), GymError> {
        // tempfile() is unlinked at once: nothing is left behind, even after a kill -9.
        let file = tempfile::tempfile_in(&self.dir).map_err(|e| GymError::Io {
            path: self.dir.display().to_string(),
            message: format!(
                "cannot create the token cache file for a large corpus: {e}; set \
                 gym.options.cache_dir to a writable directory with enough space"
            ),
        })?;
        log::info!(
            "token cache over {} MiB: continuing in a mapped temporary file in {}",
            self.in_memory_bytes >> 20,
            self.dir.display()
        );
        let mut file = BufWriter::with_capacity(1 << 20, file);
        if let Sink::Heap(v) = &self.sink {
            file.write_all(v).map_err(|e| cache_err(&self.dir, e))?;
        }
        self.sink = Sink::File(file);
        Ok(())
    }

    /// The finished store; a file is mapped read-only.
    pub(crate) fn finish(self) -> Result<TokenStore, GymError> {
        let backing = match self.sink {
            Sink::Heap(v) => Backing::Heap(v),
            Sink::File(file) => {
                let dir = &self.dir;
                let file = file
                    .into_inner()
                    .map_err(|e| cache_err(dir, e.into_error()))?;
                // SAFETY: the file is unlinked and private to this process, which never writes
                // it again, so the mapped bytes cannot change underneath us.
                let map = unsafe { Mmap::map(&file) }.map_err(|e| cache_err(dir, e))?;
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
            read_since_release: AtomicUsize::new(0),
        })
    }
}

fn cache_err(dir: &Path, e: std::io::Error) -> GymError {
    GymError::Io {
        path: dir.display().to_string(),
        message: format!(
            "cannot write the token cache file: {e}; set gym.options.cache_dir to a writable \
             directory with enough space"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens pushed in uneven pieces come back the same from the heap and from a file that
    /// took over part-way, at every width.
    #[test]
    fn spilling_part_way_keeps_every_token() {
        let dir = tempfile::tempdir().unwrap();
        for (width, max) in [(1usize, 255u32), (2, 65_535), (4, 1_114_111)] {
            let tokens: Vec<u32> = (0..5000u32).map(|i| (i * 7919) % (max + 1)).collect();
            for budget in [u64::MAX, 100, 0] {
                let mut w = TokenWriter::new(width, budget, dir.path());
                for piece in tokens.chunks(333) {
                    w.push(piece).unwrap();
                }
                assert_eq!(w.len(), tokens.len());
                let store = w.finish().unwrap();
                assert_eq!(store.is_mapped(), budget != u64::MAX, "{width} {budget}");
                let mut back = Vec::new();
                store.extend(0..store.len(), &mut back);
                assert_eq!(back, tokens, "width {width}, budget {budget}");
                back.clear();
                store.extend(4000..4010, &mut back);
                assert_eq!(back, tokens[4000..4010]);
            }
        }
    }
}

//! Streaming UTF-8: the text of a list of files, read in fixed-size chunks and handed on as
//! `&str` pieces, so a corpus of any size is decoded in constant memory. A character split
//! across two chunks is carried over; invalid UTF-8 stops with the file and byte offset.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use crate::GymError;

/// Bytes read per chunk: big enough to amortize syscalls, small enough to stay resident.
const CHUNK: usize = 1 << 20;

/// Lowercasing carries text up to the last ASCII whitespace; a run longer than this without
/// any is lowercased as it stands (see [`Lowercaser`]).
const MAX_CARRY: usize = 4 * CHUNK;

/// Calls `sink` with the text of every file in order (a leading byte-order mark dropped from
/// each), lowercased when `lowercase`. Pieces are at most a few MiB long.
pub(crate) fn stream_text(
    files: &[PathBuf],
    lowercase: bool,
    sink: &mut dyn FnMut(&str) -> Result<(), GymError>,
) -> Result<(), GymError> {
    if !lowercase {
        for f in files {
            stream_file(f, sink)?;
        }
        return Ok(());
    }
    let mut lower = Lowercaser::default();
    for f in files {
        stream_file(f, &mut |piece| lower.push(piece, sink))?;
    }
    lower.finish(sink)
}

/// Decodes one file chunk by chunk.
fn stream_file(
    file: &Path,
    sink: &mut dyn FnMut(&str) -> Result<(), GymError>,
) -> Result<(), GymError> {
    let mut f = File::open(file).map_err(|e| io_err(file, "cannot read file", e))?;
    let mut buf = vec![0u8; CHUNK];
    // `carry` bytes at the front of `buf` are the start of a char split by the last read.
    let mut carry = 0usize;
    // Byte offset in the file of `buf[0]`, for error messages.
    let mut base = 0u64;
    let mut first = true;
    loop {
        let got = read_full(&mut f, &mut buf[carry..])
            .map_err(|e| io_err(file, "cannot read file", e))?;
        let len = carry + got;
        let eof = got < buf.len() - carry;
        let mut start = 0;
        if first {
            first = false;
            if buf[..len].starts_with(b"\xEF\xBB\xBF") {
                start = 3;
            }
        }
        let (text, rest) = match std::str::from_utf8(&buf[start..len]) {
            Ok(s) => (s, 0),
            // An incomplete char at the end of a chunk (not of the file) continues in the next.
            Err(e) if e.error_len().is_none() && !eof => {
                let valid = start + e.valid_up_to();
                // The prefix was just checked, so this cannot fail; no panic either way.
                let s = std::str::from_utf8(&buf[start..valid])
                    .map_err(|_| not_utf8(file, buf[valid], base + valid as u64))?;
                (s, len - valid)
            }
            Err(e) => {
                let offset = base + (start + e.valid_up_to()) as u64;
                return Err(not_utf8(file, buf[start + e.valid_up_to()], offset));
            }
        };
        if !text.is_empty() {
            sink(text)?;
        }
        if eof {
            return Ok(());
        }
        buf.copy_within(len - rest..len, 0);
        base += (len - rest) as u64;
        carry = rest;
    }
}

/// Fills `buf` unless the file ends first; returns the bytes read.
fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Lowercases a stream exactly as `str::to_lowercase` would the whole text. Its one
/// context-dependent rule (final sigma: `Σ` → `ς` at the end of a word) looks only through
/// cased and case-ignorable characters, and ASCII whitespace is neither, so text cut just after
/// ASCII whitespace lowercases the same in pieces as whole. Text is held back until such a cut.
#[derive(Default)]
struct Lowercaser {
    pending: String,
}

impl Lowercaser {
    fn push(
        &mut self,
        piece: &str,
        sink: &mut dyn FnMut(&str) -> Result<(), GymError>,
    ) -> Result<(), GymError> {
        self.pending.push_str(piece);
        let cut = match self.pending.rfind(|c: char| c.is_ascii_whitespace()) {
            Some(i) => i + 1,
            // Megabytes without whitespace: cut anyway; at worst one Σ at the cut differs.
            None if self.pending.len() > MAX_CARRY => self.pending.len(),
            None => return Ok(()),
        };
        sink(&self.pending[..cut].to_lowercase())?;
        self.pending.drain(..cut);
        Ok(())
    }

    fn finish(self, sink: &mut dyn FnMut(&str) -> Result<(), GymError>) -> Result<(), GymError> {
        if self.pending.is_empty() {
            Ok(())
        } else {
            sink(&self.pending.to_lowercase())
        }
    }
}

fn not_utf8(file: &Path, byte: u8, offset: u64) -> GymError {
    GymError::Io {
        path: file.display().to_string(),
        message: format!(
            "not valid UTF-8 (byte 0x{byte:02x} at byte offset {offset}); convert it first, \
             e.g. iconv -f latin1 -t utf-8 '{0}' > '{0}.utf8'",
            file.display()
        ),
    }
}

/// An I/O error naming the file.
pub(crate) fn io_err(path: &Path, what: &str, e: std::io::Error) -> GymError {
    GymError::Io {
        path: path.display().to_string(),
        message: format!("{what}: {e}"),
    }
}

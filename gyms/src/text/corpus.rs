//! Corpus loading: `gym.path` names a file, a directory (all regular files below it, recursively,
//! sorted by path, hidden ones skipped) or a glob pattern (sorted). Files are read as UTF-8 and
//! concatenated in that order (streamed: see `stream.rs`).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::stream::{io_err, stream_text};
use crate::GymError;

/// Directories deeper than this below the corpus root are not read (guards against odd trees).
const MAX_DEPTH: usize = 64;

/// A loaded corpus: its text and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corpus {
    /// The concatenated text of every file, in order.
    pub text: String,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// The resolved `gym.path`, for messages.
    pub source: String,
}

/// Loads the corpus named by `path` (a file, directory or glob), resolved against `base_dir`
/// when relative, into memory (the text gym itself streams it instead).
pub fn load_corpus(path: &str, base_dir: &Path) -> Result<Corpus, GymError> {
    let (files, source) = resolve_files(path, base_dir)?;
    let mut text = String::new();
    stream_text(&files, false, &mut |piece| {
        text.push_str(piece);
        Ok(())
    })?;
    if text.is_empty() {
        return Err(GymError::Data(format!(
            "gym.path: corpus {source} is empty ({} file(s), 0 characters)",
            files.len()
        )));
    }
    Ok(Corpus {
        text,
        files,
        source,
    })
}

/// The files `path` names (a file, directory or glob, relative ones under `base_dir`), in
/// reading order, and the resolved path for messages.
pub fn resolve_files(path: &str, base_dir: &Path) -> Result<(Vec<PathBuf>, String), GymError> {
    let full = if Path::new(path).is_absolute() || base_dir.as_os_str().is_empty() {
        PathBuf::from(path)
    } else {
        base_dir.join(path)
    };
    let source = full.display().to_string();
    let files = match fs::metadata(&full) {
        Ok(meta) if meta.is_file() => vec![full.clone()],
        Ok(meta) if meta.is_dir() => {
            let mut files = Vec::new();
            let mut visited = HashSet::new();
            walk(&full, 0, &mut visited, &mut files)?;
            if files.is_empty() {
                return Err(GymError::Data(format!(
                    "gym.path: directory {source} contains no (non-hidden) files; expected \
                     UTF-8 text files"
                )));
            }
            files
        }
        Ok(meta) => return Err(crate::paths::not_file_or_dir(&source, &meta.file_type())),
        Err(_) if has_glob_chars(path) => expand_glob(path, base_dir, &source)?,
        Err(e) => return Err(crate::paths::unreadable(&source, &e)),
    };
    Ok((files, source))
}

fn has_glob_chars(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Expands a glob pattern (relative ones under an escaped `base_dir`) to its sorted files.
fn expand_glob(pattern: &str, base_dir: &Path, source: &str) -> Result<Vec<PathBuf>, GymError> {
    let full = if Path::new(pattern).is_absolute() || base_dir.as_os_str().is_empty() {
        pattern.to_string()
    } else {
        let base = base_dir.to_str().ok_or_else(|| {
            GymError::Config(format!(
                "gym.path: base directory {} is not valid UTF-8, cannot use a glob pattern",
                base_dir.display()
            ))
        })?;
        format!("{}/{pattern}", glob::Pattern::escape(base))
    };
    let options = glob::MatchOptions {
        require_literal_leading_dot: true,
        ..Default::default()
    };
    let paths = glob::glob_with(&full, options)
        .map_err(|e| GymError::Config(format!("gym.path: invalid glob pattern {source}: {e}")))?;
    let mut files = Vec::new();
    for entry in paths {
        let p = entry.map_err(|e| GymError::Io {
            path: e.path().display().to_string(),
            message: format!("cannot read while expanding gym.path glob: {}", e.error()),
        })?;
        if fs::metadata(&p).is_ok_and(|m| m.is_file()) {
            files.push(p);
        }
    }
    if files.is_empty() {
        return Err(GymError::Data(format!(
            "gym.path: glob pattern {source} matched no files; expected at least one UTF-8 text \
             file"
        )));
    }
    files.sort();
    Ok(files)
}

/// Depth-first walk over sorted entries (so the output is sorted by path), skipping hidden
/// entries; `visited` holds canonical directories so symlink loops end.
pub(crate) fn walk(
    dir: &Path,
    depth: usize,
    visited: &mut HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
) -> Result<(), GymError> {
    let canonical =
        fs::canonicalize(dir).map_err(|e| io_err(dir, "cannot resolve directory", e))?;
    if !visited.insert(canonical) {
        log::warn!(
            "gym.path: skipping {} (directory already read; symlink loop?)",
            dir.display()
        );
        return Ok(());
    }
    if depth > MAX_DEPTH {
        log::warn!(
            "gym.path: skipping {} (deeper than {MAX_DEPTH} levels)",
            dir.display()
        );
        return Ok(());
    }
    let entries = fs::read_dir(dir).map_err(|e| io_err(dir, "cannot read directory", e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err(dir, "cannot read directory", e))?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            paths.push(entry.path());
        }
    }
    paths.sort();
    for p in paths {
        match fs::metadata(&p) {
            Ok(m) if m.is_dir() => walk(&p, depth + 1, visited, out)?,
            Ok(m) if m.is_file() => out.push(p),
            Ok(_) => log::warn!("gym.path: skipping {} (not a regular file)", p.display()),
            Err(e) => log::warn!("gym.path: skipping {} ({e})", p.display()),
        }
    }
    Ok(())
}

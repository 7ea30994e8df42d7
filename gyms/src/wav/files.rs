//! Which files `gym.path` names: one file, a directory (every `.wav` / `.wave` file below it,
//! recursively, sorted by path, hidden ones skipped) or a glob pattern (every matching file,
//! sorted).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::GymError;

/// The files named by `path` (resolved against `base_dir` when relative) and the resolved path.
pub fn list_wav_files(path: &str, base_dir: &Path) -> Result<(Vec<PathBuf>, String), GymError> {
    let full = if Path::new(path).is_absolute() || base_dir.as_os_str().is_empty() {
        PathBuf::from(path)
    } else {
        base_dir.join(path)
    };
    let source = full.display().to_string();
    let files = match std::fs::metadata(&full) {
        Ok(m) if m.is_file() => vec![full],
        Ok(m) if m.is_dir() => {
            let mut all = Vec::new();
            crate::text::walk(&full, 0, &mut HashSet::new(), &mut all)?;
            let wavs: Vec<PathBuf> = all.into_iter().filter(|p| is_wav_name(p)).collect();
            if wavs.is_empty() {
                return Err(GymError::Data(format!(
                    "gym.path: directory {source} contains no .wav files"
                )));
            }
            wavs
        }
        Ok(m) => return Err(crate::paths::not_file_or_dir(&source, &m.file_type())),
        Err(_) if path.contains(['*', '?', '[']) => expand(&full, &source)?,
        Err(e) => return Err(crate::paths::unreadable(&source, &e)),
    };
    Ok((files, source))
}

fn is_wav_name(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("wav") || e.eq_ignore_ascii_case("wave"))
}

fn expand(full: &Path, source: &str) -> Result<Vec<PathBuf>, GymError> {
    let pattern = full
        .to_str()
        .ok_or_else(|| GymError::Config(format!("gym.path: {source} is not valid UTF-8")))?;
    let options = glob::MatchOptions {
        require_literal_leading_dot: true,
        ..Default::default()
    };
    let paths = glob::glob_with(pattern, options)
        .map_err(|e| GymError::Config(format!("gym.path: invalid glob pattern {source}: {e}")))?;
    let mut files: Vec<PathBuf> = paths
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    if files.is_empty() {
        return Err(GymError::Data(format!(
            "gym.path: glob pattern {source} matched no files; expected WAV files"
        )));
    }
    files.sort();
    Ok(files)
}

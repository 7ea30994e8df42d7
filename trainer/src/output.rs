//! Where a command may write an output file (`generate-audio --out`, `visualize --out`,
//! `plot --out`). Outputs are written as new regular files (temp file + rename), so the
//! rule is: a missing path or an existing regular file may be replaced; anything else — a
//! symbolic link, a device (`/dev/null` included), a FIFO, a socket, a directory — is never
//! replaced, and neither is a file that a training run's directory owns (its checkpoints,
//! config, logs, lock, rollback states or audio samples).

use std::path::{Path, PathBuf};

use crate::run_dir::RunDir;

/// Why a path cannot be an output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The path exists and is not a regular file.
    #[error("{}: is a {kind}; an output is written as a new regular file and never replaces one (name a file path)", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is ("symbolic link", "character device", …).
        kind: &'static str,
    },
    /// The path is a file of a training run's directory.
    #[error("{}: belongs to the run directory {}; write the output elsewhere", path.display(), run.display())]
    RunFile {
        /// The path.
        path: PathBuf,
        /// The run directory.
        run: PathBuf,
    },
}

/// Checks that `path` may be written (created or replaced) as an output.
pub fn check(path: &Path) -> Result<(), OutputError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if let Some(kind) = not_regular(&meta.file_type()) {
            return Err(OutputError::NotRegular {
                path: path.to_path_buf(),
                kind,
            });
        }
    }
    if let Some(run) = owning_run(path) {
        return Err(OutputError::RunFile {
            path: path.to_path_buf(),
            run,
        });
    }
    Ok(())
}

/// What a non-regular file is, or `None` for a regular file.
fn not_regular(t: &std::fs::FileType) -> Option<&'static str> {
    (!t.is_file()).then(|| rnngym_gyms::paths::file_kind(t))
}

/// The run directory that owns `path`: its parent (a file a run writes) or its grandparent
/// (a file in a run's `rollback/` or `samples/` folder), when that is a run directory.
fn owning_run(path: &Path) -> Option<PathBuf> {
    let nonempty = |p: &Path| {
        if p.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            p.to_path_buf()
        }
    };
    let parent = nonempty(path.parent()?);
    let grand = parent.parent().map(nonempty);
    [Some(parent), grand]
        .into_iter()
        .flatten()
        .find(|dir| is_run_dir(dir) && RunDir::new(dir).owns(path))
}

/// Whether `dir` holds a training run: its lock, or one of its checkpoints.
fn is_run_dir(dir: &Path) -> bool {
    let run = RunDir::new(dir);
    [run.lock(), run.latest(), run.best()]
        .iter()
        .any(|p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_it_must_not_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        // New files and plain existing files are fine.
        check(&d.join("new.wav")).unwrap();
        std::fs::write(d.join("old.wav"), b"x").unwrap();
        check(&d.join("old.wav")).unwrap();

        // A directory and a symbolic link are not replaced.
        let e = check(d).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(d.join("old.wav"), d.join("link.wav")).unwrap();
            let e = check(&d.join("link.wav")).unwrap_err().to_string();
            assert!(e.contains("symbolic link"), "{e}");
            let fifo = d.join("fifo");
            let status = std::process::Command::new("mkfifo").arg(&fifo).status();
            if status.is_ok_and(|s| s.success()) {
                let e = check(&fifo).unwrap_err().to_string();
                assert!(e.contains("FIFO"), "{e}");
            }
        }

        // A run directory's files are refused; the same names elsewhere are not.
        let run = RunDir::new(d.join("run"));
        std::fs::create_dir_all(run.rollback_dir()).unwrap();
        std::fs::write(run.latest(), b"ckpt").unwrap();
        for owned in [
            run.latest(),
            run.best(),
            run.metrics(),
            run.config(),
            run.rollback_dir().join("iter-00000010.safetensors"),
        ] {
            let e = check(&owned).unwrap_err().to_string();
            assert!(e.contains("belongs to the run directory"), "{owned:?}: {e}");
        }
        check(&d.join("run").join("generated.wav")).unwrap();
        check(&d.join("config.toml")).unwrap();
    }
}

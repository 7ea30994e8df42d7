//! The run-directory lock: one training run writes a `checkpoint.dir` at a time.
//!
//! An OS advisory lock (`flock` on Unix, `LockFileEx` on Windows, through std's
//! `File::try_lock`) on `<dir>/train.lock`, which also holds the owner's pid for the message a
//! second run prints. The OS drops the lock when the process ends however it ends, SIGKILL
//! included, so a crashed run never leaves a stale lock behind. The file is never deleted:
//! unlinking a lock file lets a late opener lock the old inode while another locks a new one.
//! On Unix the directory itself is locked as well (its open descriptor, not a path), so even a
//! user deleting `train.lock` during a run cannot let a second run in.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::run_dir::RunDir;

/// Why a run directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "checkpoint.dir {} is in use by another training run ({}); wait for it to finish, or train into another checkpoint.dir",
        dir.display(),
        holder.map_or("pid unknown".to_string(), |p| format!("pid {p}"))
    )]
    Busy {
        /// The run directory.
        dir: PathBuf,
        /// The holder's process id, as it wrote it in the lock file.
        holder: Option<u32>,
    },
    /// The directory or lock file could not be created, opened or locked.
    #[error("cannot lock checkpoint.dir {}: {error}", dir.display())]
    Io {
        /// The run directory.
        dir: PathBuf,
        /// The I/O error (its text is in the message, so it is not also a `source()`).
        error: std::io::Error,
    },
}

/// Holds a run directory's lock until dropped (or until the process ends).
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    /// The locked directory (Unix): what actually keeps a second run out.
    #[cfg(unix)]
    _dir: File,
}

impl RunLock {
    /// Creates `dir` if needed and locks it for this process, without waiting.
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        let io = |error| LockError::Io {
            dir: dir.to_path_buf(),
            error,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        #[cfg(unix)]
        let dir_file = {
            let f = File::open(dir).map_err(io)?;
            match f.try_lock() {
                Ok(()) => f,
                Err(TryLockError::WouldBlock) => {
                    let holder = File::open(RunDir::new(dir).lock())
                        .ok()
                        .and_then(|mut f| holder_pid(&mut f));
                    return Err(LockError::Busy {
                        dir: dir.to_path_buf(),
                        holder,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        };
        let path = RunDir::new(dir).lock();
        // No truncate: the file may belong to a live holder whose pid we want to read.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Busy {
                    dir: dir.to_path_buf(),
                    holder: holder_pid(&mut file),
                })
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()))
            .and_then(|()| file.flush())
            .map_err(io)?;
        Ok(RunLock {
            file,
            path,
            #[cfg(unix)]
            _dir: dir_file,
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; unlocking first just says so.
        let _ = self.file.unlock();
    }
}

/// The pid in a held lock file. The holder writes it right after locking, so an empty file
/// may just be early: look again a few times.
fn holder_pid(file: &mut File) -> Option<u32> {
    for _ in 0..10 {
        let mut text = String::new();
        let read = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_string(&mut text));
        if let Ok(pid) = text.trim().parse() {
            return Some(pid);
        }
        if read.is_err() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_the_holder_pid_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let first = RunLock::acquire(&run).unwrap();
        let me = std::process::id();
        assert_eq!(
            std::fs::read_to_string(first.path()).unwrap(),
            format!("{me}\n")
        );
        // A second open file description conflicts even within one process.
        let err = RunLock::acquire(&run).unwrap_err();
        assert!(
            matches!(err, LockError::Busy { holder: Some(p), .. } if p == me),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&run.display().to_string()) && msg.contains(&format!("pid {me}")),
            "{msg}"
        );
        drop(first);
        let again = RunLock::acquire(&run).unwrap();
        assert!(again.path().is_file());
    }

    #[cfg(unix)]
    #[test]
    fn deleting_the_lock_file_does_not_let_a_second_run_in() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path()).unwrap();
        std::fs::remove_file(first.path()).unwrap();
        let err = RunLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, LockError::Busy { .. }), "{err:?}");
        drop(first);
        RunLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_stale_lock_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        // What a killed run leaves: the file with its pid, but no lock (the OS dropped it).
        std::fs::write(RunDir::new(dir.path()).lock(), "999999999\n").unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
    }

    #[test]
    fn an_unusable_directory_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "x").unwrap();
        let err = RunLock::acquire(&file.join("run")).unwrap_err();
        assert!(matches!(err, LockError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("plain-file"), "{err}");
        // The I/O error's text is in the message; as a source() too it would print twice.
        assert!(std::error::Error::source(&err).is_none(), "{err:?}");
    }
}

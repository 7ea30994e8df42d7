//! What a path names, in words, so that a `gym.path` (or any input path) that is not a file or
//! a directory is reported as what it is — a FIFO, a device, a symbolic-link loop — instead of
//! "no such file".

use std::fs::FileType;
use std::io;

use crate::GymError;

/// What a file type is: "regular file", "directory", "FIFO", "character device", …
pub fn file_kind(t: &FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "character device";
        }
        if t.is_block_device() {
            return "block device";
        }
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_socket() {
            return "socket";
        }
    }
    if t.is_file() {
        "regular file"
    } else if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

/// The error for a `gym.path` that exists but is neither a regular file nor a directory.
pub(crate) fn not_file_or_dir(source: &str, t: &FileType) -> GymError {
    GymError::Config(format!(
        "gym.path: {source} is a {}, neither a regular file nor a directory",
        file_kind(t)
    ))
}

/// The error for a `gym.path` whose metadata cannot be read: missing, or why not (a loop of
/// symbolic links, no permission, …).
pub(crate) fn unreadable(source: &str, e: &io::Error) -> GymError {
    if e.kind() == io::ErrorKind::NotFound {
        GymError::Config(format!("gym.path: no such file or directory: {source}"))
    } else {
        GymError::Config(format!("gym.path: cannot use {source}: {e}"))
    }
}

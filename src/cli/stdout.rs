//! Writing to stdout when its reader may leave early (`rnngym sample | head`): a closed pipe
//! is the normal end of the command, not an error, so it exits 0 and prints nothing.

use std::fmt;
use std::io;

/// stdout's reader closed the pipe: the command stops writing, and `main` exits 0 quietly.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed by its reader")
    }
}

impl std::error::Error for StdoutClosed {}

/// The error of a failed write to stdout: [`StdoutClosed`] for a closed pipe (only stdout's
/// own writes are marked, so a broken pipe elsewhere, to a child process say, stays an error).
pub fn write_error(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(e).context("cannot write to stdout")
    }
}

/// Whether `e` is stdout's reader having left (see [`StdoutClosed`]).
pub fn is_closed(e: &anyhow::Error) -> bool {
    e.downcast_ref::<StdoutClosed>().is_some()
}

/// Whether a panic message is `print!` / `println!` failing on a closed stdout (they panic
/// rather than return the error): the panic hook ends the process quietly with 0 for it.
pub fn is_closed_print_panic(msg: &str) -> bool {
    msg.starts_with("failed printing to stdout")
        && (msg.contains("Broken pipe") || msg.contains("os error 32"))
}

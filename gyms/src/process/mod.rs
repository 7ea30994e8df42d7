//! The process gym (`process-v1`): a gym in any language, run as a child process that speaks
//! the protocol of docs/GYM_PROTOCOL.md on its stdin and stdout. `python/rnngym_gym.py` is
//! the Python side. Unix only (process groups, and on Linux a parent-death signal, keep the
//! child from outliving the trainer).

#[cfg(unix)]
mod child;
#[cfg(unix)]
mod gym;
#[cfg(unix)]
mod link;
mod options;
mod protocol;

#[cfg(unix)]
pub use gym::ProcessGym;
pub use options::{ProcessOptions, DEFAULT_TIMEOUT_S};
pub use protocol::{PROTOCOL, VERSION};

/// The versioned id of the process gym.
pub const ID: &str = "process-v1";

//! [`TrainerError`]: what training, validation, generation and checkpoints can fail with.
//! Library errors are types; each message is printed once in the error chain, and the window
//! errors of a gym (in its own terms) gain the config keys that set the window's shape.

use std::path::PathBuf;

use rnngym_gyms::{GymError, WindowError};
use rnngym_kernels::KernelError;

use crate::budget;
use crate::checkpoint::CheckpointError;
use crate::optim::StateError;
use crate::state;

/// Errors from training, validation, generation and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum TrainerError {
    /// A numeric backend failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The gym failed (a window it cannot serve is [`TrainerError::Window`]).
    #[error(transparent)]
    Gym(GymError),
    /// The gym cannot serve windows of `train.batch` lanes × `train.seq_len` steps.
    #[error("{}", window_message(.0))]
    Window(WindowError),
    /// A checkpoint file could not be written or read.
    #[error(transparent)]
    CheckpointFile(#[from] CheckpointError),
    /// A checkpoint's data cursor does not fit the gym's data: replaying it failed.
    #[error(
        "{}: its data cursor (episode {episode}, window {window}) does not fit this gym's data \
         ({error}); the checkpoint is damaged or the corpus changed since it was written",
        path.display()
    )]
    DamagedCursor {
        /// The checkpoint.
        path: PathBuf,
        /// The saved episode.
        episode: u64,
        /// The saved window within it.
        window: u64,
        /// What the gym said.
        error: GymError,
    },
    /// A checkpoint's metadata could not be encoded.
    #[error("cannot encode checkpoint metadata: {error}")]
    Metadata {
        /// Why.
        error: serde_json::Error,
    },
    /// A checkpoint's optimizer state does not fit this run's optimizer.
    #[error("{}: {error}", path.display())]
    OptimizerState {
        /// The checkpoint (or "rollback snapshot").
        path: PathBuf,
        /// What is wrong with it.
        error: StateError,
    },
    /// A file or folder of the run directory could not be created or written.
    #[error("{}: {action}: {error}", path.display())]
    RunDir {
        /// The file or folder.
        path: PathBuf,
        /// What was being done ("cannot create").
        action: &'static str,
        /// Why it failed.
        error: std::io::Error,
    },
    /// The run directory is locked by another trainer or cannot be locked.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// A checkpoint file's contents cannot be used (the message names the file).
    #[error(transparent)]
    CheckpointContents(Box<state::ContentsError>),
    /// The processes of a data-parallel job could not work together.
    #[error(transparent)]
    Dist(#[from] crate::dist::DistError),
    /// The model or batch cannot fit (the message names the keys to change).
    #[error(transparent)]
    Budget(#[from] budget::BudgetError),
    /// The loss or the gradients stopped being finite.
    #[error("{0}")]
    Diverged(String),
    /// The configuration cannot be used.
    #[error("{0}")]
    Config(String),
    /// The stop flag was raised; `checkpoint` holds the state after `iteration` iterations.
    #[error("interrupted after iteration {iteration}; checkpoint {}", checkpoint.display())]
    Interrupted {
        /// Iterations completed.
        iteration: u64,
        /// The checkpoint written on the way out.
        checkpoint: PathBuf,
    },
}

/// By hand rather than `#[from]` so that every `?` on a gym call turns a window the gym cannot
/// serve into [`TrainerError::Window`], which names the config keys that set the shape.
impl From<GymError> for TrainerError {
    fn from(e: GymError) -> Self {
        match e {
            GymError::Window(w) => TrainerError::Window(w),
            other => TrainerError::Gym(other),
        }
    }
}

/// The gym's own words about the window, then the config keys that set its shape.
fn window_message(e: &WindowError) -> String {
    match e {
        WindowError::Empty { .. } => {
            format!("{e}; train.batch and train.seq_len must both be at least 1")
        }
        WindowError::Overflow { .. } | WindowError::TooSmall { .. } => {
            format!("{e}; lower train.batch or train.seq_len")
        }
    }
}

//! `GymError` and the typed failures inside it. Gyms speak of their own terms (lanes, steps,
//! `gym.*` keys); the trainer and the CLI add the config keys and flags that set them.

/// Errors raised by gyms and codecs; messages name the file / key / value involved.
#[derive(Debug, thiserror::Error)]
pub enum GymError {
    /// Reading a corpus file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file or pattern involved.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The data cannot be used as configured (empty corpus, split too small, ...).
    #[error("{0}")]
    Data(String),
    /// A gym option or id is invalid.
    #[error("{0}")]
    Config(String),
    /// The data cannot serve windows of the asked shape.
    #[error(transparent)]
    Window(#[from] WindowError),
    /// Text to encode holds a value the codec has no token for.
    #[error("{message}")]
    NotInVocabulary {
        /// The value as written (a character, `⟨17⟩`, a sample word).
        value: String,
        /// Where it is in the text (characters, or words for audio), from 0.
        position: usize,
        /// The whole line: the value, where it is, and what the vocabulary holds.
        message: String,
    },
    /// Text to encode is not in the codec's written form (skipping cannot help).
    #[error("{0}")]
    Syntax(String),
    /// A gym broke the gym contract (found by `check_gym` or the trainer).
    #[error("gym contract violated: {0}")]
    Contract(String),
    /// A gym running as a child process (`process-v1`) failed: it could not start, exited,
    /// hung past its timeout, or broke the protocol. The message ends with the tail of the
    /// child's stderr.
    #[error("{} gym '{command}': {message}", crate::process::ID)]
    Process {
        /// The child's command line, as configured.
        command: String,
        /// What went wrong, when, and what the child last wrote to stderr.
        message: String,
    },
}

/// A window shape (`batch` lanes × `seq` steps) that a gym cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// No lanes or no steps.
    #[error("a window of {batch} lanes × {seq} steps is empty")]
    Empty {
        /// B: lanes asked for.
        batch: usize,
        /// T: steps asked for.
        seq: usize,
    },
    /// `batch × seq` does not fit in a `usize`.
    #[error("a window of {batch} lanes × {seq} steps overflows")]
    Overflow {
        /// B: lanes asked for.
        batch: usize,
        /// T: steps asked for.
        seq: usize,
    },
    /// The data is too short for one window.
    #[error("{message}")]
    TooSmall {
        /// What is too short, the window it cannot fill, and the gym-side remedy if any.
        message: String,
        /// B: lanes asked for.
        batch: usize,
        /// T: steps asked for.
        seq: usize,
    },
}

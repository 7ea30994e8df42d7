//! The built-in text gym (`text-v1`): a UTF-8 corpus (file, directory or glob) served as
//! char-rnn style windows over a [`crate::CharCodec`] vocabulary.

mod corpus;
mod encode;
mod gym;
mod stream;
mod vocab;

pub use crate::cache::DEFAULT_IN_MEMORY_MB;
pub(crate) use corpus::walk;
pub use corpus::{load_corpus, resolve_files, Corpus};
pub use encode::TextOptions;
pub use gym::TextGym;

/// The versioned id of the text gym.
pub const ID: &str = "text-v1";

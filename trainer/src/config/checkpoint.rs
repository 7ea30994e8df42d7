//! `[checkpoint]`: where and how often to save.

use serde::{Deserialize, Serialize};

/// `[checkpoint]`: where and how often to save.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Run directory for checkpoints and logs.
    pub dir: String,
    /// Iterations between checkpoints (0 = only at the end).
    pub every: u64,
    /// Also keep the checkpoint with the best validation loss.
    pub keep_best: bool,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            dir: "runs/default".to_string(),
            every: 500,
            keep_best: true,
        }
    }
}

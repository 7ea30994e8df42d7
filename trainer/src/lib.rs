//! rnngym's trainer: recurrent models written once against the `Backend` trait, optimizers,
//! the episode-based [`Trainer`] with observers, checkpoints and sampling.

pub mod budget;
pub mod cell;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod dist;
pub mod eval;
pub mod fsutil;
pub mod generate;
pub mod lock;
pub mod model;
pub mod observer;
pub mod observers;
pub mod optim;
pub mod output;
pub mod plan;
pub mod run_dir;
pub mod sample;
pub mod state;
pub mod trainer;

pub use config::{CellKind, Config};
pub use model::{Model, ModelDims, Workspace};
pub use observer::{AudioClip, LogObserver, Observer, Rollback, TrainSample, Update, ValMetrics};
pub use run_dir::{CheckpointKind, RunDir};
pub use trainer::{check_splits, Divergence, Gradients, Learner, Trainer, TrainerError};

//! The data check a run starts with: each split it uses can serve one window of
//! `train.batch × train.seq_len`. `Trainer::new` applies it, and so does `rnngym check-gym`,
//! so that a gym the check passes is one that training accepts.

use rnngym_gyms::{Gym, Shape, Split};

use super::TrainerError;
use crate::config::Config;

/// Whether a run with `cfg` validates (it does whenever `gym.val_fraction` holds data back).
pub(crate) fn validates(cfg: &Config) -> bool {
    cfg.gym.val_fraction > 0.0
}

/// The window shape a run with `cfg` trains and validates on.
pub(crate) fn shape(cfg: &Config) -> Shape {
    Shape {
        batch: cfg.train.batch,
        seq: cfg.train.seq_len,
    }
}

/// Fails, with the gym's message plus the config keys that set the window, unless the train
/// split, and the validation split when the run validates, can each serve one window of
/// `train.batch × train.seq_len`. Leaves `gym` with no episode under way.
pub fn check_splits(gym: &mut dyn Gym, cfg: &Config) -> Result<(), TrainerError> {
    let shape = shape(cfg);
    gym.reset(Split::Train, 0, shape)?;
    if validates(cfg) {
        gym.reset(Split::Val, 0, shape)?;
    }
    Ok(())
}

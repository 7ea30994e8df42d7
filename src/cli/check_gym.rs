//! `rnngym check-gym`: the conformance suite on a configured gym.

use rnngym_gyms::{check_gym_with, GymRegistry, Shape};
use rnngym_trainer::TrainerError;

use super::ConfigArgs;

/// Arguments of `rnngym check-gym`.
#[derive(clap::Args, Debug)]
pub struct CheckGymArgs {
    #[command(flatten)]
    cfg: ConfigArgs,
}

/// Builds the gym and runs `check_gym` with the config's batch and sequence length.
pub fn run(a: CheckGymArgs, registry: &GymRegistry) -> anyhow::Result<()> {
    let cfg = a.cfg.load()?;
    let mut gym = registry.make(&cfg.gym)?;
    let shape = Shape {
        batch: cfg.train.batch,
        seq: cfg.train.seq_len,
    };
    // The splits `rnngym train` would use must serve its windows, checked by the same
    // function and so failing with the same message (a passed check means training starts).
    rnngym_trainer::check_splits(gym.as_mut(), &cfg)?;
    // Through TrainerError for the same train.batch / train.seq_len hint as `rnngym train`.
    let report =
        check_gym_with(gym.as_mut(), shape, registry.codecs()).map_err(TrainerError::from)?;
    println!("gym {} passed the conformance suite", cfg.gym.id);
    println!("{report}");
    Ok(())
}

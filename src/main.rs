//! `rnngym`: train recurrent networks on gyms, sample from checkpoints, check gyms.

use std::process::ExitCode;

use rnngym_gyms::GymRegistry;

fn main() -> ExitCode {
    rnngym::cli::main_with(GymRegistry::with_builtins())
}

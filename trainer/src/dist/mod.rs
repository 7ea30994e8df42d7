//! Data parallelism: the [`Collective`] operations a training step needs from its peers, the
//! one-process [`Single`], MPI's implementation behind the `mpi` cargo feature, the [`Shard`]
//! of the batch each process computes and the [`RankGym`] that serves it, and [`connect`], which joins the job a launcher
//! (`mpirun`, `srun`) started, and [`Watched`], the watchdog that ends a job whose ranks wait
//! on one that stopped responding. MPI types stay in `mpi.rs`; everything else sees the trait.

mod collective;
mod connect;
mod error;
#[cfg(feature = "mpi")]
mod mpi;
mod shard;
mod watchdog;

pub use collective::{Collective, Single};
pub use connect::{connect, is_launcher_root, launcher_local_rank, launcher_world, Session};
pub use error::DistError;
pub use shard::{RankGym, Shard};
pub use watchdog::Watched;

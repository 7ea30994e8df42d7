//! Data parallelism: the [`Collective`] operations a training step needs from its peers, the
//! one-process [`Single`], MPI's implementation behind the `mpi` cargo feature, and
//! [`ThreadGroup`] (ranks as threads of one process); the [`Shard`] of the batch each rank
//! computes and the [`RankGym`] that serves it; [`connect`], which joins the job a launcher
//! (`mpirun`, `srun`) started; and [`Watched`], the watchdog that ends a job whose ranks wait
//! on one that stopped responding. MPI types stay in `mpi.rs`; everything else sees the trait.

mod collective;
mod connect;
mod error;
#[cfg(feature = "mpi")]
mod mpi;
mod shard;
mod threads;
mod watchdog;

pub use collective::{Collective, Single};
pub use connect::{connect, is_launcher_root, launcher_local_rank, launcher_world, Session};
pub use error::DistError;
pub use shard::{RankGym, Shard};
pub use threads::ThreadGroup;
pub use watchdog::Watched;

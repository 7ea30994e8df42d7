//! Errors of the distributed layer.

/// What went wrong joining or talking to the other processes of a job.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// Started by a launcher with several processes, but built without MPI.
    #[error(
        "started as one of {world} processes ({var} = {world}), but this rnngym was built \
         without MPI; build it with `cargo build --release --features mpi` (needs Open MPI: \
         apt-get install openmpi-bin libopenmpi-dev libclang-dev)"
    )]
    NoMpi {
        /// The launcher's process count.
        world: usize,
        /// The environment variable that says so.
        var: &'static str,
    },
    /// `train.batch` cannot be split evenly over the processes.
    #[error("train.batch = {batch} is not divisible by the {world} processes of this job; use a multiple of {world}")]
    Indivisible {
        /// The global batch.
        batch: usize,
        /// The processes.
        world: usize,
    },
    /// MPI could not be initialised.
    #[error("cannot initialise MPI: {0}")]
    Init(String),
    /// A collective was given buffers that do not fit.
    #[error("{0}")]
    Shape(String),
}

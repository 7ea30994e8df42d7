//! Joining the job: how many processes the launcher started, and the [`Session`] that holds
//! MPI open for as long as the process trains.

use std::sync::Arc;

use super::{Collective, DistError, Single};

/// The variables launchers set to the number of processes in the job: Open MPI's `mpirun`,
/// then PMI (MPICH, Intel MPI, `srun --mpi=pmi2`). `SLURM_NTASKS` is left out on purpose: it
/// is set in every step of a Slurm allocation, even for a single-process command.
const WORLD_VARS: [&str; 2] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"];
/// The variables launchers set to this process's rank, in the same order.
const RANK_VARS: [&str; 3] = ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"];

/// The process count the launcher announced, with the variable that says so (`None` when the
/// process was not started by one, or by one with a single process).
pub fn launcher_world() -> Option<(usize, &'static str)> {
    WORLD_VARS.iter().find_map(|&var| {
        let n: usize = std::env::var(var).ok()?.trim().parse().ok()?;
        (n > 1).then_some((n, var))
    })
}

/// The variables launchers set to this process's index among the job's processes on its node:
/// Open MPI, MPICH / Intel MPI (Hydra), Slurm.
const LOCAL_RANK_VARS: [&str; 3] = [
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "MPI_LOCALRANKID",
    "SLURM_LOCALID",
];

/// This process's index on its node as the launcher announced it (`None` when there is none),
/// which picks its GPU.
pub fn launcher_local_rank() -> Option<usize> {
    LOCAL_RANK_VARS
        .iter()
        .find_map(|&var| std::env::var(var).ok()?.trim().parse().ok())
}

/// This process's rank as the launcher announced it (0 when there is none).
fn launcher_rank() -> usize {
    RANK_VARS
        .iter()
        .find_map(|&var| std::env::var(var).ok()?.trim().parse().ok())
        .unwrap_or(0)
}

/// The open connection to the job's other processes: MPI stays initialised until it is
/// dropped (which finalises it, so drop it last, after every collective has completed).
pub struct Session {
    comm: Arc<dyn Collective>,
    #[cfg(feature = "mpi")]
    _mpi: Option<super::mpi::Guard>,
}

impl Session {
    /// The communicator, for the trainer.
    pub fn comm(&self) -> Arc<dyn Collective> {
        self.comm.clone()
    }

    /// A session of one process, whatever the launcher says.
    pub fn single() -> Self {
        Session {
            comm: Arc::new(Single),
            #[cfg(feature = "mpi")]
            _mpi: None,
        }
    }
}

/// Joins the job this process belongs to. With the `mpi` feature: MPI's world (a process not
/// started by a launcher is rank 0 of 1). Without it: [`Single`], or, when a launcher started
/// several processes, [`DistError::NoMpi`] — training N independent copies silently would be
/// worse than refusing. The error is also returned on every rank but the launcher's rank 0 as
/// [`DistError::NoMpi`]; print it only where [`is_launcher_root`] says so.
pub fn connect() -> Result<Session, DistError> {
    #[cfg(feature = "mpi")]
    {
        let (guard, comm) = super::mpi::init()?;
        Ok(Session {
            comm,
            _mpi: Some(guard),
        })
    }
    #[cfg(not(feature = "mpi"))]
    {
        match launcher_world() {
            Some((world, var)) => Err(DistError::NoMpi { world, var }),
            None => Ok(Session::single()),
        }
    }
}

/// Whether this process is rank 0 as far as the launcher's variables say (for messages that
/// should be printed once before MPI is up).
pub fn is_launcher_root() -> bool {
    launcher_rank() == 0
}

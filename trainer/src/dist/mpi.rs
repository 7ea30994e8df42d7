//! The [`Collective`] over MPI (rsmpi over Open MPI), behind the `mpi` cargo feature. MPI's
//! default error handler, `MPI_ERRORS_ARE_FATAL`, is kept on purpose: a collective that fails
//! (a peer died) ends the whole job at once instead of leaving ranks waiting.

use std::sync::Arc;

use mpi::collective::SystemOperation;
use mpi::environment::{Threading, Universe};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::*;

use super::{Collective, DistError};

/// Keeps MPI initialised; dropping it finalises MPI.
pub(crate) struct Guard(#[allow(dead_code)] Universe);

/// `MPI_COMM_WORLD`. The handle is a constant, so this holds no MPI object and is `Send` and
/// `Sync`; MPI is only ever called from the thread that initialised it (`Funneled`).
#[derive(Clone, Copy, Debug)]
struct World {
    rank: usize,
    world: usize,
}

fn comm() -> SimpleCommunicator {
    SimpleCommunicator::world()
}

/// Initialises MPI (funneled: the compute threads never call it) and returns its world.
pub(crate) fn init() -> Result<(Guard, Arc<dyn Collective>), DistError> {
    let (universe, _) = mpi::initialize_with_threading(Threading::Funneled)
        .ok_or_else(|| DistError::Init("MPI was already initialised".into()))?;
    let w = universe.world();
    let world = World {
        rank: w.rank() as usize,
        world: w.size() as usize,
    };
    Ok((Guard(universe), Arc::new(world)))
}

impl Collective for World {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world(&self) -> usize {
        self.world
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), DistError> {
        let send = buf.to_vec();
        comm().all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), DistError> {
        let send = buf.to_vec();
        comm().all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }
    fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<f32>, DistError> {
        let mut out = vec![0.0f32; local.len() * self.world];
        comm().all_gather_into(local, &mut out[..]);
        Ok(out)
    }
    fn broadcast_bytes(&self, buf: &mut [u8]) -> Result<(), DistError> {
        comm().process_at_rank(0).broadcast_into(buf);
        Ok(())
    }
    fn barrier(&self) -> Result<(), DistError> {
        comm().barrier();
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        comm().abort(code)
    }
}

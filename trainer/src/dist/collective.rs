//! The operations a data-parallel step needs from its peers, and [`Single`], the job of one
//! process, for which each is a no-op.

use super::DistError;

/// The processes of one training job, seen from one of them (its rank). Every process calls
/// the same operations in the same order; each returns when all have contributed.
pub trait Collective: Send + Sync {
    /// This process's index, `0..world()`; rank 0 owns the run directory.
    fn rank(&self) -> usize;
    /// The number of processes.
    fn world(&self) -> usize;
    /// Replaces `buf` on every rank by the element-wise sum over the ranks.
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), DistError>;
    /// [`Collective::all_reduce_sum_f32`] in f64 (losses, counters).
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), DistError>;
    /// Every rank's `local` (all the same length), concatenated in rank order.
    fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<f32>, DistError>;
    /// Replaces `buf` on every rank by rank 0's (all the same length).
    fn broadcast_bytes(&self, buf: &mut [u8]) -> Result<(), DistError>;
    /// Returns when every rank has called it.
    fn barrier(&self) -> Result<(), DistError>;
    /// Ends every process of the job at once with exit status `code` (after an error on this
    /// rank, the others may be waiting in a collective that will never complete).
    fn abort(&self, code: i32) -> !;
}

/// The job of one process: rank 0 of 1.
#[derive(Clone, Copy, Debug, Default)]
pub struct Single;

impl Collective for Single {
    fn rank(&self) -> usize {
        0
    }
    fn world(&self) -> usize {
        1
    }
    fn all_reduce_sum_f32(&self, _buf: &mut [f32]) -> Result<(), DistError> {
        Ok(())
    }
    fn all_reduce_sum_f64(&self, _buf: &mut [f64]) -> Result<(), DistError> {
        Ok(())
    }
    fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<f32>, DistError> {
        Ok(local.to_vec())
    }
    fn broadcast_bytes(&self, _buf: &mut [u8]) -> Result<(), DistError> {
        Ok(())
    }
    fn barrier(&self) -> Result<(), DistError> {
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

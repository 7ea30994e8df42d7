//! `rnngym train` as one rank of a data-parallel job: joining it, agreeing that every rank is
//! ready before the first collective, and ending the job when one rank fails during training.
//! See docs/DISTRIBUTED.md.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rnngym_trainer::dist::{self, Collective, DistError, Session};

/// An error another rank has already reported: the job stops, this rank prints nothing.
#[derive(Debug)]
pub(crate) struct Quiet;

impl std::fmt::Display for Quiet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("another rank of the job failed")
    }
}

impl std::error::Error for Quiet {}

/// Joins the job (a single process unless a launcher started several); ranks other than 0 log
/// warnings and errors only. A build without MPI started as one of several processes fails,
/// saying so on the launcher's rank 0 only, so that the line shows once.
pub(crate) fn join() -> anyhow::Result<Session> {
    let session = match dist::connect() {
        Ok(s) => s,
        Err(e @ DistError::NoMpi { .. }) if dist::is_launcher_root() => return Err(e.into()),
        Err(DistError::NoMpi { .. }) => return Err(Quiet.into()),
        Err(e) => return Err(e.into()),
    };
    if session.comm().rank() > 0 {
        log::set_max_level(log::LevelFilter::Warn);
    }
    if session.comm().world() > 1 {
        *joined() = Some(session.comm());
    }
    Ok(session)
}

/// The job this process is a rank of, from [`join`] until [`leave`], for the panic hook.
fn joined() -> std::sync::MutexGuard<'static, Option<Arc<dyn Collective>>> {
    static JOB: Mutex<Option<Arc<dyn Collective>>> = Mutex::new(None);
    JOB.lock().unwrap_or_else(|p| p.into_inner())
}

/// Leaves the job: every rank is past its last collective, so MPI is finalised.
pub(crate) fn leave(session: Session) {
    joined().take();
    drop(session);
}

/// Called by the panic hook once it printed its line: a panic on one rank of a multi-rank job
/// ends every rank at once. Unwinding would reach `MPI_Finalize`, which waits for the other
/// ranks, while they wait for this one in the next collective: the job would hang.
pub(crate) fn abort_if_joined() {
    let job = joined().clone();
    if let Some(comm) = job {
        comm.abort(101)
    }
}

/// Every rank's setup (config, gym, trainer, run directory) succeeded, or every rank stops:
/// a rank that failed alone would leave the others waiting in the first collective. The
/// failure is reported once: rank 0's message if rank 0 failed, else the failed ranks'.
pub(crate) fn agree<T>(comm: &dyn Collective, setup: anyhow::Result<T>) -> anyhow::Result<T> {
    if comm.world() == 1 {
        return setup;
    }
    let failed = setup.is_err();
    let root_failed = failed && comm.rank() == 0;
    let mut v = [
        f64::from(u8::from(failed)),
        f64::from(u8::from(root_failed)),
    ];
    comm.all_reduce_sum_f64(&mut v)?;
    if v[0] == 0.0 {
        return setup;
    }
    // The reporting ranks print before any rank exits: mpirun ends the job as soon as one
    // rank exits non-zero, and a line still to be printed would be lost with it.
    if let Err(e) = setup {
        if comm.rank() == 0 || v[1] == 0.0 {
            super::print_error(&with_rank(comm, e));
        }
    }
    comm.barrier()?;
    Err(Quiet.into())
}

/// Ends the whole job after `e` ended training on this rank: the other ranks may be waiting
/// in a collective this rank will never join. Rank 0 reports and aborts at once; other ranks
/// wait a moment first, so that an error every rank meets (a divergence) is printed once, by
/// rank 0, whose abort ends them before they print.
pub(crate) fn abort_job(comm: &Arc<dyn Collective>, e: anyhow::Error) -> ! {
    if comm.rank() > 0 {
        std::thread::sleep(Duration::from_secs(2));
    }
    super::print_error(&with_rank(comm.as_ref(), e));
    comm.abort(1)
}

/// `e`, prefixed with "rank R of N" on ranks other than 0 (rank 0 speaks for the job).
fn with_rank(comm: &dyn Collective, e: anyhow::Error) -> anyhow::Error {
    match comm.rank() {
        0 => e,
        r => e.context(format!("rank {r} of {}", comm.world())),
    }
}

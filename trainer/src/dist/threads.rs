//! [`ThreadGroup`]: the ranks of a data-parallel job as threads of one process, connected
//! through shared memory. It runs the same trainer code as MPI ranks do (one [`Trainer`] per
//! thread, each with its own backend, e.g. one GPU each) without an MPI launcher: the tests use
//! it to check N-rank training against one rank on one machine, and the GPU bundle to check
//! NCCL on a machine with several GPUs and no MPI.
//!
//! [`Trainer`]: crate::Trainer

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::{Collective, DistError};

/// What one rank contributes to an exchange.
#[derive(Clone, Debug)]
enum Payload {
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bytes(Vec<u8>),
}

impl Payload {
    fn f32s(&self) -> Option<&[f32]> {
        match self {
            Payload::F32(v) => Some(v),
            _ => None,
        }
    }
    fn f64s(&self) -> Option<&[f64]> {
        match self {
            Payload::F64(v) => Some(v),
            _ => None,
        }
    }
}

/// The exchange in progress: the contributions so far and the last completed round's.
#[derive(Default)]
struct Round {
    /// Completed exchanges; a rank waits until this moves past the round it joined.
    generation: u64,
    slots: Vec<Option<Payload>>,
    arrived: usize,
    /// The last completed round's contributions, in rank order.
    done: Arc<Vec<Payload>>,
}

struct Shared {
    world: usize,
    round: Mutex<Round>,
    moved: Condvar,
}

/// One rank of a group of threads; every rank must call the same operations in the same order.
pub struct ThreadGroup {
    shared: Arc<Shared>,
    rank: usize,
}

impl ThreadGroup {
    /// The `world` ranks of a new group, in rank order (hand one to each thread).
    pub fn new(world: usize) -> Vec<ThreadGroup> {
        let shared = Arc::new(Shared {
            world,
            round: Mutex::new(Round {
                slots: vec![None; world],
                ..Round::default()
            }),
            moved: Condvar::new(),
        });
        (0..world)
            .map(|rank| ThreadGroup {
                shared: shared.clone(),
                rank,
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Round> {
        // A rank that panicked holding the lock leaves a consistent round (slots are written
        // whole), so the others can go on and fail their own way.
        self.shared.round.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every rank's `mine`, in rank order, once all have called it.
    fn exchange(&self, mine: Payload) -> Arc<Vec<Payload>> {
        let world = self.shared.world;
        let mut r = self.lock();
        let joined = r.generation;
        r.slots[self.rank] = Some(mine);
        r.arrived += 1;
        if r.arrived == world {
            let all = r
                .slots
                .iter_mut()
                .map(|s| s.take().expect("every rank arrived"));
            r.done = Arc::new(all.collect());
            r.arrived = 0;
            r.generation += 1;
            self.shared.moved.notify_all();
        } else {
            while r.generation == joined {
                r = self.shared.moved.wait(r).unwrap_or_else(|p| p.into_inner());
            }
        }
        // The next round cannot complete before this rank joins it, so `done` is still ours.
        r.done.clone()
    }
}

/// A payload of another kind than every rank's call asked for: ranks called different
/// operations, which is a bug in the caller.
fn mismatch(what: &str) -> DistError {
    DistError::Init(format!(
        "thread ranks called different collectives (this one {what})"
    ))
}

/// Every rank's contribution seen through `view`, or the mismatch error when a rank's is of
/// another kind.
fn parts<'a, T>(
    all: &'a [Payload],
    view: impl Fn(&'a Payload) -> Option<&'a [T]>,
    what: &str,
) -> Result<Vec<&'a [T]>, DistError> {
    all.iter()
        .map(view)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| mismatch(what))
}

/// The element-wise sum of `all` in rank order (the same bits on every rank), into `buf`.
fn sum_into<T: Copy + std::ops::Add<Output = T>>(
    all: &[&[T]],
    buf: &mut [T],
) -> Result<(), DistError> {
    if all.iter().any(|v| v.len() != buf.len()) {
        return Err(mismatch("summed buffers of different lengths"));
    }
    for (i, out) in buf.iter_mut().enumerate() {
        let mut s = all[0][i];
        for v in &all[1..] {
            s = s + v[i];
        }
        *out = s;
    }
    Ok(())
}

impl Collective for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world(&self) -> usize {
        self.shared.world
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), DistError> {
        let all = self.exchange(Payload::F32(buf.to_vec()));
        sum_into(&parts(&all, Payload::f32s, "reduced f32")?, buf)
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), DistError> {
        let all = self.exchange(Payload::F64(buf.to_vec()));
        sum_into(&parts(&all, Payload::f64s, "reduced f64")?, buf)
    }
    fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<f32>, DistError> {
        let all = self.exchange(Payload::F32(local.to_vec()));
        let mut out = Vec::with_capacity(local.len() * all.len());
        for p in all.iter() {
            match p.f32s() {
                Some(v) if v.len() == local.len() => out.extend_from_slice(v),
                _ => return Err(mismatch("gathered f32")),
            }
        }
        Ok(out)
    }
    fn broadcast_bytes(&self, buf: &mut [u8]) -> Result<(), DistError> {
        let all = self.exchange(Payload::Bytes(buf.to_vec()));
        match &all[0] {
            Payload::Bytes(v) if v.len() == buf.len() => {
                buf.copy_from_slice(v);
                Ok(())
            }
            _ => Err(mismatch("broadcast bytes")),
        }
    }
    fn barrier(&self) -> Result<(), DistError> {
        self.exchange(Payload::Bytes(Vec::new()));
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn three_thread_ranks_reduce_gather_and_broadcast_in_rank_order() {
        let ranks = ThreadGroup::new(3);
        let out: Vec<_> = thread::scope(|s| {
            let handles: Vec<_> = ranks
                .iter()
                .map(|g| {
                    s.spawn(move || {
                        let r = g.rank() as f32;
                        let mut results = Vec::new();
                        // Many rounds, so a fast rank running ahead would show.
                        for round in 0..200 {
                            let mut v = [r + round as f32, 1.0];
                            g.all_reduce_sum_f32(&mut v).unwrap();
                            let mut d = [f64::from(r) * 0.5];
                            g.all_reduce_sum_f64(&mut d).unwrap();
                            let all = g.all_gather_f32(&[r, -r]).unwrap();
                            let mut b = [g.rank() as u8 + 10; 4];
                            g.broadcast_bytes(&mut b).unwrap();
                            g.barrier().unwrap();
                            results.push((v, d, all, b));
                        }
                        results
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for per_rank in &out {
            for (round, (v, d, all, b)) in per_rank.iter().enumerate() {
                assert_eq!(*v, [3.0 + 3.0 * round as f32, 3.0]);
                assert_eq!(*d, [1.5]);
                assert_eq!(*all, vec![0.0, -0.0, 1.0, -1.0, 2.0, -2.0]);
                assert_eq!(*b, [10; 4]);
            }
        }
    }

    #[test]
    fn ranks_calling_different_collectives_get_an_error() {
        let ranks = ThreadGroup::new(2);
        let errs: Vec<bool> = thread::scope(|s| {
            let a = s.spawn(|| ranks[0].all_reduce_sum_f32(&mut [1.0]).is_err());
            let b = s.spawn(|| ranks[1].all_reduce_sum_f64(&mut [1.0]).is_err());
            vec![a.join().unwrap(), b.join().unwrap()]
        });
        assert_eq!(errs, vec![true, true]);
    }
}

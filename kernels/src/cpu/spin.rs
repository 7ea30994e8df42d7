//! A second thread kept hot for batch-1 generation: each generated token runs a few GEMVs of
//! tens of microseconds, and handing half of one to a rayon worker costs a wake-up of several
//! µs, which eats the gain. This worker spins on an atomic counter
//! for a while after each job, so the next hand-off costs a cache-line transfer, and parks
//! only after [`HELPER_SPIN`] of idleness (so an idle process does not burn a core).
//!
//! On a busy machine the worker may not get a core for a long while. So a job is claimed
//! before it runs, and the caller, once done with its own half, claims the worker's half too
//! if the worker has not started it: a hand-off then never waits on a thread the OS is not
//! running (a stall of 30–60× was measured before, issue 20).

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::tuning::HELPER_SPIN as SPIN;

/// A borrowed job; valid only while [`Helper::join`] that posted it has not returned.
type Job = *const (dyn Fn() + Sync);

struct Shared {
    /// Number of jobs posted.
    posted: AtomicU64,
    /// Number of jobs finished (or taken back by their caller).
    done: AtomicU64,
    /// Number of jobs claimed, by the worker or taken back by the caller: job `n` runs where
    /// the claim `n - 1 → n` succeeded, and only there.
    claimed: AtomicU64,
    /// Set while the worker sleeps in `park`.
    parked: AtomicBool,
    stop: AtomicBool,
    /// Set when a job panicked on the worker.
    panicked: AtomicBool,
    /// The current job: written by `join` before `posted` is bumped (Release), read by the
    /// worker after it sees the bump (Acquire).
    job: UnsafeCell<Option<Job>>,
}

impl Shared {
    /// Nothing posted, nothing claimed.
    fn new() -> Self {
        Shared {
            posted: AtomicU64::new(0),
            done: AtomicU64::new(0),
            claimed: AtomicU64::new(0),
            parked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            job: UnsafeCell::new(None),
        }
    }
}

// SAFETY: `job` is only written by the thread holding `Helper::busy` while the worker is
// idle (done == posted), and only read by the worker between the bump of `posted` and its
// bump of `done`; the atomics order the two.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

/// The hot second thread; one job at a time (others fall back, see [`Helper::join`]).
pub(crate) struct Helper {
    shared: Arc<Shared>,
    busy: Mutex<()>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Helper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Helper")
    }
}

impl Helper {
    /// Starts the worker thread; `None` when the OS refuses a thread.
    pub(crate) fn start() -> Option<Helper> {
        let shared = Arc::new(Shared::new());
        let s = shared.clone();
        let worker = thread::Builder::new()
            .name("rnngym-gemv".into())
            .spawn(move || work(&s))
            .ok()?;
        Some(Helper {
            shared,
            busy: Mutex::new(()),
            worker: Some(worker),
        })
    }

    /// Runs `a` on the worker and `b` on the calling thread, and returns when both are done.
    /// When another caller is using the worker, runs both here, one after the other.
    pub(crate) fn join(&self, a: &(dyn Fn() + Sync), b: impl FnOnce()) {
        let Ok(_guard) = self.busy.try_lock() else {
            a();
            b();
            return;
        };
        let s = &*self.shared;
        // SAFETY: we hold `busy` and the worker is idle (every earlier job was waited for),
        // so nothing else reads or writes `job`. The lifetime is erased: this call does not
        // return before the worker has finished with `a` (the wait below).
        unsafe {
            let job: Job = std::mem::transmute::<&(dyn Fn() + Sync), Job>(a);
            *s.job.get() = Some(job);
        }
        // SeqCst here and around the worker's park: each side stores, then loads what the
        // other stored, which only total order makes safe (else both could miss the other).
        let n = s.posted.fetch_add(1, Ordering::SeqCst) + 1;
        if s.parked.load(Ordering::SeqCst) {
            if let Some(w) = &self.worker {
                w.thread().unpark();
            }
        }
        {
            // Waits for the worker when dropped, also if `b` panics: `a` must outlive its use.
            let wait = Wait { s, n };
            b();
            // The worker has not started `a` (it has no core, or has not woken): run it here.
            if s.claimed
                .compare_exchange(n - 1, n, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                std::mem::forget(wait);
                a();
                return;
            }
        }
        if s.panicked.swap(false, Ordering::AcqRel) {
            panic!("a job on the rnngym-gemv thread panicked");
        }
    }
}

/// Spins, then yields, until the worker has finished job `n` (its core may be taken by the
/// OS for a while).
struct Wait<'a> {
    s: &'a Shared,
    n: u64,
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let start = Instant::now();
        while self.s.done.load(Ordering::Acquire) < self.n {
            if start.elapsed() < SPIN {
                std::hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(w) = self.worker.take() {
            w.thread().unpark();
            let _ = w.join();
        }
    }
}

/// The worker: wait for a job (spinning, then parked), run it, report it done.
fn work(s: &Shared) {
    let mut seen = 0u64;
    loop {
        // Spin only right after a job: a worker woken from `park` without one sleeps again.
        let start = Instant::now();
        loop {
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            if s.posted.load(Ordering::Acquire) > seen {
                break;
            }
            if start.elapsed() < SPIN && !s.parked.load(Ordering::Relaxed) {
                std::hint::spin_loop();
                continue;
            }
            s.parked.store(true, Ordering::SeqCst);
            // Re-check after announcing the park, so a post between the two is not missed
            // (`join` unparks whenever it sees `parked`; a stale unpark only ends one park).
            if s.posted.load(Ordering::SeqCst) == seen && !s.stop.load(Ordering::Acquire) {
                thread::park_timeout(Duration::from_millis(50));
            }
        }
        s.parked.store(false, Ordering::Release);
        seen += 1;
        // The caller may have taken the job back; then it is not ours to read or run.
        let claim = s
            .claimed
            .compare_exchange(seen - 1, seen, Ordering::AcqRel, Ordering::Acquire);
        if claim.is_err() {
            s.done.store(seen, Ordering::Release);
            continue;
        }
        // SAFETY: `join` wrote the job before bumping `posted` and, the claim being ours, keeps
        // it alive until it sees `done` reach `seen`.
        let job = unsafe { (*s.job.get()).expect("a posted job") };
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*job)() }));
        if ok.is_err() {
            s.panicked.store(true, Ordering::Release);
        }
        s.done.store(seen, Ordering::Release);
    }
}

/// The second half of an output handed to the helper thread.
struct Half<T>(*mut T, usize);
// SAFETY: the two halves are disjoint, and `Helper::join` returns only after the worker is
// done with its half (`T: Send`: the half moves to the worker for that time).
unsafe impl<T: Send> Sync for Half<T> {}

impl<T> Half<T> {
    /// The half as a slice (a method, so a closure captures the whole `Sync` wrapper rather
    /// than its raw pointer field).
    ///
    /// # Safety
    /// No other live slice overlaps it (see the `Sync` impl).
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self) -> &mut [T] {
        std::slice::from_raw_parts_mut(self.0, self.1)
    }
}

/// Splits each of `parts` at its `at` and runs `f(0, first parts)` on this thread and
/// `f(1, second parts)` on the hot helper (`helper`), or the two through a rayon join without
/// one: rows of a step handed to two threads (the index tells `f` which rows its read-only
/// operands are).
pub(crate) fn join_parts<const N: usize>(
    helper: Option<&Helper>,
    parts: [&mut [f32]; N],
    at: [usize; N],
    f: impl Fn(usize, [&mut [f32]; N]) + Sync,
) {
    let mut firsts: [&mut [f32]; N] = std::array::from_fn(|_| <&mut [f32]>::default());
    let mut seconds: [&mut [f32]; N] = std::array::from_fn(|_| <&mut [f32]>::default());
    for (i, (part, &at)) in parts.into_iter().zip(&at).enumerate() {
        (firsts[i], seconds[i]) = part.split_at_mut(at);
    }
    let Some(helper) = helper else {
        rayon::join(|| f(0, firsts), || f(1, seconds));
        return;
    };
    let seconds = seconds.map(|s| Half(s.as_mut_ptr(), s.len()));
    // SAFETY: each second part is disjoint from every first one and from the others (halves of
    // distinct slices), and `join` returns only after the helper is done with them.
    let job = || f(1, std::array::from_fn(|i| unsafe { seconds[i].slice() }));
    helper.join(&job, || f(0, firsts));
}

/// Runs `fa(a)` on this thread and `fb(b)` on the hot helper (`spin`), or the two through a
/// rayon join without one, and returns both results: the split of a product's output in two
/// disjoint halves.
pub(crate) fn join_halves<T: Send, R: Send>(
    spin: Option<&Helper>,
    a: &mut [T],
    b: &mut [T],
    fa: impl FnOnce(&mut [T]) -> R + Send,
    fb: impl Fn(&mut [T]) -> R + Sync + Send,
) -> (R, R) {
    let Some(helper) = spin else {
        return rayon::join(|| fa(a), || fb(b));
    };
    let half = Half(b.as_mut_ptr(), b.len());
    let rb = Mutex::new(None);
    let job = || {
        // SAFETY: see `Half`; nothing else touches `b` until `join` returns.
        let b = unsafe { half.slice() };
        let r = fb(b);
        *rb.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
    };
    let mut ra = None;
    helper.join(&job, || ra = Some(fa(a)));
    let rb = rb.into_inner().unwrap_or_else(|p| p.into_inner());
    // `join` returns only after both ran (a panic of `fb` on the worker is re-raised there).
    match (ra, rb) {
        (Some(ra), Some(rb)) => (ra, rb),
        _ => unreachable!("Helper::join returned before both halves ran"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn both_halves_run_every_time_and_the_worker_wakes_after_parking() {
        let h = Helper::start().expect("a thread");
        let (a, b) = (AtomicUsize::new(0), AtomicUsize::new(0));
        for i in 0..2000 {
            h.join(
                &|| {
                    a.fetch_add(1, Ordering::Relaxed);
                },
                || {
                    b.fetch_add(1, Ordering::Relaxed);
                },
            );
            assert_eq!(
                a.load(Ordering::Relaxed),
                i + 1,
                "job {i} not finished by join"
            );
            if i == 1000 {
                // Long enough for the worker to park: the next job must wake it.
                thread::sleep(SPIN * 5);
            }
        }
        assert_eq!(b.load(Ordering::Relaxed), 2000);
    }

    #[test]
    fn a_worker_that_never_runs_does_not_hold_up_the_caller() {
        // A helper whose worker thread never gets a core (here: there is none).
        let stalled = Helper {
            shared: Arc::new(Shared::new()),
            busy: Mutex::new(()),
            worker: None,
        };
        let (a, b) = (AtomicUsize::new(0), AtomicUsize::new(0));
        for _ in 0..100 {
            stalled.join(
                &|| {
                    a.fetch_add(1, Ordering::Relaxed);
                },
                || {
                    b.fetch_add(1, Ordering::Relaxed);
                },
            );
        }
        assert_eq!((a.into_inner(), b.into_inner()), (100, 100));
    }

    #[test]
    fn concurrent_callers_fall_back_and_lose_nothing() {
        let h = Arc::new(Helper::start().expect("a thread"));
        let count = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (h, count) = (h.clone(), count.clone());
                thread::spawn(move || {
                    for _ in 0..500 {
                        h.join(
                            &|| {
                                count.fetch_add(1, Ordering::Relaxed);
                            },
                            || {
                                count.fetch_add(1, Ordering::Relaxed);
                            },
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(count.load(Ordering::Relaxed), 4 * 500 * 2);
    }
}

//! A watchdog over a job's collectives. A rank that dies ends the job (MPI's fatal error
//! handler, mpirun killing the rest), but a rank that hangs without dying — a stuck file
//! system read, a stopped process, a lost node — leaves the others waiting in the next
//! collective forever. [`Watched`] times every collective of the collective it wraps, and a
//! thread of its own calls its `on_timeout` (in `rnngym train`: one error line, then exit,
//! which makes the launcher end every rank) once one has waited longer than the limit. It
//! never calls MPI itself: MPI is only ever called from the training thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{Collective, DistError};

/// The collective being waited in, and since when.
#[derive(Default)]
struct Watch {
    entered: Mutex<Option<(Instant, &'static str)>>,
    stop: AtomicBool,
}

/// A [`Collective`] whose every operation must complete within a time limit.
pub struct Watched {
    inner: Arc<dyn Collective>,
    watch: Arc<Watch>,
}

impl Watched {
    /// Wraps `inner`; `on_timeout(what, waited)` runs on the watchdog thread, once, when an
    /// operation (`what`: "a gradient all-reduce", …) has waited longer than `limit`.
    pub fn new(
        inner: Arc<dyn Collective>,
        limit: Duration,
        on_timeout: impl FnOnce(&'static str, Duration) + Send + 'static,
    ) -> Watched {
        let watch = Arc::new(Watch::default());
        let w = watch.clone();
        let tick = (limit / 4).clamp(Duration::from_millis(10), Duration::from_millis(500));
        let spawned = thread::Builder::new()
            .name("rnngym-watchdog".into())
            .spawn(move || loop {
                thread::sleep(tick);
                if w.stop.load(Ordering::Acquire) {
                    return;
                }
                let late = match *w.entered.lock().unwrap_or_else(|e| e.into_inner()) {
                    Some((since, what)) if since.elapsed() > limit => Some((what, since.elapsed())),
                    _ => None,
                };
                if let Some((what, waited)) = late {
                    on_timeout(what, waited);
                    return;
                }
            });
        if let Err(e) = spawned {
            // Without a thread there is no watchdog; training itself is unaffected.
            log::warn!("no watchdog over the collectives: {e}");
        }
        Watched { inner, watch }
    }

    /// Runs `f` as the collective `what`, timed by the watchdog.
    fn timed<T>(&self, what: &'static str, f: impl FnOnce() -> T) -> T {
        self.set(Some((Instant::now(), what)));
        let out = f();
        self.set(None);
        out
    }

    fn set(&self, v: Option<(Instant, &'static str)>) {
        *self.watch.entered.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.watch.stop.store(true, Ordering::Release);
    }
}

impl Collective for Watched {
    fn rank(&self) -> usize {
        self.inner.rank()
    }
    fn world(&self) -> usize {
        self.inner.world()
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), DistError> {
        self.timed("a gradient all-reduce", || {
            self.inner.all_reduce_sum_f32(buf)
        })
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), DistError> {
        self.timed("an all-reduce of losses and flags", || {
            self.inner.all_reduce_sum_f64(buf)
        })
    }
    fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<f32>, DistError> {
        self.timed("an all-gather of the carried state", || {
            self.inner.all_gather_f32(local)
        })
    }
    fn broadcast_bytes(&self, buf: &mut [u8]) -> Result<(), DistError> {
        self.timed("a broadcast", || self.inner.broadcast_bytes(buf))
    }
    fn barrier(&self) -> Result<(), DistError> {
        self.timed("a barrier", || self.inner.barrier())
    }
    fn abort(&self, code: i32) -> ! {
        self.inner.abort(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Single;
    use std::sync::mpsc;

    /// Rank 0 of 2 whose barrier blocks for the given time; the rest is [`Single`]'s.
    struct Slow(Duration);

    impl Collective for Slow {
        fn rank(&self) -> usize {
            0
        }
        fn world(&self) -> usize {
            2
        }
        fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<(), DistError> {
            Single.all_reduce_sum_f32(buf)
        }
        fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<(), DistError> {
            Single.all_reduce_sum_f64(buf)
        }
        fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<f32>, DistError> {
            Single.all_gather_f32(local)
        }
        fn broadcast_bytes(&self, buf: &mut [u8]) -> Result<(), DistError> {
            Single.broadcast_bytes(buf)
        }
        fn barrier(&self) -> Result<(), DistError> {
            thread::sleep(self.0);
            Ok(())
        }
        fn abort(&self, code: i32) -> ! {
            Single.abort(code)
        }
    }

    #[test]
    fn a_collective_waiting_past_the_limit_fires_once_naming_it() {
        let (tx, rx) = mpsc::channel();
        let w = Watched::new(
            Arc::new(Slow(Duration::from_millis(400))),
            Duration::from_millis(100),
            move |what, waited| tx.send((what, waited)).unwrap(),
        );
        assert_eq!((w.rank(), w.world()), (0, 2));
        w.barrier().unwrap();
        let (what, waited) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(what, "a barrier");
        assert!(waited > Duration::from_millis(100), "{waited:?}");
        assert!(rx.try_recv().is_err(), "fires once");
    }

    #[test]
    fn fast_collectives_and_idle_time_never_fire() {
        let (tx, rx) = mpsc::channel();
        let w = Watched::new(
            Arc::new(Slow(Duration::from_millis(5))),
            Duration::from_millis(100),
            move |what, _| tx.send(what).unwrap(),
        );
        for _ in 0..10 {
            w.barrier().unwrap();
            let mut v = [1.0f32; 4];
            w.all_reduce_sum_f32(&mut v).unwrap();
        }
        // Time between collectives (the step's own compute) is not waiting.
        thread::sleep(Duration::from_millis(300));
        assert!(rx.try_recv().is_err());
        drop(w);
    }
}

//! Validation runs on its own fork of the gym: it never moves or replays the training stream,
//! so its cost does not grow with training progress, and it gives the same losses as a
//! validation that shares the training gym.

mod common;
use common::*;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rnngym_gyms::{Codec, EpisodeInfo, Gym, GymError, Shape, Split, Step};
use rnngym_kernels::CpuBackend;
use rnngym_trainer::{state, Observer, Trainer, ValMetrics};

/// Wraps a gym and counts the `step` calls made on it (forks count on their own counter);
/// `forks` says whether it offers `fork`.
struct Counting {
    inner: Box<dyn Gym>,
    steps: Arc<AtomicU64>,
    fork_steps: Arc<AtomicU64>,
    forks: bool,
}

impl Gym for Counting {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn codec(&self) -> Arc<dyn Codec> {
        self.inner.codec()
    }
    fn reset(&mut self, split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
        self.inner.reset(split, seed, shape)
    }
    fn step(&mut self) -> Result<Step, GymError> {
        self.steps.fetch_add(1, Ordering::SeqCst);
        self.inner.step()
    }
    fn fork(&self) -> Option<Box<dyn Gym>> {
        if !self.forks {
            return None;
        }
        Some(Box::new(Counting {
            inner: self.inner.fork()?,
            steps: self.fork_steps.clone(),
            fork_steps: self.fork_steps.clone(),
            forks: true,
        }))
    }
}

struct ValLosses(Arc<Mutex<Vec<f64>>>);

impl Observer for ValLosses {
    fn on_validation(&mut self, v: &ValMetrics) {
        self.0.lock().unwrap().push(v.loss);
    }
}

/// Trains 30 iterations validating every 5 (2 windows each); returns (training-gym steps,
/// fork steps, validation losses, training losses).
fn run(forks: bool) -> (u64, u64, Vec<f64>, Vec<f64>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.gym.val_fraction = 0.2;
    (cfg.train.val_every, cfg.train.val_windows) = (5, 2);
    let (steps, fork_steps) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let gym = Counting {
        inner: text_gym(&TEXT.repeat(30), 0.2),
        steps: steps.clone(),
        fork_steps: fork_steps.clone(),
        forks,
    };
    let mut t = Trainer::new(CpuBackend::new(1), cfg, Box::new(gym)).unwrap();
    let (val, train) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    t.add_observer(Box::new(ValLosses(val.clone())));
    t.add_observer(Box::new(Losses(train.clone())));
    t.train(30).unwrap();
    let (v, l) = (val.lock().unwrap().clone(), train.lock().unwrap().clone());
    (
        steps.load(Ordering::SeqCst),
        fork_steps.load(Ordering::SeqCst),
        v,
        l,
    )
}

#[test]
fn validation_leaves_the_training_stream_alone() {
    let (steps, fork_steps, val, train) = run(true);
    // One step per iteration on the training gym, nothing else: no replay after validation.
    assert_eq!(steps, 30);
    // Six passes of two windows each on the fork.
    assert_eq!(val.len(), 6);
    assert_eq!(fork_steps, 12);

    // A gym that cannot fork is validated in place and replayed: more steps on it, but the
    // same losses, training and validation, to the bit.
    let (shared_steps, no_fork_steps, shared_val, shared_train) = run(false);
    assert!(shared_steps > 30 + 12, "{shared_steps}");
    assert_eq!(no_fork_steps, 0);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&val), bits(&shared_val));
    assert_eq!(bits(&train), bits(&shared_train));
}

/// Raises `flag` at its first validation window, as a Ctrl-C during a long pass would.
struct StopInValidation {
    inner: Box<dyn Gym>,
    flag: Arc<std::sync::atomic::AtomicBool>,
    val: bool,
}

impl Gym for StopInValidation {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn codec(&self) -> Arc<dyn Codec> {
        self.inner.codec()
    }
    fn reset(&mut self, split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
        self.val = split == Split::Val;
        self.inner.reset(split, seed, shape)
    }
    fn step(&mut self) -> Result<Step, GymError> {
        if self.val {
            self.flag.store(true, Ordering::SeqCst);
        }
        self.inner.step()
    }
    fn fork(&self) -> Option<Box<dyn Gym>> {
        Some(Box::new(StopInValidation {
            inner: self.inner.fork()?,
            flag: self.flag.clone(),
            val: false,
        }))
    }
}

#[test]
fn an_interrupt_during_validation_checkpoints_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.gym.val_fraction = 0.2;
    // A pass over the whole split: many windows, of which only the first may run.
    (cfg.train.val_every, cfg.train.val_windows) = (5, 0);
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gym = StopInValidation {
        inner: text_gym(&TEXT.repeat(30), 0.2),
        flag: flag.clone(),
        val: false,
    };
    let mut t = Trainer::new(CpuBackend::new(1), cfg, Box::new(gym)).unwrap();
    t.set_stop_flag(flag);
    let val = Arc::new(Mutex::new(Vec::new()));
    t.add_observer(Box::new(ValLosses(val.clone())));
    match t.train(30) {
        Err(rnngym_trainer::TrainerError::Interrupted {
            iteration,
            checkpoint,
        }) => {
            assert_eq!(iteration, 5, "stopped at the first validation");
            assert_eq!(state::read(&checkpoint).unwrap().meta.iteration, 5);
        }
        other => panic!("expected an interrupt, got {other:?}"),
    }
    assert!(
        val.lock().unwrap().is_empty(),
        "a given-up pass records nothing"
    );
}

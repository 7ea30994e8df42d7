//! Divergence rollback (`train.max_rollbacks`): a diverging step rolls the run back to the last
//! good state with the learning rate halved, a bounded number of times; the good checkpoint on
//! disk is never replaced by a diverged state; the multiplier survives a resume. When the last
//! good state diverges again after a rollback to it, the run goes back to an older one
//! (`train.rollback_depth`, kept in `<checkpoint.dir>/rollback/`).

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rnngym_gyms::Gym;
use rnngym_kernels::CpuBackend;
use rnngym_trainer::checkpoint::{self, Tensor};
use rnngym_trainer::observers::{read_jsonl, MetricsWriter};
use rnngym_trainer::state::{self, CheckpointMeta};
use rnngym_trainer::{Config, Observer, Rollback, Trainer, TrainerError, Update};

fn gym() -> Box<dyn Gym> {
    text_gym(&TEXT.repeat(20), 0.0)
}

fn config(dir: &Path) -> Config {
    let mut c = tiny_config(dir);
    c.train.iterations = 60;
    c
}

/// Everything the trainer tells its observers that these tests look at.
#[derive(Default)]
struct Seen {
    /// (iteration, loss, lr) of every update.
    updates: Vec<(u64, f64, f32)>,
    rollbacks: Vec<Rollback>,
    /// What `latest.safetensors` held when each rollback was announced (before it is rewritten).
    latest_at_rollback: Vec<Option<CheckpointMeta>>,
    /// The metadata of every `latest` written, read back from disk right after the write.
    written: Vec<CheckpointMeta>,
}

struct Probe(Arc<Mutex<Seen>>, std::path::PathBuf);

impl Observer for Probe {
    fn on_update(&mut self, u: &Update) {
        let mut s = self.0.lock().unwrap();
        s.updates.push((u.iteration, u.loss, u.lr));
    }
    fn on_rollback(&mut self, r: &Rollback) {
        let latest = self.1.join("latest.safetensors");
        let meta = latest.exists().then(|| state::read(&latest).unwrap().meta);
        let mut s = self.0.lock().unwrap();
        s.rollbacks.push(r.clone());
        s.latest_at_rollback.push(meta);
    }
    fn on_checkpoint(&mut self, path: &Path, kind: &str) {
        if kind == "latest" {
            let loaded = state::read(path).unwrap();
            for (name, t) in &loaded.tensors {
                assert!(
                    t.data.iter().all(|x| x.is_finite()),
                    "{name} of {} is not finite",
                    path.display()
                );
            }
            self.0.lock().unwrap().written.push(loaded.meta);
        }
    }
}

fn trainer(cfg: &Config, resume: bool) -> (Trainer<CpuBackend>, Arc<Mutex<Seen>>) {
    let dir = Path::new(&cfg.checkpoint.dir);
    let be = CpuBackend::new(1);
    let mut t = if resume {
        Trainer::resume(be, cfg.clone(), gym(), &dir.join("latest.safetensors")).unwrap()
    } else {
        Trainer::new(be, cfg.clone(), gym()).unwrap()
    };
    let seen = Arc::new(Mutex::new(Seen::default()));
    t.add_observer(Box::new(Probe(seen.clone(), dir.to_path_buf())));
    (t, seen)
}

fn tensors(path: &Path) -> BTreeMap<String, Tensor> {
    checkpoint::load(path).unwrap().1
}

/// A run trained 20 iterations at a sane rate, checkpointed at 20 in `latest`.
fn good_run(dir: &Path) -> Config {
    let mut cfg = config(dir);
    cfg.train.iterations = 20;
    let (mut t, _) = trainer(&cfg, false);
    t.train(20).unwrap();
    cfg
}

#[test]
fn rollbacks_are_bounded_halve_the_rate_and_keep_the_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = good_run(dir.path());
    let latest = dir.path().join("latest.safetensors");
    let good = tensors(&latest);
    cfg.train.iterations = 60;
    cfg.train.lr = 1e4;
    cfg.train.rollback_depth = 1;
    cfg.checkpoint.every = 1;
    let (mut t, seen) = trainer(&cfg, true);
    let err = t.train(40).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, TrainerError::Diverged(_)), "{msg}");
    for needle in [
        "training diverged at iteration 22",
        "gave up after 3 rollback(s) (train.max_rollbacks = 3)",
        "train.lr × 0.125",
        "last good checkpoint",
        "try a lower train.lr (now 10000)",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing: {msg}");
    }
    let s = seen.lock().unwrap();
    // Step 21 is taken at 1e4; its checkpoint is held back and the next forward diverges, so
    // every rollback returns to iteration 20, the checkpoint the run started from.
    assert_eq!(s.rollbacks.len(), 3);
    for (k, r) in s.rollbacks.iter().enumerate() {
        assert_eq!((r.diverged_at, r.to_iteration), (22, 20), "{r:?}");
        assert_eq!(r.rollbacks, k as u32 + 1);
        assert_eq!(r.max_rollbacks, 3);
        assert_eq!(r.lr_scale, 0.5f64.powi(k as i32 + 1));
        assert!(r.reason.contains("loss"), "{r:?}");
    }
    // The rate of the step before each divergence halves: 1e4, 5e3, 2.5e3, 1.25e3.
    let lrs: Vec<f32> = s.updates.iter().map(|u| u.2).collect();
    assert_eq!(lrs, vec![1e4, 5e3, 2.5e3, 1.25e3]);
    assert!(s.updates.iter().all(|u| u.0 == 21), "{:?}", s.updates);
    // No diverged state was ever written: each `latest` write is the iteration-20 state
    // (re-saved with the new multiplier), and the tensors on disk are exactly the good ones.
    assert_eq!(s.written.len(), 3);
    assert!(s.written.iter().all(|m| m.iteration == 20));
    assert_eq!(tensors(&latest), good);
    let meta = state::read(&latest).unwrap().meta;
    assert_eq!((meta.lr_scale, meta.rollbacks), (0.125, 3));
}

#[test]
fn zero_max_rollbacks_stops_at_the_first_divergence_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = good_run(dir.path());
    let latest = dir.path().join("latest.safetensors");
    let before = std::fs::read(&latest).unwrap();
    cfg.train.iterations = 60;
    cfg.train.lr = 1e4;
    cfg.train.max_rollbacks = 0;
    cfg.checkpoint.every = 1;
    let (mut t, seen) = trainer(&cfg, true);
    let msg = t.train(40).unwrap_err().to_string();
    assert!(
        msg.starts_with("training diverged at iteration 22:") && !msg.contains("rollback"),
        "{msg}"
    );
    assert!(seen.lock().unwrap().rollbacks.is_empty());
    // Iteration 21's checkpoint was due but held back: its state led to the divergence.
    assert_eq!(std::fs::read(&latest).unwrap(), before, "byte-identical");
}

#[test]
fn without_any_checkpoint_the_run_rolls_back_to_its_initial_state() {
    // A rollback to the initial state with the rate halved k times must be indistinguishable
    // from a fresh run at lr / 2^k: same losses, bit for bit. How many halvings 1e4 needs is
    // the model's business; the bound (20) is far above it.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.train.lr = 1e4;
    cfg.train.max_rollbacks = 20;
    let (mut t, seen) = trainer(&cfg, false);
    let final_loss = t.train(60).unwrap();
    let s = seen.lock().unwrap();
    let k = s.rollbacks.len();
    assert!((1..=20).contains(&k), "{k} rollbacks");
    assert!(s.rollbacks.iter().all(|r| r.to_iteration == 0));
    assert!(s.latest_at_rollback[0].is_none(), "nothing on disk before");
    assert_eq!(t.rollbacks() as usize, k);
    assert_eq!(t.lr_scale(), 0.5f64.powi(k as i32));
    let retried: Vec<(u64, f64, f32)> = s
        .updates
        .iter()
        .skip_while(|u| u.2 != (1e4 * t.lr_scale()) as f32)
        .copied()
        .collect();
    assert_eq!(retried.len(), 60);

    let dir_b = tempfile::tempdir().unwrap();
    let mut fresh = config(dir_b.path());
    fresh.train.lr = 1e4 * t.lr_scale();
    let (mut tb, seen_b) = trainer(&fresh, false);
    assert_eq!(tb.train(60).unwrap(), final_loss);
    assert_eq!(seen_b.lock().unwrap().updates, retried);
    // The first rate that did not diverge is close to the edge, so only sanity is asserted.
    let bound = cfg.train.divergence_factor * (t.model().dims.vocab as f64).ln();
    assert!(final_loss.is_finite() && final_loss < bound, "{final_loss}");

    // The multiplier is saved and resumed; a new train.lr drops it.
    let latest = dir.path().join("latest.safetensors");
    let meta = state::read(&latest).unwrap().meta;
    assert_eq!((meta.lr_scale, meta.rollbacks as usize), (t.lr_scale(), k));
    cfg.train.iterations = 70;
    let (resumed, _) = trainer(&cfg, true);
    assert_eq!(
        (resumed.lr_scale(), resumed.rollbacks() as usize),
        (t.lr_scale(), k)
    );
    cfg.train.lr = 1e-3;
    let (reset, _) = trainer(&cfg, true);
    assert_eq!((reset.lr_scale(), reset.rollbacks()), (1.0, 0));
}

#[test]
fn mid_run_rollbacks_return_to_the_last_checkpoint_and_rewrite_the_logs() {
    // A warmup ramp (lr = it + 1) diverges somewhere in the first iterations, then again later
    // at each halved rate: rollbacks land on checkpoints written during this same call. The
    // ramp may also leave a checkpoint that passed the loss bound but that no smaller rate
    // rescues; then the run stops once the rollbacks are used up. Both endings must keep the
    // invariants below.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.train.lr = 1e4;
    cfg.train.warmup = 10_000;
    cfg.train.max_rollbacks = 8;
    cfg.train.log_every = 1;
    cfg.checkpoint.every = 2;
    let (mut t, seen) = trainer(&cfg, false);
    t.add_observer(Box::new(MetricsWriter::new(dir.path(), 1)));
    let finished = match t.train(60) {
        Ok(_) => true,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("gave up after 8 rollback(s)"), "{msg}");
            false
        }
    };
    let s = seen.lock().unwrap();
    let events: Vec<(u64, u64)> = s
        .rollbacks
        .iter()
        .map(|r| (r.diverged_at, r.to_iteration))
        .collect();
    println!("finished: {finished}; rollbacks (diverged at, back to): {events:?}");
    assert!(!s.rollbacks.is_empty());
    assert!(
        s.rollbacks.iter().any(|r| r.to_iteration > 0),
        "{:?}",
        s.rollbacks
    );
    let bound = cfg.train.divergence_factor * (t.model().dims.vocab as f64).ln();
    for (r, on_disk) in s.rollbacks.iter().zip(&s.latest_at_rollback) {
        assert!(r.to_iteration < r.diverged_at, "{r:?}");
        assert_eq!(r.to_iteration % 2, 0, "{r:?}");
        // The state rolled back to is the one in `latest` (none before the first write), or
        // an older one when the rollback before this one went to `latest` and diverged again.
        match on_disk {
            Some(m) if m.iteration == r.to_iteration => {}
            Some(m) => {
                assert!(r.to_iteration < m.iteration, "{r:?} {m:?}");
                let before = s
                    .rollbacks
                    .iter()
                    .take_while(|x| !std::ptr::eq(*x, r))
                    .last();
                assert_eq!(before.map(|b| b.to_iteration), Some(m.iteration), "{r:?}");
            }
            None => assert_eq!(r.to_iteration, 0, "{r:?}"),
        }
    }
    // Every `latest` ever written was followed by a sane step (or was re-saved after a
    // rollback), so none has a loss over the bound.
    for m in &s.written {
        assert!(
            m.train_loss.is_none_or(|l| l.is_finite() && l <= bound),
            "{m:?}"
        );
    }
    // metrics.jsonl: one event per rollback, and the undone iterations' records are gone, so
    // the training records run 1, 2, ..., n exactly once (n = 60 when the run finished).
    let records = read_jsonl(&dir.path().join("metrics.jsonl")).unwrap();
    let events: Vec<_> = records
        .iter()
        .filter(|r| r["kind"] == "event" && r["event"] == "rollback")
        .collect();
    assert_eq!(events.len(), s.rollbacks.len());
    for (e, r) in events.iter().zip(&s.rollbacks) {
        assert_eq!(e["iteration"], r.to_iteration);
        assert_eq!(e["diverged_at"], r.diverged_at);
        assert_eq!(e["lr_scale"], r.lr_scale);
    }
    let iters: Vec<u64> = records
        .iter()
        .filter(|r| r["kind"] == "train")
        .map(|r| r["iteration"].as_u64().unwrap())
        .collect();
    let n = iters.len() as u64;
    assert_eq!(iters, (1..=n).collect::<Vec<_>>());
    assert_eq!(finished, n == 60, "{n} records");
}

/// Multiplies Adam's first moments in `path` by 1e6: the parameters stay sane (the next
/// forward passes the divergence check, so the state is taken as good) but the next update
/// blows them up at any learning rate the rollbacks try.
fn ruin_optimizer_state(path: &Path) {
    let (meta, mut ts) = checkpoint::load(path).unwrap();
    let m = ts.get_mut("optim.adam.m").unwrap();
    m.data.iter_mut().for_each(|x| *x = x.signum() * 1e6);
    checkpoint::save_map(path, &meta, &ts).unwrap();
}

/// A run checkpointed at 10 and 20 whose iteration-20 state is then ruined on disk; resumed
/// with `depth` good states kept and up to 4 rollbacks for 20 more iterations.
fn resume_from_a_ruined_checkpoint(
    dir: &Path,
    depth: u32,
) -> (Result<f64, TrainerError>, Arc<Mutex<Seen>>) {
    let mut cfg = config(dir);
    cfg.train.iterations = 20;
    cfg.train.rollback_depth = depth;
    cfg.checkpoint.every = 10;
    let (mut t, _) = trainer(&cfg, false);
    t.train(20).unwrap();
    drop(t);
    ruin_optimizer_state(&dir.join("latest.safetensors"));
    cfg.train.iterations = 40;
    cfg.train.max_rollbacks = 4;
    let (mut t, seen) = trainer(&cfg, true);
    (t.train(20), seen)
}

#[test]
fn a_ruined_last_checkpoint_is_given_up_for_an_older_one() {
    let dir = tempfile::tempdir().unwrap();
    let (result, seen) = resume_from_a_ruined_checkpoint(dir.path(), 3);
    let s = seen.lock().unwrap();
    let events: Vec<(u64, u64, f64)> = s
        .rollbacks
        .iter()
        .map(|r| (r.diverged_at, r.to_iteration, r.lr_scale))
        .collect();
    // Step 21 from the ruined state explodes and step 22 diverges; the retry from 20 at half
    // the rate does the same, so the second rollback goes to the state of iteration 10.
    assert_eq!(events, vec![(22, 20, 0.5), (22, 10, 0.25)]);
    let loss = result.unwrap();
    let vocab = TEXT
        .chars()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert!(loss.is_finite() && loss < (vocab as f64).ln(), "{loss}");
    // The iterations after the second rollback are 11..=40 at a quarter of the rate.
    let after: Vec<u64> = s.updates.iter().skip(2).map(|u| u.0).collect();
    assert_eq!(after, (11..=40).collect::<Vec<_>>());
    assert!(s
        .updates
        .iter()
        .skip(2)
        .all(|u| u.2 == (1e-2 * 0.25) as f32));
    // `latest` was rewritten with the older state at once, then went on; the rollback folder
    // keeps the two states before `latest`, both from after the rollbacks, and the ruined
    // state given up (as re-saved by the first rollback) under its own name.
    let latest = dir.path().join("latest.safetensors");
    let meta = state::read(&latest).unwrap().meta;
    assert_eq!(
        (meta.iteration, meta.rollbacks, meta.lr_scale),
        (40, 2, 0.25)
    );
    let folder = dir.path().join("rollback");
    let mut kept: Vec<(u64, u32)> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("iter-")
        })
        .map(|p| {
            let meta = state::read(&p).unwrap().meta;
            (meta.iteration, meta.rollbacks)
        })
        .collect();
    kept.sort();
    let given_up = folder.join("gave-up-iter-00000020.safetensors");
    let meta = state::read(&given_up).unwrap().meta;
    assert_eq!((meta.iteration, meta.rollbacks), (20, 1));
    let m = &tensors(&given_up)["optim.adam.m"];
    assert!(
        m.data.iter().all(|x| x.abs() == 1e6),
        "not the ruined state"
    );
    assert_eq!(kept, vec![(20, 2), (30, 2)]);
}

#[test]
fn with_only_the_last_state_kept_a_ruined_checkpoint_ends_the_run() {
    // The same run with train.rollback_depth = 1: every rollback returns to the ruined state.
    let dir = tempfile::tempdir().unwrap();
    let (result, seen) = resume_from_a_ruined_checkpoint(dir.path(), 1);
    let msg = result.unwrap_err().to_string();
    assert!(msg.contains("gave up after 4 rollback(s)"), "{msg}");
    let s = seen.lock().unwrap();
    assert!(
        s.rollbacks.iter().all(|r| r.to_iteration == 20),
        "{:?}",
        s.rollbacks
    );
    assert!(!dir.path().join("rollback").exists());
}

/// Raises the stop flag when it hears of a rollback: the run checkpoints and ends right after
/// it, as a kill after the rollback's `latest` write would leave it.
struct StopAtRollback(Arc<std::sync::atomic::AtomicBool>);

impl Observer for StopAtRollback {
    fn on_rollback(&mut self, _: &Rollback) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_stop_between_two_rollbacks_resumes_to_the_same_run() {
    // Uninterrupted: the ruined state at 20 is retried once, then given up for 10.
    let straight = tempfile::tempdir().unwrap();
    let (result, seen) = resume_from_a_ruined_checkpoint(straight.path(), 3);
    result.unwrap();
    let want_updates = seen.lock().unwrap().updates.clone();

    // The same run stopped right after its first rollback, then resumed.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.train.iterations = 20;
    cfg.train.rollback_depth = 3;
    cfg.checkpoint.every = 10;
    let (mut t, _) = trainer(&cfg, false);
    t.train(20).unwrap();
    drop(t);
    ruin_optimizer_state(&dir.path().join("latest.safetensors"));
    cfg.train.iterations = 40;
    cfg.train.max_rollbacks = 4;
    let (mut t, first) = trainer(&cfg, true);
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    t.set_stop_flag(flag.clone());
    t.add_observer(Box::new(StopAtRollback(flag)));
    assert!(matches!(t.train(20), Err(TrainerError::Interrupted { .. })));
    drop(t);
    let (mut t, second) = trainer(&cfg, true);
    t.train(40 - t.iteration()).unwrap();

    // The retry count came back with the checkpoint: the resumed run gives up the state of
    // 20 at its next divergence, exactly as the uninterrupted one did, and ends the same.
    let events: Vec<(u64, u64)> = second
        .lock()
        .unwrap()
        .rollbacks
        .iter()
        .map(|r| (r.diverged_at, r.to_iteration))
        .collect();
    assert_eq!(events, vec![(22, 10)]);
    let mut got = first.lock().unwrap().updates.clone();
    got.extend(second.lock().unwrap().updates.iter().cloned());
    let bits = |u: &[(u64, f64, f32)]| {
        u.iter()
            .map(|(i, l, lr)| (*i, l.to_bits(), lr.to_bits()))
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&got), bits(&want_updates));
    let latest = |d: &Path| tensors(&d.join("latest.safetensors"));
    assert_eq!(latest(dir.path()), latest(straight.path()));
}

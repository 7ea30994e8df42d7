//! Crash safety on the real binary: the run-directory lock, and SIGKILL at random points
//! (some of them in the middle of a checkpoint write) followed by `--resume`, which must end
//! exactly where an uninterrupted run ends.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Fixture;
use serde_json::Value;

/// A small 2-layer LSTM on a generated corpus, checkpointing every iteration, logging every
/// iteration (so whole loss curves compare), validating now and then (so `best` is written).
const CONFIG: &str = r#"
[model]
hidden = 32
layers = 2
embed = 16
device = "cpu"
[train]
iterations = 300
batch = 4
seq_len = 16
lr = 1e-2
val_every = 50
val_windows = 4
log_every = 1
threads = 1
[gym]
id = "text-v1"
path = "corpus.txt"
val_fraction = 0.1
[checkpoint]
dir = "run"
every = 1
"#;

/// xorshift64*: a seeded stream for the kill delays, so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn corpus() -> String {
    let words = [
        "to",
        "be",
        "or",
        "not",
        "that",
        "is",
        "the",
        "question",
        "whether",
        "tis",
        "nobler",
        "in",
        "mind",
        "suffer",
        "slings",
        "arrows",
        "of",
        "outrageous",
        "fortune",
    ];
    let mut rng = Rng(7);
    let mut text = String::new();
    for i in 0..4000 {
        text.push_str(words[rng.below(words.len() as u64) as usize]);
        text.push(if i % 11 == 10 { '\n' } else { ' ' });
    }
    text
}

/// A training process that is SIGKILLed when dropped, so a failing test leaves none behind.
struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn spawn(f: &Fixture, args: &[&str]) -> Run {
    let child = f
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rnngym");
    Run(child)
}

/// `Child::kill` sends SIGKILL on Unix: no handler runs, nothing is flushed or cleaned up.
fn sigkill(run: &mut Run) {
    run.0.kill().expect("kill");
    run.0.wait().expect("wait");
}

fn latest_iteration(run: &Path) -> Option<u64> {
    let latest = run.join("latest.safetensors");
    latest.exists().then(|| {
        rnngym_trainer::state::read(&latest)
            .unwrap_or_else(|e| panic!("latest is not loadable after a kill: {e}"))
            .meta
            .iteration
    })
}

fn temp_files(run: &Path) -> Vec<String> {
    std::fs::read_dir(run)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// The last training iteration in the run's metrics.jsonl (0 when there is none yet).
fn logged_iteration(run: &Path) -> u64 {
    rnngym_trainer::observers::read_jsonl(&run.join("metrics.jsonl"))
        .unwrap_or_default()
        .iter()
        .filter(|r| r["kind"] == "train")
        .filter_map(|r| r["iteration"].as_u64())
        .max()
        .unwrap_or(0)
}

/// Polls until `cond` holds (true) or `limit` passes (false).
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    false
}

/// (iteration, loss) pairs.
type Curve = Vec<(u64, f64)>;

/// (iteration, loss) of every training record, and (iteration, val_loss) of every validation.
fn curves(run: &Path) -> (Curve, Curve) {
    let records = rnngym_trainer::observers::read_jsonl(&run.join("metrics.jsonl")).unwrap();
    let pick = |kind: &str, key: &str| -> Curve {
        records
            .iter()
            .filter(|r| r["kind"] == kind)
            .map(|r| (r["iteration"].as_u64().unwrap(), r[key].as_f64().unwrap()))
            .collect()
    };
    (pick("train", "loss"), pick("val", "val_loss"))
}

#[test]
fn a_second_run_is_refused_and_sigkill_leaves_no_stale_lock() {
    let f = Fixture::new(
        &corpus(),
        &CONFIG.replace("iterations = 300", "iterations = 1000000"),
    );
    let mut first = spawn(&f, &["train", "--config", "c.toml"]);
    let pid = first.0.id();
    let run = f.file("run");
    let holds = || {
        std::fs::read_to_string(run.join("train.lock")).is_ok_and(|t| t.trim() == pid.to_string())
            && run.join("latest.safetensors").exists()
    };
    assert!(
        wait_for(Duration::from_secs(60), holds),
        "first run never started"
    );

    for args in [
        &["train", "--config", "c.toml"][..],
        &["train", "--resume", "run"][..],
    ] {
        let out = f.command(args).env("RUST_LOG", "warn").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} ran beside the first run");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        for needle in [
            "error: checkpoint.dir run ",
            "in use",
            &format!("(pid {pid})"),
        ] {
            assert!(lines[0].contains(needle), "{needle:?}: {}", lines[0]);
        }
    }
    assert!(
        first.0.try_wait().unwrap().is_none(),
        "the first run goes on"
    );

    sigkill(&mut first);
    let at = latest_iteration(&run).expect("a checkpoint before the kill");
    // The lock file is still there with the dead pid; the OS lock died with the process.
    let target = format!("train.iterations={}", at + 5);
    let out = f
        .command(&["train", "--resume", "run", "--set", &target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "resume after SIGKILL: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(latest_iteration(&run), Some(at + 5));
    assert!(temp_files(&run).is_empty(), "{:?}", temp_files(&run));
}

#[test]
fn sigkill_at_random_points_then_resume_ends_exactly_like_an_uninterrupted_run() {
    let f = Fixture::new(&corpus(), CONFIG);
    // The reference: one uninterrupted run in `ref`.
    std::fs::write(
        f.file("ref.toml"),
        CONFIG.replace("dir = \"run\"", "dir = \"ref\""),
    )
    .unwrap();
    f.ok(&["train", "--config", "ref.toml"]);

    let run = f.file("run");
    let mut rng = Rng(0x5EED_C0DE);
    let mut report = Vec::new();
    let mut mid_write = 0;
    for cycle in 0..6 {
        let from = latest_iteration(&run);
        let args: &[&str] = match from {
            Some(_) => &["train", "--resume", "run"],
            None => &["train", "--config", "c.toml"],
        };
        let mut child = spawn(&f, args);
        // This process's temp files (older ones are left by earlier kills until it cleans up).
        let ours = format!(".tmp-{}-", child.0.id());
        let own_temps = |run: &Path| -> Vec<String> {
            temp_files(run)
                .into_iter()
                .filter(|n| n.contains(&ours))
                .collect()
        };
        // Kills are placed by progress, not by clock, so a slow or busy machine changes
        // nothing: each cycle trains 10 to 40 iterations past its checkpoint (at most 240 of
        // the 300 in all), then dies.
        let goal = from.unwrap_or(0) + 10 + rng.below(20);
        let moved = wait_for(Duration::from_secs(120), || logged_iteration(&run) >= goal);
        assert!(
            moved,
            "cycle {cycle}: no progress to iteration {goal}: {report:?}"
        );
        // Odd cycles die the moment one of this process's checkpoint temp files is seen (in
        // the middle of a write); even ones a seeded random few microseconds later (anywhere:
        // in a step, a write, a validation).
        let how = if cycle % 2 == 1 {
            let limit = goal + 10;
            wait_for(Duration::from_secs(120), || {
                !own_temps(&run).is_empty() || logged_iteration(&run) >= limit
            });
            format!("past iteration {goal}, at the first temp file seen")
        } else {
            let us = rng.below(5000);
            std::thread::sleep(Duration::from_micros(us));
            format!("{us} µs after iteration {goal} was logged")
        };
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "cycle {cycle}: the run ended before the kill: {report:?}"
        );
        sigkill(&mut child);
        let temps = own_temps(&run);
        mid_write += usize::from(!temps.is_empty());
        let at = latest_iteration(&run);
        report.push(format!(
            "cycle {cycle}: resumed from {from:?}, SIGKILL {how}: latest now {at:?}, temp files left {temps:?}"
        ));
    }
    let before_final = latest_iteration(&run).expect("progress across the kills");
    f.ok(&["train", "--resume", "run"]);
    for line in &report {
        println!("{line}");
    }
    println!("{mid_write} of 6 kills left a half-written checkpoint behind");
    assert!(mid_write >= 1, "no kill landed in a checkpoint write");
    assert!(before_final > 0);

    // Same losses at every iteration, same validations, same final weights, bit for bit.
    let (train_ref, val_ref) = curves(&f.file("ref"));
    let (train, val) = curves(&run);
    assert_eq!(train.len(), 300);
    assert_eq!(train, train_ref, "training losses");
    assert_eq!(val, val_ref, "validation losses");
    let (final_ref, final_run) = (train_ref[299].1, train[299].1);
    println!("final loss: uninterrupted {final_ref}, killed and resumed {final_run}");
    let load = |p: &Path| rnngym_trainer::checkpoint::load(&p.join("latest.safetensors")).unwrap();
    let (meta_ref, tensors_ref) = load(&f.file("ref"));
    let (meta, tensors) = load(&run);
    assert_eq!(tensors, tensors_ref, "final checkpoint tensors");
    let keys = [
        "iteration",
        "train_loss",
        "best_val_loss",
        "episode",
        "episode_steps",
    ];
    for k in keys {
        assert_eq!(meta[k], meta_ref[k], "{k}");
    }
    assert_eq!(meta["iteration"], Value::from(300));
    // The last resume (which held the lock) cleared the temp files the kills left.
    assert!(temp_files(&run).is_empty(), "{:?}", temp_files(&run));
}

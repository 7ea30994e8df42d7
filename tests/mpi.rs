//! Data-parallel training under `mpirun` (built with `--features mpi`; `.ci/run` runs these):
//! a 2-rank run computes the training of a 1-rank run of the same global batch, reruns are
//! bit-identical, runs resume across rank counts, a non-divisible batch fails once, and a
//! killed rank ends the job quickly with the last checkpoint intact.

#![cfg(feature = "mpi")]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{children, corpus, endless_train, wait_for_checkpoint, Fixture, TINY_RANKS as CFG};

/// `rnngym ARGS` on `np` ranks under `mpirun` in `dir` (as root, more ranks than cores).
fn mpirun(dir: &Path, np: usize, args: &[&str]) -> Command {
    let mut c = Command::new("mpirun");
    c.args([
        "--allow-run-as-root",
        "--oversubscribe",
        "-np",
        &np.to_string(),
    ])
    .arg(env!("CARGO_BIN_EXE_rnngym"))
    .args(args)
    .current_dir(dir)
    .env_remove("RUST_LOG");
    c
}

/// Runs `rnngym train` with `sets` on `np` ranks (1: no mpirun) and asserts success.
fn train(f: &Fixture, np: usize, sets: &[&str]) -> Output {
    train_config(f, np, "c.toml", sets)
}

/// [`train`] with another config file.
fn train_config(f: &Fixture, np: usize, config: &str, sets: &[&str]) -> Output {
    let mut args = vec!["-q", "train", "--config", config];
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = match np {
        1 => f.command(&args).output(),
        _ => mpirun(f.path(), np, &args).output(),
    }
    .expect("run");
    assert!(
        out.status.success(),
        "{np} rank(s), {sets:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `(iteration, loss)` pairs, in order.
type Losses = Vec<(u64, f64)>;

/// `(iteration, loss)` of each training line and `(iteration, val_loss)` of each validation
/// line in `run/metrics.jsonl`.
fn losses(run: &Path) -> (Losses, Losses) {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let it = v["iteration"].as_u64().unwrap();
        match v["kind"].as_str() {
            Some("train") => train.push((it, v["loss"].as_f64().unwrap())),
            Some("val") => val.push((it, v["val_loss"].as_f64().unwrap())),
            _ => {}
        }
    }
    (train, val)
}

/// Asserts that `a` and `b` hold the same iterations with losses within `rel`.
fn assert_close(a: &[(u64, f64)], b: &[(u64, f64)], rel: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: {a:?} vs {b:?}");
    for (&(ia, la), &(ib, lb)) in a.iter().zip(b) {
        assert_eq!(ia, ib, "{what}");
        assert!(
            (la - lb).abs() <= rel * la.abs(),
            "{what}: iteration {ia}: {la} vs {lb}"
        );
    }
}

/// The fixture's run, trained from scratch on 1 rank, to compare others with.
fn one_rank_reference() -> (Fixture, Losses, Losses) {
    let f = Fixture::new(&corpus(), CFG);
    train(&f, 1, &[]);
    let (t, v) = losses(&f.file("run"));
    assert_eq!(t.len(), 50);
    (f, t, v)
}

#[test]
fn two_ranks_train_what_one_rank_trains() {
    let (f, t1, v1) = one_rank_reference();
    train(&f, 2, &["checkpoint.dir=run2"]);
    let (t2, v2) = losses(&f.file("run2"));
    assert_close(&t1, &t2, 1e-5, "training loss, 1 vs 2 ranks");
    assert_close(&v1, &v2, 1e-5, "validation loss, 1 vs 2 ranks");
    assert_eq!(v2.len(), 5, "validation every 10 iterations: {v2:?}");
    // Rank 0 alone wrote the run directory: one line per iteration, not two.
    assert!(f.file("run2/latest.safetensors").is_file());
}

#[test]
fn two_rank_reruns_are_bit_identical() {
    let f = Fixture::new(&corpus(), CFG);
    train(&f, 2, &["checkpoint.dir=a"]);
    train(&f, 2, &["checkpoint.dir=b"]);
    let (ta, va) = losses(&f.file("a"));
    let (tb, vb) = losses(&f.file("b"));
    let bits = |v: &[(u64, f64)]| v.iter().map(|(i, l)| (*i, l.to_bits())).collect::<Vec<_>>();
    assert_eq!(bits(&ta), bits(&tb));
    assert_eq!(bits(&va), bits(&vb));
    // And so are the states (the files differ only in the checkpoint.dir of their config).
    let read = |d: &str| std::fs::read(f.file(d).join("latest.safetensors")).unwrap();
    let (a, b) = (read("a"), read("b"));
    let (a, b) = (
        safetensors::SafeTensors::deserialize(&a).unwrap(),
        safetensors::SafeTensors::deserialize(&b).unwrap(),
    );
    let mut names = a.names();
    names.sort();
    assert!(names.iter().any(|n| n.starts_with("state.h")), "{names:?}");
    for n in names {
        assert_eq!(
            a.tensor(n).unwrap().data(),
            b.tensor(n).unwrap().data(),
            "{n}"
        );
    }
}

/// Trains 20 iterations on `first` ranks, resumes to 50 on `then` ranks, and compares every
/// loss with the uninterrupted 1-rank run.
fn resume_across(first: usize, then: usize) {
    let (f, t1, v1) = one_rank_reference();
    train(&f, first, &["checkpoint.dir=r", "train.iterations=20"]);
    let resumed = [
        "-q",
        "train",
        "--resume",
        "r",
        "--set",
        "train.iterations=50",
    ];
    let out = match then {
        1 => f.command(&resumed).output().unwrap(),
        _ => mpirun(f.path(), then, &resumed).output().unwrap(),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (t, v) = losses(&f.file("r"));
    assert_close(
        &t1,
        &t,
        1e-5,
        &format!("training loss, {first} then {then} rank(s)"),
    );
    assert_close(
        &v1,
        &v,
        1e-5,
        &format!("validation loss, {first} then {then} rank(s)"),
    );
}

#[test]
fn a_two_rank_run_resumes_on_one_rank() {
    resume_across(2, 1);
}

#[test]
fn a_one_rank_run_resumes_on_two_ranks() {
    resume_across(1, 2);
}

/// Trains the fixture on 2 ranks with `--set set`, which must fail before writing anything,
/// with one `error:` line in all (printed once, not per rank) and no panic; returns that line.
fn fails_once(set: &str) -> String {
    let f = Fixture::new(&corpus(), CFG);
    let args = ["-q", "train", "--config", "c.toml", "--set", set];
    let out = mpirun(f.path(), 2, &args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(ours.len(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!f.file("run").exists(), "nothing written: {err}");
    ours[0].to_string()
}

#[test]
fn a_batch_not_divisible_by_the_ranks_fails_once() {
    let line = fails_once("train.batch=3");
    assert!(
        line.contains("train.batch = 3") && line.contains("2 processes"),
        "{line}"
    );
}

#[test]
fn a_killed_rank_ends_the_job_and_the_checkpoint_stays_loadable() {
    let f = Fixture::new(&corpus(), CFG);
    let args = endless_train(&["checkpoint.every=5"]);
    let mut job = mpirun(f.path(), 2, &args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_checkpoint(&f.file("run"));
    let ranks = children(job.id());
    assert_eq!(ranks.len(), 2, "mpirun's children: {ranks:?}");
    let killed = Instant::now();
    let status = Command::new("kill")
        .args(["-KILL", &ranks[1].to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = loop {
        if let Some(s) = job.try_wait().unwrap() {
            break s;
        }
        if killed.elapsed() > Duration::from_secs(30) {
            let _ = job.kill();
            panic!("the job still runs 30 s after a rank was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = killed.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(job.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(
        took < Duration::from_secs(10),
        "ended after {took:?}: {err}"
    );
    // The checkpoint the job left is whole: a 1-rank run resumes from it.
    f.ok(&[
        "-q",
        "train",
        "--resume",
        "run",
        "--set",
        "train.iterations=1",
    ]);
    eprintln!("killed rank: the job ended after {took:?}");
}

#[test]
fn a_gym_that_cannot_shard_is_cut_and_trains_what_one_rank_trains() {
    // The Python brackets gym (process-v1) serves whole windows only: each rank cuts its lanes.
    let python = Command::new("python3").arg("--version").output();
    if !python.is_ok_and(|o| o.status.success()) {
        eprintln!("python3 is not on PATH: skipping the process-gym rank test");
        return;
    }
    let f = Fixture::new(&corpus(), CFG);
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/brackets-python.toml");
    let config = config.to_str().unwrap();
    let run = |np: usize, dir: &str| {
        let dir = f.file(dir);
        let sets = [
            &format!("checkpoint.dir={}", dir.display()),
            "train.iterations=20",
            "train.batch=8",
            "train.val_every=10",
            "train.log_every=1",
            "train.sample_every=0",
            "train.threads=1",
            "model.hidden=32",
        ];
        train_config(&f, np, config, &sets);
        losses(&dir)
    };
    let (t1, v1) = run(1, "one");
    let (t2, v2) = run(2, "two");
    assert_eq!(t1.len(), 20);
    assert_close(&t1, &t2, 1e-5, "process gym, training loss, 1 vs 2 ranks");
    assert_close(&v1, &v2, 1e-5, "process gym, validation loss, 1 vs 2 ranks");
}

#[test]
fn gpu_ranks_on_a_machine_without_gpus_fail_once_naming_the_device() {
    if rnngym_kernels::cuda::device_count() > 0 {
        eprintln!("this machine has a GPU: the no-GPU refusal is not what would happen here");
        return;
    }
    let line = fails_once("model.device=cuda");
    assert!(
        line.contains("model.device = \"cuda\"") && line.contains("CUDA"),
        "{line}"
    );
}

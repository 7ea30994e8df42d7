//! Faults of a 2-rank job that only one rank meets (built with `--features mpi`; `.ci/run`
//! runs these): a corpus missing for one rank stops the job at setup with that rank's message,
//! a gym that fails on one rank in the middle of training ends the job within seconds with
//! the last checkpoint loadable, and an interrupt stops every rank at the same iteration with
//! a checkpoint that `--resume` continues. One rank's view differs from the other's the way it
//! does on a cluster (a file on one node only, a node's environment): through an MPMD launch,
//! `mpirun -np 1 A : -np 1 B`.

#![cfg(all(feature = "mpi", unix))]

mod common;
mod process;

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{
    children, corpus, endless_train, latest_iteration, wait_for_checkpoint, Fixture,
    TINY_RANKS as CFG,
};

/// `mpirun` with rank 0 running `rnngym ARGS0` and rank 1 `env ENV1 rnngym ARGS1`, in `dir`.
fn mpmd(dir: &Path, args0: &[&str], env1: &[&str], args1: &[&str]) -> Command {
    let bin = env!("CARGO_BIN_EXE_rnngym");
    let mut c = Command::new("mpirun");
    c.args(["--allow-run-as-root", "--oversubscribe", "-np", "1", bin])
        .args(args0)
        .args([":", "-np", "1", "env"])
        .args(env1)
        .arg(bin)
        .args(args1)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("GYM_FAULT");
    c
}

/// Waits for `job` at most `limit`; kills it and fails when it runs longer.
fn wait_bounded(job: &mut Child, limit: Duration, what: &str) -> (ExitStatus, String) {
    let started = Instant::now();
    let status = loop {
        if let Some(s) = job.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > limit {
            let _ = job.kill();
            panic!("{what}: the job still runs after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(job.stderr.as_mut().unwrap(), &mut err).unwrap();
    (status, err)
}

/// The lines of `err` that rnngym wrote as errors (Open MPI's banners may follow them).
fn error_lines(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.starts_with("error:")).collect()
}

#[test]
fn a_corpus_missing_for_one_rank_stops_every_rank_with_its_message() {
    let f = Fixture::new(&corpus(), CFG);
    let args = ["-q", "train", "--config", "c.toml"];
    let missing = [&args[..], &["--set", "gym.path=not-on-this-node.txt"]].concat();
    let started = Instant::now();
    let mut job = mpmd(f.path(), &args, &[], &missing)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, err) = wait_bounded(&mut job, Duration::from_secs(60), "missing corpus");
    assert!(!status.success(), "{err}");
    let ours = error_lines(&err);
    assert_eq!(ours.len(), 1, "{err}");
    assert!(
        ours[0].starts_with("error: rank 1 of 2: ") && ours[0].contains("not-on-this-node.txt"),
        "{err}"
    );
    assert!(
        !f.file("run/latest.safetensors").exists(),
        "no checkpoint: {err}"
    );
    eprintln!(
        "missing corpus on rank 1: ended after {:?}",
        started.elapsed()
    );
}

/// The process-gym tests' fault gym config in `dir` (a global batch of 2: 1 lane per rank).
fn process_config(dir: &Path) {
    std::fs::write(dir.join("c.toml"), process::fault_gym_config(1000, 30.0)).unwrap();
}

#[test]
fn a_gym_failing_on_one_rank_mid_run_ends_the_job_and_keeps_the_checkpoint() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 is not on PATH: skipping");
        return;
    }
    let f = Fixture::new(&corpus(), CFG);
    process_config(f.path());
    let args = ["-q", "train", "--config", "c.toml"];
    let fault = ["GYM_FAULT=exit", "GYM_FAULT_AT=25"];
    let mut job = mpmd(f.path(), &args, &fault, &args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, err) = wait_bounded(&mut job, Duration::from_secs(60), "gym fault");
    assert!(!status.success(), "{err}");
    let ours = error_lines(&err);
    assert_eq!(ours.len(), 1, "{err}");
    assert!(
        ours[0].starts_with("error: rank 1 of 2: ")
            && ours[0].contains("fault gym: injecting exit at window 25"),
        "{err}"
    );
    // The job ended within seconds of the fault: metrics.jsonl stopped growing at it.
    let metrics = f.file("run/metrics.jsonl");
    let since = std::fs::metadata(&metrics)
        .unwrap()
        .modified()
        .unwrap()
        .elapsed()
        .unwrap();
    // The checkpoint the job left is whole: one rank resumes from it once the gym works.
    let resumed = f
        .command(&[
            "-q",
            "train",
            "--resume",
            "run",
            "--set",
            "train.iterations=21",
        ])
        .env_remove("GYM_FAULT")
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    eprintln!("gym fault on rank 1: last metrics line {since:?} before the job's end was seen");
}

/// The iteration of the last training line of `run/metrics.jsonl`.
fn last_logged_iteration(f: &Fixture) -> u64 {
    let text = std::fs::read_to_string(f.file("run/metrics.jsonl")).unwrap();
    text.lines()
        .rev()
        .filter(|l| l.contains("\"kind\":\"train\""))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["iteration"].as_u64())
        .unwrap()
}

/// Who gets the signal: the ranks themselves (what `mpirun`, `srun` and `scancel` deliver to
/// each task), or the whole process group, `mpirun` included (Ctrl-C in a terminal).
#[derive(Clone, Copy, Debug)]
enum Target {
    Ranks,
    Group,
}

/// Trains until `signal` reaches `target`; asserts that the job ends within seconds with
/// `latest` at the iteration every rank stopped at, and that `--resume` continues from it.
fn interrupt_job(signal: &str, target: Target) {
    let f = Fixture::new(&corpus(), CFG);
    let args = endless_train(&["checkpoint.every=1000000"]);
    let mut c = mpmd(f.path(), &args, &[], &args);
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let mut job = c.stderr(Stdio::piped()).spawn().unwrap();
    let metrics = f.file("run/metrics.jsonl");
    let started = Instant::now();
    while std::fs::read_to_string(&metrics).map_or(0, |t| t.lines().count()) < 30 {
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ranks: Vec<String> = children(job.id()).iter().map(|p| p.to_string()).collect();
    assert_eq!(ranks.len(), 2);
    let who = match target {
        Target::Ranks => ranks,
        Target::Group => vec![format!("-{}", job.id())],
    };
    let sent = Instant::now();
    let ok = Command::new("kill")
        .arg(signal)
        .arg("--")
        .args(&who)
        .status()
        .unwrap();
    assert!(ok.success());
    let (status, err) = wait_bounded(&mut job, Duration::from_secs(30), signal);
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "ended after {took:?}: {err}"
    );
    assert!(!status.success(), "{err}");
    assert!(error_lines(&err).is_empty(), "{err}");
    let at = latest_iteration(&f.file("run"));
    assert_eq!(at, last_logged_iteration(&f), "{err}");
    if let Target::Ranks = target {
        // mpirun forwards rank 0's last words only when it is not itself shutting down.
        let said = format!("interrupted after iteration {at}; checkpoint saved");
        assert!(err.contains(&said), "{err}");
    }
    assert_resumes(&f, at);
    eprintln!("{signal} to {target:?}: ended after {took:?} at iteration {at}");
}

#[test]
fn sigint_to_the_ranks_stops_them_at_one_iteration_with_a_checkpoint() {
    interrupt_job("-INT", Target::Ranks);
}

#[test]
fn ctrl_c_to_the_job_ends_it_with_a_checkpoint_that_resumes() {
    interrupt_job("-INT", Target::Group);
}

#[test]
fn sigterm_to_the_job_ends_it_with_a_checkpoint_that_resumes() {
    interrupt_job("-TERM", Target::Group);
}

#[test]
fn a_rank_that_stops_responding_ends_the_job_at_the_collective_timeout() {
    // SIGSTOP rank 1 (a hung rank that does not die): rank 0 waits in the next all-reduce,
    // its watchdog says so after train.collective_timeout_s and exits, and mpirun ends the job
    // (the stopped rank included) with the last checkpoint loadable.
    let f = Fixture::new(&corpus(), CFG);
    let args = endless_train(&["checkpoint.every=20", "train.collective_timeout_s=3"]);
    let mut job = mpmd(f.path(), &args, &[], &args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_checkpoint(&f.file("run"));
    let ranks = children(job.id());
    assert_eq!(ranks.len(), 2);
    // The rank with the larger pid was started second: rank 1 under this MPMD launch.
    let stopped = *ranks.iter().max().unwrap();
    let sent = Instant::now();
    let ok = Command::new("kill")
        .args(["-STOP", &stopped.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let (status, err) = wait_bounded(&mut job, Duration::from_secs(40), "a stopped rank");
    let took = sent.elapsed();
    assert!(!status.success(), "{err}");
    // Rank 0 says why. (Open MPI continues a stopped rank before it kills it, so the stopped
    // rank's own watchdog may add its line too: it had been waiting in a collective as well.)
    let ours = error_lines(&err);
    assert!(
        ours.iter().any(|l| l.starts_with("error: rank 0 waited")),
        "rank 0's line: {err}"
    );
    assert!(ours.len() <= 2, "one line per rank at most: {err}");
    for l in &ours {
        assert!(l.contains("train.collective_timeout_s = 3"), "{err}");
    }
    assert!(
        took >= Duration::from_secs(3),
        "not before the limit: {took:?}"
    );
    assert!(
        took < Duration::from_secs(20),
        "ended after {took:?}: {err}"
    );
    // No rank is left behind, and the last checkpoint loads.
    assert!(
        !Path::new(&format!("/proc/{stopped}")).exists()
            || std::fs::read_to_string(format!("/proc/{stopped}/stat"))
                .is_ok_and(|s| s.contains(") Z ")),
        "the stopped rank was ended too"
    );
    let at = latest_iteration(&f.file("run"));
    assert!(at >= 20, "{at}");
    assert_resumes(&f, at);
    eprintln!("a stopped rank: the job ended {took:?} after SIGSTOP, checkpoint at {at}");
}

/// `train --resume run` (one process) continues the fixture's run from iteration `at`.
fn assert_resumes(f: &Fixture, at: u64) {
    let iterations = format!("train.iterations={}", at + 2);
    f.ok(&["-q", "train", "--resume", "run", "--set", &iterations]);
}

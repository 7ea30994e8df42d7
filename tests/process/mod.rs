//! Helpers of the process-gym tests: python3 detection, a temporary run folder holding a
//! config, the binary run inside it, and checks on the gym processes it started.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `python3` runs; prints why the test does nothing when it does not.
pub fn have_python() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("python3 is not on PATH: skipping this process-gym test");
    }
    ok
}

/// A temporary folder holding `c.toml`; the binary runs in it.
pub struct Dir(tempfile::TempDir);

impl Dir {
    /// Writes `config` as `c.toml`.
    pub fn new(config: &str) -> Dir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("c.toml"), config).unwrap();
        Dir(d)
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// A command for the binary in the folder, warnings only, with `envs` added.
    pub fn command(&self, args: &[&str], envs: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rnngym"));
        c.args(args)
            .current_dir(self.path())
            .env("RUST_LOG", "warn")
            .env_remove("GYM_FAULT")
            .envs(envs.iter().copied());
        c
    }

    /// Runs the binary to the end.
    pub fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        self.command(args, envs).output().expect("run rnngym")
    }

    /// The pids the fault gym recorded in `pids/`.
    pub fn gym_pids(&self) -> Vec<u32> {
        std::fs::read_dir(self.path().join("pids"))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts that every gym process recorded in `pids/` (at least `at_least` of them) is
    /// gone (or a zombie about to be reaped by init) within a few seconds.
    pub fn assert_no_gym_left(&self, at_least: usize) {
        let pids = self.gym_pids();
        assert!(
            pids.len() >= at_least,
            "expected at least {at_least} gym processes, found {pids:?}"
        );
        for pid in pids {
            assert!(
                wait_for(Duration::from_secs(5), || gone(pid)),
                "gym process {pid} is still running after the trainer exited"
            );
        }
    }
}

/// Whether `pid` no longer runs (absent, or a zombie).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Polls until `cond` holds (true) or `limit` passes (false).
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

#[allow(unused_imports)]
pub use super::common::assert_one_line_error;

/// A tiny model on tests/process/fault_gym.py (episodes of 4 windows of 2 lanes × 4 steps).
pub fn fault_gym_config(iterations: u64, timeout_s: f64) -> String {
    let script = repo().join("tests/process/fault_gym.py");
    format!(
        r#"
[model]
hidden = 8
layers = 1
embed = 4
[train]
iterations = {iterations}
batch = 2
seq_len = 4
lr = 1e-2
val_every = 5
val_windows = 2
log_every = 1
sample_every = 0
threads = 1
[gym]
id = "process-v1"
val_fraction = 0.1
[gym.options]
command = ["python3", "{}"]
timeout_s = {timeout_s}
[checkpoint]
dir = "run"
every = 10
"#,
        script.display()
    )
}

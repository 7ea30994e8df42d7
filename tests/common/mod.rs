//! Helpers shared by the CLI integration tests: a temporary directory with a tiny corpus and
//! config, and the real binary run inside it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A tiny 1-layer model config on `corpus.txt`, run dir `run`, samples every 10 iterations.
pub const TINY: &str = r#"
[model]
hidden = 16
layers = 1
embed = 8
[train]
iterations = 30
batch = 2
seq_len = 8
lr = 1e-2
val_every = 10
log_every = 5
sample_every = 10
[gym]
id = "text-v1"
path = "corpus.txt"
val_fraction = 0.2
[sample]
train_length = 30
[checkpoint]
dir = "run"
every = 10
"#;

/// A corpus with quotes, parentheses and short lines.
pub fn corpus() -> String {
    "To be, or not to be, that is the question:\n\"Whether 'tis nobler (in the mind) to suffer\"\n"
        .repeat(30)
}

/// A temporary directory holding `corpus.txt` and `c.toml`.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// Writes the corpus and the config.
    pub fn new(corpus: &str, config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("corpus.txt"), corpus).unwrap();
        std::fs::write(dir.path().join("c.toml"), config).unwrap();
        Fixture { dir }
    }
    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// A path inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
    /// A command for the binary, run in the directory (stdout/stderr are pipes, not a TTY).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rnngym"));
        c.args(args).current_dir(self.path()).env_remove("RUST_LOG");
        c
    }
    /// Runs the binary and asserts success.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run rnngym");
        assert!(
            out.status.success(),
            "rnngym {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
    /// Trains the tiny model into `run/`.
    pub fn train(&self) -> Output {
        self.ok(&["train", "--config", "c.toml"])
    }
}

/// Runs `rnngym train --config cfg` with info logging, asserts that it succeeded and wrote
/// `run/latest.safetensors`, and returns its log (stderr).
pub fn train_logged(cfg: &Path, run: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rnngym"))
        .args(["train", "--config"])
        .arg(cfg)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    assert!(run.join("latest.safetensors").is_file(), "{log}");
    log
}

/// The number right after `key` on the first line of `log` that contains it.
pub fn logged_number(log: &str, key: &str) -> f64 {
    let line = log
        .lines()
        .find(|l| l.contains(key))
        .unwrap_or_else(|| panic!("no '{key}' in the log:\n{log}"));
    let rest = &line[line.find(key).unwrap() + key.len()..];
    let num: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse()
        .unwrap_or_else(|_| panic!("bad number after '{key}': {line}"))
}

/// The environment variable `name` as a number, else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sends `signal` (`"-INT"`, `"-TERM"`, …) to `child`, waits for it, and returns its exit
/// code and everything it wrote to its (piped) stderr.
#[cfg(unix)]
pub fn interrupt(child: &mut std::process::Child, signal: &str) -> (Option<i32>, String) {
    use std::io::Read;
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal}");
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    let pipe = child.stderr.as_mut().expect("stderr piped");
    pipe.read_to_string(&mut stderr).unwrap();
    (status.code(), stderr)
}

/// Asserts failure with exactly one non-empty stderr line, `error: …`, holding every needle,
/// and no panic.
pub fn assert_one_line_error(out: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "panic: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for n in needles {
        assert!(
            lines[0].contains(n),
            "error should mention {n:?}: {}",
            lines[0]
        );
    }
    lines[0].to_string()
}

/// The MPI tests' tiny model on the text gym: a global batch of 4 (2 lanes per rank on 2
/// ranks), 50 iterations, a loss line every iteration, one thread, dropout off (each rank draws
/// its own masks, see docs/DISTRIBUTED.md).
pub const TINY_RANKS: &str = r#"
[model]
hidden = 16
layers = 1
embed = 8
[train]
iterations = 50
batch = 4
seq_len = 8
lr = 1e-2
val_every = 10
log_every = 1
sample_every = 0
threads = 1
[gym]
id = "text-v1"
path = "corpus.txt"
val_fraction = 0.2
[checkpoint]
dir = "run"
every = 10
"#;

/// The processes whose parent is `pid` (Linux `/proc`).
pub fn children(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The iteration of `run/latest.safetensors`, which must load.
pub fn latest_iteration(run: &Path) -> u64 {
    rnngym_trainer::state::read(&run.join("latest.safetensors"))
        .expect("a loadable latest checkpoint")
        .meta
        .iteration
}

/// `-q train --config c.toml` running until stopped (10⁸ iterations), with `sets` as further
/// `--set` overrides: the runs the MPI fault tests stop.
pub fn endless_train(sets: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec![
        "-q",
        "train",
        "--config",
        "c.toml",
        "--set",
        "train.iterations=100000000",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    args
}

/// Waits until `run/latest.safetensors` exists (it appears whole: written to a temporary name,
/// then renamed), failing after a minute.
pub fn wait_for_checkpoint(run: &Path) {
    let latest = run.join("latest.safetensors");
    let started = std::time::Instant::now();
    while !latest.is_file() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no checkpoint in {}",
            run.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

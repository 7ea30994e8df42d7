//! A gym written in Python (examples/python/brackets.py, served by python/rnngym_gym.py as a
//! `process-v1` child process) passes `check-gym`, trains through `rnngym train`, and its
//! checkpoint samples; so does the bare-protocol example; a gym that cannot start says why in
//! one line.

#![cfg(unix)]

mod common;
mod process;

use process::{assert_one_line_error, have_python, repo, Dir};

fn brackets_config() -> String {
    repo()
        .join("configs/brackets-python.toml")
        .display()
        .to_string()
}

#[test]
fn the_python_brackets_gym_passes_check_gym() {
    if !have_python() {
        return;
    }
    let d = Dir::new("");
    let out = d.run(&["check-gym", "--config", &brackets_config()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("gym process-v1 passed the conformance suite"),
        "{stdout}"
    );
    assert!(
        stdout.contains("vocab_size=7, train windows=32, val windows=32"),
        "{stdout}"
    );
}

#[test]
fn the_python_brackets_gym_trains_learns_and_samples() {
    if !have_python() {
        return;
    }
    let d = Dir::new("");
    let config = brackets_config();
    let args = [
        "train",
        "--config",
        &config,
        "--set",
        "checkpoint.dir=run",
        "--set",
        "train.iterations=120",
        "--set",
        "train.warmup=0",
        "--set",
        "train.val_every=120",
        "--set",
        "train.sample_every=0",
    ];
    let out = d.run(&args, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = rnngym_trainer::state::read(&d.path().join("run/latest.safetensors"))
        .unwrap()
        .meta;
    assert_eq!(meta.iteration, 120);
    // The unigram entropy of the stream is 1.85 nats per character (see the config).
    let val = meta.best_val_loss.expect("a validation pass");
    assert!(
        val < 1.5,
        "validation loss {val} is not well below the unigram 1.85"
    );
    let out = d.run(
        &["sample", "--checkpoint", "run", "--prime", "([", "-n", "80"],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("(["), "{text}");
    assert!(text.chars().all(|c| "()[]{}\n".contains(c)), "{text}");
    // Resumed without --config, from a folder that is not the config's: the saved config
    // pins the gym's working directory, so its relative script path still resolves.
    let out = d.run(
        &["train", "--resume", "run", "--set", "train.iterations=125"],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = rnngym_trainer::state::read(&d.path().join("run/latest.safetensors"))
        .unwrap()
        .meta;
    assert_eq!(meta.iteration, 125);
}

#[test]
fn the_bare_protocol_example_passes_check_gym() {
    if !have_python() {
        return;
    }
    let script = repo().join("examples/python/counting_raw.py");
    let out = check(&format!(
        "command = [\"python3\", \"{}\"]",
        script.display()
    ));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("vocab_size=5, train windows=8, val windows=8"),
        "{stdout}"
    );
}

#[test]
fn the_python_helper_passes_its_own_tests() {
    if !have_python() {
        return;
    }
    let out = std::process::Command::new("python3")
        .args(["-m", "unittest", "-q", "test_rnngym_gym"])
        .current_dir(repo().join("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("OK"), "{stderr}");
}

/// `check-gym` on a process gym whose `[gym.options]` are `options`.
fn check(options: &str) -> std::process::Output {
    let d = Dir::new(&format!(
        "[train]\nbatch = 2\nseq_len = 4\n[gym]\nid = \"process-v1\"\n[gym.options]\n{options}\n"
    ));
    d.run(&["check-gym", "--config", "c.toml"], &[])
}

#[test]
fn options_are_checked_by_key() {
    let out = check("command = [\"python3\", \"g.py\"]\ncomand = 1");
    assert_one_line_error(&out, &["gym.options.comand: unknown option for process-v1"]);
    let out = check("timeout_s = 1");
    assert_one_line_error(&out, &["gym.options.command: missing"]);
}

#[test]
fn a_gym_that_cannot_start_says_why() {
    let out = check("command = [\"no-such-gym-program\"]");
    assert_one_line_error(
        &out,
        &[
            "process-v1 gym 'no-such-gym-program': cannot start no-such-gym-program in ",
            "(gym.options.command)",
        ],
    );
    // Not a protocol speaker: its first bytes are not a frame.
    let out = check("command = [\"echo\", \"hello\"]");
    assert_one_line_error(
        &out,
        &["handshake: the child wrote \"hello\\n\" on stdout, which is not a protocol frame"],
    );
    if !have_python() {
        return;
    }
    let out = check("command = [\"python3\", \"missing_gym.py\"]");
    assert_one_line_error(
        &out,
        &[
            "process-v1 gym 'python3 missing_gym.py': handshake: the child exited with status 2",
            "its stderr ended with: ",
            "missing_gym.py",
        ],
    );
    let script = repo().join("examples/python/brackets.py");
    let out = check(&format!(
        "command = [\"python3\", \"{}\"]\n[gym.options.config]\nkinds = 9",
        script.display()
    ));
    assert_one_line_error(
        &out,
        &["the gym refused to start: ValueError: need 1 <= kinds <= 4"],
    );
}

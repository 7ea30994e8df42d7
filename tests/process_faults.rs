//! A process gym that fails (exits, hangs, writes garbage, sends a bad window, raises) ends
//! the run with one `error:` line naming the gym's command, what went wrong and the end of
//! its stderr; no gym process outlives the trainer, whether it ends in an error, a Ctrl-C or
//! a SIGKILL; and a run whose gym failed resumes from its last checkpoint once the gym works.

#![cfg(unix)]

mod common;
mod process;

use std::process::{Command, Stdio};
use std::time::Duration;

use process::{assert_one_line_error, fault_gym_config as config, have_python, wait_for, Dir};

/// Trains with `GYM_FAULT=fault` at the third training window; asserts the one-line error
/// holds `needles` and that both gym processes (training and validation) are gone.
fn fault(fault: &str, timeout_s: f64, needles: &[&str]) {
    if !have_python() {
        return;
    }
    let d = Dir::new(&config(20, timeout_s));
    let out = d.run(
        &["train", "--config", "c.toml"],
        &[("GYM_FAULT", fault), ("GYM_FAULT_AT", "3")],
    );
    let mut all = vec!["process-v1 gym 'python3 ", "fault_gym.py'"];
    all.extend(needles);
    assert_one_line_error(&out, &all);
    d.assert_no_gym_left(2);
}

const AT_WINDOW_3: &str = "step (window 3 of the train episode)";

#[test]
fn a_gym_that_exits_is_named_with_its_status_and_stderr() {
    fault(
        "exit",
        10.0,
        &[
            AT_WINDOW_3,
            "the child exited with status 3",
            "its stderr ended with: fault gym: injecting exit at window 3",
        ],
    );
}

#[test]
fn a_gym_that_hangs_is_killed_after_its_timeout() {
    fault(
        "hang",
        1.0,
        &[
            AT_WINDOW_3,
            "no reply within 1 s (gym.options.timeout_s), so the child was killed",
            "injecting hang",
        ],
    );
}

#[test]
fn a_gym_that_writes_garbage_is_stopped() {
    fault(
        "garbage",
        10.0,
        &[
            "wrote \"hello, w\" on stdout, which is not a protocol frame",
            "so it was killed",
            "injecting garbage",
        ],
    );
}

#[test]
fn a_window_of_the_wrong_shape_is_refused() {
    fault(
        "shape",
        10.0,
        &[
            AT_WINDOW_3,
            "sent a window of 3 lanes × 4 steps; asked for 2 lanes × 4 steps",
            "injecting shape",
        ],
    );
}

#[test]
fn a_token_outside_the_vocabulary_is_refused() {
    fault(
        "token",
        10.0,
        &["inputs[0] (lane 0, t 0) = 200, outside the vocabulary 0..2"],
    );
}

#[test]
fn an_exception_in_the_gym_reaches_the_error_line() {
    fault(
        "raise",
        10.0,
        &[
            "step (window 3 of the train episode) failed: RuntimeError: boom (fault_gym.py:",
            "in inject)",
        ],
    );
}

#[test]
fn a_fault_keeps_the_last_checkpoint_and_resume_works_once_the_gym_is_fixed() {
    if !have_python() {
        return;
    }
    // Checkpoints every 7 iterations, so the last one (21) falls inside an episode of 4
    // windows, which a resume replays.
    let d = Dir::new(&config(40, 10.0).replace("every = 10", "every = 7"));
    let out = d.run(
        &["train", "--config", "c.toml"],
        &[("GYM_FAULT", "exit"), ("GYM_FAULT_AT", "25")],
    );
    assert_one_line_error(&out, &["step (window 1 of the train episode)", "status 3"]);
    assert_eq!(
        common::latest_iteration(&d.path().join("run")),
        21,
        "the checkpoint before the fault"
    );
    d.assert_no_gym_left(2);
    // Still broken: the replay's failure is the gym's, not a damaged checkpoint's.
    let resume = ["train", "--config", "c.toml", "--resume", "run"];
    let out = d.run(&resume, &[("GYM_FAULT", "exit"), ("GYM_FAULT_AT", "1")]);
    let line = assert_one_line_error(&out, &["step (window 1 of the train episode)", "status 3"]);
    assert!(!line.contains("damaged"), "{line}");
    assert_eq!(common::latest_iteration(&d.path().join("run")), 21);
    let out = d.run(&resume, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::latest_iteration(&d.path().join("run")), 40);
    d.assert_no_gym_left(6);
}

#[test]
fn sigkill_of_the_trainer_kills_even_a_hung_gym() {
    if !have_python() {
        return;
    }
    let d = Dir::new(&config(1000, 600.0));
    let mut child = d
        .command(
            &["train", "--config", "c.toml"],
            &[("GYM_FAULT", "hang"), ("GYM_FAULT_AT", "3")],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The training gym now sleeps in `step`: it reads nothing, so only the parent-death
    // signal can stop it.
    let hung = wait_for(Duration::from_secs(30), || {
        d.path().join("hanging").exists()
    });
    let _ = child.kill();
    child.wait().unwrap();
    assert!(hung, "the gym never reached its hang");
    d.assert_no_gym_left(2);
}

#[test]
fn ctrl_c_checkpoints_and_leaves_no_gym() {
    use std::os::unix::process::CommandExt;
    if !have_python() {
        return;
    }
    let d = Dir::new(&config(1_000_000, 10.0));
    // Its own process group, signalled whole, as a terminal's Ctrl-C signals the foreground
    // group: the gyms, in groups of their own, must not see it.
    let mut child = d
        .command(&["train", "--config", "c.toml"], &[])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = d.path().join("run/metrics.jsonl");
    let started = wait_for(Duration::from_secs(30), || {
        rnngym_trainer::observers::read_jsonl(&metrics).is_ok_and(|r| r.len() >= 3)
    });
    let group = format!("-{}", child.id());
    let sent = Command::new("kill").args(["-INT", "--", &group]).status();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(started && sent.is_ok_and(|s| s.success()), "{stderr}");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted after iteration"), "{stderr}");
    assert!(!stderr.contains("error:"), "{stderr}");
    d.assert_no_gym_left(2);
    let at = common::latest_iteration(&d.path().join("run"));
    assert!(at >= 3, "{stderr}");
    let more = format!("train.iterations={}", at + 3);
    let out = d.run(&["train", "--resume", "run", "--set", &more], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::latest_iteration(&d.path().join("run")), at + 3);
}

//! `ProcessGym` in process, on the Python brackets example: it passes `check_gym`, prefetching
//! changes no window, forks are independent processes, the parent keeps the episode
//! bookkeeping, and a refusing gym's errors have the types the trainer relies on.

#![cfg(unix)]

use std::path::PathBuf;
use std::process::Command;

use rnngym_gyms::process::{ProcessGym, ID};
use rnngym_gyms::{check_gym, Gym, GymError, GymRegistry, GymSpec, Shape, Split, WindowError};

fn have_python() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("python3 is not on PATH: skipping this process-gym test");
    }
    ok
}

/// The brackets gym, run in examples/python/, with `[gym.options]` extras.
fn spec(extra: &str) -> GymSpec {
    let mut s = GymSpec::new(ID);
    let text = format!("command = [\"python3\", \"brackets.py\"]\n{extra}");
    s.options = text.parse().unwrap();
    s.base_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/python");
    s
}

const SHAPE: Shape = Shape { batch: 3, seq: 5 };

#[test]
fn the_brackets_gym_passes_check_gym_through_the_registry() {
    if !have_python() {
        return;
    }
    let mut gym = GymRegistry::with_builtins().make(&spec("")).unwrap();
    assert_eq!(gym.id(), ID);
    assert_eq!(gym.codec().spec()["vocab"], "\n()[]{}");
    let report = check_gym(gym.as_mut(), SHAPE).unwrap();
    assert_eq!(report.train_windows, 32);
}

/// The windows of a fixed request sequence: a partial episode cut short by another split's
/// reset, then a whole episode.
fn script(gym: &mut dyn Gym) -> Vec<rnngym_gyms::Step> {
    let mut out = Vec::new();
    gym.reset(Split::Train, 7, SHAPE).unwrap();
    out.extend((0..3).map(|_| gym.step().unwrap()));
    gym.reset(Split::Val, 7, SHAPE).unwrap();
    out.push(gym.step().unwrap());
    gym.reset(Split::Train, 7, SHAPE).unwrap();
    loop {
        let s = gym.step().unwrap();
        let done = s.episode_done;
        out.push(s);
        if done {
            break;
        }
    }
    out
}

#[test]
fn prefetching_changes_no_window_and_forks_are_independent() {
    if !have_python() {
        return;
    }
    let mut eager = ProcessGym::from_spec(&spec("")).unwrap();
    let mut lazy = ProcessGym::from_spec(&spec("prefetch = false")).unwrap();
    let a = script(&mut eager);
    assert_eq!(a, script(&mut lazy));
    assert_eq!(a.len(), 3 + 1 + 32);
    assert_ne!(a[0], a[3], "validation windows differ from training ones");
    // A fork runs beside its parent without moving it.
    let mut fork = eager.fork().unwrap();
    eager.reset(Split::Train, 7, SHAPE).unwrap();
    fork.reset(Split::Train, 7, SHAPE).unwrap();
    assert_eq!(eager.step().unwrap(), fork.step().unwrap());
    assert_eq!(fork.step().unwrap(), a[5]);
    assert_eq!(eager.step().unwrap(), a[5]);
}

#[test]
fn the_parent_keeps_the_episode_bookkeeping() {
    if !have_python() {
        return;
    }
    let mut gym = ProcessGym::from_spec(&spec("[config]\nwindows = 2")).unwrap();
    assert!(matches!(gym.step(), Err(GymError::Contract(_))));
    let info = gym.reset(Split::Train, 1, SHAPE).unwrap();
    assert_eq!((info.windows, info.tokens), (Some(2), 30));
    assert!(!gym.step().unwrap().episode_done);
    assert!(gym.step().unwrap().episode_done);
    assert!(matches!(gym.step(), Err(GymError::Contract(_))));
    let e = gym.reset(Split::Train, 1, Shape { batch: 0, seq: 5 });
    assert!(matches!(
        e,
        Err(GymError::Window(WindowError::Empty { .. }))
    ));
    // Still serving after refusals made on this side.
    gym.reset(Split::Train, 1, SHAPE).unwrap();
    gym.step().unwrap();
}

#[test]
fn a_child_that_is_not_a_gym_is_a_process_error() {
    // `yes` answers the handshake with endless "y\n": not a frame.
    let mut s = spec("");
    s.options = "command = [\"yes\"]".parse().unwrap();
    match ProcessGym::from_spec(&s).err().expect("garbage refused") {
        GymError::Process { command, message } => {
            assert_eq!(command, "yes");
            let start = "handshake: the child wrote \"y\\ny\\ny\\ny\\n\" on stdout";
            assert!(message.starts_with(start), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn after_a_fault_every_call_repeats_it() {
    if !have_python() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/process/fault_gym.py");
    let mut s = spec("");
    let options = format!(
        "command = [\"python3\", \"{}\"]\n[env]\nGYM_FAULT = \"exit\"\nGYM_FAULT_AT = \"2\"",
        script.display()
    );
    s.options = options.parse().unwrap();
    s.base_dir = dir.path().to_path_buf();
    let mut gym = ProcessGym::from_spec(&s).unwrap();
    gym.reset(Split::Train, 0, SHAPE).unwrap();
    gym.step().unwrap();
    let first = gym.step().unwrap_err().to_string();
    assert!(
        first.contains("step (window 2 of the train episode): the child exited with status 3"),
        "{first}"
    );
    let again = gym.reset(Split::Train, 0, SHAPE).unwrap_err().to_string();
    assert_eq!(again, first);
}

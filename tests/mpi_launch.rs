//! A build without the `mpi` feature started by `mpirun` with several processes refuses in
//! one line instead of training N independent copies. Skipped, saying why, where `mpirun` is
//! not installed.

#![cfg(not(feature = "mpi"))]

mod common;

use std::process::Command;

use common::{corpus, Fixture, TINY};

#[test]
fn a_build_without_mpi_refuses_to_run_under_mpirun() {
    if Command::new("mpirun").arg("--version").output().is_err() {
        eprintln!("skipped: no mpirun (apt-get install openmpi-bin)");
        return;
    }
    let f = Fixture::new(&corpus(), TINY);
    let out = Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-np", "2"])
        .arg(env!("CARGO_BIN_EXE_rnngym"))
        .args(["train", "--config", "c.toml"])
        .current_dir(f.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(ours.len(), 1, "{err}");
    assert!(
        ours[0].contains("built without MPI") && ours[0].contains("--features mpi"),
        "{err}"
    );
    assert!(!f.file("run").exists(), "nothing trained: {err}");
}

#[test]
fn the_launchers_variables_say_one_process_is_not_a_job() {
    // Under plain `cargo test` (or a launcher of one process) training runs as usual.
    let f = Fixture::new(&corpus(), TINY);
    let out = f
        .command(&[
            "-q",
            "train",
            "--config",
            "c.toml",
            "--set",
            "train.iterations=2",
        ])
        .env("OMPI_COMM_WORLD_SIZE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

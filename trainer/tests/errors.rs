//! What the trainer adds to the errors of the crates below it: the config keys behind a window
//! shape the gym cannot serve, and checkpoint errors whose cause is printed once.

mod common;
use common::*;

use rnngym_gyms::WindowError;
use rnngym_kernels::CpuBackend;
use rnngym_trainer::{state, Trainer, TrainerError};

/// Every message of an error's `source()` chain, outermost first (what `anyhow` prints).
fn chain(e: &dyn std::error::Error) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out
}

#[test]
fn a_corpus_too_small_for_one_window_names_the_config_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.train.batch = 32;
    cfg.train.seq_len = 64;
    let err = match Trainer::new(CpuBackend::new(1), cfg, text_gym(TEXT, 0.0)) {
        Ok(_) => panic!("a {}-character corpus served 32 × 64 windows", TEXT.len()),
        Err(e) => e,
    };
    assert!(
        matches!(
            err,
            TrainerError::Window(WindowError::TooSmall {
                batch: 32,
                seq: 64,
                ..
            })
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("one window of 32 lanes × 64 steps"), "{msg}");
    assert!(
        msg.ends_with("; lower train.batch or train.seq_len"),
        "{msg}"
    );
    assert_eq!(chain(&err), [msg]);
}

#[test]
fn a_missing_checkpoint_prints_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.safetensors");
    let err = match state::read(&path) {
        Ok(_) => panic!("read a checkpoint that does not exist"),
        Err(e) => e,
    };
    assert!(matches!(err, TrainerError::CheckpointFile(_)), "{err:?}");
    let parts = chain(&err);
    let all = parts.join(": ");
    assert!(
        all.contains("cannot read checkpoint") && all.contains("nope.safetensors"),
        "{all}"
    );
    // Each part of the chain says something the others do not.
    for (i, a) in parts.iter().enumerate() {
        for b in &parts[i + 1..] {
            assert!(!a.contains(b.as_str()), "{b:?} repeats inside {a:?}");
        }
    }
}

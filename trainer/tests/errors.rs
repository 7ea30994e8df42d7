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

/// The fixture checkpoint with its saved `model.device = "auto"` replaced by `device`
/// (4 characters, so the header keeps its length).
fn fixture_with_device(device: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/checkpoints/lstm-it3.safetensors");
    let mut bytes = std::fs::read(path).unwrap();
    // The config is a JSON string inside the JSON header: its quotes appear as \\\".
    let from = br#"device = \\\"auto\\\""#;
    let to = format!(r#"device = \\\"{device}\\\""#);
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the saved config names model.device");
    bytes[at..at + from.len()].copy_from_slice(to.as_bytes());
    bytes
}

#[test]
fn a_saved_config_error_is_typed_and_printed_once() {
    use rnngym_trainer::config::{ConfigError, DeviceChoice};
    use rnngym_trainer::state::ContentsError;

    let path = std::path::Path::new("edited.safetensors");
    let err = match state::read_bytes(&fixture_with_device("gpu1"), path) {
        Ok(_) => panic!("loaded a checkpoint whose config names device \"gpu1\""),
        Err(e) => e,
    };
    let TrainerError::CheckpointContents(contents) = &err else {
        panic!("{err:?}");
    };
    assert!(
        matches!(
            **contents,
            ContentsError::SavedConfig {
                error: ConfigError::Parse { .. },
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.starts_with("edited.safetensors: "), "{msg}");
    assert!(
        msg.contains("(key model.device)") && msg.contains("\"gpu1\""),
        "{msg}"
    );
    assert_eq!(chain(&err), [msg]);

    // A checkpoint that names plain "cuda" loads, and its config saves it back as written.
    let loaded = state::read_bytes(&fixture_with_device("cuda"), path).unwrap();
    assert_eq!(loaded.config.model.device, DeviceChoice::Cuda(None));
    assert!(loaded
        .config
        .to_toml_string()
        .contains("device = \"cuda\"\n"));
}

#[test]
fn a_damaged_data_cursor_is_reported_as_a_damaged_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let mut t = Trainer::new(
        CpuBackend::new(1),
        cfg.clone(),
        text_gym(&TEXT.repeat(20), 0.0),
    )
    .unwrap();
    t.train(3).unwrap();
    let good = t.save(rnngym_trainer::CheckpointKind::Latest).unwrap();
    drop(t);
    // The cursor claims a million windows served in an episode that has a few dozen.
    let (mut meta, tensors) = rnngym_trainer::checkpoint::load(&good).unwrap();
    meta["episode_steps"] = 1_000_000.into();
    meta["episode_live"] = true.into();
    let bad = dir.path().join("bad.safetensors");
    rnngym_trainer::checkpoint::save_map(&bad, &meta, &tensors).unwrap();
    let gym = text_gym(&TEXT.repeat(20), 0.0);
    let err = match Trainer::resume(CpuBackend::new(1), cfg, gym, &bad) {
        Ok(_) => panic!("resumed from an impossible cursor"),
        Err(e) => e,
    };
    assert!(matches!(err, TrainerError::DamagedCursor { .. }), "{err:?}");
    let msg = err.to_string();
    for needle in [
        "bad.safetensors",
        "window 1000000",
        "the checkpoint is damaged",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing: {msg}");
    }
}

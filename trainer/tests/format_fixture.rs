//! Checkpoints written by an earlier `main` keep loading and resuming.
//!
//! `tests/fixtures/checkpoints/` holds, for each cell, the `latest` checkpoint of a tiny run
//! after 3 iterations (`<cell>-it3.safetensors`) and after 6 (`<cell>-it6.safetensors`, the
//! same run carried on without a stop), written by the code of 2026-12-05 (before the
//! middle-layer cleanup of issue 17). Regenerate only on purpose, when the format changes:
//! `RNNGYM_WRITE_FIXTURES=1 cargo test --release -p rnngym-trainer --test format_fixture`.
//!
//! Two checks per cell:
//! - resuming the old file and training 3 more iterations gives bit-for-bit the state that
//!   resuming the same state re-saved by today's code gives (the old format loads completely);
//! - that state matches the original run's iteration 6 to float rounding (bit-identical on a
//!   CPU with the same SIMD width as the machine that wrote the fixture).

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rnngym_kernels::CpuBackend;
use rnngym_trainer::checkpoint::Tensor;
use rnngym_trainer::config::CellKind;
use rnngym_trainer::{state, CheckpointKind, Config, Trainer};

const CELLS: [(CellKind, &str); 3] = [
    (CellKind::Lstm, "lstm"),
    (CellKind::Gru, "gru"),
    (CellKind::Rnn, "rnn"),
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoints")
}

fn text() -> String {
    TEXT.repeat(12)
}

/// The tiny run of the fixture: 2 layers with dropout, a validation split, checkpoints held
/// back and written every 3 iterations.
fn config(cell: CellKind, dir: &Path) -> Config {
    let mut c = tiny_config(dir);
    c.model.cell = cell;
    c.model.hidden = 12;
    c.model.embed = Some(6);
    c.model.dropout = 0.25;
    c.gym.val_fraction = 0.2;
    c.train.val_every = 2;
    c.train.val_windows = 2;
    c.train.seq_len = 8;
    c.checkpoint.every = 3;
    c
}

fn tensors(path: &Path) -> BTreeMap<String, Tensor> {
    state::read(path).unwrap().tensors
}

/// Resumes `ckpt` (with the config saved in it, written to `dir`) and trains 3 iterations.
fn resume_and_train(ckpt: &Path, dir: &Path) -> BTreeMap<String, Tensor> {
    let loaded = state::read(ckpt).unwrap();
    let mut cfg = loaded.config.clone();
    cfg.checkpoint.dir = dir.display().to_string();
    let gym = text_gym(&text(), cfg.gym.val_fraction);
    let mut t = Trainer::resume(CpuBackend::new(1), cfg, gym, ckpt).unwrap();
    assert_eq!(t.iteration(), loaded.meta.iteration);
    t.train(3).unwrap();
    tensors(&t.save(CheckpointKind::Latest).unwrap())
}

fn write_fixtures() {
    std::fs::create_dir_all(fixtures()).unwrap();
    for (cell, name) in CELLS {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(cell, dir.path());
        let gym = text_gym(&text(), cfg.gym.val_fraction);
        let mut t = Trainer::new(CpuBackend::new(1), cfg, gym).unwrap();
        t.train(3).unwrap();
        std::fs::copy(
            dir.path().join("latest.safetensors"),
            fixtures().join(format!("{name}-it3.safetensors")),
        )
        .unwrap();
        t.train(3).unwrap();
        std::fs::copy(
            dir.path().join("latest.safetensors"),
            fixtures().join(format!("{name}-it6.safetensors")),
        )
        .unwrap();
    }
}

#[test]
fn old_checkpoints_load_and_resume() {
    if std::env::var_os("RNNGYM_WRITE_FIXTURES").is_some() {
        write_fixtures();
    }
    for (_, name) in CELLS {
        let old = fixtures().join(format!("{name}-it3.safetensors"));
        let meta = state::read(&old).unwrap().meta;
        assert_eq!(meta.iteration, 3, "{name}");
        assert!(meta.best_val_loss.is_some(), "{name}: validation ran at 2");

        // The old state re-saved by today's code resumes exactly like the old file.
        let copy = tempfile::tempdir().unwrap();
        let resaved = {
            let loaded = state::read(&old).unwrap();
            let mut cfg = loaded.config.clone();
            cfg.checkpoint.dir = copy.path().display().to_string();
            let gym = text_gym(&text(), cfg.gym.val_fraction);
            let mut t = Trainer::resume(CpuBackend::new(1), cfg, gym, &old).unwrap();
            t.save(CheckpointKind::Latest).unwrap()
        };
        let from_resaved = resume_and_train(&resaved, copy.path());
        let dir = tempfile::tempdir().unwrap();
        let from_old = resume_and_train(&old, dir.path());
        assert_eq!(from_old.len(), from_resaved.len(), "{name}");
        for (k, a) in &from_old {
            let b = &from_resaved[k];
            assert_eq!(a.shape, b.shape, "{name} {k}");
            let same = a
                .data
                .iter()
                .zip(&b.data)
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(
                same,
                "{name} {k}: resuming the old file differs from the re-saved state"
            );
        }

        // And both carry on the original run.
        let want = tensors(&fixtures().join(format!("{name}-it6.safetensors")));
        assert_eq!(
            want.keys().collect::<Vec<_>>(),
            from_old.keys().collect::<Vec<_>>()
        );
        let mut exact = true;
        for (k, w) in &want {
            let got = &from_old[k];
            assert_eq!(w.shape, got.shape, "{name} {k}");
            for (i, (x, y)) in got.data.iter().zip(&w.data).enumerate() {
                exact &= x.to_bits() == y.to_bits();
                let tol = 1e-4 * y.abs().max(1e-2);
                assert!(
                    (x - y).abs() <= tol,
                    "{name} {k}[{i}]: resumed run has {x}, the original run {y}"
                );
            }
        }
        println!("{name}: resumed run matches iteration 6 (bit-identical: {exact})");
    }
}

//! End-to-end training behaviour on the text gym: memorising a tiny text, determinism under a
//! seed, exact resume from a checkpoint, dropout, and the divergence stop.

mod common;
use common::*;
use std::sync::{Arc, Mutex};

use rnngym_kernels::CpuBackend;
use rnngym_trainer::{CellKind, Config, Trainer, TrainerError};

fn train_losses(cfg: &Config, text: &str, iterations: u64) -> Vec<f64> {
    let mut t = Trainer::new(
        CpuBackend::new(1),
        cfg.clone(),
        text_gym(text, cfg.gym.val_fraction),
    )
    .unwrap();
    let losses = Arc::new(Mutex::new(Vec::new()));
    t.add_observer(Box::new(Losses(losses.clone())));
    t.train(iterations).unwrap();
    let v = losses.lock().unwrap().clone();
    v
}

#[test]
fn memorises_a_tiny_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.train.iterations = 400;
    let losses = train_losses(&cfg, TEXT, 400);
    let last = *losses.last().unwrap();
    assert!(losses[0] > 2.5, "starts near uniform: {}", losses[0]);
    assert!(last < 0.05, "memorised: final loss {last} nats");
}

#[test]
fn every_cell_learns() {
    for cell in [CellKind::Gru, CellKind::Rnn] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = tiny_config(dir.path());
        cfg.model.cell = cell;
        let losses = train_losses(&cfg, TEXT, 150);
        let last = *losses.last().unwrap();
        assert!(last < 0.5 * losses[0], "{cell:?}: {} → {last}", losses[0]);
    }
}

#[test]
fn same_seed_same_losses_other_seed_differs() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.model.dropout = 0.3;
    let a = train_losses(&cfg, TEXT, 30);
    let b = train_losses(&cfg, TEXT, 30);
    assert_eq!(a, b, "bit-identical with the same seed");
    cfg.train.seed += 1;
    let c = train_losses(&cfg, TEXT, 30);
    assert_ne!(a, c);
}

#[test]
fn resume_continues_bit_for_bit() {
    // Long enough text that the cursor sits mid-episode at the checkpoint; dropout on, so the
    // dropout stream must also resume exactly; a validation pass in the middle must not disturb
    // the training stream.
    let text: String = TEXT.repeat(20);
    let (k, m) = (13u64, 17u64);
    let dir_a = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir_a.path());
    cfg.model.dropout = 0.2;
    cfg.gym.val_fraction = 0.2;
    cfg.train.val_every = 5;
    cfg.train.val_windows = 2;
    let straight = train_losses(&cfg, &text, k + m);

    let dir_b = tempfile::tempdir().unwrap();
    let mut cfg_b = cfg.clone();
    cfg_b.checkpoint.dir = dir_b.path().display().to_string();
    let first = {
        let mut t = Trainer::new(CpuBackend::new(1), cfg_b.clone(), text_gym(&text, 0.2)).unwrap();
        let losses = Arc::new(Mutex::new(Vec::new()));
        t.add_observer(Box::new(Losses(losses.clone())));
        t.train(k).unwrap();
        let v = losses.lock().unwrap().clone();
        v
    };
    let ckpt = dir_b.path().join("latest.safetensors");
    let mut t = Trainer::resume(CpuBackend::new(1), cfg_b, text_gym(&text, 0.2), &ckpt).unwrap();
    assert_eq!(t.iteration(), k);
    let losses = Arc::new(Mutex::new(Vec::new()));
    t.add_observer(Box::new(Losses(losses.clone())));
    t.train(m).unwrap();
    let mut resumed = first;
    resumed.extend(losses.lock().unwrap().iter());
    assert_eq!(straight, resumed, "k + m straight equals k, resume, m");
}

#[test]
fn divergence_stops_with_a_clear_message_and_keeps_the_checkpoint() {
    // With rollbacks off the first divergence ends the run (tests/rollback.rs covers them on).
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.train.lr = 1e30;
    cfg.train.grad_clip = 0.0;
    cfg.train.max_rollbacks = 0;
    cfg.checkpoint.every = 1;
    let mut t = Trainer::new(CpuBackend::new(1), cfg, text_gym(TEXT, 0.0)).unwrap();
    let err = t.train(50).unwrap_err();
    assert!(matches!(err, TrainerError::Diverged(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("diverged at iteration 2") && msg.contains("train.lr"),
        "{msg}"
    );
    // Iteration 1's checkpoint was due, but held back until a sane step vouched for it; the
    // step after it diverged, so nothing was written.
    assert!(msg.contains("no checkpoint was written yet"), "{msg}");
    assert!(!dir.path().join("latest.safetensors").exists());
}

#[test]
fn run_generates_from_the_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.train.iterations = 300;
    let mut t = Trainer::new(CpuBackend::new(1), cfg, text_gym(TEXT, 0.0)).unwrap();
    t.train(300).unwrap();
    let codec = t.codec();
    let prime = codec.encode("the quick", Default::default()).unwrap();
    let opts = rnngym_trainer::sample::SampleOptions {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        argmax: true,
    };
    let mut rng = rnngym_trainer::sample::seeded_rng(Some(1));
    let mut streamed = Vec::new();
    let out = t
        .run(11, &prime, &opts, &mut rng, |tok| streamed.push(tok))
        .unwrap();
    assert_eq!(out, streamed);
    assert_eq!(codec.render(&out), " brown fox ");
}

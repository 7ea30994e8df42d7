//! Adam(W) and RMSProp against values worked out by hand (PyTorch formulas), and the
//! statistical / determinism properties of the dropout mask.

use rnngym_kernels::cpu::reference;
use rnngym_kernels::{AdamStep, Backend, CpuBackend, KernelError, RmsPropStep};

fn adam(lr: f32, wd: f32, step: u64) -> AdamStep {
    AdamStep {
        lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: wd,
        step,
    }
}

#[test]
fn adam_hand_computed() {
    let be = CpuBackend::new(1);
    let (mut p, mut m, mut v) = (vec![1.0f32], vec![0.0f32], vec![0.0f32]);
    // t=1, g=0.5: m=0.05, v=2.5e-4, m̂=0.5, v̂=0.25 → p = 1 − 0.1·0.5/0.5 = 0.9
    // t=2, g=−0.25: m=0.02, v=3.1225e-4, m̂=0.02/0.19, v̂=3.1225e-4/0.001999 → p ≈ 0.8733663
    // t=3, g=1: m=0.118, v=1.31194e-3 → p ≈ 0.8075551
    let want = [0.9, 0.873_366_3, 0.807_555_1];
    for (t, (&g, &w)) in [0.5f32, -0.25, 1.0].iter().zip(&want).enumerate() {
        be.adam_step(
            &mut p,
            &vec![g],
            &mut m,
            &mut v,
            1,
            &adam(0.1, 0.0, t as u64 + 1),
        )
        .unwrap();
        assert!(
            (p[0] - w).abs() < 1e-6,
            "adam step {}: {} vs {w}",
            t + 1,
            p[0]
        );
    }
    // f32 moments: a few ulps per step, and 0.999f32 makes 1 − β₂ off by 1.3e-5 relative.
    assert!((m[0] - 0.118).abs() < 1e-6 * 0.118, "m = {}", m[0]);
    assert!(
        (v[0] - 1.311_937_8e-3).abs() < 2e-5 * 1.3e-3,
        "v = {}",
        v[0]
    );
}

#[test]
fn adamw_decays_before_the_update() {
    let be = CpuBackend::new(1);
    let (mut p, mut m, mut v) = (vec![1.0f32], vec![0.0f32], vec![0.0f32]);
    // t=1: p = 1·(1 − 0.1·0.01) − 0.1 = 0.899; t=2: 0.899·0.999 − 0.0266337 ≈ 0.8714673
    for (t, (&g, &w)) in [0.5f32, -0.25]
        .iter()
        .zip(&[0.899f32, 0.871_467_3])
        .enumerate()
    {
        be.adam_step(
            &mut p,
            &vec![g],
            &mut m,
            &mut v,
            1,
            &adam(0.1, 0.01, t as u64 + 1),
        )
        .unwrap();
        assert!(
            (p[0] - w).abs() < 1e-6,
            "adamw step {}: {} vs {w}",
            t + 1,
            p[0]
        );
    }
}

#[test]
fn rmsprop_hand_computed() {
    let be = CpuBackend::new(1);
    let (mut p, mut sq) = (vec![1.0f32], vec![0.0f32]);
    let s = RmsPropStep {
        lr: 0.01,
        alpha: 0.99,
        eps: 1e-8,
    };
    // sq=0.0025 → p = 1 − 0.01·0.5/0.05 = 0.9; sq=0.004975 → p ≈ 0.8291119;
    // g=−1: sq=0.01492525 → p ≈ 0.9109658
    let want = [0.9f32, 0.829_111_9, 0.910_965_8];
    for (&g, &w) in [0.5f32, 0.5, -1.0].iter().zip(&want) {
        be.rmsprop_step(&mut p, &vec![g], &mut sq, 1, &s).unwrap();
        assert!((p[0] - w).abs() < 1e-6, "rmsprop: {} vs {w}", p[0]);
    }
    assert!(
        (sq[0] - 0.014_925_25).abs() < 1e-6 * 0.015,
        "sq = {}",
        sq[0]
    );
}

#[test]
fn adam_rejects_step_zero() {
    let be = CpuBackend::new(1);
    let (mut p, mut m, mut v) = (vec![1.0f32], vec![0.0f32], vec![0.0f32]);
    let r = be.adam_step(&mut p, &vec![1.0], &mut m, &mut v, 1, &adam(0.1, 0.0, 0));
    assert!(matches!(r, Err(KernelError::Shape(_))));
}

fn mask(be: &CpuBackend, n: usize, p: f32, seed: u64) -> Vec<f32> {
    let mut x = vec![1.0; n];
    let mut m = vec![f32::NAN; n];
    be.dropout(&mut x, 0, &mut m, n, p, seed).unwrap();
    assert_eq!(x, m, "with x = 1 the output is the mask");
    m
}

#[test]
fn dropout_mask_properties() {
    let be = CpuBackend::new(1);
    let (n, p) = (200_000, 0.3);
    let a = mask(&be, n, p, 42);
    assert_eq!(a, mask(&be, n, p, 42), "same seed, same mask");
    let b = mask(&be, n, p, 43);
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert!(
        differ > n / 4,
        "another seed gives another mask ({differ} differ)"
    );
    let zeros = a.iter().filter(|&&x| x == 0.0).count() as f64 / n as f64;
    assert!((zeros - 0.3).abs() < 0.01, "zero fraction {zeros}");
    let keep = 1.0 / (1.0 - p);
    assert!(a.iter().all(|&x| x == 0.0 || x == keep));
    // Inverted dropout keeps the expectation: mean of the mask ≈ 1.
    let mean = a.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    assert!((mean - 1.0).abs() < 0.02, "mask mean {mean}");

    let mut x = vec![1.0; n];
    let mut r = vec![0.0; n];
    reference::dropout(&mut x, 0, &mut r, n, p, 42);
    assert_eq!(a, r, "fast mask equals the reference mask");
}

#[test]
fn dropout_p_zero_keeps_everything_and_p_one_is_rejected() {
    let be = CpuBackend::new(1);
    assert!(mask(&be, 1000, 0.0, 7).iter().all(|&x| x == 1.0));
    let (mut x, mut m) = (vec![1.0; 4], vec![0.0; 4]);
    for p in [1.0, -0.1, f32::NAN] {
        let r = be.dropout(&mut x, 0, &mut m, 4, p, 7);
        assert!(matches!(r, Err(KernelError::Shape(_))), "p = {p}");
    }
}

//! Fast non-cell ops against the reference on random inputs at nonzero offsets.
//!
//! Tolerances are stated per op: exact where both sides do the same f32 operations, `1e-5`
//! relative where the reference accumulates in f64.

mod common;
use common::*;
use rnngym_kernels::cpu::reference;
use rnngym_kernels::{AdamStep, Backend, CpuBackend, RmsPropStep, Rows};

#[test]
fn row_ops_match_reference() {
    let be = CpuBackend::new(1);
    let mut r = rng(1);
    for &(rows, cols) in &[(1, 1), (3, 17), (130, 65)] {
        let n = rows * cols;
        let src = rand_vec(&mut r, 4 + n, 1.0);
        let dst0 = rand_vec(&mut r, 2 + cols + 1, 1.0);
        for accumulate in [false, true] {
            let mut want = dst0.clone();
            reference::sum_rows(&src, Rows::new(4, rows, cols), &mut want, 2, accumulate);
            let mut got = dst0.clone();
            be.sum_rows(&src, Rows::new(4, rows, cols), &mut got, 2, accumulate)
                .unwrap();
            assert_close("sum_rows", &got, &want, 1e-5, 1e-5);
        }
        let bias = rand_vec(&mut r, 3 + cols, 1.0);
        let out0 = rand_vec(&mut r, 5 + n + 2, 1.0);
        let (mut want, mut got) = (out0.clone(), out0.clone());
        reference::broadcast_rows(&bias, 3, &mut want, 5, rows, cols);
        be.broadcast_rows(&bias, 3, &mut got, 5, rows, cols)
            .unwrap();
        assert_eq!(got, want, "broadcast_rows");

        let b = rand_vec(&mut r, 1 + n, 2.0);
        let (mut want, mut got) = (src.clone(), src.clone());
        reference::mul_assign(&mut want, 4, &b, 1, n);
        be.mul_assign(&mut got, 4, &b, 1, n).unwrap();
        assert_eq!(got, want, "mul_assign");
        reference::scale(&mut want, 3, n, -0.7);
        be.scale(&mut got, 3, n, -0.7).unwrap();
        assert_eq!(got, want, "scale");

        let want = reference::sum_squares(&src, 3, n);
        let got = be.sum_squares(&src, 3, n).unwrap();
        assert!(
            (got - want).abs() <= 1e-12 * want,
            "sum_squares {got} vs {want}"
        );
    }
}

#[test]
fn embedding_matches_reference() {
    let be = CpuBackend::new(1);
    let mut r = rng(2);
    let (v, cols, n) = (11, 9, 40);
    let table = rand_vec(&mut r, v * cols, 1.0);
    // More ids than the table has rows, so scatter hits repeated rows.
    let ids = rand_ids(&mut r, n + 3, v as u32);
    let out0 = rand_vec(&mut r, n * cols + 2, 1.0);
    let (mut want, mut got) = (out0.clone(), out0.clone());
    reference::gather_rows(&table, cols, &ids, n, &mut want);
    be.gather_rows(&table, cols, &ids, n, &mut got).unwrap();
    assert_eq!(got, want, "gather_rows");

    // Sums of 1 and of 4 rows (one lane's channels), written and added; full-mantissa values,
    // whose sums round differently in another order.
    let table = rand_vec(&mut r, v * cols, 1.37);
    let out0 = rand_vec(&mut r, n * cols + 2, 1.37);
    for (per, accumulate) in [(1, false), (4, false), (4, true)] {
        let rows = n / per;
        let (mut want, mut got) = (out0.clone(), out0.clone());
        reference::gather_sum_rows(&table, cols, &ids, per, rows, &mut want, accumulate);
        be.gather_sum_rows(&table, cols, &ids, per, rows, &mut got, accumulate)
            .unwrap();
        assert_eq!(
            got, want,
            "gather_sum_rows of {per}, accumulate {accumulate}"
        );
    }

    let src = rand_vec(&mut r, n * cols, 1.0);
    let d0 = rand_vec(&mut r, 6 + v * cols, 1.0);
    let (mut want, mut got) = (d0.clone(), d0.clone());
    reference::scatter_add_rows(&src, cols, &ids, n, &mut want, 6);
    be.scatter_add_rows(&src, cols, &ids, n, &mut got, 6)
        .unwrap();
    assert_close("scatter_add_rows", &got, &want, 1e-6, 1e-6);
}

#[test]
fn softmax_xent_matches_reference() {
    let be = CpuBackend::new(1);
    let mut r = rng(3);
    for &(rows, cols) in &[(1, 1), (7, 65), (64, 256)] {
        // Large logits check the max subtraction: exp(50) alone would lose the small terms.
        let logits: Vec<f32> = rand_vec(&mut r, rows * cols, 8.0)
            .iter()
            .map(|x| x + 50.0)
            .collect();
        let targets = rand_ids(&mut r, rows, cols as u32);
        let mut want = vec![0.0f32; rows * cols];
        let lw = reference::softmax_xent(&logits, rows, cols, &targets, Some(&mut want), 0.25);
        let mut got = vec![f32::NAN; rows * cols];
        let lg = be
            .softmax_xent(&logits, rows, cols, &targets, Some(&mut got), 0.25)
            .unwrap();
        assert!(
            (lg - lw).abs() <= 1e-5 * lw.abs() + 1e-5,
            "loss {lg} vs {lw}"
        );
        assert_close("softmax_xent grad", &got, &want, 1e-5, 1e-7);
        let l_only = be
            .softmax_xent(&logits, rows, cols, &targets, None, 1.0)
            .unwrap();
        assert_eq!(l_only, lg, "loss without gradient");
    }
}

#[test]
fn softmax_xent_uniform_logits_is_log_v() {
    let be = CpuBackend::new(1);
    let logits = vec![0.3; 2 * 65];
    let loss = be
        .softmax_xent(&logits, 2, 65, &vec![0, 64], None, 1.0)
        .unwrap();
    assert!((loss - 2.0 * (65f64).ln()).abs() < 1e-5, "{loss}");
}

#[test]
fn dropout_matches_reference_exactly() {
    let be = CpuBackend::new(1);
    let mut r = rng(4);
    let n = 1000;
    let x0 = rand_vec(&mut r, 3 + n, 1.0);
    let (mut xw, mut mw) = (x0.clone(), vec![0.0; n]);
    reference::dropout(&mut xw, 3, &mut mw, n, 0.4, 77);
    let (mut xg, mut mg) = (x0.clone(), vec![0.0; n]);
    be.dropout(&mut xg, 3, &mut mg, n, 0.4, 77).unwrap();
    assert_eq!(mg, mw, "mask");
    assert_eq!(xg, xw, "x");
}

#[test]
fn optimizers_match_reference() {
    let be = CpuBackend::new(1);
    let mut r = rng(5);
    let n = 257;
    let p0 = rand_vec(&mut r, n, 1.0);
    let (mut pw, mut mw, mut vw) = (p0.clone(), vec![0.0; n], vec![0.0; n]);
    let (mut pg, mut mg, mut vg) = (p0.clone(), vec![0.0; n], vec![0.0; n]);
    for step in 1..=3 {
        let g = rand_vec(&mut r, n, 1.0);
        let s = AdamStep {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
            step,
        };
        reference::adam_step(&mut pw, &g, &mut mw, &mut vw, n, &s);
        be.adam_step(&mut pg, &g, &mut mg, &mut vg, n, &s).unwrap();
    }
    assert_close("adam params", &pg, &pw, 1e-5, 1e-7);
    assert_close("adam m", &mg, &mw, 1e-5, 1e-7);
    assert_close("adam v", &vg, &vw, 1e-5, 1e-9);

    let (mut pw, mut sw) = (p0.clone(), vec![0.0; n]);
    let (mut pg, mut sg) = (p0.clone(), vec![0.0; n]);
    for _ in 0..3 {
        let g = rand_vec(&mut r, n, 1.0);
        let s = RmsPropStep {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
        };
        reference::rmsprop_step(&mut pw, &g, &mut sw, n, &s);
        be.rmsprop_step(&mut pg, &g, &mut sg, n, &s).unwrap();
    }
    assert_close("rmsprop params", &pg, &pw, 1e-5, 1e-7);
    assert_close("rmsprop sq", &sg, &sw, 1e-5, 1e-9);
}

#[test]
fn memory_ops_round_trip() {
    let be = CpuBackend::new(1);
    let mut buf = be.zeros(10).unwrap();
    assert_eq!(be.len(&buf), 10);
    be.write(&mut buf, 2, &[1.0, 2.0, 3.0]).unwrap();
    be.fill(&mut buf, 7, 2, 9.0).unwrap();
    be.copy_within(&mut buf, 2, 5, 2).unwrap();
    let mut out = vec![0.0; 10];
    be.read(&buf, 0, &mut out).unwrap();
    assert_eq!(out, vec![0.0, 0.0, 1.0, 2.0, 3.0, 1.0, 2.0, 9.0, 9.0, 0.0]);
    let src = be.upload(&[4.0, 5.0]).unwrap();
    be.copy(&src, 1, &mut buf, 0, 1).unwrap();
    assert_eq!(buf[0], 5.0);
    let mut ids = be.zeros_ids(4).unwrap();
    be.write_ids(&mut ids, &[3, 1]).unwrap();
    assert_eq!(ids, vec![3, 1, 0, 0]);
    assert!(be.name().starts_with("cpu"));
    // fill_rows: rows 0 and 2 of the 3 × 2 block at 1.
    let mut buf = be.upload(&[1.0; 8]).unwrap();
    be.fill_rows(&mut buf, Rows::new(1, 3, 2), &[true, false, true], 0.0)
        .unwrap();
    assert_eq!(buf, vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
}

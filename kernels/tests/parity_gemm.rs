//! The fast GEMM (gemm crate) against the f64-accumulating reference triple loop.
//!
//! Tolerance: `|fast − ref| <= 1e-5·|ref| + 2e-6·√k` (f32 accumulation over k terms of
//! magnitude ≤ 1).

mod common;
use common::*;
use rnngym_kernels::cpu::reference;
use rnngym_kernels::{Backend, CpuBackend, Gemm};

/// Builds a padded, offset GEMM and checks the fast result against the reference.
#[allow(clippy::too_many_arguments)]
fn check(
    be: &CpuBackend,
    seed: u64,
    m: usize,
    n: usize,
    k: usize,
    ta: bool,
    tb: bool,
    alpha: f32,
    beta: f32,
) {
    let mut r = rng(seed);
    let (a_rows, a_cols) = if ta { (k, m) } else { (m, k) };
    let (b_rows, b_cols) = if tb { (n, k) } else { (k, n) };
    // Leading dimensions larger than tight and nonzero offsets, as when addressing a slice of
    // a larger per-window buffer.
    let g = Gemm {
        m,
        n,
        k,
        alpha,
        beta,
        trans_a: ta,
        trans_b: tb,
        a_off: 5,
        lda: a_cols + 3,
        b_off: 7,
        ldb: b_cols + 2,
        c_off: 11,
        ldc: n + 4,
    };
    let a = rand_vec(&mut r, g.a_off + a_rows * g.lda, 1.0);
    let b = rand_vec(&mut r, g.b_off + b_rows * g.ldb, 1.0);
    let mut c = rand_vec(&mut r, g.c_off + m * g.ldc + 1, 1.0);
    if beta == 0.0 {
        c.iter_mut().for_each(|x| *x = f32::NAN);
    }
    let mut want = c.clone();
    reference::gemm(&g, &a, &b, &mut want);
    let mut got = c.clone();
    be.gemm(&g, &a, &b, &mut got).unwrap();
    let tol = 2e-6 * (k as f32).sqrt().max(1.0);
    for i in 0..m {
        for j in 0..n {
            let idx = g.c_off + i * g.ldc + j;
            let (x, y) = (got[idx], want[idx]);
            assert!(
                (x - y).abs() <= 1e-5 * y.abs() + tol,
                "gemm {m}x{n}x{k} ta={ta} tb={tb} a={alpha} b={beta} t={}: C[{i},{j}] = {x}, want {y}",
                be.threads()
            );
        }
    }
    // Elements outside the m×n window (padding, prefix) must be untouched.
    for (idx, (&x, &y)) in got.iter().zip(&c).enumerate() {
        let in_window =
            idx >= g.c_off && (idx - g.c_off) / g.ldc < m && (idx - g.c_off) % g.ldc < n;
        if !in_window {
            assert!(x.to_bits() == y.to_bits(), "gemm wrote outside C at {idx}");
        }
    }
}

#[test]
fn gemm_odd_sizes_all_transposes_and_scales() {
    let sizes = [1, 3, 17, 65, 130];
    let scales = [(1.0, 0.0), (0.5, 1.5), (-1.0, 1.0)];
    for threads in [1, 2] {
        let be = CpuBackend::new(threads);
        let mut case = 0u64;
        for &m in &sizes {
            for &n in &sizes {
                for &k in &sizes {
                    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                        let (alpha, beta) = scales[case as usize % scales.len()];
                        check(&be, case, m, n, k, ta, tb, alpha, beta);
                        case += 1;
                    }
                }
            }
        }
    }
}

#[test]
fn gemm_real_shapes() {
    for threads in [1, 2] {
        let be = CpuBackend::new(threads);
        // Preset S's step and window shapes, the logits, ragged ones that the packed path and
        // the row split cut between threads into uneven blocks, and weight-gradient shapes (`Aᵀ·B`
        // with k = T·B, several k slices of the packed kernel; one with a ragged panel).
        for &(m, n, k) in &[
            (32, 512, 128),
            (2048, 512, 128),
            (2048, 65, 128),
            (67, 130, 257),
            (131, 130, 257),
            (512, 128, 2048),
            (65, 130, 1000),
        ] {
            for (ta, tb) in [(false, true), (true, false), (false, false)] {
                check(&be, 99, m, n, k, ta, tb, 1.0, 0.0);
                check(&be, 98, m, n, k, ta, tb, 1.0, 1.0);
                check(&be, 94, m, n, k, ta, tb, -0.5, 1.5);
            }
        }
    }
}

/// Two threads give the bits of one: each element of `C` is summed by one thread, in the order
/// the one-thread product sums it (so a training run does not depend on the thread count).
#[test]
fn gemm_threads_do_not_change_the_bits() {
    let (one, two) = (CpuBackend::new(1), CpuBackend::new(2));
    // The last two: halves of at most 64 × 64, for which the gemm crate picks another k
    // blocking than for the whole product.
    for &(m, n, k) in &[
        (2048, 512, 128),
        (2048, 65, 128),
        (131, 130, 257),
        (512, 128, 2048),
        (100, 64, 1000),
        (120, 48, 2048),
    ] {
        for (ta, tb) in [(false, true), (true, false), (false, false)] {
            let mut r = rng(7);
            let g = Gemm {
                trans_a: ta,
                trans_b: tb,
                lda: if ta { m } else { k },
                ldb: if tb { k } else { n },
                ..Gemm::nn(m, n, k)
            };
            let a = rand_vec(&mut r, m * k, 1.0);
            let b = rand_vec(&mut r, k * n, 1.0);
            let (mut c1, mut c2) = (vec![0.0; m * n], vec![0.0; m * n]);
            one.gemm(&g, &a, &b, &mut c1).unwrap();
            two.gemm(&g, &a, &b, &mut c2).unwrap();
            let same = c1.iter().zip(&c2).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(
                same,
                "gemm {m}x{n}x{k} ta={ta} tb={tb}: 2 threads differ from 1"
            );
        }
    }
}

/// Batch-1 generation shapes (`m == 1`, B transposed: the per-token GEMV), big enough to split
/// across threads.
#[test]
fn gemm_generation_shapes() {
    for threads in [1, 2] {
        let be = CpuBackend::new(threads);
        // 512×128 and 515×130 reach the hot helper thread's split (≥ 2¹⁶), the latter unevenly.
        for &(n, k) in &[
            (2048, 512),
            (65, 512),
            (1024, 256),
            (7, 1000),
            (512, 128),
            (515, 130),
        ] {
            check(&be, 97, 1, n, k, false, true, 1.0, 0.0);
            check(&be, 96, 1, n, k, false, true, 1.0, 1.0);
            check(&be, 95, 1, n, k, false, true, -0.5, 2.0);
        }
    }
}

#[test]
fn gemm_empty_dimensions() {
    let be = CpuBackend::new(1);
    let a = vec![1.0; 8];
    let b = vec![1.0; 8];
    // k == 0 with beta == 0 clears C, even when it held NaN.
    let mut c = vec![f32::NAN; 6];
    be.gemm(&Gemm::nn(2, 3, 0), &a, &b, &mut c).unwrap();
    assert_eq!(c, vec![0.0; 6]);
    // k == 0 with beta != 0 scales C.
    let mut c = vec![2.0; 6];
    be.gemm(&Gemm::nn(2, 3, 0).scale(1.0, 0.5), &a, &b, &mut c)
        .unwrap();
    assert_eq!(c, vec![1.0; 6]);
    // m == 0 or n == 0 touches nothing.
    let mut c = vec![3.0; 6];
    be.gemm(&Gemm::nn(0, 3, 2), &a, &b, &mut c).unwrap();
    be.gemm(&Gemm::nn(2, 0, 2), &a, &b, &mut c).unwrap();
    assert_eq!(c, vec![3.0; 6]);
}

#[test]
fn gemm_matches_hand_computed() {
    let be = CpuBackend::new(1);
    // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]
    let a = vec![1.0, 2.0, 3.0, 4.0];
    let b = vec![5.0, 6.0, 7.0, 8.0];
    let mut c = vec![0.0; 4];
    be.gemm(&Gemm::nn(2, 2, 2), &a, &b, &mut c).unwrap();
    assert_eq!(c, vec![19.0, 22.0, 43.0, 50.0]);
    // A · Bᵀ = [1·5+2·6, 1·7+2·8; 3·5+4·6, 3·7+4·8] = [17 23; 39 53]
    be.gemm(&Gemm::nt(2, 2, 2), &a, &b, &mut c).unwrap();
    assert_eq!(c, vec![17.0, 23.0, 39.0, 53.0]);
    // Aᵀ · B = [1·5+3·7, 1·6+3·8; 2·5+4·7, 2·6+4·8] = [26 30; 38 44]
    be.gemm(&Gemm::tn(2, 2, 2), &a, &b, &mut c).unwrap();
    assert_eq!(c, vec![26.0, 30.0, 38.0, 44.0]);
}

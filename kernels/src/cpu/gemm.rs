//! GEMM on the CPU through the `gemm` crate (runtime-dispatched AVX2 / AVX-512 kernels).

use super::spin::{join_halves, Helper};
use super::tuning::{GEMM_MIN_ROWS_PER_THREAD, GEMM_THREADS_MIN_MACS};
use crate::{Gemm, Result};
use gemm::Parallelism;

/// Checks `g` against the buffer lengths, then computes it with up to `threads` threads
/// (`spin`: the hot helper thread for batch-1 products, when the backend has one).
pub(crate) fn gemm(
    g: &Gemm,
    threads: usize,
    spin: Option<&Helper>,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
) -> Result<()> {
    g.check(a.len(), b.len(), c.len())?;
    if g.m == 0 || g.n == 0 {
        return Ok(());
    }
    if g.k == 0 {
        // The product is empty: C = beta · C, where beta == 0 clears C (even NaN).
        for r in 0..g.m {
            let row = &mut c[g.c_off + r * g.ldc..][..g.n];
            if g.beta == 0.0 {
                row.fill(0.0);
            } else {
                row.iter_mut().for_each(|x| *x *= g.beta);
            }
        }
        return Ok(());
    }
    if g.m == 1 && g.trans_b && super::gemv::split_rows(g.n, g.k, threads, spin.is_some()) {
        // Batch-1 generation: each thread takes a block of C's columns (rows of B). Every
        // element is still one thread's dot product, so the result does not depend on the split.
        let half = g.n / 2;
        let (c0, c1) = c[g.c_off..].split_at_mut(half);
        let first = Gemm {
            n: half,
            c_off: 0,
            ..*g
        };
        let second = Gemm {
            n: g.n - half,
            b_off: g.b_off + half * g.ldb,
            c_off: 0,
            ..*g
        };
        let (r0, r1) = join_halves(
            spin,
            c0,
            c1,
            |c0| gemm(&first, 1, None, a, b, c0),
            |c1| gemm(&second, 1, None, a, b, c1),
        );
        return r0.and(r1);
    }
    let macs = g.m.saturating_mul(g.n).saturating_mul(g.k);
    if threads > 1
        && macs >= GEMM_THREADS_MIN_MACS
        && g.m >= threads * GEMM_MIN_ROWS_PER_THREAD
        && same_k_blocking(g, threads)
    {
        return split_rows(g, threads, a, b, c);
    }
    let par = if threads > 1 && macs >= GEMM_THREADS_MIN_MACS {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // Stored row-major with row stride ld; a transpose is the same memory with the row and
    // column strides swapped.
    let (a_rs, a_cs) = if g.trans_a { (1, g.lda) } else { (g.lda, 1) };
    let (b_rs, b_cs) = if g.trans_b { (1, g.ldb) } else { (g.ldb, 1) };
    // SAFETY: check::matrix proved every element the strides reach is inside its slice;
    // `c` is borrowed mutably, so it aliases neither `a` nor `b`. The crate computes
    // dst = alpha·dst + beta·lhs·rhs, so our beta is its alpha and our alpha its beta, and
    // read_dst = false makes it ignore (possibly NaN) old C when our beta is 0.
    unsafe {
        gemm::gemm(
            g.m,
            g.n,
            g.k,
            c.as_mut_ptr().add(g.c_off),
            1,
            g.ldc as isize,
            g.beta != 0.0,
            a.as_ptr().add(g.a_off),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr().add(g.b_off),
            b_cs as isize,
            b_rs as isize,
            g.beta,
            g.alpha,
            false,
            false,
            false,
            par,
        );
    }
    Ok(())
}

/// Whether every row block of `g` (one per thread) gets the k blocking of the whole product.
/// The gemm crate (gemm-common 0.19, `gemm.rs`) takes `kc = min(k, 512)` when both dimensions
/// are at most 64, and a `kc` that depends only on `k` and the caches otherwise; a block that
/// alone falls into the small case would sum its k slices differently, and the bits would
/// then depend on the thread count (e.g. 100×64×1000).
fn same_k_blocking(g: &Gemm, threads: usize) -> bool {
    let small = |rows: usize| rows <= 64 && g.n <= 64;
    small(g.m) == small(g.m / threads)
}

/// Computes `g` as independent blocks of `C`'s rows, one per thread, each a one-thread product.
///
/// Faster than the crate's own `Parallelism::Rayon(2)` on the training shapes (see
/// docs/PERFORMANCE.md, "CPU thresholds"). Each element of `C` is still one thread's sum, computed the same
/// way (given [`same_k_blocking`]), so the result does not depend on the thread count.
fn split_rows(g: &Gemm, threads: usize, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<()> {
    if threads < 2 {
        return gemm(g, 1, None, a, b, c);
    }
    let t0 = threads / 2;
    let rows0 = g.m * t0 / threads;
    // `c` from `c_off` on, cut where the second block's rows start.
    let (c0, c1) = c[g.c_off..].split_at_mut(rows0 * g.ldc);
    let first = Gemm {
        m: rows0,
        c_off: 0,
        ..*g
    };
    let second = Gemm {
        m: g.m - rows0,
        a_off: g.a_off + if g.trans_a { rows0 } else { rows0 * g.lda },
        c_off: 0,
        ..*g
    };
    let (r0, r1) = rayon::join(
        || split_rows(&first, t0, a, b, c0),
        || split_rows(&second, threads - t0, a, b, c1),
    );
    r0.and(r1)
}

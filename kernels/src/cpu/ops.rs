//! Fast non-cell ops: row reductions, embedding, loss, dropout and optimizer steps. Each
//! validates its operands first and then runs a tight, allocation-free loop.

use super::check::span;
use super::fastmath::{dispatch, exp, Mad};
use crate::operands;
use crate::{hash, AdamStep, Result, RmsPropStep, Rows};

/// See [`Backend::broadcast_rows`](crate::Backend::broadcast_rows).
pub(crate) fn broadcast_rows(
    bias: &[f32],
    bias_off: usize,
    out: &mut [f32],
    off: usize,
    rows: usize,
    cols: usize,
    split: impl FnOnce(&mut [f32], usize, &(dyn Fn(usize, &mut [f32]) + Sync)),
) -> Result<()> {
    let n = operands::broadcast_rows((bias.len(), bias_off), (out.len(), off), rows, cols)?;
    if cols > 0 {
        let bias = &bias[bias_off..bias_off + cols];
        split(&mut out[off..off + n], cols, &|_, part| {
            part.chunks_exact_mut(cols)
                .for_each(|r| r.copy_from_slice(bias))
        });
    }
    Ok(())
}

/// See [`Backend::sum_rows`](crate::Backend::sum_rows).
pub(crate) fn sum_rows(
    src: &[f32],
    block: Rows,
    dst: &mut [f32],
    dst_off: usize,
    accumulate: bool,
) -> Result<()> {
    operands::sum_rows((src.len(), block), (dst.len(), dst_off))?;
    let Rows {
        off: src_off,
        rows,
        cols,
    } = block;
    let dst = &mut dst[dst_off..dst_off + cols];
    if !accumulate {
        dst.fill(0.0);
    }
    if cols == 0 {
        return Ok(());
    }
    // Row-major accumulation keeps the inner loop contiguous (vectorised) in both operands.
    for row in src[src_off..src_off + rows * cols].chunks_exact(cols) {
        for (d, &s) in dst.iter_mut().zip(row) {
            *d += s;
        }
    }
    Ok(())
}

/// See [`Backend::sum_squares`](crate::Backend::sum_squares).
pub(crate) fn sum_squares(buf: &[f32], off: usize, n: usize) -> Result<f64> {
    span("sum_squares", buf.len(), off, n)?;
    // Eight independent f64 lanes break the serial dependency so the loop vectorises while
    // keeping f64 accuracy.
    let mut acc = [0.0f64; 8];
    let chunks = buf[off..off + n].chunks_exact(8);
    let tail: f64 = chunks
        .remainder()
        .iter()
        .map(|&x| x as f64 * x as f64)
        .sum();
    for ch in chunks {
        for (a, &x) in acc.iter_mut().zip(ch) {
            *a += x as f64 * x as f64;
        }
    }
    Ok(acc.iter().sum::<f64>() + tail)
}

/// See [`Backend::gather_rows`](crate::Backend::gather_rows).
pub(crate) fn gather_rows(
    table: &[f32],
    cols: usize,
    ids: &[u32],
    ids_n: usize,
    out: &mut [f32],
    split: impl FnOnce(&mut [f32], usize, &(dyn Fn(usize, &mut [f32]) + Sync)),
) -> Result<()> {
    let (_, n) = operands::gather_rows(table.len(), cols, ids, ids_n, out.len())?;
    if n == 0 {
        return Ok(());
    }
    let ids = &ids[..ids_n];
    split(&mut out[..n], cols, &|r0, part| {
        for (o, &id) in part.chunks_exact_mut(cols).zip(&ids[r0..]) {
            let id = id as usize;
            o.copy_from_slice(&table[id * cols..(id + 1) * cols]);
        }
    });
    Ok(())
}

/// See [`Backend::gather_sum_rows`](crate::Backend::gather_sum_rows); `split` runs the row
/// loop (the CPU backend hands half of the rows to the hot helper).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gather_sum_rows(
    table: &[f32],
    cols: usize,
    ids: &[u32],
    per: usize,
    rows: usize,
    out: &mut [f32],
    accumulate: bool,
    split: impl FnOnce(&mut [f32], usize, &(dyn Fn(usize, &mut [f32]) + Sync)),
) -> Result<()> {
    let (_, n) = operands::gather_sum_rows(table.len(), cols, ids, per, rows, out.len())?;
    if n == 0 {
        return Ok(());
    }
    split(&mut out[..n], cols, &|r0, part| {
        // Scratch only where the sum is added to `out` (no allocation otherwise).
        let mut sum = vec![0.0f32; if accumulate { cols } else { 0 }];
        for (r, o) in part.chunks_exact_mut(cols).enumerate() {
            // Formed apart from `o` when accumulating: `o + (r₀ + r₁ + …)` is what a gather
            // into a scratch, its sum and an accumulating add would give.
            let s: &mut [f32] = if accumulate { &mut sum } else { o };
            s.fill(0.0);
            for &id in &ids[(r0 + r) * per..(r0 + r + 1) * per] {
                let id = id as usize;
                for (d, &x) in s.iter_mut().zip(&table[id * cols..(id + 1) * cols]) {
                    *d += x;
                }
            }
            if accumulate {
                o.iter_mut().zip(&sum).for_each(|(d, &x)| *d += x);
            }
        }
    });
    Ok(())
}

/// See [`Backend::scatter_add_rows`](crate::Backend::scatter_add_rows).
pub(crate) fn scatter_add_rows(
    src: &[f32],
    cols: usize,
    ids: &[u32],
    ids_n: usize,
    d_table: &mut [f32],
    table_off: usize,
) -> Result<()> {
    let table = (d_table.len(), table_off);
    let (_, n) = operands::scatter_add_rows(src.len(), cols, ids, ids_n, table)?;
    if n == 0 {
        return Ok(());
    }
    let table = &mut d_table[table_off..];
    for (s, &id) in src.chunks_exact(cols).zip(&ids[..ids_n]) {
        let id = id as usize;
        for (d, &x) in table[id * cols..(id + 1) * cols].iter_mut().zip(s) {
            *d += x;
        }
    }
    Ok(())
}

/// See [`Backend::softmax_xent`](crate::Backend::softmax_xent).
pub(crate) fn softmax_xent(
    logits: &[f32],
    rows: usize,
    cols: usize,
    targets: &[u32],
    d_logits: Option<&mut [f32]>,
    grad_scale: f32,
) -> Result<f64> {
    let d_len = d_logits.as_deref().map(<[f32]>::len);
    let n = operands::softmax_xent(logits.len(), rows, cols, targets, d_len)?;
    let logits = &logits[..n];
    Ok(match d_logits {
        Some(d) => {
            let d = &mut d[..n];
            dispatch!(xent_grad_k(logits: &[f32], cols: usize, targets: &[u32], d: &mut [f32], grad_scale: f32) -> f64)
        }
        None => dispatch!(xent_k(logits: &[f32], cols: usize, targets: &[u32]) -> f64),
    })
}

/// Row max, in 8 independent lanes so the loop vectorises.
#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; 8];
    let chunks = row.chunks_exact(8);
    let mut max = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    for ch in chunks {
        for (a, &b) in m.iter_mut().zip(ch) {
            *a = if b > *a { b } else { *a };
        }
    }
    for &a in &m {
        max = if a > max { a } else { max };
    }
    max
}

/// Loss only: `Σ_rows ln Σ exp(x − max) − (x_t − max)`.
#[inline(always)]
fn xent_k<M: Mad>(logits: &[f32], cols: usize, targets: &[u32]) -> f64 {
    let mut loss = 0.0f64;
    for (row, &t) in logits.chunks_exact(cols).zip(targets) {
        // Subtracting the row max keeps every exp() in (0, 1].
        let max = row_max(row);
        // Same summation order as `xent_grad_k`, so both give bit-identical losses.
        let chunks = row.chunks_exact(8);
        let mut sum: f32 = chunks.remainder().iter().map(|&x| exp::<M>(x - max)).sum();
        let mut acc = [0.0f32; 8];
        for ch in chunks {
            for (a, &x) in acc.iter_mut().zip(ch) {
                *a += exp::<M>(x - max);
            }
        }
        sum += acc.iter().sum::<f32>();
        loss += (sum as f64).ln() - (row[t as usize] - max) as f64;
    }
    loss
}

/// Loss and `d = (softmax − onehot) · grad_scale`; `d` holds the exponentials in between.
#[inline(always)]
fn xent_grad_k<M: Mad>(
    logits: &[f32],
    cols: usize,
    targets: &[u32],
    d: &mut [f32],
    grad_scale: f32,
) -> f64 {
    let mut loss = 0.0f64;
    for ((row, d), &t) in logits
        .chunks_exact(cols)
        .zip(d.chunks_exact_mut(cols))
        .zip(targets)
    {
        let (row, d) = (&row[..cols], &mut d[..cols]);
        let max = row_max(row);
        for (o, &x) in d.iter_mut().zip(row) {
            *o = exp::<M>(x - max);
        }
        let mut acc = [0.0f32; 8];
        let chunks = d.chunks_exact(8);
        let mut sum: f32 = chunks.remainder().iter().sum();
        for ch in chunks {
            for (a, &e) in acc.iter_mut().zip(ch) {
                *a += e;
            }
        }
        sum += acc.iter().sum::<f32>();
        let s = grad_scale / sum;
        d.iter_mut().for_each(|o| *o *= s);
        d[t as usize] -= grad_scale;
        loss += (sum as f64).ln() - (row[t as usize] - max) as f64;
    }
    loss
}

/// See [`Backend::dropout`](crate::Backend::dropout).
pub(crate) fn dropout(
    x: &mut [f32],
    x_off: usize,
    mask: &mut [f32],
    n: usize,
    p: f32,
    seed: u64,
) -> Result<()> {
    operands::dropout((x.len(), x_off), mask.len(), n, p)?;
    let keep = 1.0 / (1.0 - p);
    let xs = &mut x[x_off..x_off + n];
    for (i, (m, x)) in mask[..n].iter_mut().zip(xs).enumerate() {
        *m = if hash::uniform(seed, i as u64) < p {
            0.0
        } else {
            keep
        };
        *x *= *m;
    }
    Ok(())
}

/// See [`Backend::adam_step`](crate::Backend::adam_step).
pub(crate) fn adam_step(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    n: usize,
    s: &AdamStep,
) -> Result<()> {
    let f = s.factors(n, [params.len(), grads.len(), m.len(), v.len()])?;
    let (step_size, inv_bc2_sqrt, decay) = (f.step_size, f.inv_bc2_sqrt, f.decay);
    let (b1, b2, eps) = (s.beta1, s.beta2, s.eps);
    let it = params[..n]
        .iter_mut()
        .zip(&grads[..n])
        .zip(&mut m[..n])
        .zip(&mut v[..n]);
    for (((p, &g), m), v) in it {
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *p = *p * decay - step_size * *m / (v.sqrt() * inv_bc2_sqrt + eps);
    }
    Ok(())
}

/// See [`Backend::rmsprop_step`](crate::Backend::rmsprop_step).
pub(crate) fn rmsprop_step(
    params: &mut [f32],
    grads: &[f32],
    sq: &mut [f32],
    n: usize,
    s: &RmsPropStep,
) -> Result<()> {
    operands::rmsprop(n, [params.len(), grads.len(), sq.len()])?;
    let (lr, a, eps) = (s.lr, s.alpha, s.eps);
    for ((p, &g), sq) in params[..n].iter_mut().zip(&grads[..n]).zip(&mut sq[..n]) {
        *sq = a * *sq + (1.0 - a) * g * g;
        *p -= lr * g / (sq.sqrt() + eps);
    }
    Ok(())
}

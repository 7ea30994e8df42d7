//! Reference dense algebra, embedding, loss, dropout and optimizer steps.
//!
//! Reductions accumulate in `f64` so the reference is more accurate than any fast path.

use super::Real;
use crate::{hash, AdamStep, Gemm, RmsPropStep, Rows};

/// `C = alpha · op(A) · op(B) + beta · C`, a triple loop with `f64` accumulation.
pub fn gemm(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) {
    let at = |i: usize, p: usize| {
        if g.trans_a {
            a[g.a_off + p * g.lda + i]
        } else {
            a[g.a_off + i * g.lda + p]
        }
    };
    let bt = |p: usize, j: usize| {
        if g.trans_b {
            b[g.b_off + j * g.ldb + p]
        } else {
            b[g.b_off + p * g.ldb + j]
        }
    };
    for i in 0..g.m {
        for j in 0..g.n {
            let mut acc = 0.0f64;
            for p in 0..g.k {
                acc += at(i, p) as f64 * bt(p, j) as f64;
            }
            let ci = g.c_off + i * g.ldc + j;
            // beta == 0 must ignore C entirely: 0 · NaN would still be NaN.
            let old = if g.beta == 0.0 {
                0.0
            } else {
                g.beta as f64 * c[ci] as f64
            };
            c[ci] = (g.alpha as f64 * acc + old) as f32;
        }
    }
}

/// Sets every row of `out[off..]` (`rows × cols`) to `bias[bias_off .. bias_off + cols]`.
pub fn broadcast_rows(
    bias: &[f32],
    bias_off: usize,
    out: &mut [f32],
    off: usize,
    rows: usize,
    cols: usize,
) {
    for r in 0..rows {
        for c in 0..cols {
            out[off + r * cols + c] = bias[bias_off + c];
        }
    }
}

/// `dst[dst_off + c] (+)= Σ_r src[block.off + r · block.cols + c]`.
pub fn sum_rows(src: &[f32], block: Rows, dst: &mut [f32], dst_off: usize, accumulate: bool) {
    let Rows {
        off: src_off,
        rows,
        cols,
    } = block;
    for c in 0..cols {
        let mut acc = if accumulate {
            dst[dst_off + c] as f64
        } else {
            0.0
        };
        for r in 0..rows {
            acc += src[src_off + r * cols + c] as f64;
        }
        dst[dst_off + c] = acc as f32;
    }
}

/// `a[a_off + i] *= b[b_off + i]` for `i < n`.
pub fn mul_assign(a: &mut [f32], a_off: usize, b: &[f32], b_off: usize, n: usize) {
    for i in 0..n {
        a[a_off + i] *= b[b_off + i];
    }
}

/// `buf[off + i] *= s` for `i < n`.
pub fn scale(buf: &mut [f32], off: usize, n: usize, s: f32) {
    for x in &mut buf[off..off + n] {
        *x *= s;
    }
}

/// `Σ buf[off + i]²` for `i < n`, in `f64`.
pub fn sum_squares(buf: &[f32], off: usize, n: usize) -> f64 {
    buf[off..off + n].iter().map(|&x| x as f64 * x as f64).sum()
}

/// `out[r, :] = table[ids[r], :]` for `r < ids_n`.
pub fn gather_rows(table: &[f32], cols: usize, ids: &[u32], ids_n: usize, out: &mut [f32]) {
    for r in 0..ids_n {
        let id = ids[r] as usize;
        for c in 0..cols {
            out[r * cols + c] = table[id * cols + c];
        }
    }
}

/// `out[r · cols + c] (+)= Σ_{i < per} table[ids[r · per + i] · cols + c]` for `r < rows`, the
/// sum formed from zero in order, then added with `accumulate`.
#[allow(clippy::too_many_arguments)]
pub fn gather_sum_rows(
    table: &[f32],
    cols: usize,
    ids: &[u32],
    per: usize,
    rows: usize,
    out: &mut [f32],
    accumulate: bool,
) {
    for r in 0..rows {
        for c in 0..cols {
            let mut s = 0.0f32;
            for i in 0..per {
                s += table[ids[r * per + i] as usize * cols + c];
            }
            let o = &mut out[r * cols + c];
            *o = if accumulate { *o + s } else { s };
        }
    }
}

/// `d_table[table_off + ids[r] · cols + c] += src[r · cols + c]` for `r < ids_n`.
pub fn scatter_add_rows(
    src: &[f32],
    cols: usize,
    ids: &[u32],
    ids_n: usize,
    d_table: &mut [f32],
    table_off: usize,
) {
    for r in 0..ids_n {
        let id = ids[r] as usize;
        for c in 0..cols {
            d_table[table_off + id * cols + c] += src[r * cols + c];
        }
    }
}

/// Softmax cross-entropy: returns `Σ_rows −log softmax(logits)[target]`; writes
/// `(softmax − onehot) · grad_scale` to `d_logits` when given.
pub fn softmax_xent<R: Real>(
    logits: &[R],
    rows: usize,
    cols: usize,
    targets: &[u32],
    mut d_logits: Option<&mut [R]>,
    grad_scale: R,
) -> f64 {
    let mut loss = 0.0f64;
    for r in 0..rows {
        let row = &logits[r * cols..(r + 1) * cols];
        let t = targets[r] as usize;
        // Subtracting the row max keeps every exp() in (0, 1].
        let mut max = row[0];
        for &x in row {
            if x > max {
                max = x;
            }
        }
        let mut sum = R::from_f64(0.0);
        for &x in row {
            sum = sum + (x - max).exp();
        }
        loss += (sum.ln() - (row[t] - max)).to_f64();
        if let Some(d) = d_logits.as_deref_mut() {
            for c in 0..cols {
                let p = (row[c] - max).exp() / sum;
                let y = R::from_f64(if c == t { 1.0 } else { 0.0 });
                d[r * cols + c] = (p - y) * grad_scale;
            }
        }
    }
    loss
}

/// Inverted dropout with the counter-based mask `mask[i] = 0` if `uniform(seed, i) < p`
/// else `1 / (1 − p)`; multiplies `x[x_off..]` by the mask.
pub fn dropout(x: &mut [f32], x_off: usize, mask: &mut [f32], n: usize, p: f32, seed: u64) {
    let keep = 1.0 / (1.0 - p);
    for i in 0..n {
        mask[i] = if hash::uniform(seed, i as u64) < p {
            0.0
        } else {
            keep
        };
        x[x_off + i] *= mask[i];
    }
}

/// One Adam(W) step (PyTorch semantics, bias-corrected), computed in `f64`.
pub fn adam_step(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    n: usize,
    s: &AdamStep,
) {
    let (lr, b1, b2, eps) = (s.lr as f64, s.beta1 as f64, s.beta2 as f64, s.eps as f64);
    let bc1 = 1.0 - b1.powf(s.step as f64);
    let bc2 = 1.0 - b2.powf(s.step as f64);
    for i in 0..n {
        let g = grads[i] as f64;
        let mut p = params[i] as f64;
        // Decoupled weight decay (AdamW) acts on the parameter before the Adam update.
        p -= lr * s.weight_decay as f64 * p;
        let mi = b1 * m[i] as f64 + (1.0 - b1) * g;
        let vi = b2 * v[i] as f64 + (1.0 - b2) * g * g;
        p -= lr * (mi / bc1) / ((vi / bc2).sqrt() + eps);
        m[i] = mi as f32;
        v[i] = vi as f32;
        params[i] = p as f32;
    }
}

/// One RMSProp step (PyTorch semantics, no momentum, not centered), computed in `f64`.
pub fn rmsprop_step(params: &mut [f32], grads: &[f32], sq: &mut [f32], n: usize, s: &RmsPropStep) {
    let (lr, alpha, eps) = (s.lr as f64, s.alpha as f64, s.eps as f64);
    for i in 0..n {
        let g = grads[i] as f64;
        let si = alpha * sq[i] as f64 + (1.0 - alpha) * g * g;
        sq[i] = si as f32;
        params[i] = (params[i] as f64 - lr * g / (si.sqrt() + eps)) as f32;
    }
}

//! Token choice from one row of logits: argmax, temperature, top-k and top-p (nucleus)
//! sampling, given the row's uniform draw. [`pick`] is the spec that every backend's
//! [`Backend::sample_rows`](crate::Backend::sample_rows) follows (CUDA: `sample.cu`).
//!
//! The kept tokens are ranked by probability (descending, then index ascending, so ties are
//! deterministic); the draw then walks the kept tokens in index order. Both orders are defined
//! without a sort, so a device can follow them with block reductions.

use std::cell::RefCell;
use std::cmp::Ordering;

/// How to turn one step's logits into a token.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleOptions {
    /// Softmax temperature; lower is greedier (> 0).
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Keep the smallest most-likely set whose probability reaches p (1 = off).
    pub top_p: f32,
    /// Always pick the most likely token, ignoring the other fields.
    pub argmax: bool,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            argmax: false,
        }
    }
}

impl SampleOptions {
    /// Whether a pick draws at random (so the caller must supply a uniform); otherwise it is
    /// the argmax. Callers draw exactly when this holds, which keeps seeded streams identical
    /// on every backend.
    pub fn draws(&self) -> bool {
        !self.argmax && self.temperature.is_finite() && self.temperature > 0.0
    }
}

/// NaN logits (a diverged model) must not panic or win; +inf is clamped so it still wins.
fn sanitize(x: f32) -> f32 {
    if x.is_nan() {
        f32::NEG_INFINITY
    } else {
        x.min(f32::MAX)
    }
}

/// Index of the largest logit, lowest index on ties; 0 when none is a number.
fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &x) in logits.iter().enumerate() {
        let x = sanitize(x);
        if x > best_v {
            best = i;
            best_v = x;
        }
    }
    best as u32
}

/// Descending probability, then ascending index.
fn by_prob_desc(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Picks a token from `logits` (`[V]`) with the uniform draw `u` in `[0, 1)` (ignored unless
/// [`SampleOptions::draws`]).
///
/// `scratch` is reused across calls to avoid a per-token allocation. Empty logits give 0.
pub fn pick(logits: &[f32], opts: &SampleOptions, u: f64, scratch: &mut Vec<(f32, u32)>) -> u32 {
    if !opts.draws() {
        return argmax(logits);
    }
    let max = logits
        .iter()
        .map(|&x| sanitize(x))
        .fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return argmax(logits);
    }

    // Unnormalized softmax; zero-probability tokens are dropped so they can never be drawn.
    scratch.clear();
    for (i, &x) in logits.iter().enumerate() {
        let p = ((sanitize(x) - max) / opts.temperature).exp();
        if p > 0.0 {
            scratch.push((p, i as u32));
        }
    }
    // The max logit contributes exp(0) = 1, so scratch is never empty here.

    let mut reordered = false;
    if opts.top_k > 0 && opts.top_k < scratch.len() {
        scratch.select_nth_unstable_by(opts.top_k - 1, by_prob_desc);
        scratch.truncate(opts.top_k);
        reordered = true;
    }
    if opts.top_p < 1.0 {
        scratch.sort_unstable_by(by_prob_desc);
        let total: f64 = scratch.iter().map(|&(p, _)| f64::from(p)).sum();
        let target = f64::from(opts.top_p.max(0.0)) * total;
        let mut cum = 0.0;
        let mut keep = scratch.len();
        for (n, &(p, _)) in scratch.iter().enumerate() {
            cum += f64::from(p);
            if cum >= target {
                keep = n + 1;
                break;
            }
        }
        scratch.truncate(keep.max(1));
        reordered = true;
    }
    if reordered {
        scratch.sort_unstable_by_key(|&(_, i)| i);
    }

    let total: f64 = scratch.iter().map(|&(p, _)| f64::from(p)).sum();
    let target = u * total;
    let mut cum = 0.0;
    for &(p, i) in scratch.iter() {
        cum += f64::from(p);
        if target < cum {
            return i;
        }
    }
    // Rounding can leave the target just above the running sum; the last kept token is the
    // right answer.
    scratch.last().map_or(0, |&(_, i)| i)
}

/// [`pick`] with a per-thread scratch buffer, for callers that keep none.
pub(crate) fn pick_local(logits: &[f32], opts: &SampleOptions, u: f64) -> u32 {
    thread_local! {
        static SCRATCH: RefCell<Vec<(f32, u32)>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|s| pick(logits, opts, u, &mut s.borrow_mut()))
}

/// Checks the operands of [`Backend::sample_rows`](crate::Backend::sample_rows) the same way
/// on every backend. Returns whether a kernel still has rows to pick from: rows of zero
/// columns are answered here (token 0, as [`pick`] gives for empty logits).
pub(crate) fn check_rows(
    len: usize,
    block: crate::Rows,
    uniforms: &[f64],
    out: &mut [u32],
) -> crate::Result<bool> {
    let crate::Rows { off, rows, cols } = block;
    let n = crate::check::mul("sample_rows", rows, cols)?;
    crate::check::span("sample_rows logits", len, off, n)?;
    if out.len() != rows {
        return crate::check::shape_err(format!(
            "sample_rows: out holds {} tokens, expected {rows}",
            out.len()
        ));
    }
    if uniforms.len() != rows {
        return crate::check::shape_err(format!(
            "sample_rows: {} uniforms for {rows} rows",
            uniforms.len()
        ));
    }
    if cols > u32::MAX as usize {
        return crate::check::shape_err(format!("sample_rows: {cols} columns exceed u32 ids"));
    }
    if cols == 0 {
        out.fill(0);
    }
    Ok(rows > 0 && cols > 0)
}

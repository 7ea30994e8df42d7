//! Host-side token choice from logits: argmax, temperature, top-k and top-p (nucleus) sampling.
//! The model's stateful O(1)-per-token generation loop calls [`pick_token`] once per step.

use std::cmp::Ordering;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::SampleConfig;

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
        SampleOptions::from(&SampleConfig::default())
    }
}

impl From<&SampleConfig> for SampleOptions {
    fn from(c: &SampleConfig) -> Self {
        // Config values are f64 (TOML's float); sampling math runs in f32 like the logits.
        SampleOptions {
            temperature: c.temperature as f32,
            top_k: c.top_k,
            top_p: c.top_p as f32,
            argmax: c.argmax,
        }
    }
}

/// A sampling RNG: seeded for reproducible output, else seeded from the OS.
pub fn seeded_rng(seed: Option<u64>) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::try_from_os_rng().unwrap_or_else(|_| {
            // No OS entropy (rare sandboxes): the clock is good enough for non-reproducible runs.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            StdRng::seed_from_u64(nanos ^ u64::from(std::process::id()))
        }),
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

/// Descending probability, then ascending index, so filtering is deterministic on ties.
fn by_prob_desc(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Picks the next token from `logits` ([V]) with one uniform draw from `rng`.
///
/// `scratch` is reused across calls to avoid a per-token allocation. Empty logits give 0.
pub fn pick_token(
    logits: &[f32],
    opts: &SampleOptions,
    rng: &mut impl Rng,
    scratch: &mut Vec<(f32, u32)>,
) -> u32 {
    let temperature = opts.temperature;
    if opts.argmax || !(temperature.is_finite() && temperature > 0.0) {
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
        let p = ((sanitize(x) - max) / temperature).exp();
        if p > 0.0 {
            scratch.push((p, i as u32));
        }
    }
    // The max logit contributes exp(0) = 1, so scratch is never empty here.

    if opts.top_k > 0 && opts.top_k < scratch.len() {
        scratch.select_nth_unstable_by(opts.top_k - 1, by_prob_desc);
        scratch.truncate(opts.top_k);
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
    }

    let total: f64 = scratch.iter().map(|&(p, _)| f64::from(p)).sum();
    let u = rng.random::<f64>() * total;
    let mut cum = 0.0;
    for &(p, i) in scratch.iter() {
        cum += f64::from(p);
        if u < cum {
            return i;
        }
    }
    // Rounding can leave u just above the running sum; the last kept token is the right answer.
    scratch.last().map_or(0, |&(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGITS: [f32; 6] = [1.0, 2.0, 0.5, -1.0, 1.5, 0.0];

    fn opts(temperature: f32, top_k: usize, top_p: f32) -> SampleOptions {
        SampleOptions {
            temperature,
            top_k,
            top_p,
            argmax: false,
        }
    }

    fn softmax(logits: &[f32], t: f32) -> Vec<f64> {
        let e: Vec<f64> = logits
            .iter()
            .map(|&x| (f64::from(x) / f64::from(t)).exp())
            .collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|x| x / s).collect()
    }

    fn counts(logits: &[f32], o: &SampleOptions, n: usize, seed: u64) -> Vec<usize> {
        let mut rng = seeded_rng(Some(seed));
        let mut scratch = Vec::new();
        let mut c = vec![0; logits.len()];
        for _ in 0..n {
            c[pick_token(logits, o, &mut rng, &mut scratch) as usize] += 1;
        }
        c
    }

    #[test]
    fn argmax_picks_lowest_index_on_ties() {
        let mut rng = seeded_rng(Some(1));
        let mut s = Vec::new();
        let o = SampleOptions {
            argmax: true,
            ..opts(1.0, 0, 1.0)
        };
        assert_eq!(pick_token(&LOGITS, &o, &mut rng, &mut s), 1);
        assert_eq!(pick_token(&[0.0, 3.0, 3.0, 1.0], &o, &mut rng, &mut s), 1);
        assert_eq!(pick_token(&[], &o, &mut rng, &mut s), 0);
    }

    #[test]
    fn greedy_limits_match_argmax() {
        for o in [
            opts(1e-6, 0, 1.0),
            opts(1.0, 1, 1.0),
            opts(1.0, 0, 1e-6),
            opts(0.7, 3, 1e-3),
        ] {
            let c = counts(&LOGITS, &o, 500, 3);
            assert_eq!(c[1], 500, "{o:?}: {c:?}");
        }
    }

    #[test]
    fn frequencies_match_softmax_within_3_sigma() {
        let n = 20_000;
        for t in [1.0f32, 0.5] {
            let p = softmax(&LOGITS, t);
            let c = counts(&LOGITS, &opts(t, 0, 1.0), n, 42);
            for (i, &pi) in p.iter().enumerate() {
                let mean = n as f64 * pi;
                let sigma = (n as f64 * pi * (1.0 - pi)).sqrt();
                let dev = (c[i] as f64 - mean).abs();
                assert!(
                    dev <= 3.0 * sigma,
                    "t={t} token {i}: {} vs {mean:.1}±{sigma:.1}",
                    c[i]
                );
            }
        }
    }

    #[test]
    fn top_k_never_returns_a_filtered_token() {
        let c = counts(&LOGITS, &opts(1.0, 2, 1.0), 5000, 7);
        // Top 2 are tokens 1 (2.0) and 4 (1.5).
        for (i, &n) in c.iter().enumerate() {
            assert_eq!(n > 0, i == 1 || i == 4, "{c:?}");
        }
    }

    #[test]
    fn top_p_keeps_the_smallest_nucleus() {
        let p = softmax(&LOGITS, 1.0);
        // Token 1 alone is below 0.5; tokens 1 and 4 together reach it.
        assert!(p[1] < 0.5 && p[1] + p[4] >= 0.5);
        let c = counts(&LOGITS, &opts(1.0, 0, 0.5), 20_000, 9);
        for (i, &n) in c.iter().enumerate() {
            assert_eq!(n > 0, i == 1 || i == 4, "{c:?}");
        }
        let expect = p[1] / (p[1] + p[4]);
        let frac = c[1] as f64 / 20_000.0;
        assert!((frac - expect).abs() < 0.02, "{frac} vs {expect}");
    }

    #[test]
    fn non_finite_logits_do_not_panic() {
        let mut rng = seeded_rng(Some(5));
        let mut s = Vec::new();
        let o = opts(1.0, 0, 0.9);
        let nan = [f32::NAN, 1.0, f32::NAN, f32::NEG_INFINITY];
        for _ in 0..100 {
            assert_eq!(pick_token(&nan, &o, &mut rng, &mut s), 1);
        }
        assert_eq!(pick_token(&[f32::NAN; 4], &o, &mut rng, &mut s), 0);
        assert_eq!(
            pick_token(&[0.0, f32::INFINITY, 1.0], &o, &mut rng, &mut s),
            1
        );
        assert_eq!(pick_token(&[], &o, &mut rng, &mut s), 0);
        let bad_t = opts(f32::NAN, 0, 1.0);
        assert_eq!(pick_token(&LOGITS, &bad_t, &mut rng, &mut s), 1);
    }

    #[test]
    fn seeded_rng_is_reproducible() {
        let (mut a, mut b) = (seeded_rng(Some(11)), seeded_rng(Some(11)));
        for _ in 0..4 {
            assert_eq!(a.random::<u64>(), b.random::<u64>());
        }
        let _ = seeded_rng(None).random::<u64>();
        let o = SampleOptions::from(&SampleConfig::default());
        assert_eq!(o, SampleOptions::default());
        assert_eq!(
            (o.temperature, o.top_k, o.top_p, o.argmax),
            (1.0, 0, 1.0, false)
        );
    }
}

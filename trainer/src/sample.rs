//! Token choice from logits: the options from `[sample]`, the seeded RNG and the uniform
//! [`draw`] of each pick. The pick itself is the spec [`rnngym_kernels::sample::pick`], run by
//! the backend ([`Backend::sample_rows`]) so a GPU copies back only the chosen token; every
//! backend gets the same uniforms, so seeded output is the same.
//!
//! [`Backend::sample_rows`]: rnngym_kernels::Backend::sample_rows

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use rnngym_kernels::sample::SampleOptions;

use crate::config::SampleConfig;

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

/// The uniform draw of one pick: taken from `rng` only when the options draw at all, so the
/// RNG stream is the same whichever backend picks.
pub fn draw(opts: &SampleOptions, rng: &mut impl Rng) -> f64 {
    if opts.draws() {
        rng.random::<f64>()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec with its uniform drawn from `rng`, as the generator draws it.
    fn pick_token(
        logits: &[f32],
        opts: &SampleOptions,
        rng: &mut impl Rng,
        scratch: &mut Vec<(f32, u32)>,
    ) -> u32 {
        rnngym_kernels::sample::pick(logits, opts, draw(opts, rng), scratch)
    }

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
        assert_eq!(
            o,
            SampleOptions::default(),
            "config and kernel defaults agree"
        );
        assert_eq!(
            (o.temperature, o.top_k, o.top_p, o.argmax),
            (1.0, 0, 1.0, false)
        );
    }
}

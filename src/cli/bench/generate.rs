//! `rnngym bench --mode generate`: sampled generation with the state carried, batch 1 (the
//! [`Generator`] `sample` uses for one stream) or N streams at once ([`BatchGenerator`]),
//! stream counts measured in interleaved rounds so a noisy machine slows each alike.

use std::time::{Duration, Instant};

use rnngym_kernels::{Backend, Precision};
use rnngym_trainer::generate::{BatchGenerator, Generator};
use rnngym_trainer::sample::{seeded_rng, SampleOptions};
use rnngym_trainer::{Model, ModelDims};

use super::DeviceMemory;

/// The aggregate generation rate of one stream count.
#[derive(Clone, Copy, Debug)]
pub(super) struct StreamRate {
    /// N: streams generated at once.
    pub streams: usize,
    /// Median over the rounds of tokens per second, all streams together.
    pub rate: f64,
}

/// A batch-1 or batched generator, stepped the same way.
enum Stepper<'m, B: Backend> {
    One(Box<Generator<'m, B>>, rand::rngs::StdRng),
    Many(BatchGenerator<'m, B>, Vec<rand::rngs::StdRng>),
}

impl<B: Backend> Stepper<'_, B> {
    /// One step: a token for every stream; returns how many tokens.
    fn step(&mut self, be: &B, opts: &SampleOptions) -> anyhow::Result<usize> {
        Ok(match self {
            Stepper::One(g, rng) => {
                g.next(be, opts, rng)?;
                1
            }
            Stepper::Many(g, rngs) => g.next(be, opts, rngs)?.len(),
        })
    }
}

/// Sample a token per stream (temperature 1), feed it back, carry the state, with weights
/// stored at `precision`: each count in
/// `streams` gets `budget` of measurement, split over `rounds` interleaved rounds. Also
/// returns the bytes of parameters a batch-1 token reads, when N = 1 is among the counts.
pub(super) fn bench_generate<B: Backend>(
    be: &B,
    dims: ModelDims,
    budget: Duration,
    streams: &[usize],
    rounds: usize,
    precision: Precision,
    mem: &mut DeviceMemory,
) -> anyhow::Result<(Vec<StreamRate>, Option<usize>)> {
    let model = Model::new(be, dims, 0.0, 2)?;
    let opts = SampleOptions::default();
    let mut steppers = Vec::new();
    let mut bytes_per_token = None;
    for &n in streams {
        let mut s = if n == 1 {
            let mut g = Generator::with_precision(be, &model, precision)?;
            g.feed(be, 0)?;
            bytes_per_token = Some(g.bytes_per_token());
            Stepper::One(Box::new(g), seeded_rng(Some(3)))
        } else {
            let mut g = BatchGenerator::with_precision(be, &model, n, precision)?;
            g.feed(be, &vec![0; n])?;
            let rngs = (0..n as u64).map(|i| seeded_rng(Some(3 + i))).collect();
            Stepper::Many(g, rngs)
        };
        // Warm-up: caches, lazily made tables, the device's first launches.
        for _ in 0..(200 / n).max(4) {
            s.step(be, &opts)?;
        }
        steppers.push(s);
    }
    mem.sample(be);
    let slice = budget / rounds as u32;
    let mut rates = vec![Vec::new(); streams.len()];
    for _ in 0..rounds {
        for (s, r) in steppers.iter_mut().zip(&mut rates) {
            let start = Instant::now();
            let mut tokens = 0usize;
            // Check the clock every 64 tokens: a token can take well under a microsecond.
            while tokens == 0 || start.elapsed() < slice {
                let mut k = 0;
                while k < 64 {
                    k += s.step(be, &opts)?;
                }
                tokens += k;
            }
            // Each token was copied back to the host, so the device has finished here.
            r.push(tokens as f64 / start.elapsed().as_secs_f64());
        }
    }
    let rates = (streams.iter().zip(rates))
        .map(|(&streams, mut r)| {
            r.sort_by(f64::total_cmp);
            StreamRate {
                streams,
                rate: r[r.len() / 2],
            }
        })
        .collect();
    Ok((rates, bytes_per_token))
}

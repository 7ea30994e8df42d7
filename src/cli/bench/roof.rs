//! The read roof of `rnngym bench --mode generate`: how fast one core, and the bench's
//! threads together, can stream a buffer the size of one token's weights from wherever a
//! buffer that size lives (L1, L2, L3 or memory). A batch-1 token reads every weight once, so
//! tokens/s × bytes/token can at best reach this.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// f32 lanes per accumulator (one AVX-512 register, two AVX2 ones).
const LANES: usize = 16;

/// Independent accumulators, so the adds do not wait on each other.
const ACCS: usize = 4;

/// The probe's result in GB/s (10⁹ bytes per second).
#[derive(Clone, Copy, Debug)]
pub(super) struct Roof {
    /// One thread reading the whole working set.
    pub one: f64,
    /// `threads` threads, each reading its own `1 / threads` of it.
    pub all: f64,
    /// The thread count of `all`.
    pub threads: usize,
}

/// Batch-1 generation against the roof: what `rnngym bench --mode generate` adds.
pub(super) struct RoofReport {
    /// Bytes of parameters one token reads.
    pub bytes_per_token: usize,
    /// Tokens/s × bytes/token, in GB/s.
    pub achieved: f64,
    /// The probe at that working set (None on a GPU, whose memory the CPU probe says nothing
    /// about).
    pub roof: Option<Roof>,
}

impl RoofReport {
    /// The report of `rate` tokens/s at `bytes_per_token`, probed on the CPU with `threads`
    /// threads (not on a GPU), each measurement `each` long.
    pub(super) fn measure(
        rate: f64,
        bytes_per_token: usize,
        cpu_threads: Option<usize>,
        each: Duration,
    ) -> Self {
        RoofReport {
            bytes_per_token,
            achieved: rate * bytes_per_token as f64 / 1e9,
            roof: cpu_threads.map(|t| probe(bytes_per_token, t, each, 3)),
        }
    }

    /// The achieved bandwidth over the roof of the bench's thread count.
    pub(super) fn fraction(&self) -> Option<f64> {
        self.roof.map(|r| self.achieved / r.all)
    }

    /// Adds the JSON fields to the bench's object `v`.
    pub(super) fn extend(&self, v: &mut serde_json::Value) {
        let fields = serde_json::json!({
            "generate_bytes_per_token": self.bytes_per_token,
            "generate_gb_per_s": self.achieved,
            "roof_gb_per_s_1_thread": self.roof.map(|r| r.one),
            "roof_gb_per_s": self.roof.map(|r| r.all),
            "roof_threads": self.roof.map(|r| r.threads),
            "roof_fraction": self.fraction(),
        });
        if let (Some(v), serde_json::Value::Object(fields)) = (v.as_object_mut(), fields) {
            v.extend(fields);
        }
    }

    /// The text lines.
    pub(super) fn lines(&self) -> String {
        let kib = self.bytes_per_token as f64 / 1024.0;
        let mut s = format!(
            "weights:  {kib:>10.1} KiB/token read at batch 1; {:.1} GB/s achieved",
            self.achieved
        );
        if let (Some(r), Some(f)) = (self.roof, self.fraction()) {
            let one = match r.threads {
                1 => String::new(),
                _ => format!(" ({:.1} GB/s on 1)", r.one),
            };
            s += &format!(
                "\nroof:     {:>10.1} GB/s read probe at that working set on {} thread(s){one}; \
                 {:.0}% of the roof",
                r.all,
                r.threads,
                100.0 * f
            );
        }
        s
    }
}

/// Measures the read bandwidth at a working set of `bytes` with 1 and with `threads` threads:
/// the median of `rounds` measurements of at least `each`.
pub(super) fn probe(bytes: usize, threads: usize, each: Duration, rounds: usize) -> Roof {
    let threads = threads.max(1);
    let n = (bytes / 4).max(LANES * ACCS * threads);
    let one = median(rounds, || read_rate(n, 1, each));
    let all = if threads == 1 {
        one
    } else {
        median(rounds, || read_rate(n, threads, each))
    };
    Roof { one, all, threads }
}

fn median(rounds: usize, mut f: impl FnMut() -> f64) -> f64 {
    let mut r: Vec<f64> = (0..rounds.max(1)).map(|_| f()).collect();
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}

/// GB/s of `threads` threads summing their own parts of `n` f32 (each thread allocates and
/// touches its part, so it sits in that core's caches) until `each` has passed.
fn read_rate(n: usize, threads: usize, each: Duration) -> f64 {
    let part = n.div_ceil(threads);
    // Passes per thread: calibrated on one thread's part, then fixed for every thread so
    // the wall time covers the same bytes on each.
    let passes = {
        let buf = vec![1.0f32; part];
        let mut k = 1usize;
        loop {
            let start = Instant::now();
            for _ in 0..k {
                black_box(sum(black_box(&buf)));
            }
            if start.elapsed() >= each / 8 {
                break (k * 8).max(1);
            }
            k *= 2;
        }
    };
    let barrier = std::sync::Barrier::new(threads + 1);
    let mut elapsed = Duration::ZERO;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let buf = vec![1.0f32; part];
                black_box(sum(black_box(&buf)));
                barrier.wait();
                for _ in 0..passes {
                    black_box(sum(black_box(&buf)));
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        elapsed = start.elapsed();
    });
    (threads * part * passes * 4) as f64 / elapsed.as_secs_f64() / 1e9
}

/// The sum of `x`, vectorised with the widest instructions this CPU has.
fn sum(x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { sum_avx512(x) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { sum_avx2(x) };
        }
    }
    sum_lanes(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sum_avx512(x: &[f32]) -> f32 {
    sum_lanes(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_avx2(x: &[f32]) -> f32 {
    sum_lanes(x)
}

/// [`ACCS`] accumulators of [`LANES`] lanes each: a shape the compiler turns into vector
/// loads and adds at whatever width the calling function's target features allow.
#[inline(always)]
fn sum_lanes(x: &[f32]) -> f32 {
    let mut acc = [[0f32; LANES]; ACCS];
    let mut blocks = x.chunks_exact(LANES * ACCS);
    for b in &mut blocks {
        for (a, c) in acc.iter_mut().zip(b.chunks_exact(LANES)) {
            for (s, v) in a.iter_mut().zip(c) {
                *s += v;
            }
        }
    }
    let tail: f32 = blocks.remainder().iter().sum();
    acc.iter().flatten().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_measures_a_positive_rate() {
        let x: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        assert_eq!(sum(&x), 499_500.0);
        let r = probe(64 << 10, 2, Duration::from_millis(5), 1);
        assert!(r.one.is_finite() && r.one > 0.0, "{r:?}");
        assert!(r.all.is_finite() && r.all > 0.0, "{r:?}");
        assert_eq!(r.threads, 2);
    }
}

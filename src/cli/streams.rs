//! `--num-samples`, shared by `sample` and `generate-audio`: how many independent streams
//! run at once (one batched forward per step), the seed each uses, and the numbered output
//! path of each.

use std::path::{Path, PathBuf};

use rnngym_trainer::generate::MAX_STREAMS;

/// `--num-samples N`.
#[derive(clap::Args, Debug)]
pub struct StreamsArg {
    /// Independent samples generated at once, in one batch (1 to 4096). Sample i (1-based)
    /// draws from the seed + (i − 1), so sample 1 uses --seed itself and adding samples does
    /// not change the earlier ones; without a seed a random one is drawn and shown. Batched
    /// math may round differently from a single sample, so sample i need not be identical to
    /// a --num-samples 1 run with its seed.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub num_samples: usize,
}

impl StreamsArg {
    /// N, checked to be in 1..=[`MAX_STREAMS`].
    pub fn count(&self) -> anyhow::Result<usize> {
        let n = self.num_samples;
        anyhow::ensure!(
            (1..=MAX_STREAMS).contains(&n),
            "--num-samples: expected 1 to {MAX_STREAMS} samples, got {n}"
        );
        Ok(n)
    }
}

/// The seed of each of `n` streams: `seed + i` for stream i (0-based), wrapping; a random base
/// without a seed.
pub fn seeds(seed: Option<u64>, n: usize) -> Vec<u64> {
    let base =
        seed.unwrap_or_else(|| rand::Rng::random(&mut rnngym_trainer::sample::seeded_rng(None)));
    (0..n as u64).map(|i| base.wrapping_add(i)).collect()
}

/// `out` with `-i` before its extension (`out.wav` → `out-3.wav`; `out` → `out-3`).
pub fn numbered(out: &Path, i: usize) -> PathBuf {
    let stem = out
        .file_stem()
        .map_or_else(Default::default, |s| s.to_os_string());
    let mut name = stem;
    name.push(format!("-{i}"));
    if let Some(ext) = out.extension() {
        name.push(".");
        name.push(ext);
    }
    out.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_paths_keep_the_folder_and_extension() {
        assert_eq!(
            numbered(Path::new("a/out.wav"), 3),
            Path::new("a/out-3.wav")
        );
        assert_eq!(numbered(Path::new("out"), 12), Path::new("out-12"));
        assert_eq!(numbered(Path::new("x.y.wav"), 1), Path::new("x.y-1.wav"));
    }

    #[test]
    fn stream_seeds_count_up_from_the_seed() {
        assert_eq!(seeds(Some(42), 3), [42, 43, 44]);
        assert_eq!(seeds(Some(u64::MAX), 2), [u64::MAX, 0]);
        assert_eq!(seeds(None, 4).len(), 4);
    }
}

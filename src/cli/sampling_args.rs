//! The sampling flags `sample` and `generate-audio` share, each defaulting to the checkpoint's
//! `[sample]` value, checked once with messages that name the flag.

use rnngym_kernels::Precision;
use rnngym_trainer::config::SampleConfig;
use rnngym_trainer::sample::SampleOptions;

/// `--temperature`, `--top-k`, `--top-p`, `--precision`.
#[derive(clap::Args, Debug)]
pub struct SamplingArgs {
    /// Softmax temperature (> 0; lower is more conservative) [default: the checkpoint's
    /// sample.temperature].
    #[arg(short, long)]
    temperature: Option<f32>,
    /// Sample only among the K most likely tokens (0 = all) [default: the checkpoint's
    /// sample.top_k].
    #[arg(long)]
    top_k: Option<usize>,
    /// Nucleus sampling: only the smallest set of tokens with probability ≥ P, in (0, 1]
    /// [default: the checkpoint's sample.top_p].
    #[arg(long)]
    top_p: Option<f32>,
    /// Storage precision of the weights: f32, bf16, int8 (per-row scaled; activations and
    /// state stay f32), w8a16 (int8, and each product's input rounded to 16-bit integers: the
    /// fastest at batch 1 on CPUs with AVX-512 VNNI) or w8a8 (inputs rounded to 8-bit
    /// integers: the fastest for many streams) [default: the checkpoint's sample.precision].
    #[arg(long)]
    precision: Option<Precision>,
}

impl SamplingArgs {
    /// The options: each flag, else the checkpoint's `[sample]` value; `argmax` as given.
    pub fn options(&self, sc: &SampleConfig, argmax: bool) -> anyhow::Result<SampleOptions> {
        let opts = SampleOptions {
            temperature: self.temperature.unwrap_or(sc.temperature as f32),
            top_k: self.top_k.unwrap_or(sc.top_k),
            top_p: self.top_p.unwrap_or(sc.top_p as f32),
            argmax,
        };
        anyhow::ensure!(
            opts.temperature.is_finite() && opts.temperature > 0.0,
            "--temperature: expected a positive number, got {}",
            opts.temperature
        );
        anyhow::ensure!(
            opts.top_p > 0.0 && opts.top_p <= 1.0,
            "--top-p: expected a number in (0, 1], got {}",
            opts.top_p
        );
        Ok(opts)
    }

    /// `--precision`, else the checkpoint's `sample.precision`.
    pub fn precision(&self, sc: &SampleConfig) -> Precision {
        self.precision.unwrap_or(sc.precision)
    }
}

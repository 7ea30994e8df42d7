//! `rnngym sample`: stream text from a checkpoint, O(1) work per character. Progress goes to
//! stderr so it never mixes with the text: a bar when the text goes to a file or pipe and
//! stderr is a terminal, periodic lines when stderr is not a terminal, and a one-line summary
//! at the end (all at `info` level, so `--quiet` and `RUST_LOG=warn` silence them).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rnngym_gyms::{GymError, GymRegistry, UnknownPolicy};
use rnngym_kernels::{Backend, Precision};
use rnngym_trainer::generate::{BatchGenerator, Generator};
use rnngym_trainer::sample::{seeded_rng, SampleOptions};
use rnngym_trainer::{fsutil, state, RunDir};

use super::device_arg::{self, on_device};
use super::progress::StreamProgress;
use super::sampling_args::SamplingArgs;
use super::streams::{self, StreamsArg};

/// Arguments of `rnngym sample`.
#[derive(clap::Args, Debug)]
pub struct SampleArgs {
    #[command(flatten)]
    model: device_arg::CheckpointArgs,
    /// Text to prime the network with (printed before the sample).
    #[arg(long, conflicts_with = "prime_file")]
    prime: Option<String>,
    /// File whose text primes the network.
    #[arg(long)]
    prime_file: Option<PathBuf>,
    /// Characters (tokens) to generate [default: sample.length of the checkpoint's config].
    #[arg(short = 'n', long)]
    length: Option<usize>,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Always take the most likely token.
    #[arg(long)]
    argmax: bool,
    /// Random seed (default: the config's sample.seed, else random).
    #[arg(long)]
    seed: Option<u64>,
    /// What to do with prime characters outside the vocabulary.
    #[arg(long, value_enum)]
    unknown: Option<Unknown>,
    #[command(flatten)]
    streams: StreamsArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Unknown {
    Error,
    Skip,
}

/// Most bytes of a text read from a file (`--prime-file`, `visualize --text`): far more than
/// any prime, and a bound on what a wrong path (a device, a huge file) can make us read.
pub(super) const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Tokens between progress updates (an update costs more than generating a token of a tiny model).
const PROGRESS_CHUNK: u64 = 64;

/// Loads the checkpoint on the chosen device and streams the sample to stdout.
pub fn run(a: SampleArgs, registry: &GymRegistry) -> anyhow::Result<()> {
    a.streams.count()?;
    let (dev, loaded, path) = a.model.open(registry)?;
    on_device!(dev, be => sample_on(be, loaded, &path, &a))
}

fn sample_on<B: Backend>(
    be: &B,
    loaded: state::Loaded,
    path: &Path,
    a: &SampleArgs,
) -> anyhow::Result<()> {
    let (model, loaded) = state::model_from(be, loaded, path)?;
    log::info!("sampling on {}", be.name());
    let sc = &loaded.config.sample;
    let opts = a.sampling.options(sc, a.argmax || sc.argmax)?;
    let precision = a.sampling.precision(sc);
    let policy = match a.unknown {
        Some(Unknown::Error) => UnknownPolicy::Error,
        Some(Unknown::Skip) => UnknownPolicy::Skip,
        None => sc.unknown,
    };
    // Where the prime came from, for messages: the flag as the user wrote it, or the key.
    let (prime_text, source) = match (&a.prime, &a.prime_file) {
        (Some(p), _) => (p.clone(), "--prime".to_string()),
        (None, Some(f)) => (
            fsutil::read_text(f, MAX_TEXT_BYTES).with_context(|| {
                format!("--prime-file {}: cannot read as UTF-8 text", f.display())
            })?,
            format!("--prime-file {}", f.display()),
        ),
        (None, None) => (
            sc.prime.clone(),
            "sample.prime (from the checkpoint's config)".to_string(),
        ),
    };
    let codec = loaded.codec.clone();
    let mut prime = codec
        .encode(&prime_text, policy)
        .map_err(|e| match e {
            // The flag of this command, not the config key: a checkpoint's config is not
            // the user's to edit. "What the vocabulary lacks" fits characters and samples.
            GymError::NotInVocabulary { .. } => {
                anyhow::anyhow!("{e}; use --unknown skip to drop what the vocabulary lacks")
            }
            other => other.into(),
        })
        .with_context(|| source.clone())?;
    let count = a.streams.count()?;
    let seeds = (count > 1).then(|| streams::seeds(a.seed.or(sc.seed), count));
    let mut rng = match &seeds {
        Some(s) => seeded_rng(Some(s[0])),
        None => seeded_rng(a.seed.or(sc.seed)),
    };
    let shown_prime = codec.render(&prime);
    if prime.is_empty() {
        // Start from a newline when the vocabulary has one: it begins a "paragraph".
        prime = codec.encode("\n", UnknownPolicy::Skip).unwrap_or_default();
        if prime.is_empty() {
            prime.push(rand::Rng::random_range(
                &mut rng,
                0..codec.vocab_size() as u32,
            ));
        }
    }
    let n = a.length.unwrap_or(sc.length);
    if let Some(seeds) = seeds {
        let job = Streams {
            prime: &prime,
            shown_prime: &shown_prime,
            length: n,
            opts: &opts,
            seeds: &seeds,
            precision,
        };
        return sample_streams(be, &model, &*codec, &job);
    }
    let mut g = Generator::with_precision(be, &model, precision)?;
    g.prime(be, &prime)?;
    let stdout = std::io::stdout();
    let mut progress = StreamProgress::new(n as u64, "sampling", "tokens", stdout.is_terminal());
    let mut out = stdout.lock();
    out.write_all(shown_prime.as_bytes())
        .map_err(super::stdout::write_error)?;
    // Tokens are written one at a time, so the codec's separator goes between them (and after
    // a shown prime) as one `render` of the whole text would put it.
    let mut piece = String::new();
    for i in 1..=n as u64 {
        let tok = g.next(be, &opts, &mut rng)?;
        piece.clear();
        if i > 1 || !shown_prime.is_empty() {
            piece.push_str(codec.separator());
        }
        piece.push_str(&codec.render(&[tok]));
        out.write_all(piece.as_bytes())
            .and_then(|()| out.flush())
            .map_err(super::stdout::write_error)?;
        if i % PROGRESS_CHUNK == 0 {
            progress.set(i);
        }
    }
    writeln!(out).map_err(super::stdout::write_error)?;
    drop(out);
    let secs = progress.finish().as_secs_f64();
    log::info!(
        "sampled {n} tokens in {secs:.2} s ({:.0} tokens/s)",
        n as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// What `--num-samples N > 1` samples.
struct Streams<'a> {
    prime: &'a [u32],
    shown_prime: &'a str,
    length: usize,
    opts: &'a SampleOptions,
    /// One per stream.
    seeds: &'a [u64],
    /// Storage precision of the weights.
    precision: Precision,
}

/// Generates the N streams as one batch, then prints each after a header line naming its
/// number and seed (the streams advance together, so none is complete before the end).
fn sample_streams<B: Backend>(
    be: &B,
    model: &rnngym_trainer::Model<B>,
    codec: &dyn rnngym_gyms::Codec,
    job: &Streams<'_>,
) -> anyhow::Result<()> {
    let count = job.seeds.len();
    let mut g = BatchGenerator::with_precision(be, model, count, job.precision)?;
    g.prime_with(be, job.prime, |_| {})?;
    let mut rngs: Vec<_> = job.seeds.iter().map(|&s| seeded_rng(Some(s))).collect();
    let mut texts = vec![job.shown_prime.to_string(); count];
    let total = (job.length * count) as u64;
    let show = std::io::stdout().is_terminal();
    let mut progress = StreamProgress::new(total, "sampling", "tokens", show);
    for i in 1..=job.length {
        let toks = g.next(be, job.opts, &mut rngs)?;
        for (text, &tok) in texts.iter_mut().zip(toks) {
            // The codec's separator between tokens and after a shown prime, as in one stream.
            if i > 1 || !job.shown_prime.is_empty() {
                text.push_str(codec.separator());
            }
            text.push_str(&codec.render(&[tok]));
        }
        if (i * count) as u64 % PROGRESS_CHUNK < count as u64 {
            progress.set((i * count) as u64);
        }
    }
    let secs = progress.finish().as_secs_f64();
    let mut out = std::io::stdout().lock();
    for (k, (text, seed)) in texts.iter().zip(job.seeds).enumerate() {
        writeln!(out, "=== sample {} of {count} (seed {seed}) ===", k + 1)
            .and_then(|()| writeln!(out, "{text}"))
            .map_err(super::stdout::write_error)?;
    }
    out.flush().map_err(super::stdout::write_error)?;
    log::info!(
        "sampled {count} × {} tokens in {secs:.2} s ({:.0} tokens/s over all samples)",
        job.length,
        total as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// A run directory means its best checkpoint, else its latest.
pub(super) fn checkpoint_file(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_dir() {
        let run = RunDir::new(p);
        for file in [run.best(), run.latest()] {
            if file.is_file() {
                return Ok(file);
            }
        }
        anyhow::bail!(
            "--checkpoint {}: the directory holds no best.safetensors or latest.safetensors",
            p.display()
        );
    }
    anyhow::ensure!(p.is_file(), "--checkpoint {}: no such file", p.display());
    Ok(p.to_path_buf())
}

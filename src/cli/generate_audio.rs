//! `rnngym generate-audio`: stream new audio from a `wav-v1` checkpoint into a 16-bit PCM mono
//! WAV at the model's sample rate. O(1) work and constant memory per sample; the file is
//! written to a temporary name and renamed into place when complete.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rnngym_gyms::wav::{load_mono, WavFileWriter};
use rnngym_gyms::GymRegistry;
use rnngym_kernels::Backend;
use rnngym_trainer::generate::{BatchGenerator, Generator, PRIME_WINDOW};
use rnngym_trainer::sample::seeded_rng;
use rnngym_trainer::state;

use super::device_arg::{self, on_device};
use super::progress::StreamProgress;
use super::sampling_args::SamplingArgs;
use super::streams::{self, StreamsArg};

/// Arguments of `rnngym generate-audio`.
#[derive(clap::Args, Debug)]
pub struct GenerateAudioArgs {
    #[command(flatten)]
    model: device_arg::CheckpointArgs,
    /// Seconds of audio to generate.
    #[arg(long, allow_negative_numbers = true)]
    seconds: f64,
    /// Output WAV file (16-bit PCM, mono, at the model's sample rate).
    #[arg(long)]
    out: PathBuf,
    /// WAV file whose audio primes the network (mixed to mono, resampled to the model's rate);
    /// it is not copied into the output.
    #[arg(long)]
    prime_wav: Option<PathBuf>,
    /// Prime with only the last this many seconds of --prime-wav (the end of a long recording
    /// is what the continuation follows) [default: all of it].
    #[arg(long, requires = "prime_wav")]
    prime_seconds: Option<f64>,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// How much colder periodic stretches are sampled, for models with a pitch feature
    /// (LPCNet's rule at 1; 0 turns it off) [default: the checkpoint's sample.pitch_sharpening, 0].
    #[arg(long)]
    pitch_sharpening: Option<f32>,
    /// Random seed (default: the config's sample.seed, else random).
    #[arg(long)]
    seed: Option<u64>,
    /// With N > 1 the samples go to OUT with `-1` … `-N` before the extension.
    #[command(flatten)]
    streams: StreamsArg,
}

/// Loads the checkpoint on the chosen device and streams the generated samples into `--out`.
pub fn run(a: GenerateAudioArgs, registry: &GymRegistry) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.seconds.is_finite() && a.seconds > 0.0 && a.seconds <= 86_400.0,
        "--seconds: expected a number of seconds in (0, 86400], got {}",
        a.seconds
    );
    if let Some(p) = a.prime_seconds {
        anyhow::ensure!(
            p.is_finite() && p > 0.0,
            "--prime-seconds: expected a positive number of seconds, got {p}"
        );
    }
    // Before any work: no output may replace a device, a link or a run's own file.
    for out in outputs(&a.out, a.streams.count()?) {
        rnngym_trainer::output::check(&out).with_context(|| format!("--out {}", out.display()))?;
    }
    let (dev, loaded, path) = a.model.open(registry)?;
    on_device!(dev, be => generate_on(be, loaded, &path, &a))
}

fn generate_on<B: Backend>(
    be: &B,
    loaded: state::Loaded,
    path: &std::path::Path,
    a: &GenerateAudioArgs,
) -> anyhow::Result<()> {
    let (model, loaded) = state::model_from(be, loaded, path)?;
    log::info!("generating on {}", be.name());
    let codec = loaded.codec.clone();
    let audio = codec.audio().ok_or_else(|| {
        anyhow::anyhow!(
            "--checkpoint {}: its codec is \"{}\", not audio; generate-audio needs a model \
             trained on a wav-v1 gym (use `rnngym sample` for text)",
            path.display(),
            codec.kind()
        )
    })?;
    let rate = audio.sample_rate();
    let sc = &loaded.config.sample;
    let opts = a.sampling.options(sc, sc.argmax)?;
    let prime: Vec<u32> = match &a.prime_wav {
        Some(f) => {
            let x = load_mono(f, None, rate).context("--prime-wav")?;
            let keep = a.prime_seconds.map_or(x.len(), |s| {
                ((s * f64::from(rate)).round() as usize).clamp(1, x.len().max(1))
            });
            x[x.len() - keep.min(x.len())..]
                .iter()
                .map(|&v| audio.token_of(v))
                .collect()
        }
        None => Vec::new(),
    };
    // An empty prime (no --prime-wav, or an empty file) starts from silence.
    let prime = if prime.is_empty() {
        vec![audio.token_of(0.0)]
    } else {
        prime
    };
    let n = (a.seconds * f64::from(rate)).round().max(1.0) as u64;
    let sharpening = a.pitch_sharpening.unwrap_or(sc.pitch_sharpening as f32);
    anyhow::ensure!(
        sharpening.is_finite() && (0.0..=10.0).contains(&sharpening),
        "--pitch-sharpening: expected a number in [0, 10], got {sharpening}"
    );
    let count = a.streams.count()?;
    let precision = a.sampling.precision(sc);
    if count > 1 {
        let mut g = BatchGenerator::with_precision(be, &model, count, precision)?
            .with_pitch_sharpening(sharpening);
        g.prime_with(be, &prime, |_| {})?;
        let seeds = streams::seeds(a.seed.or(sc.seed), count);
        return generate_streams(be, g, audio, n, &opts, &seeds, &a.out);
    }
    let mut rng = seeded_rng(a.seed.or(sc.seed));
    let mut out = WavFileWriter::create(&a.out, rate)?;
    let mut g = Generator::with_precision(be, &model, precision)?.with_pitch_sharpening(sharpening);
    if prime.len() > PRIME_WINDOW {
        let mut bar = StreamProgress::new(prime.len() as u64, "priming", "samples", false);
        g.prime_with(be, &prime, |k| bar.set(k as u64))?;
        let secs = bar.finish().as_secs_f64();
        log::info!(
            "primed with {:.2} s of audio in {secs:.1} s",
            prime.len() as f64 / f64::from(rate)
        );
    } else {
        g.prime(be, &prime)?;
    }
    let stop = super::interrupt_flag("keeping the audio generated so far as a shorter WAV");
    let mut progress = StreamProgress::new(n, "generating", "samples", false);
    for i in 1..=n {
        let tok = g.next(be, &opts, &mut rng)?;
        out.push(audio.sample_of(tok))?;
        if i % 256 == 0 {
            progress.set(i);
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
        }
    }
    let secs = progress.finish().as_secs_f64();
    let written = out.finish()?;
    let audio_secs = written as f64 / f64::from(rate);
    if written < n {
        eprintln!(
            "interrupted: wrote {} with the first {audio_secs:.2} s of the {} s asked for \
             ({written} of {n} samples, a complete WAV)",
            a.out.display(),
            a.seconds
        );
        std::process::exit(130);
    }
    println!(
        "wrote {}: {audio_secs:.2} s of audio ({written} samples, 16-bit PCM mono, {rate} Hz) in \
         {secs:.1} s; real-time factor {:.3} (seconds of audio per second of compute)",
        a.out.display(),
        audio_secs / secs.max(1e-9)
    );
    Ok(())
}

/// The files `--out` names for `count` samples: itself for one, numbered (`out-1.wav` …) for
/// more.
fn outputs(out: &Path, count: usize) -> Vec<PathBuf> {
    match count {
        1 => vec![out.to_path_buf()],
        _ => (1..=count).map(|i| streams::numbered(out, i)).collect(),
    }
}

/// `--num-samples N > 1`: the N primed streams of `g` advance together, `n` samples each,
/// stream i into the i-th numbered file from `seeds[i]`.
fn generate_streams<B: Backend>(
    be: &B,
    mut g: BatchGenerator<'_, B>,
    audio: &dyn rnngym_gyms::AudioCodec,
    n: u64,
    opts: &rnngym_trainer::sample::SampleOptions,
    seeds: &[u64],
    out: &Path,
) -> anyhow::Result<()> {
    let rate = audio.sample_rate();
    let paths = outputs(out, seeds.len());
    let mut rngs: Vec<_> = seeds.iter().map(|&s| seeded_rng(Some(s))).collect();
    let mut files = (paths.iter())
        .map(|p| WavFileWriter::create(p, rate))
        .collect::<Result<Vec<_>, _>>()?;
    let stop = super::interrupt_flag("keeping the audio generated so far as shorter WAVs");
    let total = n * seeds.len() as u64;
    let mut progress = StreamProgress::new(total, "generating", "samples", false);
    let mut done = 0;
    while done < n {
        for (file, &tok) in files.iter_mut().zip(g.next(be, opts, &mut rngs)?) {
            file.push(audio.sample_of(tok))?;
        }
        done += 1;
        if done % 64 == 0 {
            progress.set(done * seeds.len() as u64);
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
        }
    }
    let secs = progress.finish().as_secs_f64();
    let audio_secs = done as f64 / f64::from(rate);
    for ((file, path), seed) in files.into_iter().zip(&paths).zip(seeds) {
        file.finish()?;
        println!(
            "wrote {}: {audio_secs:.2} s of audio ({done} samples, 16-bit PCM mono, {rate} Hz, \
             seed {seed})",
            path.display()
        );
    }
    let rtf = audio_secs * seeds.len() as f64 / secs.max(1e-9);
    if done < n {
        eprintln!(
            "interrupted: wrote {} WAVs with the first {audio_secs:.2} s of the {:.2} s asked for",
            seeds.len(),
            n as f64 / f64::from(rate)
        );
        std::process::exit(130);
    }
    println!(
        "{} samples of {audio_secs:.2} s in {secs:.1} s: {:.0} samples/s over all of them; \
         real-time factor {rtf:.3} (seconds of audio per second of compute, all samples)",
        seeds.len(),
        total as f64 / secs.max(1e-9)
    );
    Ok(())
}

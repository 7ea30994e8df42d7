//! Train a tiny LSTM on WAV files through the `Trainer` API, then generate new audio with
//! `Trainer::run` and write it as a 16-bit PCM mono WAV.
//!
//! ```sh
//! cargo run --release --example generate_audio -- [DATA] [--iterations N] [--seconds S]
//!     [--sample-rate HZ] [--out F]
//! ```
//!
//! DATA is a WAV file, a directory or a glob (default: the speech corpus in
//! `../shared/data/speech` beside the repository). The same run from the CLI is
//! `rnngym train` on a `wav-v1` config followed by `rnngym generate-audio`.

use std::path::{Path, PathBuf};

use rnngym_gyms::wav::WavFileWriter;
use rnngym_gyms::{GymRegistry, GymSpec};
use rnngym_kernels::CpuBackend;
use rnngym_trainer::sample::{seeded_rng, SampleOptions};
use rnngym_trainer::{Config, Trainer};

/// What to train on and what to write.
pub struct Demo {
    /// WAV file, directory or glob.
    pub data: PathBuf,
    /// Sample rate the audio is resampled to (and the output's rate).
    pub sample_rate: u32,
    /// Optimizer steps.
    pub iterations: u64,
    /// Seconds of audio to generate.
    pub seconds: f64,
    /// Run directory (checkpoints).
    pub run_dir: PathBuf,
    /// Output WAV.
    pub out: PathBuf,
}

/// What a demo run measured.
pub struct Report {
    /// Validation loss at the end, nats per sample.
    pub val_loss: f64,
    /// The uniform baseline over the codec's levels, ln V nats per sample.
    pub baseline: f64,
    /// Samples written to the output WAV.
    pub samples: u64,
}

impl Demo {
    /// The demo's defaults: the speech corpus at 16 kHz, 300 iterations, 2 s of audio.
    pub fn new(data: PathBuf) -> Self {
        let tmp = std::env::temp_dir().join("rnngym-generate-audio-example");
        Demo {
            data,
            sample_rate: 16000,
            iterations: 300,
            seconds: 2.0,
            run_dir: tmp.clone(),
            out: tmp.join("generated.wav"),
        }
    }

    /// A small `wav-v1` config: a 1×64 LSTM on 256-level mu-law samples.
    fn config(&self) -> Result<Config, Box<dyn std::error::Error>> {
        let mut gym = GymSpec::new("wav-v1");
        gym.path = Some(self.data.display().to_string());
        gym.val_fraction = 0.1;
        let rate = toml::Value::Integer(self.sample_rate.into());
        gym.options.insert("sample_rate".into(), rate);
        let mut cfg = Config {
            gym,
            ..Default::default()
        };
        cfg.model.hidden = 64;
        cfg.model.layers = 1;
        cfg.model.embed = Some(16);
        cfg.train.batch = 8;
        cfg.train.seq_len = 64;
        cfg.train.lr = 3e-3;
        cfg.train.iterations = self.iterations;
        cfg.train.val_every = 0;
        cfg.train.val_windows = 20;
        cfg.train.threads = 1;
        cfg.checkpoint.dir = self.run_dir.display().to_string();
        cfg.checkpoint.every = 0;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Trains, validates, generates `seconds` of audio from silence and writes `out`.
    pub fn run(&self) -> Result<Report, Box<dyn std::error::Error>> {
        let cfg = self.config()?;
        let gym = GymRegistry::with_builtins().make(&cfg.gym)?;
        let mut trainer = Trainer::new(CpuBackend::new(1), cfg, gym)?;
        trainer.train(self.iterations)?;
        let val = trainer.test(20)?;

        let codec = trainer.codec();
        let audio = codec.audio().ok_or("wav-v1 always has an audio codec")?;
        let n = (self.seconds * f64::from(audio.sample_rate()))
            .round()
            .max(1.0) as usize;
        let opts = SampleOptions {
            temperature: 0.9,
            ..Default::default()
        };
        let mut rng = seeded_rng(Some(1));
        // Trainer::run is O(1) per sample: the recurrent state is carried, never re-run.
        let tokens = trainer.run(n, &[audio.token_of(0.0)], &opts, &mut rng, |_| {})?;
        let mut w = WavFileWriter::create(&self.out, audio.sample_rate())?;
        for t in tokens {
            w.push(audio.sample_of(t))?;
        }
        Ok(Report {
            val_loss: val.loss,
            baseline: (codec.vocab_size() as f64).ln(),
            samples: w.finish()?,
        })
    }
}

/// Parses `[DATA] [--iterations N] [--seconds S] [--sample-rate HZ] [--out F]`; errors are one-line messages.
pub fn parse_args(args: &[String]) -> Result<Demo, String> {
    let speech = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/speech");
    let mut demo = Demo::new(speech);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag}: missing value"))
        };
        match a.as_str() {
            "--iterations" => {
                let v = value(a)?;
                demo.iterations = v.parse().ok().filter(|&n| n > 0).ok_or(format!(
                    "--iterations: expected a positive integer, got {v}"
                ))?;
            }
            "--seconds" => {
                let v = value(a)?;
                demo.seconds = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 3600.0)
                    .ok_or(format!(
                        "--seconds: expected a number in (0, 3600], got {v}"
                    ))?;
            }
            "--sample-rate" => {
                let v = value(a)?;
                demo.sample_rate = v
                    .parse()
                    .ok()
                    .filter(|r| (1000..=192_000).contains(r))
                    .ok_or(format!(
                        "--sample-rate: expected Hz in [1000, 192000], got {v}"
                    ))?;
            }
            "--out" => demo.out = PathBuf::from(value(a)?),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            path => demo.data = PathBuf::from(path),
        }
    }
    Ok(demo)
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_args(&args).map_err(Into::into).and_then(|demo| {
        println!(
            "training on {} for {} iterations ...",
            demo.data.display(),
            demo.iterations
        );
        let r = demo.run()?;
        Ok::<_, Box<dyn std::error::Error>>((demo, r))
    });
    match result {
        Ok((demo, r)) => {
            let ln2 = std::f64::consts::LN_2;
            println!(
                "validation {:.3} bits/sample (uniform {:.3}); wrote {} ({} samples at {} Hz)",
                r.val_loss / ln2,
                r.baseline / ln2,
                demo.out.display(),
                r.samples,
                demo.sample_rate
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            std::process::ExitCode::FAILURE
        }
    }
}

//! Rough edges of the CLI, each on the real binary: audio samples separated like their prime,
//! unknown-prime hints that name the option and the source, one WAV reader for `plot`, a
//! closed stdout as a normal end, one rule for relative paths, `--out` checked first, a short
//! "no GPU" line, and `check-gym` agreeing with `train` about the validation split.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::Fixture;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one `error:` line of a failed run (warnings before it are allowed).
fn error_line(out: &Output) -> String {
    let err = stderr(out);
    assert!(!out.status.success(), "expected a failure:\n{err}");
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("warn: "))
        .collect();
    assert_eq!(lines.len(), 1, "one error line expected:\n{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

/// Runs the binary with warnings and errors only (no info lines around the error).
fn quiet(f: &Fixture, args: &[&str]) -> Output {
    f.command(args).env("RUST_LOG", "warn").output().unwrap()
}

fn has_all(line: &str, needles: &[&str]) {
    for n in needles {
        assert!(line.contains(n), "{n:?} not in: {line}");
    }
}

/// A `wav-v1` run on four short tones, trained for two iterations into `run/`.
const AUDIO: &str = r#"
[model]
hidden = 16
layers = 1
embed = 8
device = "cpu"
[train]
iterations = 2
batch = 2
seq_len = 16
val_every = 0
[gym]
id = "wav-v1"
path = "data"
val_fraction = 0
[gym.options]
sample_rate = 8000
[sample]
train_seconds = 0
[checkpoint]
dir = "run"
"#;

fn audio_run() -> Fixture {
    let f = Fixture::new("", AUDIO);
    std::fs::create_dir(f.file("data")).unwrap();
    for (i, hz) in [220.0f32, 330.0, 440.0, 550.0].iter().enumerate() {
        let path = f.file(&format!("data/tone-{i}.wav"));
        let mut w = rnngym_gyms::wav::WavFileWriter::create(&path, 8000).unwrap();
        for k in 0..2000 {
            let phase = 2.0 * std::f32::consts::PI * hz * k as f32 / 8000.0;
            w.push(0.4 * phase.sin()).unwrap();
        }
        w.finish().unwrap();
    }
    f.train();
    f
}

/// Parses whitespace-separated sample values, each in [-1, 1].
fn samples(text: &str) -> Vec<f32> {
    text.split_whitespace()
        .map(|w| {
            let x: f32 = w.parse().unwrap_or_else(|_| panic!("{w:?} in {text:?}"));
            assert!((-1.0..=1.0).contains(&x), "{x}");
            x
        })
        .collect()
}

#[test]
fn audio_samples_are_separated_like_the_prime() {
    let f = audio_run();
    let out = f.ok(&[
        "sample",
        "--checkpoint",
        "run",
        "--prime",
        "0.1 -0.2",
        "-n",
        "70",
        "--seed",
        "1",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(samples(&text).len(), 2 + 70, "{text:?}");
    // No prime: the first value has no separator before it, the rest do.
    let out = f.ok(&["sample", "--checkpoint", "run", "-n", "9", "--seed", "2"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.starts_with(' '), "{text:?}");
    assert_eq!(samples(&text).len(), 9, "{text:?}");
    // A value that is not a sample: the hint names this command's flag, in words that fit
    // audio (not "characters").
    let out = quiet(
        &f,
        &[
            "sample",
            "--checkpoint",
            "run",
            "--prime",
            "0.1 abc",
            "-n",
            "3",
        ],
    );
    let line = error_line(&out);
    has_all(&line, &["--prime", "'abc'", "--unknown skip"]);
    assert!(
        !line.contains("character") && !line.contains("--set"),
        "{line}"
    );
}

#[test]
fn unknown_prime_hints_name_the_usable_option_and_the_source() {
    let f = Fixture::new(&common::corpus(), common::TINY);
    f.train();
    let sample = |extra: &[&str]| {
        let mut args = vec!["sample", "--checkpoint", "run", "-n", "5"];
        args.extend_from_slice(extra);
        quiet(&f, &args)
    };
    let line = error_line(&sample(&["--prime", "To Z"]));
    has_all(&line, &["error: --prime: ", "'Z'", "--unknown skip"]);
    assert!(
        !line.contains("--set") && !line.contains("sample.unknown"),
        "{line}"
    );

    std::fs::write(f.file("p.txt"), "To Z").unwrap();
    let line = error_line(&sample(&["--prime-file", "p.txt"]));
    has_all(
        &line,
        &["error: --prime-file p.txt: ", "'Z'", "--unknown skip"],
    );
    f.ok(&[
        "sample",
        "--checkpoint",
        "run",
        "--prime-file",
        "p.txt",
        "--unknown",
        "skip",
    ]);

    // train: an unknown character in sample.prime stops the run before it trains, naming the
    // key and the character...
    let out = quiet(
        &f,
        &[
            "train",
            "--config",
            "c.toml",
            "--set",
            "sample.prime=Zo",
            "--set",
            "checkpoint.dir=zrun",
        ],
    );
    let line = error_line(&out);
    has_all(&line, &["sample.prime", "'Z'", "sample.unknown = \"skip\""]);
    assert!(
        !f.file("zrun/latest.safetensors").exists(),
        "trained anyway"
    );
    // ...and is dropped when sample.unknown = "skip".
    f.ok(&[
        "train",
        "--config",
        "c.toml",
        "--set",
        "sample.prime=Zo",
        "--set",
        "sample.unknown=skip",
        "--set",
        "checkpoint.dir=zrun",
    ]);
    // That checkpoint's own prime, sampled with --unknown error, names where it came from.
    let out = quiet(
        &f,
        &[
            "sample",
            "--checkpoint",
            "zrun",
            "-n",
            "5",
            "--unknown",
            "error",
        ],
    );
    let line = error_line(&out);
    has_all(
        &line,
        &["sample.prime", "checkpoint", "'Z'", "--unknown skip"],
    );
}

/// `shared/data/wav-formats` beside the repository, when it is there.
fn wav_formats() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/wav-formats");
    if d.is_dir() {
        Some(d)
    } else {
        println!("skipped: {} not found", d.display());
        None
    }
}

#[test]
fn spectrogram_reads_wavs_as_training_does() {
    let Some(formats) = wav_formats() else {
        return;
    };
    let f = Fixture::new("", "");
    let file = |name: &str| formats.join(name).display().to_string();
    // hound alone refused these two; the gyms' reader decodes them.
    for name in [
        "float64-16k-mono.wav",
        "mulaw-8k.wav",
        "odd-chunk-padding.wav",
    ] {
        let png = format!("{name}.png");
        f.ok(&["plot", "--spectrogram", &file(name), "--out", &png]);
        assert!(f.file(&png).is_file(), "{name}");
    }
    // A truncated file is plotted from the samples really present, with a warning naming it.
    let out = f.ok(&[
        "plot",
        "--spectrogram",
        &file("truncated.wav"),
        "--out",
        "t.png",
    ]);
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.starts_with("warn: ") && l.contains("truncated.wav")),
        "{err}"
    );
    // What cannot be read is one line naming the file and why.
    for (name, why) in [
        ("not-a-wav.wav", "not a RIFF/WAVE file"),
        ("empty.wav", "empty file"),
        ("adpcm-ima-8k.wav", "ADPCM"),
    ] {
        let out = quiet(
            &f,
            &["plot", "--spectrogram", &file(name), "--out", "x.png"],
        );
        has_all(&error_line(&out), &["--spectrogram", name, why]);
    }
}

#[test]
fn a_closed_stdout_ends_sample_quietly_with_success() {
    let f = Fixture::new(&common::corpus(), common::TINY);
    f.train();
    let mut child = f
        .command(&[
            "sample",
            "--checkpoint",
            "run",
            "-n",
            "100000000",
            "--seed",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = [0u8; 64];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout); // as `head -c 64` does
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(
        !err.contains("error:") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn config_paths_are_against_its_folder_and_command_line_paths_against_the_current_directory() {
    let f = Fixture::new(&common::corpus(), "");
    std::fs::create_dir(f.file("cfg")).unwrap();
    std::fs::write(f.file("cfg/corpus.txt"), common::corpus()).unwrap();
    let tiny = common::TINY.replace("iterations = 30", "iterations = 2");
    std::fs::write(f.file("cfg/c.toml"), &tiny).unwrap();
    // From the config file: cfg/corpus.txt is read, cfg/run is written.
    f.ok(&["train", "--config", "cfg/c.toml"]);
    assert!(f.file("cfg/run/latest.safetensors").is_file());
    assert!(!f.file("run").exists());
    // From the command line: ./corpus.txt is read (a different text: its own vocabulary), and
    // ./out is written.
    std::fs::write(f.file("corpus.txt"), "zyxw vuts ".repeat(40)).unwrap();
    f.ok(&[
        "train",
        "--config",
        "cfg/c.toml",
        "--set",
        "gym.path=corpus.txt",
        "--set",
        "checkpoint.dir=out",
    ]);
    assert!(f.file("out/latest.safetensors").is_file());
    let saved = std::fs::read_to_string(f.file("out/config.toml")).unwrap();
    let expected = std::path::absolute(f.file("corpus.txt")).unwrap();
    assert!(
        saved.contains(&format!("path = \"{}\"", expected.display())),
        "{saved}"
    );
}

#[test]
fn generate_audio_checks_its_out_path_before_generating() {
    let f = audio_run();
    std::fs::create_dir(f.file("outdir")).unwrap();
    let started = std::time::Instant::now();
    // An hour of audio would take minutes to generate: the refusal must come first.
    let out = quiet(
        &f,
        &[
            "generate-audio",
            "--checkpoint",
            "run",
            "--seconds",
            "3600",
            "--out",
            "outdir",
        ],
    );
    has_all(&error_line(&out), &["--out", "outdir", "directory"]);
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

#[test]
fn no_gpu_is_one_short_line_with_details_at_debug_level() {
    let f = Fixture::new(&common::corpus(), common::TINY);
    f.train();
    let run = |level: &str, device: &str| {
        f.command(&[
            "sample",
            "--checkpoint",
            "run",
            "-n",
            "3",
            "--device",
            device,
        ])
        .env("RUST_LOG", level)
        .output()
        .unwrap()
    };
    let out = run("info", "auto");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    if err.contains("using cuda") {
        println!("skipped: this machine has a usable GPU");
        return;
    }
    assert!(
        err.lines()
            .any(|l| l == "device: cpu (no CUDA GPU found; RUST_LOG=debug for details)"),
        "{err}"
    );
    assert!(
        !err.contains("no usable GPU") && !err.contains("libcuda"),
        "{err}"
    );
    // The details are one RUST_LOG away, and an explicit cuda is still an error that has them.
    let debug = stderr(&run("debug", "auto"));
    assert!(debug.contains("--device auto: "), "{debug}");
    let line = error_line(&run("info", "cuda"));
    assert!(
        line.starts_with("error: --device cuda: ") && line.len() > 40,
        "{line}"
    );
}

#[test]
fn check_gym_refuses_the_validation_split_that_train_refuses() {
    // 400 characters, 5% held out: 20 validation characters, fewer than one 2 × 16 window.
    let corpus = "abcdefghij klmnopqrs\n".repeat(19) + "abcdefghij klmnopqr\n";
    let config = common::TINY
        .replace("val_fraction = 0.2", "val_fraction = 0.05")
        .replace("seq_len = 8", "seq_len = 16");
    let f = Fixture::new(&corpus, &config);
    let train = error_line(&quiet(&f, &["train", "--config", "c.toml"]));
    has_all(&train, &["validation split", "too small"]);
    let check = error_line(&quiet(&f, &["check-gym", "--config", "c.toml"]));
    assert_eq!(check, train);
    // With the window the split can serve, both go ahead.
    f.ok(&[
        "check-gym",
        "--config",
        "c.toml",
        "--set",
        "train.seq_len=4",
    ]);
}

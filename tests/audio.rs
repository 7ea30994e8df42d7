//! End to end on the real binary: train a tiny model a few iterations on synthetic WAVs (with a
//! WAV sample per checkpoint), then `generate-audio` a WAV that hound reads back with the right
//! length and rate.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn rnngym(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rnngym"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run rnngym")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_wav(path: &Path, rate: u32, frames: usize, f: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        let x = 0.4 * (2.0 * std::f32::consts::PI * f * i as f32 / rate as f32).sin();
        w.write_sample((x * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

const CONFIG: &str = r#"
[model]
cell = "lstm"
hidden = 16
layers = 1
embed = 8

[train]
iterations = 6
batch = 2
seq_len = 32
lr = 3e-3
val_every = 3
log_every = 1

[gym]
id = "wav-v1"
path = "data"
val_fraction = 0.25

[gym.options]
sample_rate = 8000

[checkpoint]
dir = "run"
every = 3
"#;

/// A temporary directory with four quarter-second tones in `data/` and `CONFIG` as `audio.toml`.
fn fixture() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("data")).unwrap();
    for (i, f) in [220.0, 330.0, 440.0, 550.0].iter().enumerate() {
        // Mixed rates: everything is resampled to 8 kHz.
        let rate = [8000, 16000][i % 2];
        write_wav(
            &d.path().join(format!("data/tone-{i}.wav")),
            rate,
            rate as usize / 4,
            *f,
        );
    }
    std::fs::write(d.path().join("audio.toml"), CONFIG).unwrap();
    d
}

#[test]
fn training_writes_a_wav_sample_per_checkpoint() {
    let d = fixture();
    let out = rnngym(
        &[
            "train",
            "--config",
            "audio.toml",
            "--set",
            "sample.train_seconds=0.25",
            "--set",
            "train.sample_every=2",
        ],
        d.path(),
    );
    ok(&out);
    // sample_every is for text: a warning says what audio gyms do instead.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("train.sample_every") && err.contains("sample.train_seconds"),
        "{err}"
    );
    let text = std::fs::read_to_string(d.path().join("run/samples.jsonl")).unwrap();
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let its: Vec<u64> = recs
        .iter()
        .map(|r| r["iteration"].as_u64().unwrap())
        .collect();
    assert_eq!(its, [3, 6], "one per checkpoint (checkpoint.every = 3)");
    for (r, it) in recs.iter().zip(its) {
        let rel = format!("samples/iter-{it:06}.wav");
        assert_eq!(r["wav"].as_str(), Some(rel.as_str()), "{r}");
        assert!(r.get("text").is_none(), "{r}");
        let w = hound::WavReader::open(d.path().join("run").join(&rel)).unwrap();
        let spec = w.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 8000, 16)
        );
        assert_eq!(w.len(), 2000, "0.25 s at 8 kHz");
    }
    // sample.train_seconds = 0 turns them off.
    ok(&rnngym(
        &[
            "train",
            "--config",
            "audio.toml",
            "--set",
            "sample.train_seconds=0",
            "--set",
            "checkpoint.dir=off",
        ],
        d.path(),
    ));
    assert!(!d.path().join("off/samples").exists());
    let off = std::fs::read_to_string(d.path().join("off/samples.jsonl")).unwrap();
    assert!(off.is_empty(), "{off}");
    // Out of range: a one-line error naming the key and the value.
    let out = rnngym(
        &[
            "train",
            "--config",
            "audio.toml",
            "--set",
            "sample.train_seconds=16000",
        ],
        d.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.lines().count() == 1 && err.contains("sample.train_seconds") && err.contains("16000"),
        "{err}"
    );
}

#[test]
fn train_then_generate_audio() {
    let d = fixture();
    ok(&rnngym(&["check-gym", "--config", "audio.toml"], d.path()));
    ok(&rnngym(&["train", "--config", "audio.toml"], d.path()));
    let out = rnngym(
        &[
            "generate-audio",
            "--checkpoint",
            "run",
            "--seconds",
            "0.5",
            "--out",
            "gen.wav",
            "--seed",
            "3",
            "--temperature",
            "0.9",
        ],
        d.path(),
    );
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("real-time factor"), "{stdout}");
    let r = hound::WavReader::open(d.path().join("gen.wav")).unwrap();
    let spec = r.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 8000, 16)
    );
    assert_eq!(r.len(), 4000);
    // Primed from a WAV, same seed twice: the same audio.
    let args = |out: &'static str| {
        [
            "generate-audio",
            "--checkpoint",
            "run",
            "--seconds",
            "0.1",
            "--out",
            out,
            "--prime-wav",
            "data/tone-1.wav",
            "--seed",
            "5",
        ]
    };
    ok(&rnngym(&args("a.wav"), d.path()));
    ok(&rnngym(&args("b.wav"), d.path()));
    let a = std::fs::read(d.path().join("a.wav")).unwrap();
    assert_eq!(a, std::fs::read(d.path().join("b.wav")).unwrap());
    assert_eq!(
        hound::WavReader::open(d.path().join("a.wav"))
            .unwrap()
            .len(),
        800
    );
    // --num-samples 3: three numbered WAVs of the asked length, reproducible, each its own.
    let many = |out: &'static str| {
        let mut v = args(out).to_vec();
        v.extend(["--num-samples", "3"]);
        v
    };
    ok(&rnngym(&many("m.wav"), d.path()));
    ok(&rnngym(&many("n.wav"), d.path()));
    let wav = |name: String| std::fs::read(d.path().join(name)).unwrap();
    for i in 1..=3 {
        assert_eq!(
            wav(format!("m-{i}.wav")),
            wav(format!("n-{i}.wav")),
            "stream {i}"
        );
        let r = hound::WavReader::open(d.path().join(format!("m-{i}.wav"))).unwrap();
        assert_eq!((r.spec().sample_rate, r.len()), (8000, 800));
    }
    assert_ne!(wav("m-1.wav".into()), wav("m-2.wav".into()));
    assert!(
        !d.path().join("m.wav").exists(),
        "N > 1 writes only numbered files"
    );
    // Every numbered output is checked before any work: none is written.
    std::fs::create_dir(d.path().join("z-2.wav")).unwrap();
    let mut bad = args("z.wav").to_vec();
    bad.extend(["--num-samples", "2"]);
    let out = rnngym(&bad, d.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.lines().count() == 1 && err.contains("z-2.wav"), "{err}");
    assert!(!d.path().join("z-1.wav").exists());
    // --prime-seconds primes with the end of the WAV only: the same as priming with a WAV
    // that holds just that end.
    let mut r = hound::WavReader::open(d.path().join("data/tone-1.wav")).unwrap();
    let spec = r.spec();
    let pcm: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
    let mut w = hound::WavWriter::create(d.path().join("tail.wav"), spec).unwrap();
    pcm[pcm.len() - 16..]
        .iter()
        .for_each(|&s| w.write_sample(s).unwrap());
    w.finalize().unwrap();
    let mut end = args("c.wav");
    end[8] = "tail.wav";
    ok(&rnngym(&end, d.path()));
    let mut cut: Vec<&str> = args("d.wav").to_vec();
    cut.extend(["--prime-seconds", "0.002"]);
    ok(&rnngym(&cut, d.path()));
    let c = std::fs::read(d.path().join("c.wav")).unwrap();
    assert!(c == std::fs::read(d.path().join("d.wav")).unwrap());
    cut.pop();
    cut.push("0");
    let out = rnngym(&cut, d.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--prime-seconds") && err.lines().count() == 1,
        "{err}"
    );
    let mut bad: Vec<&str> = args("e.wav").to_vec();
    bad.extend(["--top-p", "1.5"]);
    let out = rnngym(&bad, d.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--top-p") && err.lines().count() == 1, "{err}");
    // The nucleus is honoured: a tiny one always takes the most likely level, so two seeds
    // give the same audio.
    let mut g1: Vec<&str> = args("g1.wav").to_vec();
    g1.extend(["--top-p", "0.000001"]);
    ok(&rnngym(&g1, d.path()));
    let mut g2 = g1.clone();
    (g2[6], g2[10]) = ("g2.wav", "99");
    ok(&rnngym(&g2, d.path()));
    let g = std::fs::read(d.path().join("g1.wav")).unwrap();
    assert!(g == std::fs::read(d.path().join("g2.wav")).unwrap());
    // No temporary files are left behind.
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn generate_audio_refuses_a_text_checkpoint_and_bad_args() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("t.txt"), "abcabcabc hello world ".repeat(40)).unwrap();
    let cfg = "[model]\nhidden = 8\nlayers = 1\n[train]\niterations = 2\nbatch = 2\nseq_len = 8\n\
               [gym]\npath = \"t.txt\"\n[checkpoint]\ndir = \"run\"\n";
    std::fs::write(d.path().join("t.toml"), cfg).unwrap();
    ok(&rnngym(&["train", "--config", "t.toml"], d.path()));
    let out = rnngym(
        &[
            "generate-audio",
            "--checkpoint",
            "run",
            "--seconds",
            "1",
            "--out",
            "x.wav",
        ],
        d.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not audio") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!d.path().join("x.wav").exists());
    let out = rnngym(
        &[
            "generate-audio",
            "--checkpoint",
            "run",
            "--seconds",
            "-1",
            "--out",
            "x.wav",
        ],
        d.path(),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seconds"));
}

#[cfg(unix)]
#[test]
fn an_interrupted_generate_audio_keeps_what_it_made_as_a_shorter_wav() {
    let d = fixture();
    ok(&rnngym(&["train", "--config", "audio.toml"], d.path()));
    // An hour of audio: far more than the test waits for.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rnngym"))
        .args(["generate-audio", "--checkpoint", "run", "--seconds", "3600"])
        .args(["--out", "long.wav", "--seed", "1"])
        .current_dir(d.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let it generate a while (its temp file grows), then interrupt it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let started = || {
        std::fs::read_dir(d.path()).unwrap().flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(".long.wav") && e.metadata().is_ok_and(|m| m.len() > 20_000)
        })
    };
    while !started() {
        assert!(
            std::time::Instant::now() < deadline,
            "generation did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (code, stderr) = common::interrupt(&mut child, "-INT");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("interrupted: wrote"), "{stderr}");
    let r = hound::WavReader::open(d.path().join("long.wav")).unwrap();
    assert!(r.len() >= 10_000 && r.len() < 3600 * 8000, "{}", r.len());
    assert_eq!(r.spec().sample_rate, 8000);
    let left: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

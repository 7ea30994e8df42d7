//! `rnngym eval` and `rnngym audio-stats` on the real binary: eval's figure for the validation
//! data equals the validation loss the trainer logged for the same checkpoint (windows
//! arranged to be the validator's: one lane, and sources of `k·T + 1` tokens, so both score
//! every token but the first of each source in the same windows); bad input is one `error:`
//! line naming the path.

use std::path::Path;
use std::process::{Command, Output};

const T: usize = 8;

fn rnngym(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rnngym"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("run rnngym")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = rnngym(dir, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rnngym {args:?} failed: {err}");
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts one `error:` line on stderr that contains `needle`, a failing exit, no panic.
fn fails(dir: &Path, args: &[&str], needle: &str) {
    let out = rnngym(dir, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "rnngym {args:?} succeeded");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains(needle), "no '{needle}' in: {err}");
    assert!(
        !err.contains("internal error") && !err.contains("panicked"),
        "{err}"
    );
}

fn config(gym: &str) -> String {
    format!(
        "[model]\nhidden = 16\nlayers = 1\nembed = 8\n[train]\niterations = 12\nbatch = 1\n\
         seq_len = {T}\nlr = 1e-2\nval_every = 12\nlog_every = 6\n{gym}\n[checkpoint]\n\
         dir = \"run\"\nevery = 12\n"
    )
}

/// The last validation loss of `run/metrics.jsonl`.
fn logged_val_loss(dir: &Path) -> f64 {
    let log = std::fs::read_to_string(dir.join("run/metrics.jsonl")).unwrap();
    let last = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .rfind(|r| r["kind"] == "val")
        .expect("a validation record");
    last["val_loss"].as_f64().unwrap()
}

fn eval_json(dir: &Path, data: &str, split: &str) -> serde_json::Value {
    let out = ok(
        dir,
        &[
            "eval",
            "--checkpoint",
            "run/latest.safetensors",
            "--data",
            data,
            "--split",
            split,
            "--json",
            "--threads",
            "1",
        ],
    );
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn assert_close(got: f64, want: f64) {
    let rel = (got - want).abs() / want.abs();
    assert!(rel < 1e-6, "eval {got} vs logged {want} (relative {rel:e})");
}

#[test]
fn eval_of_text_matches_the_logged_validation_loss() {
    let d = tempfile::tempdir().unwrap();
    // 1205 characters: the validation tail is ⌊0.2 · 1205⌋ = 241 = 30·T + 1 tokens.
    let text: String = "To be, or not to be, that is the question:\nWhether 'tis nobler\n"
        .chars()
        .cycle()
        .take(1205)
        .collect();
    std::fs::write(d.path().join("corpus.txt"), &text).unwrap();
    let gym = "[gym]\nid = \"text-v1\"\npath = \"corpus.txt\"\nval_fraction = 0.2";
    std::fs::write(d.path().join("c.toml"), config(gym)).unwrap();
    ok(d.path(), &["train", "--config", "c.toml"]);
    let r = eval_json(d.path(), "corpus.txt", "val");
    assert_eq!(r["total"]["tokens"], 240);
    assert_close(
        r["total"]["model_nats_per_token"].as_f64().unwrap(),
        logged_val_loss(d.path()),
    );
    assert!(r["total"]["lpc_bits_per_token"].is_null());
    // All of it: one source, every character but the first.
    let all = eval_json(d.path(), "corpus.txt", "all");
    assert_eq!(all["total"]["tokens"], 1204);
    let table = ok(
        d.path(),
        &["eval", "--checkpoint", "run", "--data", "corpus.txt"],
    );
    assert!(
        table.contains("first-order") && table.contains("total"),
        "{table}"
    );
    // Text outside the vocabulary is named.
    std::fs::write(d.path().join("other.txt"), "Zebra").unwrap();
    fails(
        d.path(),
        &["eval", "--checkpoint", "run", "--data", "other.txt"],
        "'Z'",
    );
}

fn write_wav(path: &Path, samples: impl Iterator<Item = f32>) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for x in samples {
        w.write_sample((x * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

/// Three tones of k·T + 1 samples in `p/audio` (the last is the validation file) and their
/// gym section.
fn write_tones(p: &Path) -> &'static str {
    std::fs::create_dir(p.join("audio")).unwrap();
    for (i, (f, n)) in [(300.0, 2401), (450.0, 1601), (250.0, 1601)]
        .iter()
        .enumerate()
    {
        let tone =
            (0..*n).map(|t| 0.4 * (2.0 * std::f32::consts::PI * f * t as f32 / 8000.0).sin());
        write_wav(&p.join(format!("audio/tone-{i}.wav")), tone);
    }
    "[gym]\nid = \"wav-v1\"\npath = \"audio\"\nval_fraction = 0.34\n\
     [gym.options]\nsample_rate = 8000"
}

/// A model with LPC input features: eval runs its feature lanes exactly as validation did.
#[test]
fn eval_of_a_model_with_input_features_matches_the_logged_validation_loss() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let gym = write_tones(p);
    for target in ["sample", "excitation"] {
        let features = format!(
            "\n[model.features]\nkind = \"lpc\"\norder = 8\nhistory = 64\nframe = 4\n\
             target = \"{target}\"\nbandwidth_gamma = 0.98\n"
        );
        let _ = std::fs::remove_dir_all(p.join("run"));
        std::fs::write(p.join("c.toml"), config(gym) + &features).unwrap();
        ok(p, &["train", "--config", "c.toml"]);
        let r = eval_json(p, "audio", "val");
        assert_eq!(r["total"]["tokens"], 1600);
        // An excitation model is scored per sample, in validation and eval alike.
        assert_close(
            r["total"]["model_nats_per_token"].as_f64().unwrap(),
            logged_val_loss(p),
        );
    }
}

#[test]
fn eval_of_audio_matches_the_logged_validation_loss_and_bad_input_is_one_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let gym = write_tones(p);
    std::fs::write(p.join("c.toml"), config(gym)).unwrap();
    ok(p, &["train", "--config", "c.toml"]);
    let r = eval_json(p, "audio", "val");
    let sources = r["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "{r}");
    assert_eq!(r["total"]["tokens"], 1600);
    assert_close(
        r["total"]["model_nats_per_token"].as_f64().unwrap(),
        logged_val_loss(p),
    );
    // A tone is what linear prediction is made for: below the count models (its first
    // samples cost more, until the predictor has been fitted).
    let t = &r["total"];
    let lpc = t["lpc_bits_per_token"].as_f64().unwrap();
    assert!(
        lpc < t["first_order_bits_per_token"].as_f64().unwrap(),
        "{r}"
    );
    let all = eval_json(p, "audio", "all");
    assert_eq!(all["sources"].as_array().unwrap().len(), 3);
    assert_eq!(all["total"]["tokens"], 2400 + 1600 + 1600);

    std::fs::write(p.join("notes.txt"), "not audio at all").unwrap();
    std::fs::write(p.join("bad.wav"), b"RIFF\x10\x00\x00\x00WAVEjunkjunk").unwrap();
    fn ev(data: &str) -> [&str; 5] {
        ["eval", "--checkpoint", "run", "--data", data]
    }
    fails(
        p,
        &["eval", "--checkpoint", "nope", "--data", "audio"],
        "nope",
    );
    fails(p, &ev("missing.wav"), "missing.wav");
    fails(p, &ev("notes.txt"), "notes.txt");
    fails(p, &ev("bad.wav"), "bad.wav");
    fails(p, &["audio-stats", "bad.wav"], "bad.wav");

    let table = ok(p, &["audio-stats", "audio/tone-0.wav", "audio/tone-1.wav"]);
    assert!(
        table.contains("tone-0.wav") && table.contains("voiced"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(ok(p, &["audio-stats", "--json", "audio/tone-0.wav"]).trim()).unwrap();
    assert_eq!(json["files"][0]["samples"], 2401);
}

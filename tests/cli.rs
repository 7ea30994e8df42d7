//! The real binary on good and bad input: every bad input gets a one-line error naming what is
//! wrong, a non-zero exit, no panic, and nothing overwritten.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::assert_one_line_error;

fn rnngym(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rnngym"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run rnngym")
}

/// Asserts success, showing stderr when it failed.
fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const SMALL: &str = r#"
[model]
hidden = 16
layers = 1
embed = 8
[train]
iterations = 30
batch = 2
seq_len = 8
lr = 1e-2
val_every = 10
log_every = 10
[gym]
id = "text-v1"
path = "corpus.txt"
val_fraction = 0.2
[checkpoint]
dir = "run"
every = 10
"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(corpus: &str, config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("corpus.txt"), corpus).unwrap();
        std::fs::write(dir.path().join("c.toml"), config).unwrap();
        Fixture { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn run(&self, args: &[&str]) -> Output {
        rnngym(args, self.path())
    }
    fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }
}

fn corpus() -> String {
    "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
        .repeat(30)
}

#[test]
fn train_then_sample_then_resume() {
    let f = Fixture::new(&corpus(), SMALL);
    let out = f.run(&["train", "--config", "c.toml"]);
    assert_ok(&out);
    assert!(f.file("run/latest.safetensors").is_file());
    assert!(f.file("run/best.safetensors").is_file());
    assert!(f.file("run/config.toml").is_file());
    let out = f.run(&[
        "sample",
        "--checkpoint",
        "run",
        "--prime",
        "To be",
        "-n",
        "40",
        "--seed",
        "3",
    ]);
    assert_ok(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("To be"), "{text}");
    assert_eq!(
        text.trim_end_matches('\n').chars().count(),
        5 + 40,
        "{text:?}"
    );
    let again = f.run(&[
        "sample",
        "--checkpoint",
        "run",
        "--prime",
        "To be",
        "-n",
        "40",
        "--seed",
        "3",
    ]);
    assert_eq!(
        String::from_utf8(again.stdout).unwrap(),
        text,
        "same seed, same sample"
    );
    // Resume to a higher iteration count with only --set (the saved config is reused).
    let out = f.run(&["train", "--resume", "run", "--set", "train.iterations=40"]);
    assert_ok(&out);
    let out = f.run(&["check-gym", "--config", "c.toml"]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("passed"));
}

/// `sample --num-samples N`: N samples one after another, each after a header naming its
/// number and seed; reproducible; sample i the same whatever N (the batched rows are
/// independent); `--num-samples 1` the output of a plain run; bad counts one error line.
#[test]
fn sample_many_streams() {
    let f = Fixture::new(&corpus(), SMALL);
    assert_ok(&f.run(&["train", "--config", "c.toml"]));
    let sample = |extra: &[&str]| {
        let mut args = vec![
            "sample",
            "--checkpoint",
            "run",
            "--prime",
            "To be",
            "-n",
            "30",
        ];
        args.extend(["--seed", "42"]);
        args.extend(extra);
        let out = f.run(&args);
        assert_ok(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let three = sample(&["--num-samples", "3"]);
    assert_eq!(
        three,
        sample(&["--num-samples", "3"]),
        "same seed, same samples"
    );
    // Each sample is its header line, then its text (which may hold newlines) and a newline.
    let split = |out: &str| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = Vec::new();
        for line in out.split_inclusive('\n') {
            match v.last_mut() {
                Some((_, text)) if !line.starts_with("=== sample ") => text.push_str(line),
                _ => v.push((line.trim_end().to_string(), String::new())),
            }
        }
        v
    };
    let vocab: std::collections::HashSet<char> = corpus().chars().collect();
    let samples = split(&three);
    assert_eq!(samples.len(), 3, "{three}");
    for (k, (header, text)) in samples.iter().enumerate() {
        assert_eq!(
            *header,
            format!("=== sample {} of 3 (seed {}) ===", k + 1, 42 + k)
        );
        let text = text.strip_suffix('\n').unwrap();
        assert!(text.starts_with("To be"), "{text}");
        assert_eq!(text.chars().count(), 5 + 30, "{text:?}");
        assert!(text.chars().all(|c| vocab.contains(&c)), "{text:?}");
    }
    assert!(
        samples[0].1 != samples[1].1 && samples[1].1 != samples[2].1,
        "{three}"
    );
    let five = split(&sample(&["--num-samples", "5"]));
    assert_eq!(five[0].1, samples[0].1, "sample 1 of 5 is sample 1 of 3");
    assert_eq!(five[2].1, samples[2].1);
    assert_eq!(
        sample(&["--num-samples", "1"]),
        sample(&[]),
        "N = 1: no header"
    );
    for bad in ["0", "4097"] {
        let out = f.run(&["sample", "--checkpoint", "run", "--num-samples", bad]);
        assert_one_line_error(&out, &["--num-samples", bad]);
    }
}

#[test]
fn check_gym_names_the_keys_of_a_window_too_large() {
    let f = Fixture::new(&corpus(), &SMALL.replace("seq_len = 8", "seq_len = 4000"));
    assert_one_line_error(
        &f.run(&["check-gym", "--config", "c.toml"]),
        &["2 lanes × 4000 steps", "lower train.batch or train.seq_len"],
    );
}

#[test]
fn missing_corpus() {
    let f = Fixture::new("", &SMALL.replace("corpus.txt", "nope.txt"));
    assert_one_line_error(&f.run(&["train", "--config", "c.toml"]), &["nope.txt"]);
}

#[test]
fn empty_corpus() {
    let f = Fixture::new("", SMALL);
    assert_one_line_error(
        &f.run(&["train", "--config", "c.toml"]),
        &["corpus.txt", "empty"],
    );
}

#[test]
fn single_character_corpus() {
    let f = Fixture::new(&"a".repeat(500), SMALL);
    assert_one_line_error(
        &f.run(&["train", "--config", "c.toml"]),
        &["corpus.txt", "distinct"],
    );
}

#[test]
fn validation_split_too_small() {
    let f = Fixture::new(
        &corpus(),
        &SMALL.replace("val_fraction = 0.2", "val_fraction = 0.002"),
    );
    assert_one_line_error(
        &f.run(&["train", "--config", "c.toml"]),
        &["validation", "too small"],
    );
}

#[test]
fn config_typo_names_key_and_file() {
    let f = Fixture::new(&corpus(), &SMALL.replace("hidden = 16", "hiden = 16"));
    assert_one_line_error(
        &f.run(&["train", "--config", "c.toml"]),
        &["c.toml", "hiden"],
    );
}

#[test]
fn config_wrong_type_names_key() {
    let f = Fixture::new(&corpus(), &SMALL.replace("batch = 2", "batch = \"two\""));
    assert_one_line_error(
        &f.run(&["train", "--config", "c.toml"]),
        &["c.toml", "batch"],
    );
}

#[test]
fn config_zero_size_names_key() {
    let f = Fixture::new(&corpus(), SMALL);
    assert_one_line_error(
        &f.run(&["train", "--config", "c.toml", "--set", "model.hidden=0"]),
        &["model.hidden"],
    );
}

#[test]
fn unknown_gym_id_lists_known_ones() {
    let f = Fixture::new(&corpus(), &SMALL.replace("text-v1", "txet-v1"));
    assert_one_line_error(
        &f.run(&["train", "--config", "c.toml"]),
        &["txet-v1", "text-v1"],
    );
}

#[test]
fn cuda_device_is_refused_without_a_cuda_backend() {
    let f = Fixture::new(&corpus(), SMALL);
    let out = f.run(&[
        "train",
        "--config",
        "c.toml",
        "--set",
        "model.device=\"cuda\"",
    ]);
    assert_one_line_error(&out, &["model.device", "cpu"]);
}

fn trained() -> Fixture {
    let f = Fixture::new(
        &corpus(),
        &SMALL.replace("iterations = 30", "iterations = 10"),
    );
    let out = f.run(&["train", "--config", "c.toml"]);
    assert_ok(&out);
    f
}

#[test]
fn sample_device_flag() {
    let f = trained();
    let sample_with = |extra: &[&str]| {
        let mut args = vec!["sample", "--checkpoint", "run", "-n", "60", "--seed", "3"];
        args.extend_from_slice(extra);
        f.run(&args)
    };
    let sample = |device: &str| sample_with(&["--device", device]);
    assert_one_line_error(&sample("gpu"), &["--device gpu", "cpu", "cuda:N"]);
    let cpu = sample("cpu");
    assert_ok(&cpu);
    // One thread or every core: the same seeded text (each output is one thread's sum).
    let one = sample_with(&["--device", "cpu", "--threads", "1"]);
    assert_ok(&one);
    assert_eq!(one.stdout, cpu.stdout);
    // Seeded text is the same on every device: "auto" is the CPU here, or a GPU that samples
    // on the device from the same uniforms.
    let auto = sample("auto");
    assert_ok(&auto);
    assert_eq!(cpu.stdout, auto.stdout);
    assert!(
        cpu.stdout.len() > 60,
        "{}",
        String::from_utf8_lossy(&cpu.stdout)
    );
    let cuda = sample("cuda:7");
    if !cuda.status.success() {
        assert_one_line_error(&cuda, &["--device cuda:7", "\"cpu\" or \"auto\""]);
    }
    // A checkpoint trained on a GPU names it ("cuda" here, written into the saved config):
    // without --device, a machine without that GPU samples
    // on the CPU instead of refusing a setting the user cannot edit.
    let latest = f.file("run/latest.safetensors");
    // Re-saved through the library, so the file's checksum covers the edited config.
    let (mut meta, tensors) = rnngym_trainer::checkpoint::load(&latest).unwrap();
    let config = meta["config"].as_str().unwrap().to_string();
    assert!(
        config.contains("device = \"auto\""),
        "the saved config names model.device"
    );
    meta["config"] = config
        .replace("device = \"auto\"", "device = \"cuda\"")
        .into();
    rnngym_trainer::checkpoint::save_map(&f.file("gpu.safetensors"), &meta, &tensors).unwrap();
    let out = f.run(&[
        "sample",
        "--checkpoint",
        "gpu.safetensors",
        "-n",
        "60",
        "--seed",
        "3",
    ]);
    assert_ok(&out);
    assert_eq!(
        out.stdout, cpu.stdout,
        "the same seeded text as --device cpu"
    );
}

#[test]
fn prime_outside_vocabulary() {
    let f = trained();
    let out = f.run(&[
        "sample",
        "--checkpoint",
        "run",
        "--prime",
        "To Z",
        "-n",
        "5",
    ]);
    assert_one_line_error(&out, &["--prime", "'Z'", "3", "--unknown skip"]);
    let out = f.run(&[
        "sample",
        "--checkpoint",
        "run",
        "--prime",
        "To Z",
        "-n",
        "5",
        "--unknown",
        "skip",
    ]);
    assert_ok(&out);
}

#[test]
fn corrupted_and_newer_checkpoints() {
    let f = trained();
    let good = std::fs::read(f.file("run/latest.safetensors")).unwrap();
    std::fs::write(f.file("trunc.safetensors"), &good[..good.len() / 2]).unwrap();
    assert_one_line_error(
        &f.run(&["sample", "--checkpoint", "trunc.safetensors"]),
        &["trunc.safetensors"],
    );
    std::fs::write(f.file("junk.safetensors"), b"definitely not a checkpoint").unwrap();
    assert_one_line_error(
        &f.run(&["sample", "--checkpoint", "junk.safetensors"]),
        &["junk.safetensors"],
    );
    // Same bytes with the format version bumped (same length, so the header stays valid).
    let text = String::from_utf8_lossy(&good).into_owned();
    let pos = text
        .find("\"format_version\":\"1\"")
        .expect("version tag in header");
    let mut newer = good.clone();
    newer[pos + "\"format_version\":\"".len()] = b'9';
    std::fs::write(f.file("newer.safetensors"), &newer).unwrap();
    assert_one_line_error(
        &f.run(&["sample", "--checkpoint", "newer.safetensors"]),
        &["newer.safetensors", "newer"],
    );
}

/// Resumes the trained fixture with a learning rate that diverges at once, plus `extra` sets.
fn diverge(f: &Fixture, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--config",
        "c.toml",
        "--resume",
        "run",
        "--set",
        "train.iterations=100",
        "--set",
        "train.lr=1e30",
        "--set",
        "train.grad_clip=0",
        "--set",
        "checkpoint.every=1",
    ];
    args.extend_from_slice(extra);
    f.run(&args)
}

#[test]
fn nan_loss_stops_and_keeps_the_last_good_checkpoint() {
    let f = trained();
    let before = std::fs::read(f.file("run/latest.safetensors")).unwrap();
    let out = diverge(&f, &["--set", "train.max_rollbacks=0"]);
    assert_one_line_error(&out, &["diverged", "iteration 12", "train.lr"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("rollback"), "{err}");
    let after = std::fs::read(f.file("run/latest.safetensors")).unwrap();
    assert_eq!(before, after, "the good checkpoint is untouched");
}

#[test]
fn divergence_rolls_back_then_stops_when_rollbacks_are_used_up() {
    let f = trained();
    let latest = f.file("run/latest.safetensors");
    let (_, before) = rnngym_trainer::checkpoint::load(&latest).unwrap();
    // Only the last good state kept: every rollback returns to it.
    let out = diverge(&f, &["--set", "train.rollback_depth=1"]);
    // Each rollback is a `warn:` line; the run ends with one error line.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warn: ")).collect();
    assert_eq!(warnings.len(), 3, "{stderr}");
    for w in &warnings {
        assert!(
            w.contains("diverged at iteration 12") && w.contains("rolled back to iteration 10"),
            "{w}"
        );
    }
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("warn: "))
        .collect();
    let rest = errors.join("\n");
    assert!(!out.status.success());
    assert_eq!(errors.len(), 1, "{stderr}");
    for needle in [
        "error: training diverged at iteration 12",
        "gave up after 3 rollback(s) (train.max_rollbacks = 3)",
        "latest.safetensors is kept",
        "train.lr",
    ] {
        assert!(rest.contains(needle), "{needle:?}: {rest}");
    }
    // The checkpoint holds the good state (re-saved with the halved rate), never a diverged one.
    let (meta, after) = rnngym_trainer::checkpoint::load(&latest).unwrap();
    assert_eq!(before, after, "same tensors");
    assert_eq!(meta["iteration"], 10);
    assert_eq!(meta["lr_scale"], 0.125);
    assert_eq!(meta["rollbacks"], 3);
    let metrics = std::fs::read_to_string(f.file("run/metrics.jsonl")).unwrap();
    assert_eq!(
        metrics.matches("\"event\":\"rollback\"").count(),
        3,
        "{metrics}"
    );
}

#[test]
fn a_second_divergence_goes_back_to_an_older_checkpoint_and_keeps_the_given_up_one() {
    // Default train.rollback_depth (3): the fixture's run kept its initial state in
    // run/rollback/. Nothing rescues lr = 1e30, so the run walks back to it and gives up.
    let f = trained();
    let latest = f.file("run/latest.safetensors");
    let (_, at_10) = rnngym_trainer::checkpoint::load(&latest).unwrap();
    let out = diverge(&f, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warn: ")).collect();
    assert_eq!(warnings.len(), 3, "{stderr}");
    for (w, (at, to)) in warnings.iter().zip([(12, 10), (12, 0), (2, 0)]) {
        assert!(
            w.contains(&format!("diverged at iteration {at} ("))
                && w.contains(&format!("rolled back to iteration {to} with")),
            "{w}"
        );
    }
    assert!(!out.status.success());
    let given_up = f.file("run/rollback/gave-up-iter-00000010.safetensors");
    assert!(
        stderr.contains("error: training diverged at iteration 2")
            && stderr.contains("gave-up-iter-00000010.safetensors"),
        "{stderr}"
    );
    // `latest` holds the older state; the given-up one is kept whole beside it.
    let (meta, _) = rnngym_trainer::checkpoint::load(&latest).unwrap();
    assert_eq!(
        (meta["iteration"].as_u64(), meta["rollbacks"].as_u64()),
        (Some(0), Some(3))
    );
    let (_, kept) = rnngym_trainer::checkpoint::load(&given_up).unwrap();
    assert_eq!(kept, at_10);
}

/// `rnngym bench` measures each cell on synthetic data and says which in its JSON; a bad
/// `--seconds` is a one-line error.
#[test]
fn bench_measures_every_cell() {
    let dir = tempfile::tempdir().unwrap();
    // `rnngym bench ARGS --seconds 0.2 --json`, which must succeed: its one JSON object.
    let bench = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["bench"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--seconds", "0.2", "--json"]);
        let out = rnngym(&all, dir.path());
        assert!(
            out.status.success(),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.trim()).expect("one JSON object")
    };
    for cell in ["lstm", "gru", "rnn"] {
        let args = [
            "--cell",
            cell,
            "--preset",
            "s",
            "--mode",
            "train",
            "--threads",
            "1",
        ];
        let v = bench(&args);
        assert_eq!(v["cell"], cell, "{v}");
        assert_eq!(v["impl"], "rnngym");
        let rate = v["train_chars_per_s"].as_f64().expect("a training rate");
        assert!(rate.is_finite() && rate > 0.0, "{v}");
        assert!(v["train_loss"].as_f64().is_some_and(f64::is_finite), "{v}");
        assert!(v["generate_chars_per_s"].is_null(), "train mode only: {v}");
    }
    let out = rnngym(&["bench", "--seconds", "0"], dir.path());
    assert_one_line_error(&out, &["--seconds", "positive"]);
    // Another batch than the preset's (what one rank of an N-rank run trains).
    let v = bench(&[
        "--preset",
        "s",
        "--mode",
        "train",
        "--threads",
        "1",
        "--batch",
        "5",
    ]);
    assert_eq!(v["batch"], 5, "{v}");
    let out = rnngym(&["bench", "--batch", "0"], dir.path());
    assert_one_line_error(&out, &["--batch", "1 to 4096"]);

    // With a competing load: it runs, says so, and still generates.
    let v = bench(&["--mode", "generate", "--busy", "2"]);
    assert_eq!(v["busy"], 2, "{v}");
    assert!(
        v["generate_chars_per_s"].as_f64().is_some_and(|r| r > 0.0),
        "{v}"
    );
    let out = rnngym(&["bench", "--busy", "100000"], dir.path());
    assert_one_line_error(&out, &["--busy", "at most 256"]);

    // Several stream counts: each one's rate over all its streams, and its ratio to N = 1.
    let v = bench(&["--mode", "generate", "--streams", "1,4", "--rounds", "2"]);
    let rates = v["generate_streams"].as_array().expect("a rate per count");
    assert_eq!(rates.len(), 2, "{v}");
    for (r, n) in rates.iter().zip([1, 4]) {
        assert_eq!(r["streams"], n, "{v}");
        assert!(r["chars_per_s"].as_f64().is_some_and(|x| x > 0.0), "{v}");
        assert!(r["ratio_to_1"].as_f64().is_some_and(|x| x > 0.0), "{v}");
    }
    // Batch 1 against the read roof: the bytes a token reads, the bandwidth that makes, the
    // probe's at that working set and the fraction (values only: speed is the bench's job).
    let positive = |k: &str| v[k].as_f64().is_some_and(|x| x.is_finite() && x > 0.0);
    for k in [
        "generate_bytes_per_token",
        "generate_gb_per_s",
        "roof_gb_per_s_1_thread",
        "roof_gb_per_s",
        "roof_fraction",
    ] {
        assert!(positive(k), "{k}: {v}");
    }
    assert_eq!(v["roof_threads"], v["threads"], "{v}");
    let out = rnngym(&["bench", "--streams", "1,0"], dir.path());
    assert_one_line_error(&out, &["--streams", "1 to 4096"]);
}

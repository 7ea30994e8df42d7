//! The custom-gym example (examples/custom_gym.rs) as its users run it: its own binary, built
//! from `rnngym::cli::main_with` with its gym and codec registered, passes `check-gym`, trains
//! from `configs/addition.toml`, samples words (its own codec, rebuilt from the checkpoint),
//! plots and evaluates. The plain `rnngym` binary, which lacks the codec, refuses the
//! checkpoint with one line saying how to register it. And a program driving `Trainer` itself
//! gets the same run directory with one call (`attach_run_dir`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "../examples/custom_gym.rs"]
#[allow(dead_code)]
mod custom_gym;

/// The example's binary, which `cargo test` builds beside the tests (target/<profile>/examples).
fn example_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = profile_dir.join("examples").join("custom_gym");
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo test` (which builds the examples) or \
         `cargo build --release --example custom_gym` first",
        bin.display()
    );
    bin
}

fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the binary")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_example_binary_runs_every_command_on_its_own_gym_and_codec() {
    let bin = example_bin();
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("addition");
    let run_s = run_dir.to_str().unwrap();
    let config = ["--config", "configs/addition.toml"];

    let checked = ok(run(&bin, &[&["check-gym"], &config[..]].concat()));
    assert!(checked.contains("addition-v1 passed"), "{checked}");

    let set_dir = format!("checkpoint.dir={run_s}");
    let train = [
        &["train"],
        &config[..],
        &["--set", &set_dir, "--set", "train.iterations=1500"],
    ]
    .concat();
    ok(run(&bin, &train));
    for f in ["latest.safetensors", "metrics.jsonl", "config.toml"] {
        assert!(run_dir.join(f).is_file(), "{f} missing");
    }

    // Words come back as words: the checkpoint's codec is the example's `word` kind.
    let text = ok(run(
        &bin,
        &[
            "sample",
            "--checkpoint",
            run_s,
            "--prime",
            "three plus four is",
            "--length",
            "60",
            "--temperature",
            "0.3",
            "--seed",
            "1",
        ],
    ));
    assert!(text.starts_with("three plus four is "), "{text}");
    let words: Vec<&str> = text.split_whitespace().collect();
    assert!(words.len() >= 60, "{text}");
    let vocab = ["plus", "is", ".", "zero", "one", "nine", "ten", "eighteen"];
    assert!(
        words.iter().all(|w| !w.contains('⟨')) && vocab.iter().any(|v| words.contains(v)),
        "{text}"
    );
    // Most generated sums are well formed and right.
    let sums: Vec<&[&str]> = words.split(|w| *w == ".").collect();
    let number = |w: &str| (0..=18).find(|&n| custom_gym::number_word(n) == w);
    let right = sums
        .iter()
        .filter(|s| match s {
            [a, "plus", b, "is", c] => match (number(a), number(b), number(c)) {
                (Some(a), Some(b), Some(c)) => a + b == c,
                _ => false,
            },
            _ => false,
        })
        .count();
    assert!(
        right * 10 >= (sums.len() - 1) * 8,
        "{right} right of {text}"
    );

    // eval on the checkpoint's own data (the gym's validation sources) beside the baselines.
    let report: serde_json::Value =
        serde_json::from_str(&ok(run(&bin, &["eval", "--checkpoint", run_s, "--json"]))).unwrap();
    let total = &report["total"];
    let model = total["model_bits_per_token"].as_f64().unwrap();
    let unigram = total["unigram_bits_per_token"].as_f64().unwrap();
    // Two of the six words of a sum are random digits: the floor is 2·log2(10)/6 = 1.107.
    assert!(model < 1.3 && model < 0.5 * unigram, "{report}");

    let png = dir.path().join("loss.png");
    ok(run(&bin, &["plot", run_s, "--out", png.to_str().unwrap()]));
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);

    // The plain binary lacks the `word` codec: one line naming it and how to register it.
    let out = run(
        Path::new(env!("CARGO_BIN_EXE_rnngym")),
        &["sample", "--checkpoint", run_s, "--length", "5"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: ")
            && lines[0].contains("unknown kind \"word\"")
            && lines[0].contains("with_codec"),
        "{err}"
    );
}

#[test]
fn a_trainer_driven_by_a_program_writes_the_same_run_directory() {
    use rnngym_kernels::CpuBackend;
    use rnngym_trainer::{Config, Trainer};

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::load_with_overrides(
        Some(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/addition.toml"
        ))),
        &[],
    )
    .unwrap();
    cfg.checkpoint.dir = dir.path().join("run").display().to_string();
    cfg.train.iterations = 30;
    cfg.train.log_every = 10;
    let registry = custom_gym::registry();
    let gym = registry.make(&cfg.gym).unwrap();
    let mut trainer = Trainer::new(CpuBackend::new(1), cfg.clone(), gym).unwrap();
    trainer.attach_run_dir().unwrap();
    trainer.train(30).unwrap();
    let run = dir.path().join("run");
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert!(metrics.lines().count() >= 3, "{metrics}");
    assert!(run.join("config.toml").is_file() && run.join("latest.safetensors").is_file());
    // The directory is locked while the trainer lives: a second one is refused.
    let gym = registry.make(&cfg.gym).unwrap();
    let mut second = Trainer::new(CpuBackend::new(1), cfg, gym).unwrap();
    let err = second.attach_run_dir().unwrap_err().to_string();
    assert!(err.contains("in use by another training run"), "{err}");
    // The checkpoint reads back with the example's codec registry, not without it.
    let latest = run.join("latest.safetensors");
    assert!(rnngym_trainer::state::read(&latest).is_err());
    let loaded = rnngym_trainer::state::read_with(&latest, registry.codecs()).unwrap();
    assert_eq!(loaded.codec.kind(), "word");
}

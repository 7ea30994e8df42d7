//! `--precision` on the command line: `sample` at bf16 / int8 is seeded and reproducible,
//! differs from f32 only where the rounding tips a draw, and is refused with one line for an
//! unknown name; `eval --precision` scores the rounded weights (and says so); `sample.precision`
//! in the config is the default; `bench --precision` reports what it measured.

mod common;
use common::*;

/// Samples 200 characters with seed 4 and `extra` flags; returns stdout.
fn sample(f: &Fixture, extra: &[&str]) -> String {
    let mut args = vec!["sample", "--checkpoint", "run", "-n", "200", "--seed", "4"];
    args.extend_from_slice(extra);
    String::from_utf8(f.ok(&args).stdout).unwrap()
}

#[test]
fn sample_and_eval_at_reduced_precision() {
    let f = Fixture::new(&corpus(), &TINY.replace("hidden = 16", "hidden = 48"));
    f.train();
    let full = sample(&f, &[]);
    for p in ["bf16", "int8", "w8a16", "w8a8"] {
        let a = sample(&f, &["--precision", p]);
        assert_eq!(
            a,
            sample(&f, &["--precision", p]),
            "{p}: seeded output repeats"
        );
        assert_eq!(
            a.chars().count(),
            full.chars().count(),
            "{p}: as many characters"
        );
        // Batched streams at that precision: stream 1 is the batch-1 text.
        let two = sample(&f, &["--precision", p, "--num-samples", "2"]);
        let first = two.split("=== sample 2").next().unwrap();
        assert!(
            first.contains(a.trim_end()),
            "{p}: stream 1 = batch 1:\n{two}\n---\n{a}"
        );
    }
    assert_eq!(sample(&f, &["--precision", "f32"]), full);
    let mut out = f.command(&["sample", "--checkpoint", "run", "--precision", "fp16"]);
    assert_one_line_error(
        &out.output().unwrap(),
        &["fp16", "f32", "bf16", "int8", "w8a16", "w8a8"],
    );

    // eval: the rounded model scores close to the f32 one, and not identically at int8.
    let eval = |p: &str| -> serde_json::Value {
        let out = f.ok(&["eval", "--checkpoint", "run", "--json", "--precision", p]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let nats = |v: &serde_json::Value| v["total"]["model_nats_per_token"].as_f64().unwrap();
    let close = |a: &serde_json::Value, b: &serde_json::Value, within: f64| {
        assert!((nats(a) - nats(b)).abs() < within, "{a} vs {b}");
    };
    let table = |p: &str| {
        let out = f.ok(&["eval", "--checkpoint", "run", "--precision", p]);
        String::from_utf8(out.stdout).unwrap()
    };
    let (f32s, int8) = (eval("f32"), eval("int8"));
    assert_eq!(int8["precision"], "int8");
    assert!(nats(&int8) != nats(&f32s), "int8 rounds the weights");
    close(&int8, &f32s, 0.05);
    let bf16 = table("bf16");
    assert!(bf16.starts_with("weights at bf16"), "{bf16}");
    // w8a16 and w8a8 score through the generator (their rounded inputs are in no copy of the
    // weights): every token, close to int8, whose weights they share, and they say how.
    for (p, within) in [("w8a16", 0.01), ("w8a8", 0.03)] {
        let v = eval(p);
        assert_eq!(v["precision"], p);
        assert_eq!(v["total"]["tokens"], int8["total"]["tokens"]);
        close(&v, &int8, within);
        let t = table(p);
        assert!(
            t.starts_with(&format!(
                "weights at {p} (scored token by token through the generator)"
            )),
            "{t}"
        );
    }
}

#[test]
fn the_config_sets_the_default_precision() {
    let cfg = TINY.replace(
        "train_length = 30",
        "train_length = 30\nprecision = \"int8\"",
    );
    let f = Fixture::new(&corpus(), &cfg);
    f.train();
    let default = sample(&f, &[]);
    assert_eq!(default, sample(&f, &["--precision", "int8"]));
    let bad = Fixture::new(
        &corpus(),
        &TINY.replace("train_length = 30", "precision = \"fp8\""),
    );
    let out = bad
        .command(&["train", "--config", "c.toml"])
        .output()
        .unwrap();
    assert_one_line_error(&out, &["fp8", "bf16", "int8"]);
}

#[test]
fn bench_reports_the_precision_it_measured() {
    let f = Fixture::new(&corpus(), TINY);
    for p in ["f32", "int8"] {
        let out = f.ok(&[
            "bench",
            "--mode",
            "generate",
            "--preset",
            "s",
            "--seconds",
            "0.3",
            "--precision",
            p,
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["generate_precision"], p);
        assert!(v["generate_chars_per_s"].as_f64().unwrap() > 0.0);
        assert!(v["generate_bytes_per_token"].as_u64().unwrap() > 0);
    }
}

//! Watching a run on the real binary: metrics.jsonl and samples.jsonl, plain log lines when
//! stderr is not a terminal, `--quiet`, the loss plot (PNG and SVG) and the spectrogram, and
//! Ctrl-C writing a checkpoint that resumes.

mod common;

use common::{corpus, interrupt, Fixture, TINY};
use serde_json::Value;

fn records(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn decode_png(path: &std::path::Path) -> (u32, u32, Vec<u8>, png::ColorType) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf, info.color_type)
}

/// Distinct RGB colours in an 8-bit RGB / RGBA image.
fn colours(buf: &[u8], ct: png::ColorType) -> usize {
    let step = match ct {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    let set: std::collections::HashSet<&[u8]> = buf.chunks(step).map(|p| &p[..3]).collect();
    set.len()
}

#[test]
fn run_dir_gets_metrics_samples_and_config() {
    let f = Fixture::new(&corpus(), TINY);
    let out = f.train();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Not a terminal: plain periodic lines, the samples, no progress bar.
    assert!(stderr.contains("iter      5/30"), "{stderr}");
    assert!(stderr.contains("sample @     10"), "{stderr}");
    assert!(!stderr.contains('\r'), "no bar redraws: {stderr}");
    assert!(f.file("run/config.toml").is_file());
    let m = records(&f.file("run/metrics.jsonl"));
    let its: Vec<u64> = m.iter().map(|r| r["iteration"].as_u64().unwrap()).collect();
    assert!(its.windows(2).all(|w| w[0] <= w[1]), "{its:?}");
    let train: Vec<&Value> = m.iter().filter(|r| r["kind"] == "train").collect();
    let val: Vec<&Value> = m.iter().filter(|r| r["kind"] == "val").collect();
    assert_eq!(train.len(), 7, "iterations 1, 5, ..., 30");
    assert_eq!(val.len(), 3, "iterations 10, 20, 30");
    for r in &train {
        for k in [
            "wall_s",
            "time",
            "loss",
            "bits_per_token",
            "lr",
            "grad_norm",
            "tokens_per_sec",
        ] {
            assert!(r[k].is_number(), "{k}: {r}");
        }
    }
    assert!(val[0]["val_loss"].is_number() && val[0]["val_bits_per_token"].is_number());
    let s = records(&f.file("run/samples.jsonl"));
    let its: Vec<u64> = s.iter().map(|r| r["iteration"].as_u64().unwrap()).collect();
    assert_eq!(its, [10, 20, 30]);
    assert!(s
        .iter()
        .all(|r| r["text"].as_str().unwrap().chars().count() == 30));

    // --quiet: warnings only.
    let out = f.ok(&[
        "train",
        "--config",
        "c.toml",
        "--quiet",
        "--set",
        "checkpoint.dir=q",
    ]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(f.file("q/metrics.jsonl").is_file());
}

#[test]
fn plot_writes_png_and_svg() {
    let f = Fixture::new(&corpus(), TINY);
    f.train();
    f.ok(&["plot", "run"]);
    let (w, h, buf, ct) = decode_png(&f.file("run/loss.png"));
    assert_eq!((w, h), (1000, 600));
    assert!(colours(&buf, ct) > 20, "a drawn chart has many colours");
    f.ok(&[
        "plot",
        "run",
        "--out",
        "small.png",
        "--width",
        "640",
        "--height",
        "400",
    ]);
    let (w, h, _, _) = decode_png(&f.file("small.png"));
    assert_eq!((w, h), (640, 400));
    f.ok(&["plot", "run", "--out", "loss.svg"]);
    let svg = std::fs::read_to_string(f.file("loss.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    assert!(texts.iter().any(|t| t.contains("iteration")), "{texts:?}");
    assert!(doc.descendants().any(|n| n.has_tag_name("polyline")));
    // A bad extension and a directory without metrics are one-line errors.
    let out = f
        .command(&["plot", "run", "--out", "x.jpg"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = f.command(&["plot", "."]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("metrics.jsonl"),
        "{err}"
    );
}

#[test]
fn spectrogram_of_a_chirp() {
    let f = Fixture::new(&corpus(), TINY);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(f.file("chirp.wav"), spec).unwrap();
    for i in 0..16000 {
        let t = i as f64 / 16000.0;
        let phase = 2.0 * std::f64::consts::PI * (200.0 * t + 3000.0 * t * t);
        w.write_sample((phase.sin() * 12000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    f.ok(&["plot", "--spectrogram", "chirp.wav", "--out", "spec.png"]);
    let (w, h, buf, ct) = decode_png(&f.file("spec.png"));
    assert_eq!((w, h), (1000, 600));
    assert!(colours(&buf, ct) > 50, "a spectrogram has many colours");
}

#[cfg(unix)]
#[test]
fn ctrl_c_checkpoints_and_resume_finishes() {
    interrupt_checkpoints_and_resume_finishes("-INT");
}

#[test]
fn sigterm_and_sighup_checkpoint_like_ctrl_c() {
    interrupt_checkpoints_and_resume_finishes("-TERM");
    interrupt_checkpoints_and_resume_finishes("-HUP");
}

/// Sends `signal` to a long training run: it acknowledges at once, writes `latest`, says how
/// to resume, exits with 130, and the resume finishes the run.
fn interrupt_checkpoints_and_resume_finishes(signal: &str) {
    let f = Fixture::new(&corpus(), TINY);
    let mut child = f
        .command(&[
            "train",
            "--config",
            "c.toml",
            "--set",
            "train.iterations=1000000",
            "--set",
            "checkpoint.every=0",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = f.file("run/metrics.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(&metrics).map_or(0, |t| t.lines().count()) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "training did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, stderr) = interrupt(&mut child, signal);
    assert_eq!(code, Some(130), "{signal}: {stderr}");
    assert!(stderr.contains("interrupt received"), "{signal}: {stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("interrupted after iteration ")
            && last.contains("rnngym train --resume run"),
        "{stderr}"
    );
    assert!(f.file("run/latest.safetensors").is_file());
    let it: u64 = last["interrupted after iteration ".len()..]
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let target = (it + 5).to_string();
    let out = f.ok(&[
        "train",
        "--resume",
        "run",
        "--set",
        &format!("train.iterations={target}"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("resuming at iteration {it}")),
        "{err}"
    );
    let its: Vec<u64> = records(&metrics)
        .iter()
        .map(|r| r["iteration"].as_u64().unwrap())
        .collect();
    assert!(its.windows(2).all(|w| w[0] <= w[1]), "{its:?}");
    assert_eq!(its.last(), Some(&(it + 5)));
}

#[test]
fn sample_summary_goes_to_stderr_and_quiet_silences_it() {
    let f = Fixture::new(&corpus(), TINY);
    f.train();
    let args = [
        "sample",
        "--checkpoint",
        "run",
        "--prime",
        "To be",
        "-n",
        "150",
        "--seed",
        "4",
    ];
    // Neither stream is a terminal: the text alone on stdout, no bar, a summary on stderr.
    let out = f.ok(&args);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim_end_matches('\n').chars().count(), 5 + 150);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains('\r'), "no bar redraws: {stderr:?}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("sampled 150 tokens in ") && last.ends_with(" tokens/s)"),
        "{stderr}"
    );
    // --quiet (before or after the subcommand) and RUST_LOG=warn: the same text, nothing else.
    for mut quiet in [
        f.command(&[&["--quiet"][..], &args].concat()),
        f.command(&[&args[..], &["-q"]].concat()),
        {
            let mut c = f.command(&args);
            c.env("RUST_LOG", "warn");
            c
        },
    ] {
        let out = quiet.output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8(out.stdout).unwrap(), text, "same seed");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

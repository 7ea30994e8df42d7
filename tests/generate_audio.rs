//! The audio example: trains through the `Trainer` API on synthetic tones (so it runs without
//! the speech corpus), beats the uniform baseline, and writes a WAV of the asked length and
//! rate; its argument parsing refuses bad values with one-line messages.

#[path = "../examples/generate_audio.rs"]
#[allow(dead_code)]
mod generate_audio;

use std::path::Path;

use generate_audio::{parse_args, Demo};

fn write_tone(path: &Path, rate: u32, f: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..rate {
        let x = 0.5 * (2.0 * std::f32::consts::PI * f * i as f32 / rate as f32).sin();
        w.write_sample((x * 32767.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn example_trains_below_uniform_and_writes_the_wav() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("data")).unwrap();
    for (i, f) in [200.0, 300.0, 400.0, 500.0, 600.0].iter().enumerate() {
        write_tone(&d.path().join(format!("data/tone-{i}.wav")), 8000, *f);
    }
    let mut demo = Demo::new(d.path().join("data"));
    demo.sample_rate = 8000;
    demo.iterations = 300;
    demo.seconds = 0.25;
    demo.run_dir = d.path().join("run");
    demo.out = d.path().join("out.wav");
    let r = demo.run().unwrap();
    // Tones are predictable from the last few samples: far below ln 256 nats per sample
    // (measured: 3.22 of 8 bits).
    assert!(
        r.val_loss < 0.5 * r.baseline,
        "validation {:.3} vs uniform {:.3}",
        r.val_loss,
        r.baseline
    );
    assert_eq!(r.samples, 2000);
    let w = hound::WavReader::open(&demo.out).unwrap();
    let spec = w.spec();
    assert_eq!(
        (
            spec.channels,
            spec.sample_rate,
            spec.bits_per_sample,
            w.len()
        ),
        (1, 8000, 16, 2000)
    );
    assert!(d.path().join("run/latest.safetensors").is_file());
}

#[test]
fn example_arguments() {
    let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let demo = args(&[]).unwrap();
    assert!(demo.data.ends_with("shared/data/speech"), "{:?}", demo.data);
    assert_eq!((demo.iterations, demo.seconds), (300, 2.0));
    let demo = args(&[
        "x.wav",
        "--iterations",
        "7",
        "--seconds",
        "0.5",
        "--out",
        "o.wav",
    ])
    .unwrap();
    assert_eq!(demo.data, Path::new("x.wav"));
    assert_eq!((demo.iterations, demo.seconds), (7, 0.5));
    assert_eq!(demo.out, Path::new("o.wav"));
    for (bad, needle) in [
        (
            &["--iterations", "0"][..],
            "--iterations: expected a positive integer, got 0",
        ),
        (
            &["--seconds", "nan"],
            "--seconds: expected a number in (0, 3600], got nan",
        ),
        (&["--seconds"], "--seconds: missing value"),
        (
            &["--sample-rate", "44.1"],
            "--sample-rate: expected Hz in [1000, 192000], got 44.1",
        ),
        (&["--fast"], "unknown option --fast"),
    ] {
        assert_eq!(args(bad).err().as_deref(), Some(needle), "{bad:?}");
    }
}

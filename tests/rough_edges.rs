//! Rough edges of the CLI, each on the real binary: audio samples separated like their prime,
//! unknown-prime hints that name the option and the source, one WAV reader for `plot`, a
//! closed stdout as a normal end, one rule for relative paths, `--out` checked first, a short
//! "no GPU" line, and `check-gym` agreeing with `train` about the validation split.

mod common;

use common::Fixture;

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
}

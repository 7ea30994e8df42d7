//! Every file of `shared/data/wav-formats`: decoded length and rate, or a one-line error naming
//! the file and the reason (skipped, with a printed reason, when the folder is absent).

use std::path::{Path, PathBuf};

use rnngym_gyms::wav::{load_mono, read_wav, WavError};

fn dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/wav-formats");
    if d.is_dir() {
        Some(d)
    } else {
        println!("skipped: {} not found", d.display());
        None
    }
}

/// (file, native rate, channels, frames decoded, frames at 16 kHz)
const VALID: &[(&str, u32, u16, usize, usize)] = &[
    ("pcm16-16k-mono.wav", 16000, 1, 16000, 16000),
    ("pcm16-8k-mono.wav", 8000, 1, 8000, 16000),
    ("pcm8u-8k-mono.wav", 8000, 1, 8000, 16000),
    ("pcm16-44k-stereo.wav", 44100, 2, 44100, 16000),
    ("pcm16-16k-6ch.wav", 16000, 6, 8000, 8000),
    ("pcm16-16k-mono-extensible.wav", 16000, 1, 16000, 16000),
    ("pcm24-48k-mono.wav", 48000, 1, 48000, 16000),
    ("pcm24-48k-plainheader.wav", 48000, 1, 48000, 16000),
    ("pcm32-16k-mono.wav", 16000, 1, 16000, 16000),
    ("float32-22k-mono.wav", 22050, 1, 22050, 16000),
    ("float64-16k-mono.wav", 16000, 1, 16000, 16000),
    ("list-chunk-before-data.wav", 16000, 1, 16000, 16000),
    ("odd-chunk-padding.wav", 16000, 1, 16000, 16000),
    ("silence-16k.wav", 16000, 1, 16000, 16000),
    ("mulaw-8k.wav", 8000, 1, 8000, 16000),
    ("alaw-8k.wav", 8000, 1, 8000, 16000),
    ("rifx-bigendian.wav", 16000, 1, 16000, 16000),
    // Damaged but partly usable: decode what is really there, with a warning.
    ("truncated.wav", 16000, 1, 500, 500),
    ("huge-claim.wav", 16000, 1, 1000, 1000),
    ("odd-length.wav", 16000, 1, 500, 500),
];

/// (file, words the error must contain)
const BAD: &[(&str, &[&str])] = &[
    (
        "adpcm-ima-8k.wav",
        &[
            "ADPCM",
            "not supported",
            "sox in.wav -e signed -b 16 out.wav",
        ],
    ),
    ("empty.wav", &["empty file"]),
    ("not-a-wav.wav", &["not a RIFF/WAVE file"]),
    ("header-only.wav", &["no audio samples"]),
    ("zero-channels.wav", &["0 channels"]),
    ("zero-rate.wav", &["0 Hz"]),
];

#[test]
fn valid_files_decode_with_the_right_length_and_rate() {
    let Some(d) = dir() else { return };
    for &(name, rate, channels, frames, at16k) in VALID {
        let a = read_wav(&d.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (a.sample_rate, a.channels, a.frames()),
            (rate, channels, frames),
            "{name}"
        );
        assert!(
            a.samples.iter().all(|x| (-1.0..=1.0).contains(x)),
            "{name}: out of range"
        );
        let mono = load_mono(&d.join(name), None, 16000).unwrap();
        assert_eq!(mono.len(), at16k, "{name} at 16 kHz");
    }
}

#[test]
fn damaged_files_warn() {
    let Some(d) = dir() else { return };
    for name in ["truncated.wav", "huge-claim.wav", "odd-length.wav"] {
        let a = read_wav(&d.join(name)).unwrap();
        assert!(!a.warnings.is_empty(), "{name}: expected a warning");
    }
    assert!(read_wav(&d.join("pcm16-16k-mono.wav"))
        .unwrap()
        .warnings
        .is_empty());
}

#[test]
fn bad_files_give_one_line_errors_naming_the_file() {
    let Some(d) = dir() else { return };
    for &(name, words) in BAD {
        let e = read_wav(&d.join(name)).expect_err(name).to_string();
        assert!(!e.contains('\n'), "{name}: multi-line error: {e}");
        assert!(
            e.contains(name),
            "{name}: error does not name the file: {e}"
        );
        for w in words {
            assert!(e.contains(w), "{name}: error lacks '{w}': {e}");
        }
    }
}

#[test]
fn every_file_in_the_folder_is_covered() {
    let Some(d) = dir() else { return };
    for entry in std::fs::read_dir(&d).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".wav") {
            let known = VALID.iter().any(|v| v.0 == name) || BAD.iter().any(|b| b.0 == name);
            assert!(known, "{name} has no expectation in this test");
        }
    }
}

/// Samples of `name` at 16 kHz mono, for comparing encodings of the same audio.
fn mono16k(d: &Path, name: &str, channel: Option<usize>) -> Vec<f32> {
    load_mono(&d.join(name), channel, 16000).unwrap()
}

fn rms_diff(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let s: f64 = (0..n).map(|i| f64::from(a[i] - b[i]).powi(2)).sum();
    (s / n as f64).sqrt()
}

fn rms(a: &[f32]) -> f64 {
    (a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / a.len() as f64).sqrt()
}

#[test]
fn encodings_of_the_same_audio_agree() {
    let Some(d) = dir() else { return };
    let reference = mono16k(&d, "pcm16-16k-mono.wav", None);
    let level = rms(&reference);
    assert!(level > 0.01, "reference is too quiet: {level}");
    for (name, tol) in [
        ("pcm16-16k-mono-extensible.wav", 1e-6),
        ("list-chunk-before-data.wav", 1e-6),
        ("odd-chunk-padding.wav", 1e-6),
        ("rifx-bigendian.wav", 1e-6),
        ("pcm32-16k-mono.wav", 1e-4),
        ("float64-16k-mono.wav", 1e-4),
        ("pcm24-48k-mono.wav", 0.02),
        ("float32-22k-mono.wav", 0.02),
    ] {
        let got = mono16k(&d, name, None);
        let diff = rms_diff(&reference, &got);
        assert!(
            diff <= tol * level.max(1.0),
            "{name}: rms diff {diff} vs reference"
        );
    }
    // 8 kHz versions lose the band above 4 kHz: compare against each other instead.
    let pcm8k = mono16k(&d, "pcm16-8k-mono.wav", None);
    for name in ["mulaw-8k.wav", "alaw-8k.wav", "pcm8u-8k-mono.wav"] {
        let diff = rms_diff(&pcm8k, &mono16k(&d, name, None));
        assert!(
            diff < 0.1 * level,
            "{name}: rms diff {diff} vs pcm16-8k (level {level})"
        );
    }
}

#[test]
fn stereo_mixdown_and_channel_choice_differ_as_documented() {
    let Some(d) = dir() else { return };
    let left = mono16k(&d, "pcm16-44k-stereo.wav", Some(0));
    let right = mono16k(&d, "pcm16-44k-stereo.wav", Some(1));
    let mix = mono16k(&d, "pcm16-44k-stereo.wav", None);
    let (l, r, m) = (rms(&left), rms(&right), rms(&mix));
    assert!((r / l - 0.5).abs() < 0.01, "right/left = {}", r / l);
    assert!((m / l - 0.75).abs() < 0.01, "mix/left = {}", m / l);
    let six = read_wav(&d.join("pcm16-16k-6ch.wav")).unwrap();
    let mean = six.to_mono(None).unwrap();
    let ch0 = six.to_mono(Some(0)).unwrap();
    assert!((rms(&mean) / rms(&ch0) - 0.5).abs() < 0.01);
    let e = six.to_mono(Some(6)).unwrap_err();
    assert!(
        matches!(
            e,
            WavError::NoSuchChannel {
                channel: 6,
                channels: 6
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("6 channel"), "{e}");
}

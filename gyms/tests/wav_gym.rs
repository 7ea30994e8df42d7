//! `wav-v1` through `check_gym`: tiny synthetic WAVs written with hound, the speech corpus when
//! present, the split rules, `skip_bad_files`, and the no-usable-audio error.

use std::path::{Path, PathBuf};

use rnngym_gyms::wav::WavGym;
use rnngym_gyms::{check_gym, Gym, GymRegistry, GymSpec, Shape, Split};

/// Writes a 16-bit WAV of `frames` frames of a chirp at `rate` Hz with `channels` channels.
fn write_wav(path: &Path, rate: u32, channels: u16, frames: usize, seed: f32) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        let t = i as f32 / rate as f32;
        let x = 0.5 * (2.0 * std::f32::consts::PI * (200.0 + 300.0 * seed) * t * (1.0 + t)).sin();
        for _ in 0..channels {
            w.write_sample((x * 32767.0) as i16).unwrap();
        }
    }
    w.finalize().unwrap();
}

fn spec(path: &Path, val_fraction: f64, options: &str) -> GymSpec {
    let mut s = GymSpec::new("wav-v1");
    s.path = Some(path.display().to_string());
    s.val_fraction = val_fraction;
    s.options = toml::from_str(options).unwrap();
    s
}

fn synthetic_dir(files: usize) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for i in 0..files {
        let rate = [16000, 8000, 22050, 44100][i % 4];
        let channels = [1, 2, 1, 6][i % 4];
        write_wav(
            &d.path().join(format!("clip-{i}.wav")),
            rate,
            channels,
            rate as usize / 2,
            i as f32,
        );
    }
    std::fs::write(d.path().join("notes.txt"), "not audio").unwrap();
    d
}

#[test]
fn synthetic_corpus_passes_check_gym_split_by_file() {
    let d = synthetic_dir(10);
    let mut gym = WavGym::from_spec(&spec(d.path(), 0.2, "")).unwrap();
    assert!(gym.split_by_file());
    assert_eq!(gym.sources(Split::Val).len(), 2);
    // Every file is 0.5 s at 16 kHz after resampling.
    for (_, n) in gym.sources(Split::Train) {
        assert_eq!(n, 8000);
    }
    let report = check_gym(&mut gym, Shape { batch: 4, seq: 32 }).unwrap();
    assert_eq!(report.vocab_size, 256);
    assert_eq!(report.val_windows, Some(2 * (7999 / 128)));
    assert_eq!(report.train_windows, 7999 / 128);
}

#[test]
fn few_files_split_by_tail_and_pass_check_gym() {
    let d = synthetic_dir(2);
    let mut gym =
        WavGym::from_spec(&spec(d.path(), 0.25, "codec = \"linear\"\nlevels = 64")).unwrap();
    assert!(!gym.split_by_file());
    let val = gym.sources(Split::Val);
    assert_eq!(val.len(), 2);
    assert!(val.iter().all(|(_, n)| *n == 2000));
    let report = check_gym(&mut gym, Shape { batch: 2, seq: 16 }).unwrap();
    assert_eq!(report.vocab_size, 64);
}

#[test]
fn validation_episode_resets_lanes_at_each_file() {
    let d = synthetic_dir(10);
    let mut gym = WavGym::from_spec(&spec(d.path(), 0.2, "")).unwrap();
    let shape = Shape { batch: 4, seq: 32 };
    let info = gym.reset(Split::Val, 1, shape).unwrap();
    let per_file = 7999 / 128;
    assert_eq!(info.windows, Some(2 * per_file));
    for w in 0..2 * per_file {
        let s = gym.step().unwrap();
        assert_eq!(s.reset.iter().all(|&r| r), w % per_file == 0, "window {w}");
        assert_eq!(s.episode_done, w + 1 == 2 * per_file);
    }
}

#[test]
fn registry_builds_wav_v1_and_options_are_checked() {
    let d = synthetic_dir(3);
    let reg = GymRegistry::with_builtins();
    assert!(reg.ids().contains(&"wav-v1".to_string()));
    let gym = reg.make(&spec(d.path(), 0.1, "")).unwrap();
    assert_eq!(gym.id(), "wav-v1");
    let e = reg
        .make(&spec(d.path(), 0.1, "bogus = 1"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("gym.options.bogus"), "{e}");
    let e = reg
        .make(&spec(d.path(), 0.1, "levels = 1"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("gym.options.levels"), "{e}");
    let e = reg
        .make(&spec(d.path(), 0.1, "channel = 7"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("channel = 7") && e.contains("clip-0.wav"), "{e}");
}

#[test]
fn bad_files_stop_or_are_skipped() {
    let d = synthetic_dir(3);
    std::fs::write(d.path().join("broken.wav"), b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
    let e = WavGym::from_spec(&spec(d.path(), 0.0, ""))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("broken.wav") && e.contains("skip_bad_files"),
        "{e}"
    );
    assert!(!e.contains('\n'));
    let gym = WavGym::from_spec(&spec(d.path(), 0.0, "skip_bad_files = true")).unwrap();
    assert_eq!(gym.skipped().len(), 1);
    assert_eq!(gym.sources(Split::Train).len(), 3);
}

#[test]
fn no_usable_audio_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.wav"), b"").unwrap();
    std::fs::write(d.path().join("b.wav"), b"hello").unwrap();
    let e = WavGym::from_spec(&spec(d.path(), 0.1, "skip_bad_files = true"))
        .err()
        .unwrap();
    assert!(e.to_string().contains("no usable audio"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    let e = WavGym::from_spec(&spec(empty.path(), 0.1, ""))
        .err()
        .unwrap();
    assert!(e.to_string().contains("no .wav files"), "{e}");
}

#[test]
fn too_short_files_are_a_clear_data_error() {
    let d = synthetic_dir(1);
    let mut gym = WavGym::from_spec(&spec(d.path(), 0.0, "")).unwrap();
    let e = gym
        .reset(
            Split::Train,
            0,
            Shape {
                batch: 64,
                seq: 256,
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("long enough"), "{e}");
}

fn speech_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/speech");
    if d.is_dir() {
        Some(d)
    } else {
        println!("skipped: speech corpus {} not found", d.display());
        None
    }
}

#[test]
fn speech_corpus_passes_check_gym() {
    let Some(d) = speech_dir() else { return };
    let mut gym = WavGym::from_spec(&spec(&d, 0.1, "")).unwrap();
    assert!(gym.split_by_file());
    assert_eq!(gym.sources(Split::Train).len(), 27);
    assert_eq!(gym.sources(Split::Val).len(), 3);
    let total: usize = [Split::Train, Split::Val]
        .iter()
        .flat_map(|&s| gym.sources(s))
        .map(|(_, n)| n)
        .sum();
    assert!(
        (total as f64 / 16000.0 - 133.8).abs() < 0.1,
        "{total} samples"
    );
    let h = gym.unigram_entropy_bits(Split::Val);
    assert!(h > 3.0 && h < 8.0, "entropy {h}");
    check_gym(
        &mut gym,
        Shape {
            batch: 32,
            seq: 128,
        },
    )
    .unwrap();
}

#[test]
fn mapped_token_store_serves_the_same_episodes_as_the_heap() {
    let d = synthetic_dir(6);
    for (levels, val) in [(256, 0.34), (1024, 0.1)] {
        let heap_opts = format!("levels = {levels}");
        let map_opts = format!("levels = {levels}\nin_memory_mb = 0");
        let mut heap = WavGym::from_spec(&spec(d.path(), val, &heap_opts)).unwrap();
        let mut map = WavGym::from_spec(&spec(d.path(), val, &map_opts)).unwrap();
        for split in [Split::Train, Split::Val] {
            assert_eq!(map.sources(split), heap.sources(split));
            assert_eq!(
                map.unigram_entropy_bits(split),
                heap.unigram_entropy_bits(split)
            );
            for seed in [0, 3] {
                let shape = Shape { batch: 3, seq: 50 };
                let a = map.reset(split, seed, shape).unwrap();
                let b = heap.reset(split, seed, shape).unwrap();
                assert_eq!(a, b);
                for _ in 0..a.windows.unwrap() {
                    assert_eq!(map.step().unwrap(), heap.step().unwrap());
                }
            }
        }
        check_gym(&mut map, Shape { batch: 2, seq: 64 }).unwrap();
    }
    let e = WavGym::from_spec(&spec(d.path(), 0.1, "in_memory_mb = -3"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("gym.options.in_memory_mb"), "{e}");
}

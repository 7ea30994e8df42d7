//! A large WAV corpus trains in bounded memory: the real binary runs 3 iterations of a tiny
//! model with `wav-v1` on `RNNGYM_LARGE_WAV_MB` MiB (default 256) of 16-bit PCM in files of
//! `RNNGYM_LARGE_WAV_FILE_MB` MiB (default 2) and on a single 1 MiB file, and compares the
//! peak RSS each run reports.
//!
//! `wav-v1` decodes one file at a time into narrow tokens (one byte per sample at 256 levels)
//! that spill to a mapped temporary file above `gym.options.in_memory_mb` (set to 16 here), so
//! the large run's peak RSS must stay within the small run's plus a margin that does not
//! depend on the corpus size (one file's decode buffers, a few times the file's size, and up
//! to 32 MB of mapped codes between page releases), and far below the corpus.

mod common;
use common::*;

use std::io::Write;
use std::path::Path;

const MIB: usize = 1 << 20;
const MARGIN_MB: f64 = 64.0;

/// Writes a mono 16 kHz 16-bit PCM WAV of `bytes` data bytes: a chirp-ish tone, so the
/// quantized tokens are not constant.
fn write_wav(path: &Path, bytes: usize, seed: u32) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let data = bytes as u32;
    let mut header = Vec::with_capacity(44);
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + data).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes()); // PCM
    header.extend_from_slice(&1u16.to_le_bytes()); // mono
    header.extend_from_slice(&16_000u32.to_le_bytes());
    header.extend_from_slice(&32_000u32.to_le_bytes()); // byte rate
    header.extend_from_slice(&2u16.to_le_bytes()); // block align
    header.extend_from_slice(&16u16.to_le_bytes()); // bits
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data.to_le_bytes());
    f.write_all(&header).unwrap();
    // One second of samples, written over and over.
    let period = 40 + (seed % 17) as usize;
    let block: Vec<u8> = (0..16_000)
        .flat_map(|i: usize| {
            let phase = (i % period) as f64 / period as f64;
            let x = (phase * std::f64::consts::TAU).sin() * 12_000.0 + ((i * 7919) % 2001) as f64;
            (x as i16).to_le_bytes()
        })
        .collect();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len());
        f.write_all(&block[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
}

/// Peak RSS (MB) that one `rnngym train` run on the WAV files in `corpus` reported.
fn train(dir: &Path, corpus: &Path, name: &str) -> f64 {
    let run = dir.join(format!("run-{name}"));
    let config = format!(
        r#"
[model]
hidden = 16
layers = 1
embed = 8
[train]
iterations = 3
batch = 4
seq_len = 32
val_every = 0
log_every = 1
threads = 1
[gym]
id = "wav-v1"
path = "{}/*.wav"
val_fraction = 0.01
[gym.options]
in_memory_mb = 16
cache_dir = "{}"
[sample]
train_seconds = 0
[checkpoint]
dir = "{}"
"#,
        corpus.display(),
        dir.display(),
        run.display()
    );
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, config).unwrap();
    let log = train_logged(&cfg, &run);
    logged_number(&log, "peak RSS")
}

#[test]
fn large_wav_corpus_trains_in_bounded_memory() {
    if !Path::new("/proc/self/status").exists() {
        eprintln!("no /proc: peak RSS cannot be measured on this platform; skipping");
        return;
    }
    let mib = env_usize("RNNGYM_LARGE_WAV_MB", 256);
    let dir = tempfile::tempdir().unwrap();
    let (small, large) = (dir.path().join("small"), dir.path().join("large"));
    std::fs::create_dir_all(&small).unwrap();
    std::fs::create_dir_all(&large).unwrap();
    write_wav(&small.join("a.wav"), MIB, 0);
    let file_mib = env_usize("RNNGYM_LARGE_WAV_FILE_MB", 2);
    let files = mib.div_ceil(file_mib);
    for k in 0..files {
        write_wav(&large.join(format!("{k:04}.wav")), file_mib * MIB, k as u32);
    }
    let s = train(dir.path(), &small, "small");
    let l = train(dir.path(), &large, "large");
    let corpus_mb = (files * file_mib * MIB) as f64 / 1e6;
    eprintln!(
        "WAV corpus {corpus_mb:.0} MB in {files} files: peak RSS {l:.1} MB; one 1 MiB file: {s:.1} MB"
    );
    assert!(
        l < s + MARGIN_MB,
        "peak RSS {l:.1} MB on {corpus_mb:.0} MB of WAV vs {s:.1} MB on 1 MiB: it grows with the corpus"
    );
    assert!(
        l < corpus_mb / 2.0,
        "peak RSS {l:.1} MB on {corpus_mb:.0} MB"
    );
}

//! A large text corpus trains in bounded memory: the real binary runs 3 iterations of a tiny
//! model on a synthetic corpus of `RNNGYM_LARGE_CORPUS_MB` MiB (default 1024) and on a 1 MiB
//! one, and compares the peak RSS and start-up time each run reports.
//!
//! Bounds: peak RSS under 300 MB, and the large run's wall time (start-up plus 3 iterations;
//! the corpus is streamed twice and its token cache written once) within the small run's plus
//! 60 s per GiB, stated for a loaded 2-core machine.

mod common;
use common::*;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MIB: usize = 1 << 20;
const RSS_LIMIT_MB: f64 = 300.0;
const SECONDS_PER_GIB: f64 = 60.0;

/// Writes `mib` MiB of random words (a 16-word vocabulary) to `path`: an 8 MiB block of
/// random text written over and over, which is fast and still exercises the whole pipeline.
fn write_corpus(path: &Path, mib: usize) {
    let words = [
        "the",
        "river",
        "ran",
        "past",
        "old",
        "stone",
        "mill",
        "and",
        "a",
        "heron",
        "stood",
        "still",
        "while",
        "light",
        "fell",
        "Ünïcode",
    ];
    let mut rng = StdRng::seed_from_u64(1);
    let mut block = String::with_capacity(8 * MIB + 16);
    // Starting with ASCII means every cut below finds a char boundary after byte 0.
    block.push_str("the ");
    while block.len() < 8 * MIB.min(mib * MIB) {
        block.push_str(words[rng.random_range(0..words.len())]);
        block.push(if rng.random_range(0..12) == 0 {
            '\n'
        } else {
            ' '
        });
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut left = mib * MIB;
    while left > 0 {
        let n = left.min(block.len());
        // Cut only at a char boundary (the block is mostly ASCII).
        let n = (0..=n).rev().find(|&i| block.is_char_boundary(i)).unwrap();
        f.write_all(&block.as_bytes()[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
}

/// What one `rnngym train` run reported.
struct RunReport {
    wall: Duration,
    gym_ready_s: f64,
    peak_rss_mb: f64,
}

fn train(dir: &Path, corpus: &Path) -> RunReport {
    let run = dir.join(format!(
        "run-{}",
        corpus.file_stem().unwrap().to_string_lossy()
    ));
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
sample_every = 0
log_every = 1
threads = 1
[gym]
id = "text-v1"
path = "{}"
val_fraction = 0.001
[gym.options]
cache_dir = "{}"
[checkpoint]
dir = "{}"
"#,
        corpus.display(),
        dir.display(),
        run.display()
    );
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, config).unwrap();
    let start = Instant::now();
    let log = train_logged(&cfg, &run);
    let wall = start.elapsed();
    RunReport {
        wall,
        gym_ready_s: logged_number(&log, "ready in"),
        peak_rss_mb: logged_number(&log, "peak RSS"),
    }
}

#[test]
fn large_corpus_trains_in_bounded_memory_and_time() {
    if !Path::new("/proc/self/status").exists() {
        eprintln!("no /proc: peak RSS cannot be measured on this platform; skipping");
        return;
    }
    let mib = env_usize("RNNGYM_LARGE_CORPUS_MB", 1024);
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.txt");
    let large = dir.path().join("large.txt");
    write_corpus(&small, 1);
    let gen = Instant::now();
    write_corpus(&large, mib);
    let gen = gen.elapsed();
    assert_eq!(std::fs::metadata(&large).unwrap().len(), (mib * MIB) as u64);

    let s = train(dir.path(), &small);
    let l = train(dir.path(), &large);
    let bound = s.wall.as_secs_f64() + SECONDS_PER_GIB * mib as f64 / 1024.0;
    eprintln!(
        "corpus {mib} MiB (written in {:.1}s): wall {:.2}s, gym ready {:.2}s, peak RSS {:.1} MB; \
         1 MiB: wall {:.2}s, gym ready {:.2}s, peak RSS {:.1} MB; time bound {bound:.1}s",
        gen.as_secs_f64(),
        l.wall.as_secs_f64(),
        l.gym_ready_s,
        l.peak_rss_mb,
        s.wall.as_secs_f64(),
        s.gym_ready_s,
        s.peak_rss_mb
    );
    assert!(
        l.peak_rss_mb < RSS_LIMIT_MB,
        "peak RSS {} MB on a {mib} MiB corpus",
        l.peak_rss_mb
    );
    assert!(
        l.wall.as_secs_f64() < bound,
        "{mib} MiB corpus took {:.1}s to train 3 iterations; bound {bound:.1}s",
        l.wall.as_secs_f64()
    );
}

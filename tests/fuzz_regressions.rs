//! Replays every saved fuzz input (tests/fuzz-regressions/<target>/: the crashes the fuzzers
//! found, kept after the fix; fuzz/seeds/<target>/: the starting corpora) through the very
//! bodies the fuzz targets run, so stable CI checks them without cargo-fuzz or nightly.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

#[path = "../fuzz/src/lib.rs"]
mod entries;

/// Runs every file of the target's folders through `body`; fails naming each input that
/// panicked. Returns how many inputs ran.
fn replay(target: &str, body: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    let mut ran = 0;
    for dir in [
        root.join("tests/fuzz-regressions").join(target),
        root.join("fuzz/seeds").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            ran += 1;
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| body(&bytes))) {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: {msg}", f.display()));
            }
        }
    }
    assert!(failures.is_empty(), "panicked on:\n{}", failures.join("\n"));
    ran
}

#[test]
fn wav_decode_inputs() {
    assert!(replay("wav_decode", entries::wav_decode) > 0);
}

#[test]
fn config_parse_inputs() {
    assert!(replay("config_parse", entries::config_parse) > 0);
}

#[test]
fn checkpoint_load_inputs() {
    assert!(replay("checkpoint_load", entries::checkpoint_load) > 0);
}

#[test]
fn checkpoint_meta_inputs() {
    assert!(replay("checkpoint_meta", entries::checkpoint_meta) > 0);
}

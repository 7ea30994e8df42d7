//! `--resume` writes where the user said: into the folder it names (a copied run directory
//! is continued in the copy, not in the folder saved in the checkpoint), or into an explicit
//! `--set checkpoint.dir=…`, which forks the run; the original run is never touched.

mod common;
use common::*;

use std::path::Path;

use rnngym_trainer::state;

/// Every file of a run directory, by name, with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn iteration(checkpoint: &Path) -> u64 {
    state::read(checkpoint).unwrap().meta.iteration
}

#[test]
fn resume_writes_into_the_named_folder_only() {
    let f = Fixture::new(&corpus(), TINY);
    f.train();
    let original = snapshot(&f.file("run"));
    assert!(original.iter().any(|(n, _)| n == "latest.safetensors"));

    // A copied run directory resumed by file: the copy goes on, the original stays as it was.
    copy_dir(&f.file("run"), &f.file("copy"));
    f.ok(&[
        "train",
        "--resume",
        "copy/latest.safetensors",
        "--set",
        "train.iterations=40",
    ]);
    assert_eq!(iteration(&f.file("copy/latest.safetensors")), 40);
    assert!(
        snapshot(&f.file("run")) == original,
        "the original run was written to"
    );

    // An explicit checkpoint.dir forks the run into a new folder.
    f.ok(&[
        "train",
        "--resume",
        "run",
        "--set",
        "checkpoint.dir=fork",
        "--set",
        "train.iterations=40",
    ]);
    assert_eq!(iteration(&f.file("fork/latest.safetensors")), 40);
    let forked = std::fs::read_to_string(f.file("fork/config.toml")).unwrap();
    assert!(forked.contains("dir = \"fork\""), "{forked}");
    assert!(
        snapshot(&f.file("run")) == original,
        "the original run was written to"
    );
}

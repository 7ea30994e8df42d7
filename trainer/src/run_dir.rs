//! [`RunDir`]: the one place that names the files of a training run's directory
//! (`checkpoint.dir`). The trainer, its observers and the CLI ask it for paths instead of
//! joining literals, so a file is named once and "which files does a run own" has one answer.

use std::path::{Path, PathBuf};

/// The checkpoints a run keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointKind {
    /// The newest good state (written every `checkpoint.every` iterations, at the end, on
    /// interrupt and after a rollback).
    Latest,
    /// The state with the best validation loss so far.
    Best,
}

impl CheckpointKind {
    /// `"latest"` or `"best"`, as observers and messages name it.
    pub fn name(self) -> &'static str {
        match self {
            CheckpointKind::Latest => "latest",
            CheckpointKind::Best => "best",
        }
    }

    /// The checkpoint's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            CheckpointKind::Latest => LATEST,
            CheckpointKind::Best => BEST,
        }
    }
}

const LATEST: &str = "latest.safetensors";
const BEST: &str = "best.safetensors";
const CONFIG: &str = "config.toml";
const METRICS: &str = "metrics.jsonl";
const SAMPLES: &str = "samples.jsonl";
const SAMPLES_DIR: &str = "samples";
const ROLLBACK_DIR: &str = "rollback";
const LOCK: &str = "train.lock";

/// A training run's directory and the names of everything in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `<dir>/latest.safetensors` or `<dir>/best.safetensors`.
    pub fn checkpoint(&self, kind: CheckpointKind) -> PathBuf {
        self.root.join(kind.file_name())
    }

    /// `<dir>/latest.safetensors`.
    pub fn latest(&self) -> PathBuf {
        self.checkpoint(CheckpointKind::Latest)
    }

    /// `<dir>/best.safetensors`.
    pub fn best(&self) -> PathBuf {
        self.checkpoint(CheckpointKind::Best)
    }

    /// `<dir>/config.toml`: the resolved config of the run.
    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG)
    }

    /// `<dir>/metrics.jsonl`: one record per update, validation, rollback and checkpoint.
    pub fn metrics(&self) -> PathBuf {
        self.root.join(METRICS)
    }

    /// `<dir>/samples.jsonl`: the samples generated during training.
    pub fn samples(&self) -> PathBuf {
        self.root.join(SAMPLES)
    }

    /// `<dir>/samples/`: audio clips generated during training.
    pub fn samples_dir(&self) -> PathBuf {
        self.root.join(SAMPLES_DIR)
    }

    /// `samples/iter-NNNNNN.wav`: an audio clip generated at `iteration`, relative to the
    /// directory (as `samples.jsonl` records it).
    pub fn audio_clip(iteration: u64) -> String {
        format!("{SAMPLES_DIR}/iter-{iteration:06}.wav")
    }

    /// `<dir>/rollback/`: older good states kept for divergence rollbacks.
    pub fn rollback_dir(&self) -> PathBuf {
        self.root.join(ROLLBACK_DIR)
    }

    /// `<dir>/train.lock`: held by the one process training into the directory.
    pub fn lock(&self) -> PathBuf {
        self.root.join(LOCK)
    }

    /// The files directly in the directory that a run writes atomically (and whose stale
    /// temporary files it may clean up).
    pub fn files() -> &'static [&'static str] {
        &[LATEST, BEST, CONFIG, METRICS, SAMPLES]
    }

    /// Whether `path` is one of the files or folders a run owns in this directory, or any
    /// file in its `rollback/` or `samples/` folder (an output of another command must not
    /// replace it).
    pub fn owns(&self, path: &Path) -> bool {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        if same(parent, &self.root) {
            return Self::files()
                .iter()
                .chain(&[SAMPLES_DIR, ROLLBACK_DIR, LOCK])
                .any(|f| name == *f);
        }
        same(parent, &self.rollback_dir()) || same(parent, &self.samples_dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_file_once() {
        let d = RunDir::new("/runs/a");
        assert_eq!(d.latest(), Path::new("/runs/a/latest.safetensors"));
        assert_eq!(d.best(), Path::new("/runs/a/best.safetensors"));
        assert_eq!(d.metrics(), Path::new("/runs/a/metrics.jsonl"));
        assert_eq!(d.rollback_dir(), Path::new("/runs/a/rollback"));
        assert_eq!(RunDir::audio_clip(42), "samples/iter-000042.wav");
        let mut names: Vec<_> = RunDir::files().to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RunDir::files().len());
    }

    #[test]
    fn owns_its_files_only() {
        let tmp = tempfile::tempdir().unwrap();
        let d = RunDir::new(tmp.path());
        assert!(d.owns(&d.latest()));
        assert!(d.owns(&d.metrics()));
        assert!(d.owns(&d.lock()));
        assert!(d.owns(&tmp.path().join("rollback")));
        assert!(!d.owns(&tmp.path().join("out.wav")));
        assert!(!d.owns(&tmp.path().join("sub").join("latest.safetensors")));
        assert!(d.owns(&d.rollback_dir().join("iter-00000010.safetensors")));
        assert!(d.owns(&d.samples_dir().join("iter-000010.wav")));
        // The same file through a different spelling of the directory.
        let dotted = tmp.path().join(".").join("best.safetensors");
        assert!(d.owns(&dotted));
    }
}

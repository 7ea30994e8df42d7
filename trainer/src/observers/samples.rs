//! `samples.jsonl`: the samples generated during training, one JSON object per sample.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::jsonl::JsonlFile;
use crate::observer::{Observer, Rollback, TrainSample};

/// The samples file's name inside a run directory.
pub const SAMPLES_FILE: &str = "samples.jsonl";

/// Appends every training sample to `samples.jsonl` (format in docs/FORMATS.md).
pub struct SampleWriter {
    file: JsonlFile,
    started: Instant,
}

impl SampleWriter {
    /// Writes `<dir>/samples.jsonl`.
    pub fn new(dir: &Path) -> Self {
        SampleWriter {
            file: JsonlFile::new(dir.join(SAMPLES_FILE)),
            started: Instant::now(),
        }
    }
}

impl Observer for SampleWriter {
    fn on_start(&mut self, _config: &str, start_iteration: u64, _target: u64) {
        self.file.start(start_iteration);
        self.started = Instant::now();
    }

    fn on_rollback(&mut self, r: &Rollback) {
        // Samples of the undone iterations came from weights that no longer exist.
        self.file.start(r.to_iteration);
    }

    fn on_sample(&mut self, s: &TrainSample) {
        let rec = json!({
            "iteration": s.iteration,
            "wall_s": (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            "temperature": (s.temperature as f64 * 1e4).round() / 1e4,
            "prime": s.prime,
            "text": s.text,
        });
        self.file.append(&rec);
    }
}

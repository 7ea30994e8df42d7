//! `samples.jsonl`: the samples generated during training, one JSON object per sample. Audio
//! samples are also written as `samples/iter-NNNNNN.wav` (16-bit PCM mono), which their record
//! names.

use std::path::Path;
use std::time::Instant;

use rnngym_gyms::wav::WavFileWriter;
use rnngym_gyms::GymError;
use serde_json::json;

use super::jsonl::JsonlFile;
use crate::observer::{AudioClip, Observer, Rollback, TrainSample};
use crate::run_dir::RunDir;

/// Appends every training sample to `samples.jsonl` and writes audio samples as WAV files
/// (formats in docs/FORMATS.md).
pub struct SampleWriter {
    dir: RunDir,
    file: JsonlFile,
    started: Instant,
}

impl SampleWriter {
    /// Writes `<dir>/samples.jsonl` (and `<dir>/samples/*.wav` for audio).
    pub fn new(dir: &Path) -> Self {
        SampleWriter {
            dir: RunDir::new(dir),
            file: JsonlFile::new(RunDir::new(dir).samples()),
            started: Instant::now(),
        }
    }

    /// Writes `clip` as `samples/iter-NNNNNN.wav` atomically; returns its path relative to the
    /// run directory (with `/` separators, so records read the same on every platform).
    fn write_wav(&self, iteration: u64, clip: &AudioClip) -> Result<String, GymError> {
        let rel = RunDir::audio_clip(iteration);
        let folder = self.dir.samples_dir();
        std::fs::create_dir_all(&folder).map_err(|e| GymError::Io {
            path: folder.display().to_string(),
            message: format!("cannot create: {e}"),
        })?;
        let mut w = WavFileWriter::create(&self.dir.path().join(&rel), clip.sample_rate)?;
        for &x in &clip.samples {
            w.push(x)?;
        }
        w.finish()?;
        Ok(rel)
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
        let wall_s = (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        let temperature = (s.temperature as f64 * 1e4).round() / 1e4;
        let rec = match &s.audio {
            None => json!({
                "iteration": s.iteration,
                "wall_s": wall_s,
                "temperature": temperature,
                "prime": s.prime,
                "text": s.text,
            }),
            Some(clip) => {
                // A failed WAV must not stop training: warn and leave no record pointing at it.
                let rel = match self.write_wav(s.iteration, clip) {
                    Ok(rel) => rel,
                    Err(e) => {
                        log::warn!("audio sample @ {}: {e}; not written", s.iteration);
                        return;
                    }
                };
                let seconds = clip.samples.len() as f64 / f64::from(clip.sample_rate.max(1));
                log::info!(
                    "sample @ {:>6}: {seconds:.2} s of audio in {}",
                    s.iteration,
                    self.dir.path().join(&rel).display()
                );
                json!({
                    "iteration": s.iteration,
                    "wall_s": wall_s,
                    "temperature": temperature,
                    "wav": rel,
                    "sample_rate": clip.sample_rate,
                    "samples": clip.samples.len(),
                    "seconds": (seconds * 1e4).round() / 1e4,
                })
            }
        };
        self.file.append(&rec);
    }
}

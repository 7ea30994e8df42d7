//! A streaming 16-bit PCM mono WAV writer that writes atomically: samples go to a temporary
//! file beside the destination (constant memory), which is renamed into place by
//! [`WavFileWriter::finish`]; dropping an unfinished writer removes the temporary file.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::GymError;

/// Writes a mono 16-bit PCM WAV file sample by sample.
pub struct WavFileWriter {
    dest: PathBuf,
    tmp: PathBuf,
    inner: Option<hound::WavWriter<BufWriter<File>>>,
    samples: u64,
}

impl WavFileWriter {
    /// Starts writing `dest` at `sample_rate` Hz (into a temporary file until `finish`).
    pub fn create(dest: &Path, sample_rate: u32) -> Result<WavFileWriter, GymError> {
        let io = |message: String| GymError::Io {
            path: dest.display().to_string(),
            message,
        };
        let name = dest
            .file_name()
            .ok_or_else(|| io("not a file name".into()))?
            .to_string_lossy()
            .into_owned();
        let tmp = dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let inner =
            hound::WavWriter::create(&tmp, spec).map_err(|e| io(format!("cannot create: {e}")))?;
        Ok(WavFileWriter {
            dest: dest.to_path_buf(),
            tmp,
            inner: Some(inner),
            samples: 0,
        })
    }

    /// Appends one sample in [-1, 1] (clamped; NaN writes 0).
    pub fn push(&mut self, x: f32) -> Result<(), GymError> {
        let v = if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) };
        let s = (v * 32767.0).round() as i16;
        let res = match self.inner.as_mut() {
            Some(w) => w.write_sample(s).map_err(|e| format!("cannot write: {e}")),
            None => Err("already finished".to_string()),
        };
        res.map_err(|m| self.err(m))?;
        self.samples += 1;
        Ok(())
    }

    /// Samples written so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Completes the header and renames the file into place; returns the samples written.
    pub fn finish(mut self) -> Result<u64, GymError> {
        let w = self
            .inner
            .take()
            .ok_or_else(|| self.err("already finished".into()))?;
        let done = w
            .finalize()
            .map_err(|e| self.err(format!("cannot finish: {e}")))
            .and_then(|()| {
                std::fs::rename(&self.tmp, &self.dest).map_err(|e| {
                    self.err(format!(
                        "cannot rename {} into place: {e}",
                        self.tmp.display()
                    ))
                })
            });
        if done.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        done.map(|()| self.samples)
    }

    fn err(&self, message: String) -> GymError {
        GymError::Io {
            path: self.dest.display().to_string(),
            message,
        }
    }
}

impl Drop for WavFileWriter {
    fn drop(&mut self) {
        if self.inner.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

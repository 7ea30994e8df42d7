//! An append-only JSON Lines file that survives resumes: on start it drops the records of
//! iterations after the resume point (they were lost with the interrupted run), so iterations
//! stay monotonic.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One JSONL file written a whole line at a time; write errors are logged once, then the
/// file is abandoned (observers cannot fail the training run).
pub struct JsonlFile {
    path: PathBuf,
    file: Option<File>,
    failed: bool,
}

impl JsonlFile {
    /// A writer for `path`; nothing is opened until [`JsonlFile::start`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonlFile {
            path: path.into(),
            file: None,
            failed: false,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the existing records with `iteration <= start_iteration` (all of them are dropped
    /// on a fresh run, where `start_iteration` is 0) and opens the file for appending. Returns
    /// the kept records.
    pub fn start(&mut self, start_iteration: u64) -> Vec<Value> {
        self.start_keeping(|v| iteration_of(v).is_some_and(|i| i <= start_iteration))
    }

    /// [`JsonlFile::start`] keeping the existing records that `keep` accepts, in file order:
    /// the file is read and atomically rewritten once.
    pub fn start_keeping(&mut self, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
        let kept: Vec<Value> = read_jsonl(&self.path)
            .unwrap_or_default()
            .into_iter()
            .filter(keep)
            .collect();
        let result = (|| -> io::Result<File> {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut text = String::new();
            for v in &kept {
                text.push_str(&v.to_string());
                text.push('\n');
            }
            crate::fsutil::atomic_write(&self.path, text.as_bytes())?;
            OpenOptions::new().append(true).open(&self.path)
        })();
        match result {
            Ok(f) => self.file = Some(f),
            Err(e) => self.fail(&e),
        }
        kept
    }

    /// Appends one record as one line.
    pub fn append(&mut self, record: &Value) {
        let Some(f) = self.file.as_mut() else { return };
        let mut line = record.to_string();
        line.push('\n');
        if let Err(e) = f.write_all(line.as_bytes()) {
            self.file = None;
            self.fail(&e);
        }
    }

    fn fail(&mut self, e: &io::Error) {
        if !self.failed {
            log::warn!(
                "cannot write {}: {e}; not logging to it",
                self.path.display()
            );
            self.failed = true;
        }
    }
}

/// Every JSON object of a JSONL file, in order; blank and unparsable lines are skipped.
pub fn read_jsonl(path: &Path) -> io::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect())
}

fn iteration_of(v: &Value) -> Option<u64> {
    v.get("iteration")?.as_u64()
}

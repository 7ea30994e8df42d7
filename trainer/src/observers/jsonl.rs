//! An append-only JSON Lines file that survives resumes: on start it drops the records of
//! iterations after the resume point (they were lost with the interrupted run), so iterations
//! stay monotonic.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One JSONL file written a whole line at a time. A failed write (a transient disk-full) is
/// cut back off the file, so no torn line stays, and warned about once; the next record tries
/// again (observers cannot fail the training run, and a full disk may free up).
pub struct JsonlFile {
    path: PathBuf,
    file: Option<File>,
    /// Bytes of whole lines in the file: where a failed write is cut back to.
    len: u64,
    failed: bool,
    /// Whether the last write failed (so the next success says logging resumed).
    failing: bool,
}

impl JsonlFile {
    /// A writer for `path`; nothing is opened until [`JsonlFile::start`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonlFile {
            path: path.into(),
            file: None,
            len: 0,
            failed: false,
            failing: false,
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
    /// the file is read and atomically rewritten once. Kept records keep their exact bytes
    /// (floats are not re-parsed and re-printed); a damaged line (invalid UTF-8, not a JSON
    /// object, a torn last line) is dropped with a warning that counts it, and every intact
    /// record around it is kept. A file that cannot be read is left alone and not logged to.
    pub fn start_keeping(&mut self, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
        let records = match read_records(&self.path) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Records::default(),
            Err(e) => {
                self.file = None;
                self.fail(&e);
                return Vec::new();
            }
        };
        if records.damaged > 0 {
            log::warn!(
                "{}: dropped {} damaged line(s) (invalid UTF-8, not a JSON object, or torn by an \
                 interrupted write); kept the {} intact record(s)",
                self.path.display(),
                records.damaged,
                records.lines.len()
            );
        }
        let (mut text, mut kept) = (Vec::new(), Vec::new());
        for (raw, v) in records.lines {
            if keep(&v) {
                text.extend_from_slice(&raw);
                text.push(b'\n');
                kept.push(v);
            }
        }
        let result = (|| -> io::Result<File> {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            crate::fsutil::atomic_write(&self.path, &text)?;
            OpenOptions::new().append(true).open(&self.path)
        })();
        match result {
            Ok(f) => (self.file, self.len) = (Some(f), text.len() as u64),
            Err(e) => self.fail(&e),
        }
        kept
    }

    /// Appends one record as one line; a failed write leaves no part of it behind.
    pub fn append(&mut self, record: &Value) {
        let Some(f) = self.file.as_mut() else { return };
        let mut line = record.to_string();
        line.push('\n');
        match f.write_all(line.as_bytes()) {
            Ok(()) => {
                self.len += line.len() as u64;
                if std::mem::take(&mut self.failing) {
                    log::warn!(
                        "{}: writing again (records in between are lost)",
                        self.path.display()
                    );
                }
            }
            Err(e) => {
                self.cut_back();
                self.failing = true;
                self.fail(&e);
            }
        }
    }

    /// Cuts the file back to its whole lines (what a failed write may have left half done).
    fn cut_back(&mut self) {
        if let Some(f) = self.file.as_mut() {
            let _ = f.set_len(self.len);
        }
    }

    fn fail(&mut self, e: &io::Error) {
        if !self.failed {
            log::warn!(
                "cannot write {}: {e}; records are skipped until a write succeeds again",
                self.path.display()
            );
            self.failed = true;
        }
    }
}

/// Every JSON object of a JSONL file, in order; blank lines and damaged ones (invalid UTF-8,
/// not a JSON object) are skipped.
pub fn read_jsonl(path: &Path) -> io::Result<Vec<Value>> {
    Ok(read_records(path)?
        .lines
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// The records of a JSONL file with the bytes of their lines, and how many non-blank lines
/// were damaged.
#[derive(Default)]
struct Records {
    lines: Vec<(Vec<u8>, Value)>,
    damaged: usize,
}

fn read_records(path: &Path) -> io::Result<Records> {
    let bytes = std::fs::read(path)?;
    let mut r = Records::default();
    for raw in bytes.split(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = std::str::from_utf8(raw)
            .ok()
            .and_then(|l| serde_json::from_str::<Value>(l).ok())
            .filter(Value::is_object);
        match parsed {
            Some(v) => r.lines.push((raw.to_vec(), v)),
            None => r.damaged += 1,
        }
    }
    Ok(r)
}

fn iteration_of(v: &Value) -> Option<u64> {
    v.get("iteration")?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_lines_cost_only_themselves_and_kept_lines_keep_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut text = Vec::new();
        for i in 1..=6u64 {
            // A float spelled as no serializer would print it: re-printing would change it.
            text.extend_from_slice(
                format!("{{\"iteration\":{i},\"loss\":1.250000000000000000}}\n").as_bytes(),
            );
            if i == 3 {
                text.extend_from_slice(b"{\"iteration\":3,\"note\":\"bad \xff byte\"}\n");
            }
        }
        text.extend_from_slice(b"{\"iteration\":7,\"loss\":1.2"); // torn by a kill
        std::fs::write(&path, &text).unwrap();

        let mut f = JsonlFile::new(&path);
        let kept = f.start(5);
        assert_eq!(kept.len(), 5, "records 1..=5 survive the two damaged lines");
        let want: String = (1..=5)
            .map(|i| format!("{{\"iteration\":{i},\"loss\":1.250000000000000000}}\n"))
            .collect();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), want);
        f.append(&serde_json::json!({"iteration": 6}));
        assert_eq!(read_jsonl(&path).unwrap().len(), 6);
    }

    #[test]
    fn a_failed_write_leaves_no_torn_line_and_the_next_record_tries_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut f = JsonlFile::new(&path);
        f.start(0);
        f.append(&serde_json::json!({"iteration": 1}));
        // Half a line, as a write cut short by a full disk leaves it.
        f.file
            .as_mut()
            .unwrap()
            .write_all(b"{\"iteration\":2,\"lo")
            .unwrap();
        f.cut_back();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"iteration\":1}\n"
        );

        #[cfg(target_os = "linux")]
        {
            // Writes to /dev/full fail with ENOSPC: the record is skipped, the writer stays.
            let real = f
                .file
                .replace(OpenOptions::new().append(true).open("/dev/full").unwrap());
            f.append(&serde_json::json!({"iteration": 2}));
            assert!(f.failing && f.file.is_some());
            f.file = real;
        }
        f.append(&serde_json::json!({"iteration": 3}));
        let its: Vec<u64> = read_jsonl(&path)
            .unwrap()
            .iter()
            .map(|v| v["iteration"].as_u64().unwrap())
            .collect();
        assert_eq!(its, [1, 3]);
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("}\n"));
    }
}

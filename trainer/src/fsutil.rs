//! File-system helpers: crash-safe writes for checkpoints and run artifacts.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temp files of concurrent writers within one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one.
///
/// The data goes to a hidden temp file in the same directory (a rename is only atomic within
/// one file system), is fsynced, then renamed over `path`; the directory is fsynced so the
/// rename itself survives a crash (best effort: not every platform can open directories).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}-{n}", std::process::id()));
    let tmp = dir.join(tmp_name);

    let result = write_and_rename(&tmp, path, bytes);
    if result.is_err() {
        // The temp file is ours alone; a failed cleanup must not hide the original error.
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(&dir);
    Ok(())
}

/// The UTF-8 text of the regular file `path`, refusing anything else (a device such as
/// `/dev/zero`, a FIFO, a directory) and anything over `limit` bytes, so that a wrong path
/// cannot make the process read without bound. Errors say which it is.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    use std::io::Read;
    let meta = fs::metadata(path)?;
    if !meta.is_file() {
        let kind = rnngym_gyms::paths::file_kind(&meta.file_type());
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("is a {kind}, not a regular file"),
        ));
    }
    let too_big = |len: u64| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("is {len} bytes, more than the limit of {limit} bytes for this input"),
        )
    };
    if meta.len() > limit {
        return Err(too_big(meta.len()));
    }
    // The file may grow while it is read: never take more than the limit.
    let mut bytes = Vec::new();
    File::open(path)?.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "is not valid UTF-8 text (byte offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Removes the temp files that [`atomic_write`] leaves when its process dies mid-write (e.g.
/// SIGKILL) for the files named `file_names` in `dir`; returns how many it removed. Only call
/// it while no other process can be writing those files (the run-directory lock).
pub fn remove_stale_temps(dir: &Path, file_names: &[&str]) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let prefixes: Vec<String> = file_names.iter().map(|n| format!(".{n}.tmp-")).collect();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if prefixes.iter().any(|p| name.starts_with(p.as_str()))
            && fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

fn write_and_rename(tmp: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    // create_new: never clobber a file we did not create (e.g. a stale temp of another process).
    let mut f = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(tmp, path)
}

fn sync_dir(dir: &Path) {
    // Directory fsync is unsupported on some platforms (Windows); the data is already durable.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_and_replaces_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        atomic_write(&p, b"first").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"first");
        atomic_write(&p, b"second, longer").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second, longer");
        atomic_write(&p, b"").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"");
        assert_eq!(entries(dir.path()), vec!["out.bin".to_string()]);
    }

    #[test]
    fn failure_leaves_target_untouched_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty directory fails, exercising the cleanup path.
        let target = dir.path().join("occupied");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"x").unwrap();
        assert!(atomic_write(&target, b"data").is_err());
        assert!(target.is_dir());
        assert_eq!(entries(dir.path()), vec!["occupied".to_string()]);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no/such/dir/file");
        assert!(atomic_write(&p, b"data").is_err());
        assert!(atomic_write(Path::new("/"), b"data").is_err());
    }

    #[test]
    fn stale_temps_of_the_named_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".latest.safetensors.tmp-123-0",
            ".latest.safetensors.tmp-9-7",
            ".other.bin.tmp-1-0",
            "latest.safetensors",
            ".latest.safetensors",
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        assert_eq!(remove_stale_temps(dir.path(), &["latest.safetensors"]), 2);
        assert_eq!(
            entries(dir.path()),
            vec![
                ".latest.safetensors".to_string(),
                ".other.bin.tmp-1-0".to_string(),
                "latest.safetensors".to_string()
            ]
        );
        assert_eq!(remove_stale_temps(&dir.path().join("missing"), &["x"]), 0);
    }

    #[test]
    fn concurrent_writers_each_leave_a_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shared");
        std::thread::scope(|s| {
            for i in 0..8u8 {
                let p = &p;
                s.spawn(move || atomic_write(p, &vec![i; 4096]).unwrap());
            }
        });
        let data = fs::read(&p).unwrap();
        assert_eq!(data.len(), 4096);
        assert!(data.iter().all(|&b| b == data[0]));
        assert_eq!(entries(dir.path()), vec!["shared".to_string()]);
    }
}

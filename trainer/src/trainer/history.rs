//! The good states a divergence rolls back to: the newest in memory (the last `latest`
//! written, or where `train` began), up to `train.rollback_depth` − 1 older ones as files in
//! `<checkpoint.dir>/rollback/iter-NNNNNNNN.safetensors`, newest first. A state that diverges
//! again after a rollback to it (before a newer good state) is given up for the next older one:
//! a checkpoint can pass the sanity checks and still be ruined, e.g. by optimizer moments that
//! blow up the next update at any learning rate.

use std::path::{Path, PathBuf};

use super::snapshot::Snapshot;
use super::TrainerError;
use crate::run_dir::RunDir;
use crate::state;

/// The good states kept for rollbacks, with the run directory they are kept in and how many
/// (`train.rollback_depth`).
pub(crate) struct History {
    /// The run directory (`latest` and the `rollback/` folder).
    dir: RunDir,
    /// Older states kept on disk: `train.rollback_depth` − 1.
    keep: usize,
    /// The newest good state.
    pub newest: Option<Snapshot>,
    /// Rollbacks to `newest` since it became the newest.
    pub retries: u32,
    /// Older good states on disk, newest first: (iteration, file).
    pub older: Vec<(u64, PathBuf)>,
    /// The iteration of the state this run last wrote to `latest.safetensors`, whose file an
    /// older state can then share (a hard link) instead of being written again.
    pub latest_on_disk: Option<u64>,
    /// The file keeping the last state given up for an older one (named in the final error:
    /// when nothing helps, the rate was the problem, not that state).
    pub given_up: Option<PathBuf>,
    /// Whether the folder was cleared of the rollback states not in `older` (a previous
    /// run's, or ones a crash left behind).
    pub swept: bool,
    /// Whether this process writes the files (rank 0 of a data-parallel job does; the other
    /// ranks keep the same bookkeeping and read the files rank 0 wrote, which needs the run
    /// directory on a file system they share).
    writes: bool,
}

fn file_name(iteration: u64) -> String {
    format!("iter-{iteration:08}.safetensors")
}

/// Where a state given up for an older one is kept; not a rollback target, never trimmed.
fn given_up_name(iteration: u64) -> String {
    format!("gave-up-iter-{iteration:08}.safetensors")
}

/// The older good states a resumed run finds in `dir`: those before `iteration`, newest
/// first, at most `keep`.
fn scan(dir: &Path, iteration: u64, keep: usize) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?;
            let it = name.strip_prefix("iter-")?.strip_suffix(".safetensors")?;
            Some((it.parse().ok()?, path))
        })
        .filter(|(it, _)| *it < iteration)
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.truncate(keep);
    found
}

impl History {
    /// No good state yet; older ones go to `dir`'s rollback folder, `rollback_depth` in all.
    pub fn new(dir: RunDir, rollback_depth: u32) -> Self {
        History {
            dir,
            keep: rollback_depth.saturating_sub(1) as usize,
            newest: None,
            retries: 0,
            older: Vec::new(),
            latest_on_disk: None,
            given_up: None,
            swept: false,
            writes: true,
        }
    }

    /// Whether this process writes the rollback files (see [`History`]'s `writes`).
    pub fn set_writes(&mut self, writes: bool) {
        self.writes = writes;
    }

    /// Whether this process writes the rollback files.
    pub fn writes(&self) -> bool {
        self.writes
    }

    /// A resumed run at `iteration` from `checkpoint`: the older good states its directory
    /// kept, and whether `latest` is the file just loaded (so the state can later be kept by
    /// linking to it).
    pub fn resume(&mut self, iteration: u64, retries: u32, checkpoint: &Path) {
        self.retries = retries;
        self.older = scan(&self.dir.rollback_dir(), iteration, self.keep);
        if same_file(checkpoint, &self.dir.latest()) {
            self.latest_on_disk = Some(iteration);
        }
    }

    /// Rollbacks to the state of `iteration` since it became the newest (0 for any other).
    pub fn retries_of(&self, iteration: u64) -> u32 {
        match &self.newest {
            Some(n) if n.meta.iteration == iteration => self.retries,
            _ => 0,
        }
    }

    /// Makes `snap` the newest good state (see [`History::make_room`]); the same iteration as
    /// the current newest (a rollback re-saving its state) only replaces it.
    pub fn keep_good(&mut self, snap: Snapshot) -> Result<(), TrainerError> {
        self.make_room(snap.meta.iteration)?;
        self.newest = Some(snap);
        Ok(())
    }

    /// Records that `latest` now holds `snap`, which becomes the newest good state.
    pub fn latest_written(&mut self, snap: Snapshot) -> Result<(), TrainerError> {
        self.latest_on_disk = Some(snap.meta.iteration);
        self.keep_good(snap)
    }

    /// Before a state of a later `iteration` becomes the newest: moves the current newest to
    /// the older states on disk (called before `latest` is overwritten, so that it can share
    /// the file) and clears the retry count.
    pub fn make_room(&mut self, iteration: u64) -> Result<(), TrainerError> {
        if let Some(old) = self.newest.take_if(|old| iteration > old.meta.iteration) {
            self.demote(old)?;
            self.retries = 0;
        }
        Ok(())
    }

    /// Writes `old` to the rollback folder (a link to `latest` when that file holds it) and
    /// drops states beyond `train.rollback_depth`.
    fn demote(&mut self, old: Snapshot) -> Result<(), TrainerError> {
        if self.keep == 0 {
            return Ok(());
        }
        let it = old.meta.iteration;
        let path = self.dir.rollback_dir().join(file_name(it));
        if self.writes {
            self.keep_file(&old, &path)?;
        }
        self.older.retain(|(i, _)| *i != it);
        self.older.insert(0, (it, path));
        let cut = self.keep.min(self.older.len());
        for (_, dropped) in self.older.drain(cut..) {
            if self.writes {
                let _ = std::fs::remove_file(dropped);
            }
        }
        if self.writes && !self.swept {
            self.swept = self.sweep();
        }
        Ok(())
    }

    /// Removes the rollback states in the folder that are not in `older`; returns whether the
    /// folder could be listed. Files from before this run (a previous run's, those of a
    /// resumed one that `scan` left out, one a crash left) are only found by listing; once
    /// they are gone, every state file there is one this run tracks and deletes when it drops
    /// it (`demote`, or `on_divergence` after `step_back`), so one listing per run is enough.
    fn sweep(&self) -> bool {
        let Ok(entries) = std::fs::read_dir(self.dir.rollback_dir()) else {
            return false;
        };
        for e in entries.flatten() {
            let p = e.path();
            let ours = e.file_name().to_string_lossy().starts_with("iter-");
            if ours && !self.older.iter().any(|(_, kept)| *kept == p) {
                let _ = std::fs::remove_file(&p);
            }
        }
        true
    }

    /// Writes `snap` to `path`: a hard link to `latest` when that file holds it, else a full
    /// (atomic) write.
    fn keep_file(&self, snap: &Snapshot, path: &Path) -> Result<(), TrainerError> {
        let io = |error| TrainerError::RunDir {
            path: path.to_path_buf(),
            action: "cannot keep for rollbacks",
            error,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let latest = self.dir.latest();
        let linked = self.latest_on_disk == Some(snap.meta.iteration) && {
            let _ = std::fs::remove_file(path);
            std::fs::hard_link(&latest, path).is_ok()
        };
        if !linked {
            snap.write(path)?;
        }
        Ok(())
    }

    /// After a rollback to the newest state diverged again, gives that state up for the next
    /// older one (read back from its file); returns the file, to delete once `latest` holds
    /// that state. `None` when there is no older state or the newest has not been retried.
    /// The state given up is kept as `rollback/gave-up-iter-N.safetensors`, since `latest` is
    /// about to be replaced by an older state.
    pub fn step_back(&mut self) -> Result<Option<PathBuf>, TrainerError> {
        if self.retries == 0 || self.older.is_empty() {
            return Ok(None);
        }
        if let Some(newest) = &self.newest {
            let kept = self
                .dir
                .rollback_dir()
                .join(given_up_name(newest.meta.iteration));
            if self.writes {
                self.keep_file(newest, &kept)?;
            }
            self.given_up = Some(kept);
        }
        let (_, path) = self.older.remove(0);
        let loaded = state::read_saved(&path)?;
        self.newest = Some(Snapshot {
            meta: loaded.meta,
            tensors: loaded.tensors,
        });
        self.retries = 0;
        Ok(Some(path))
    }
}

/// Whether `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

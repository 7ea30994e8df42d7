//! `metrics.jsonl`: one JSON object per logged iteration and per validation pass.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::jsonl::JsonlFile;
use crate::observer::{log_due, Observer, Rollback, Update, ValMetrics};
use crate::run_dir::RunDir;

/// Writes `metrics.jsonl` in a run directory (format in docs/FORMATS.md).
pub struct MetricsWriter {
    file: JsonlFile,
    every: u64,
    started: Instant,
    /// Training seconds already spent before this process (from the kept records on resume).
    offset_s: f64,
}

impl MetricsWriter {
    /// Writes `<dir>/metrics.jsonl`, a training record every `every` iterations (plus the first
    /// and last) and a record per validation.
    pub fn new(dir: &Path, every: u64) -> Self {
        MetricsWriter {
            file: JsonlFile::new(RunDir::new(dir).metrics()),
            every,
            started: Instant::now(),
            offset_s: 0.0,
        }
    }

    fn wall_s(&self) -> f64 {
        round(self.offset_s + self.started.elapsed().as_secs_f64(), 3)
    }
}

/// Seconds since the Unix epoch.
fn unix_time() -> f64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    round(t.as_secs_f64(), 3)
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

/// JSON has no NaN / inf: such values are written as null.
fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

impl Observer for MetricsWriter {
    fn on_start(&mut self, _config: &str, start_iteration: u64, _target: u64) {
        let kept = self.file.start(start_iteration);
        self.offset_s = kept
            .iter()
            .filter_map(|v| v.get("wall_s")?.as_f64())
            .fold(0.0, f64::max);
        self.started = Instant::now();
    }

    fn on_update(&mut self, u: &Update) {
        if !log_due(u, self.every) {
            return;
        }
        let rec = json!({
            "kind": "train",
            "iteration": u.iteration,
            "wall_s": self.wall_s(),
            "time": unix_time(),
            "loss": num(u.loss),
            "bits_per_token": num(u.bits_per_token),
            "lr": num(u.lr as f64),
            "grad_norm": num(u.grad_norm),
            "tokens_per_sec": num(round(u.tokens_per_sec, 1)),
        });
        self.file.append(&rec);
    }

    fn on_rollback(&mut self, r: &Rollback) {
        // The undone iterations will be trained again: drop their records so the file keeps
        // describing one history, then say what happened. Rollback events stay, even those of
        // a state now given up for an older one (see `train.rollback_depth`).
        let is_rollback = |v: &Value| v["kind"] == "event" && v["event"] == "rollback";
        self.file.start_keeping(|v| {
            v["iteration"]
                .as_u64()
                .is_some_and(|i| i <= r.to_iteration || is_rollback(v))
        });
        let rec = json!({
            "kind": "event",
            "event": "rollback",
            "iteration": r.to_iteration,
            "wall_s": self.wall_s(),
            "time": unix_time(),
            "diverged_at": r.diverged_at,
            "reason": r.reason,
            "lr_scale": num(r.lr_scale),
            "rollbacks": r.rollbacks,
            "max_rollbacks": r.max_rollbacks,
        });
        self.file.append(&rec);
    }

    fn on_validation(&mut self, v: &ValMetrics) {
        let rec = json!({
            "kind": "val",
            "iteration": v.iteration,
            "wall_s": self.wall_s(),
            "time": unix_time(),
            "val_loss": num(v.loss),
            "val_bits_per_token": num(v.bits_per_token),
            "val_tokens": v.tokens,
            "best": v.is_best,
        });
        self.file.append(&rec);
    }
}

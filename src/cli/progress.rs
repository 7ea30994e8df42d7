//! Progress bars on stderr when it is a terminal (and `info` logging is on), nothing otherwise.
//! Log lines printed while a bar is showing appear above it (see [`LogTarget`]).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rnngym_trainer::{Observer, Update};

/// The bar on screen now, if any: log lines suspend it while they print.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Whether a bar is wanted: stderr is a terminal and `info` messages are shown (not `--quiet`,
/// not `RUST_LOG=warn`).
pub fn bars_enabled() -> bool {
    std::io::stderr().is_terminal() && log::log_enabled!(log::Level::Info)
}

/// A progress bar registered as the active one; finished and cleared from the screen when
/// dropped. Hidden (every call a no-op) when bars are not enabled.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    /// A bar of `total` steps labelled `what` (e.g. "sampling"), counting `unit`s per second;
    /// shown only when `show` and [`bars_enabled`].
    pub fn new(total: u64, what: &str, unit: &str, show: bool) -> Self {
        if !(show && bars_enabled()) {
            return Bar {
                bar: ProgressBar::hidden(),
            };
        }
        let template = format!(
            "{what} {{wide_bar:.cyan/blue}} {{pos}}/{{len}} {unit}  {{per_sec}}  {{msg}}  ETA {{eta}}"
        );
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
        Bar { bar }
    }

    /// The underlying indicatif bar (`inc`, `set_position`, `set_message`, ...).
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }

    /// Advances by `n` steps.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if !self.bar.is_hidden() {
            *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        self.bar.finish_and_clear();
    }
}

/// env_logger's target: writes to stderr, suspending the active bar so lines print above it.
pub struct LogTarget;

impl Write for LogTarget {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match active {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf)),
            None => std::io::stderr().write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The training bar: iteration / total, loss, bits per token, tokens/s and ETA.
pub struct TrainProgress {
    bar: Option<Bar>,
}

impl TrainProgress {
    /// A training bar (created at `on_start`, when the total is known).
    pub fn new() -> Self {
        TrainProgress { bar: None }
    }
}

impl Observer for TrainProgress {
    fn on_start(&mut self, _config: &str, start_iteration: u64, target: u64) {
        let bar = Bar::new(target, "train", "it", true);
        let style = ProgressStyle::with_template(
            "{wide_bar:.cyan/blue} {pos}/{len} it  {msg}  [{elapsed}, ETA {eta}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        if !bar.bar().is_hidden() {
            bar.bar().set_style(style);
        }
        bar.bar().set_position(start_iteration);
        bar.bar().reset_eta();
        self.bar = Some(bar);
    }

    fn on_update(&mut self, u: &Update) {
        if let Some(b) = &self.bar {
            b.bar().set_position(u.iteration);
            b.bar().set_message(format!(
                "loss {:.4}  {:.3} bits/tok  {:.0} tok/s",
                u.loss, u.bits_per_token, u.tokens_per_sec
            ));
        }
    }

    fn on_end(&mut self, _iteration: u64, _interrupted: bool) {
        self.bar = None;
    }
}

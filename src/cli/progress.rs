//! Progress bars on stderr when it is a terminal (and `info` logging is on), periodic log lines
//! otherwise. Log lines printed while a bar is showing appear above it (see [`LogTarget`]).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
            "{what} {{wide_bar:.cyan/blue}} {{pos}}/{{len}} {unit}  {{rate}}  {{msg}}  ETA {{eta}}"
        );
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
            // indicatif's own {per_sec} shows four decimals; whole units per second read better.
            .with_key(
                "rate",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}/s", s.per_sec());
                },
            );
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
}

impl Drop for Bar {
    fn drop(&mut self) {
        if !self.bar.is_hidden() {
            *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        self.bar.finish_and_clear();
    }
}

/// Seconds between the plain progress lines of a generation whose stderr is not a terminal.
const LOG_PERIOD: Duration = Duration::from_secs(10);

/// Progress of a generation command (`sample`, `generate-audio`): a bar on stderr when it is a
/// terminal and stdout does not already show the output streaming by; an `info` line every
/// [`LOG_PERIOD`] when stderr is a file or pipe (where lines cannot break up streamed text).
pub struct StreamProgress {
    bar: Bar,
    lines: bool,
    what: &'static str,
    unit: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
}

impl StreamProgress {
    /// Progress of `total` `unit`s labelled `what`; `output_on_terminal` when the generated
    /// output itself streams to the terminal (then it is the progress, and no bar is drawn).
    pub fn new(
        total: u64,
        what: &'static str,
        unit: &'static str,
        output_on_terminal: bool,
    ) -> Self {
        let bar = Bar::new(total, what, unit, !output_on_terminal);
        let lines = bar.bar().is_hidden() && !std::io::stderr().is_terminal();
        let now = Instant::now();
        StreamProgress {
            bar,
            lines,
            what,
            unit,
            total,
            done: 0,
            started: now,
            last_line: now,
        }
    }

    /// Records that `done` units are done.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        self.bar.bar().set_position(done);
        if self.lines && self.last_line.elapsed() >= LOG_PERIOD {
            self.last_line = Instant::now();
            let rate = self.per_sec();
            let left = self.total.saturating_sub(self.done) as f64 / rate.max(1e-9);
            log::info!(
                "{}: {}/{} {} ({:.0}%), {rate:.0} {}/s, ETA {left:.0} s",
                self.what,
                self.done,
                self.total,
                self.unit,
                100.0 * self.done as f64 / self.total.max(1) as f64,
                self.unit
            );
        }
    }

    /// Units done per second so far.
    pub fn per_sec(&self) -> f64 {
        self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    /// Clears the bar; returns the time spent since creation.
    pub fn finish(self) -> Duration {
        self.started.elapsed()
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

//! The `rnngym` command line as a library: [`main_with`] gives a program of your own every
//! `rnngym` command (train, sample, check-gym, eval, plot, ...) for the gyms and codecs of
//! its registry.
//!
//! ```no_run
//! use rnngym_gyms::GymRegistry;
//!
//! fn main() -> std::process::ExitCode {
//!     // Add `.with::<MyGym>()` and `.with_codec::<MyCodecSpec>()` for your own.
//!     rnngym::cli::main_with(GymRegistry::with_builtins())
//! }
//! ```

mod audio_stats;
mod bench;
mod check_gym;
mod device_arg;
mod distributed;
mod eval;
mod generate_audio;
mod plot;
mod progress;
mod sample;
mod sampling_args;
mod spectrogram;
mod stdout;
mod streams;
mod train;
mod visualize;
mod viz_data;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use rnngym_gyms::GymRegistry;

/// Train recurrent networks (LSTM / GRU / RNN) on sequence data served by gyms.
#[derive(Parser, Debug)]
#[command(name = "rnngym", version, about)]
pub struct Cli {
    /// Only print warnings and errors (RUST_LOG overrides).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model from a TOML config.
    Train(train::TrainArgs),
    /// Generate text from a checkpoint.
    Sample(sample::SampleArgs),
    /// Run the gym conformance suite on the gym a config names.
    CheckGym(check_gym::CheckGymArgs),
    /// Generate audio from a wav-v1 checkpoint into a 16-bit PCM mono WAV file.
    GenerateAudio(generate_audio::GenerateAudioArgs),
    /// Measure training and generation speed on synthetic data (see docs/PERFORMANCE.md).
    Bench(bench::BenchArgs),
    /// Plot a run's losses (PNG or SVG), or a WAV file's spectrogram.
    Plot(plot::PlotArgs),
    /// Score a checkpoint on data (per file and in total) beside online baselines.
    Eval(eval::EvalArgs),
    /// Measure WAV files side by side: level, DC, clipping, silence, voicing, spectrum.
    AudioStats(audio_stats::AudioStatsArgs),
    /// Write an HTML page showing a checkpoint's neuron activations and predictions on a text.
    Visualize(visualize::VisualizeArgs),
}

/// Sets up env_logger: `info` by default, `warn` with `--quiet`; `RUST_LOG` wins.
pub fn init_logging(quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format(|buf, record| {
            let level = record.level();
            if level == log::Level::Info {
                writeln!(buf, "{}", record.args())
            } else {
                writeln!(
                    buf,
                    "{}: {}",
                    level.to_string().to_lowercase(),
                    record.args()
                )
            }
        })
        .target(env_logger::Target::Pipe(Box::new(progress::LogTarget)))
        .init();
}

/// The whole `rnngym` program over the gyms and codecs of `registry`: parses the process's
/// arguments, runs the command, and turns an error into one `error:` line on stderr and exit
/// status 1 (a bug, too: a panic prints one line, not a backtrace).
pub fn main_with(registry: GymRegistry) -> ExitCode {
    install_panic_hook();
    let args = match Cli::try_parse() {
        Ok(args) => args,
        Err(e) => return usage_error(e),
    };
    init_logging(args.quiet);
    match run(args, &registry) {
        Ok(()) => ExitCode::SUCCESS,
        // `rnngym sample … | head`: a closed pipe is a normal end.
        Err(e) if stdout::is_closed(&e) => ExitCode::SUCCESS,
        // Another rank of a data-parallel job reported it.
        Err(e) if e.is::<distributed::Quiet>() => ExitCode::FAILURE,
        Err(e) => {
            print_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// Help and version print as clap prints them; a usage error (an unknown flag, a bad value, a
/// missing argument) becomes one `error:` line naming the flag and what was expected, exit 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.render().to_string();
    let message: Vec<&str> = (text.lines())
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // The usage names what the command expects, which an "unexpected argument" does not.
    match text.lines().find_map(|l| l.strip_prefix("Usage: ")) {
        Some(usage) => eprintln!("{} (usage: {})", message.join(" "), usage.trim()),
        None => eprintln!("{}", message.join(" ")),
    }
    ExitCode::from(2)
}

/// Prints `e` and its causes as one `error:` line on stderr.
pub(crate) fn print_error(e: &anyhow::Error) {
    let parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    eprintln!("error: {}", parts.join(": ").replace('\n', " "));
}

/// A panic still ends in one readable line, not a backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        if stdout::is_closed_print_panic(&msg) {
            // `rnngym eval … | head`: the reader has what it wanted.
            std::process::exit(0);
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error: {msg}{at} (please report this)");
        distributed::abort_if_joined();
    }));
}

/// Runs the chosen subcommand with the gyms and codecs of `registry`.
pub fn run(cli: Cli, registry: &GymRegistry) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(a) => train::run(a, registry),
        Command::Sample(a) => sample::run(a, registry),
        Command::CheckGym(a) => check_gym::run(a, registry),
        Command::GenerateAudio(a) => generate_audio::run(a, registry),
        Command::Plot(a) => plot::run(a),
        Command::Visualize(a) => visualize::run(a, registry),
        Command::Bench(a) => bench::run(a),
        Command::Eval(a) => eval::run(a, registry),
        Command::AudioStats(a) => audio_stats::run(a),
    }
}

/// Options shared by commands that read a config.
#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    /// TOML config file.
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// Override a config value: `--set section.key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

impl ConfigArgs {
    /// The config file plus overrides, validated.
    pub fn load(&self) -> anyhow::Result<rnngym_trainer::Config> {
        Ok(rnngym_trainer::Config::load_with_overrides(
            self.config.as_deref(),
            &self.sets,
        )?)
    }
}

/// A flag that Ctrl-C — or the SIGTERM / SIGHUP that `kill`, `timeout`, systemd,
/// `docker stop` and Slurm send — raises, for the command to stop at its next safe point
/// (what it then does is `what`, printed at once so the user knows the signal was heard). A
/// second signal exits at once with 130. (The handler runs on a thread of its own, not in the
/// signal context, so it may print.)
pub(crate) fn interrupt_flag(what: &'static str) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let installed = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            eprintln!("interrupted again: exiting at once");
            std::process::exit(130);
        }
        eprintln!("interrupt received: {what} (interrupt again to exit at once)");
    });
    if let Err(e) = installed {
        log::warn!("cannot catch Ctrl-C ({e}); an interrupt will stop at once");
    }
    flag
}

/// The process's peak resident set size (`VmHWM`) in kB, where `/proc` has it.
pub(crate) fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

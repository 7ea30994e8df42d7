//! `rnngym`: train recurrent networks on gyms, sample from checkpoints, check gyms.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A bug must still end in one readable line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        if cli::stdout::is_closed_print_panic(&msg) {
            // `rnngym eval … | head`: the reader has what it wanted.
            std::process::exit(0);
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error: {msg}{at} (please report this)");
    }));
    let args = cli::Cli::parse();
    cli::init_logging(args.quiet);
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        // `rnngym sample … | head`: a closed pipe is a normal end.
        Err(e) if cli::stdout::is_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", parts.join(": ").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

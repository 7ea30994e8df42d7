//! `rnngym audio-stats`: descriptive measures of WAV files side by side (one column per file),
//! to compare generated audio with its corpus. The measures and their formulas are in
//! `rnngym_gyms::wav::stats`; files are decoded by the gyms' WAV reader and mixed to mono at
//! their own rate.

use std::path::PathBuf;

use rnngym_gyms::wav::{audio_stats, read_wav, AudioStats};

/// Arguments of `rnngym audio-stats`.
#[derive(clap::Args, Debug)]
pub struct AudioStatsArgs {
    /// WAV files to measure.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print one JSON object (`files`: one object per file) instead of the table.
    #[arg(long)]
    json: bool,
}

/// Measures every file, then prints them side by side.
pub fn run(a: AudioStatsArgs) -> anyhow::Result<()> {
    let mut all = Vec::with_capacity(a.files.len());
    for f in &a.files {
        let audio = read_wav(f)?;
        for w in &audio.warnings {
            log::warn!("{}: {w}", f.display());
        }
        let rate = audio.sample_rate;
        let mono = audio
            .into_mono(None)
            .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
        all.push((f, audio_stats(&mono, rate)));
    }
    if a.json {
        let files: Vec<_> = all
            .iter()
            .map(|(f, s)| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["file"] = f.display().to_string().into();
                v
            })
            .collect();
        println!("{}", serde_json::json!({ "files": files }));
        return Ok(());
    }
    print_table(&all);
    Ok(())
}

type Measure = (&'static str, fn(&AudioStats) -> String);

/// The table's rows: a label and how to show the figure.
const ROWS: [Measure; 10] = [
    ("sample rate (Hz)", |s| s.sample_rate.to_string()),
    ("duration (s)", |s| format!("{:.3}", s.duration)),
    ("RMS (dBFS)", |s| format!("{:.2}", s.rms_dbfs)),
    ("DC offset (FS)", |s| format!("{:.5}", s.dc_offset)),
    ("clipped fraction", |s| format!("{:.5}", s.clipped_fraction)),
    ("32 ms frames", |s| s.frames.to_string()),
    ("silent frames", |s| format!("{:.3}", s.silent_fraction)),
    ("voiced (non-silent)", |s| {
        format!("{:.3}", s.voiced_fraction)
    }),
    ("spectral centroid (Hz)", |s| {
        format!("{:.0}", s.spectral_centroid_hz)
    }),
    ("spectral flatness", |s| {
        format!("{:.4}", s.spectral_flatness)
    }),
];

fn print_table(all: &[(&PathBuf, AudioStats)]) {
    let names: Vec<String> = all
        .iter()
        .map(|(f, _)| {
            f.file_name().map_or_else(
                || f.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let label = ROWS.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    let mut head = format!("{:<label$}", "");
    for n in &names {
        head.push_str(&format!("  {n:>width$}"));
    }
    println!("{}", head.trim_end());
    for (l, show) in ROWS {
        let mut line = format!("{l:<label$}");
        for (_, s) in all {
            line.push_str(&format!("  {:>width$}", show(s)));
        }
        println!("{line}");
    }
}

//! Spectrogram of a WAV file for `rnngym plot --spectrogram`: mono mixdown, Hann-windowed STFT
//! (rustfft), magnitudes in dB over the top 80 dB, drawn with the viridis colour map.

use std::path::Path;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;
use rnngym_gyms::wav::read_wav;
use rustfft::num_complex::Complex;

/// Magnitudes in dB, `[frames][bins]`, with the axes' extents.
pub struct Spectrogram {
    /// `frames` rows of `bins` values in dB relative to the loudest cell (≤ 0).
    pub db: Vec<Vec<f32>>,
    /// Seconds covered.
    pub duration: f64,
    /// Nyquist frequency (Hz).
    pub nyquist: f64,
}

/// The dynamic range shown (dB below the maximum).
const RANGE_DB: f32 = 80.0;
/// At most this many STFT frames (the hop grows for long files).
const MAX_FRAMES: usize = 1200;

/// Reads `wav` with the WAV reader the gyms train on (so `plot` accepts exactly the files
/// training does, with the same one-line errors naming the file) and computes its spectrogram.
pub fn compute(wav: &Path) -> anyhow::Result<Spectrogram> {
    let audio = read_wav(wav).context("--spectrogram")?;
    for w in &audio.warnings {
        log::warn!("{}: {w}", wav.display());
    }
    let rate = audio.sample_rate;
    let mono = audio
        .into_mono(None)
        .map_err(|e| anyhow::anyhow!("--spectrogram {}: {e}", wav.display()))?;
    anyhow::ensure!(
        !mono.is_empty(),
        "--spectrogram {}: the file has no samples",
        wav.display()
    );
    let sr = rate.max(1) as f64;
    let n_fft = if sr >= 32000.0 { 1024 } else { 512 };
    let hop = (n_fft / 4).max(mono.len().div_ceil(MAX_FRAMES));
    let window: Vec<f32> = (0..n_fft)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / n_fft as f32).cos())
        .collect();
    let fft = rustfft::FftPlanner::<f32>::new().plan_fft_forward(n_fft);
    let bins = n_fft / 2 + 1;
    let mut db = Vec::new();
    let mut buf = vec![Complex::new(0.0f32, 0.0); n_fft];
    let mut start = 0usize;
    loop {
        for (i, b) in buf.iter_mut().enumerate() {
            let x = mono.get(start + i).copied().unwrap_or(0.0);
            *b = Complex::new(x * window[i], 0.0);
        }
        fft.process(&mut buf);
        db.push(
            buf[..bins]
                .iter()
                .map(|c| 20.0 * (c.norm() + 1e-9).log10())
                .collect::<Vec<f32>>(),
        );
        start += hop;
        if start >= mono.len() {
            break;
        }
    }
    let max = db
        .iter()
        .flatten()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    for row in &mut db {
        for v in row.iter_mut() {
            *v = (*v - max).max(-RANGE_DB);
        }
    }
    Ok(Spectrogram {
        db,
        duration: mono.len() as f64 / sr,
        nyquist: sr / 2.0,
    })
}

/// Draws `s` with time across and frequency up.
pub fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    s: &Spectrogram,
    title: &str,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{title}: spectrogram (dB, top {RANGE_DB} dB)"),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..s.duration, 0.0..s.nyquist)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("time (s)")
        .y_desc("frequency (Hz)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    let frames = s.db.len();
    let bins = s.db.first().map_or(1, Vec::len);
    let (dt, df) = (
        s.duration / frames as f64,
        s.nyquist / (bins - 1).max(1) as f64,
    );
    chart.draw_series(s.db.iter().enumerate().flat_map(|(f, row)| {
        row.iter().enumerate().map(move |(b, &v)| {
            let (x, y) = (f as f64 * dt, (b as f64 - 0.5).max(0.0) * df);
            let color = super::plot::viridis(((v + RANGE_DB) / RANGE_DB) as f64);
            Rectangle::new([(x, y), (x + dt, y + df)], color.filled())
        })
    }))?;
    root.present()?;
    Ok(())
}

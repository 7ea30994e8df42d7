//! Descriptive measures of a mono signal, to compare generated audio with its corpus
//! (`rnngym audio-stats`). Samples are in [-1, 1] (full scale 1). Frames are consecutive,
//! non-overlapping, `round(0.032 · rate)` samples long (512 at 16 kHz); a last partial frame
//! is left out of the frame measures.
//!
//! - RMS in dBFS: `20 log10 √(mean x²)` (a full-scale sine is −3.01 dBFS; silence −∞).
//! - DC offset: `mean x`, a fraction of full scale.
//! - Clipped fraction: samples with `|x| ≥ 0.999`.
//! - Silent frames: frame RMS below −40 dBFS (0.01).
//! - Voiced frames, among the non-silent ones: with `y` the frame minus its mean and `N` its
//!   length, `r(L) = Σ_{t=L}^{N−1} y_t y_{t−L} / √(Σ_{t=L}^{N−1} y_t² · Σ_{t=L}^{N−1} y_{t−L}²)`,
//!   voiced when `max r(L) > 0.6` over the lags `L` from `round(0.0025 · rate)` to
//!   `round(0.014 · rate)` (pitch 71–400 Hz).
//! - Spectral centroid and flatness, means over the non-silent frames: the frame times a
//!   periodic Hann window `w_n = 0.5 − 0.5 cos(2πn/N)`, its power spectrum `P_k = |X_k|²` at
//!   `f_k = k · rate / N` for `k = 1..=N/2` (DC left out); centroid `Σ f_k P_k / Σ P_k` (Hz),
//!   flatness `exp(mean ln(P_k + ε)) / mean(P_k + ε)` with `ε = 1e-20` (1 for white noise,
//!   near 0 for a tone).

use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// Frame length in seconds.
pub const FRAME_SECONDS: f64 = 0.032;
/// Frames whose RMS is below this (dBFS) are silent.
pub const SILENT_DBFS: f64 = -40.0;
/// A sample at or above this magnitude counts as clipped.
pub const CLIP_LEVEL: f32 = 0.999;
/// A frame is voiced when its normalised autocorrelation peak exceeds this.
pub const VOICED_PEAK: f64 = 0.6;
/// The pitch lags searched, in seconds.
pub const PITCH_LAGS: (f64, f64) = (0.0025, 0.014);

/// The measures of one signal (see the module docs for the formulas).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AudioStats {
    /// Sample rate (Hz).
    pub sample_rate: u32,
    /// Samples.
    pub samples: usize,
    /// Seconds.
    pub duration: f64,
    /// RMS level in dBFS (`-inf` for digital silence, serialised as `null`).
    pub rms_dbfs: f64,
    /// Mean sample value (fraction of full scale).
    pub dc_offset: f64,
    /// Fraction of samples with `|x| ≥ 0.999`.
    pub clipped_fraction: f64,
    /// Whole frames measured.
    pub frames: usize,
    /// Fraction of frames below −40 dBFS.
    pub silent_fraction: f64,
    /// Fraction of the non-silent frames that are voiced (`NaN` without non-silent frames).
    pub voiced_fraction: f64,
    /// Mean spectral centroid of the non-silent frames (Hz).
    pub spectral_centroid_hz: f64,
    /// Mean spectral flatness of the non-silent frames (0..1).
    pub spectral_flatness: f64,
}

/// Measures `x` sampled at `rate` Hz.
pub fn audio_stats(x: &[f32], rate: u32) -> AudioStats {
    let n = x.len();
    let mean = |f: &dyn Fn(f32) -> f64| x.iter().map(|&v| f(v)).sum::<f64>() / n.max(1) as f64;
    let ms = mean(&|v| f64::from(v) * f64::from(v));
    let frame = ((FRAME_SECONDS * f64::from(rate)).round() as usize).max(2);
    let lags = (
        ((PITCH_LAGS.0 * f64::from(rate)).round() as usize).max(1),
        ((PITCH_LAGS.1 * f64::from(rate)).round() as usize).min(frame - 1),
    );
    let spectrum = Spectrum::new(frame);
    let (mut silent, mut loud, mut voiced) = (0usize, 0usize, 0usize);
    let (mut centroid, mut flatness) = (0.0, 0.0);
    for f in x.chunks_exact(frame) {
        let y: Vec<f64> = f.iter().map(|&v| f64::from(v)).collect();
        let rms = (y.iter().map(|v| v * v).sum::<f64>() / frame as f64).sqrt();
        if dbfs(rms) < SILENT_DBFS {
            silent += 1;
            continue;
        }
        loud += 1;
        if pitch_peak(&y, lags) > VOICED_PEAK {
            voiced += 1;
        }
        let (c, fl) = spectrum.centroid_flatness(&y, f64::from(rate));
        centroid += c;
        flatness += fl;
    }
    let frames = silent + loud;
    let per = |a: f64, b: usize| if b == 0 { f64::NAN } else { a / b as f64 };
    AudioStats {
        sample_rate: rate,
        samples: n,
        duration: n as f64 / f64::from(rate),
        rms_dbfs: dbfs(ms.sqrt()),
        dc_offset: mean(&f64::from),
        clipped_fraction: per(x.iter().filter(|v| v.abs() >= CLIP_LEVEL).count() as f64, n),
        frames,
        silent_fraction: per(silent as f64, frames),
        voiced_fraction: per(voiced as f64, loud),
        spectral_centroid_hz: per(centroid, loud),
        spectral_flatness: per(flatness, loud),
    }
}

/// `20 log10(rms)`, full scale 1.
pub fn dbfs(rms: f64) -> f64 {
    20.0 * rms.log10()
}

/// The largest normalised autocorrelation `r(L)` of the frame (mean removed) over the lags
/// `lo..=hi`; 0 when no lag fits or the frame is constant.
pub fn pitch_peak(frame: &[f64], (lo, hi): (usize, usize)) -> f64 {
    let m = frame.iter().sum::<f64>() / frame.len().max(1) as f64;
    let y: Vec<f64> = frame.iter().map(|v| v - m).collect();
    let mut best = 0.0f64;
    for lag in lo..=hi.min(y.len().saturating_sub(1)) {
        let (a, b) = (&y[lag..], &y[..y.len() - lag]);
        let num: f64 = a.iter().zip(b).map(|(p, q)| p * q).sum();
        let den =
            (a.iter().map(|v| v * v).sum::<f64>() * b.iter().map(|v| v * v).sum::<f64>()).sqrt();
        if den > 0.0 {
            best = best.max(num / den);
        }
    }
    best
}

/// A planned FFT of one frame length and its Hann window.
struct Spectrum {
    fft: std::sync::Arc<dyn rustfft::Fft<f64>>,
    window: Vec<f64>,
}

impl Spectrum {
    fn new(n: usize) -> Spectrum {
        let window = (0..n)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
            .collect();
        Spectrum {
            fft: FftPlanner::new().plan_fft_forward(n),
            window,
        }
    }

    /// (centroid in Hz, flatness) of one frame.
    fn centroid_flatness(&self, frame: &[f64], rate: f64) -> (f64, f64) {
        const EPS: f64 = 1e-20;
        let n = frame.len();
        let mut buf: Vec<Complex<f64>> = frame
            .iter()
            .zip(&self.window)
            .map(|(x, w)| Complex::new(x * w, 0.0))
            .collect();
        self.fft.process(&mut buf);
        let bins = 1..=n / 2;
        let power: Vec<f64> = bins.clone().map(|k| buf[k].norm_sqr()).collect();
        let total: f64 = power.iter().sum();
        let centroid = match total > 0.0 {
            true => {
                bins.zip(&power)
                    .map(|(k, p)| k as f64 * rate / n as f64 * p)
                    .sum::<f64>()
                    / total
            }
            false => 0.0,
        };
        let m = power.len() as f64;
        let log_mean = power.iter().map(|p| (p + EPS).ln()).sum::<f64>() / m;
        let flatness = log_mean.exp() / (power.iter().map(|p| p + EPS).sum::<f64>() / m);
        (centroid, flatness)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16_000;

    fn tone(f: f64, amp: f64, seconds: f64) -> Vec<f32> {
        let n = (seconds * f64::from(RATE)) as usize;
        (0..n)
            .map(|i| {
                (amp * (2.0 * std::f64::consts::PI * f * i as f64 / f64::from(RATE)).sin()) as f32
            })
            .collect()
    }

    /// A deterministic uniform white noise in [-a, a] (xorshift).
    fn noise(n: usize, a: f32) -> Vec<f32> {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                a * ((s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0)
            })
            .collect()
    }

    #[test]
    fn a_200_hz_sine_is_voiced_and_its_centroid_is_its_frequency() {
        let s = audio_stats(&tone(200.0, 0.5, 1.0), RATE);
        assert_eq!((s.samples, s.frames), (16_000, 31));
        assert!((s.duration - 1.0).abs() < 1e-12);
        assert!((s.rms_dbfs - dbfs(0.5 / 2f64.sqrt())).abs() < 0.01, "{s:?}");
        assert_eq!((s.silent_fraction, s.voiced_fraction), (0.0, 1.0), "{s:?}");
        assert!((s.spectral_centroid_hz - 200.0).abs() < 10.0, "{s:?}");
        assert!(s.spectral_flatness < 0.01, "{s:?}");
        assert_eq!(s.clipped_fraction, 0.0);
    }

    #[test]
    fn the_centroid_of_a_pure_tone_is_its_frequency() {
        for f in [440.0, 1234.0, 3000.0] {
            let s = audio_stats(&tone(f, 0.3, 0.5), RATE);
            let rel = (s.spectral_centroid_hz - f).abs() / f;
            assert!(rel < 0.02, "{f} Hz: centroid {}", s.spectral_centroid_hz);
        }
    }

    #[test]
    fn white_noise_is_unvoiced_and_flat() {
        let s = audio_stats(&noise(32_000, 0.5), RATE);
        assert_eq!((s.silent_fraction, s.voiced_fraction), (0.0, 0.0), "{s:?}");
        assert!(s.spectral_flatness > 0.4, "{s:?}");
        // Its power spreads evenly over 0..8 kHz.
        assert!((s.spectral_centroid_hz - 4000.0).abs() < 300.0, "{s:?}");
    }

    #[test]
    fn silence_is_all_silent() {
        let s = audio_stats(&vec![0.0; 8000], RATE);
        assert_eq!(s.silent_fraction, 1.0);
        assert!(s.voiced_fraction.is_nan() && s.spectral_centroid_hz.is_nan());
        assert_eq!(s.rms_dbfs, f64::NEG_INFINITY);
        let quiet = audio_stats(&noise(8000, 0.005), RATE);
        assert_eq!(quiet.silent_fraction, 1.0, "{quiet:?}");
    }

    #[test]
    fn dc_and_clipping() {
        let s = audio_stats(&vec![0.25; 4000], RATE);
        assert!((s.dc_offset - 0.25).abs() < 1e-7 && (s.rms_dbfs - dbfs(0.25)).abs() < 1e-5);
        // A square wave at full scale with 1 sample in 10 pulled back from the rails.
        let sq: Vec<f32> = (0..10_000)
            .map(|i| {
                let v = if (i / 40) % 2 == 0 { 1.0 } else { -1.0 };
                if i % 10 == 0 {
                    0.5 * v
                } else {
                    v
                }
            })
            .collect();
        let s = audio_stats(&sq, RATE);
        assert!((s.clipped_fraction - 0.9).abs() < 1e-12, "{s:?}");
        assert!(s.dc_offset.abs() < 0.01, "{s:?}");
    }
}

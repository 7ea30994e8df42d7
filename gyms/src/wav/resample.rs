//! Sample-rate conversion with rubato's synchronous FFT resampler (`FftFixedInOut`, f64).
//!
//! Quality settings: rubato builds a windowed-sinc anti-aliasing low-pass (Blackman-Harris²
//! window) as long as one FFT block (≥ [`CHUNK`] input frames, rounded up to a whole number of
//! the rates' reduced ratio) with its cutoff just below the lower of the two Nyquist
//! frequencies, and applies it by FFT overlap-add. Its delay (half an output block) is removed,
//! so output sample k lines up with input time k / rate, and the output has
//! `round(n · to / from)` samples.

use rubato::{FftFixedInOut, Resampler};

use super::error::WavError;

/// Largest accepted `to / from` rate ratio (8 kHz → 384 kHz is 48×).
pub const MAX_UPSAMPLING: u64 = 64;

/// Input frames per FFT block (rubato rounds it up to a multiple of `from / gcd(from, to)`).
pub const CHUNK: usize = 1024;

/// Resamples mono `x` from `from` Hz to `to` Hz (a copy when the rates are equal).
pub fn resample(x: &[f32], from: u32, to: u32) -> Result<Vec<f32>, WavError> {
    if from == 0 || to == 0 {
        return Err(WavError::Resample(format!(
            "cannot resample from {from} Hz to {to} Hz"
        )));
    }
    if from == to || x.is_empty() {
        return Ok(x.to_vec());
    }
    // The output is `to / from` times the input; a bounded ratio keeps a small (or corrupt)
    // file from expanding into gigabytes.
    if u64::from(to) > MAX_UPSAMPLING * u64::from(from) {
        return Err(WavError::Resample(format!(
            "cannot resample {from} Hz → {to} Hz: more than {MAX_UPSAMPLING}× upsampling (is \
             the file's rate right?)"
        )));
    }
    let expected =
        ((x.len() as u128 * u128::from(to) + u128::from(from) / 2) / u128::from(from)) as usize;
    let mut r = FftFixedInOut::<f64>::new(from as usize, to as usize, CHUNK, 1)
        .map_err(|e| WavError::Resample(format!("cannot resample {from} Hz → {to} Hz: {e}")))?;
    let delay = r.output_delay();
    let mut input = [vec![0.0f64; r.input_frames_max()]];
    let mut output = vec![vec![0.0f64; r.output_frames_max()]];
    let mut out: Vec<f32> = Vec::with_capacity(expected + delay + r.output_frames_max());
    let mut pos = 0usize;
    while out.len() < expected + delay {
        let need = r.input_frames_next();
        let buf = &mut input[0][..need];
        let take = need.min(x.len().saturating_sub(pos));
        for (d, s) in buf.iter_mut().zip(&x[pos..pos + take]) {
            *d = f64::from(*s);
        }
        buf[take..].fill(0.0);
        pos += take;
        let (_, written) = r
            .process_into_buffer(&[&input[0][..need]], &mut output, None)
            .map_err(|e| {
                WavError::Resample(format!("resampling {from} Hz → {to} Hz failed: {e}"))
            })?;
        out.extend(output[0][..written].iter().map(|&v| v as f32));
    }
    out.drain(..delay.min(out.len()));
    out.truncate(expected);
    Ok(out)
}

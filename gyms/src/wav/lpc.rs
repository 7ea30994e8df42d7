//! `kind = "lpc"` input features for audio codecs: per lane, a backward-adaptive linear
//! predictor re-fitted every `frame` samples on the last `history` decoded samples
//! (autocorrelation method, Levinson–Durbin), whose prediction of the next sample is one
//! channel; with `excitation`, the current sample's prediction error (what LPCNet feeds back);
//! and, with `pitch`, the sample one pitch period before the next one (the period
//! re-estimated each frame by normalised autocorrelation), or a "no pitch" id where the recent
//! signal is not periodic. Both are quantized with the data's own codec.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::baselines::levinson_durbin;
use crate::features::{FeatureLane, Features, TargetCoding};
use crate::{AudioCodec, Codec, GymError};

/// Most taps accepted (a prediction costs `order` multiply-adds per sample).
pub const MAX_ORDER: usize = 128;
/// Longest fitting history accepted, in samples.
pub const MAX_HISTORY: usize = 1 << 14;
/// Correlation a pitch lag must reach for the recent signal to count as periodic.
const VOICED: f64 = 0.5;

/// The options of `[model.features] kind = "lpc"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LpcOptions {
    /// Predictor taps.
    pub order: usize,
    /// Samples the predictor is fitted on (and the pitch correlation is measured over).
    pub history: usize,
    /// Samples between re-fits.
    pub frame: usize,
    /// Whether to add the excitation channel: the current sample's prediction error
    /// (LPCNet's excitation), quantized like a sample.
    pub excitation: bool,
    /// Whether to add the pitch channel.
    pub pitch: bool,
    /// Lowest pitch searched, Hz.
    pub min_pitch_hz: f64,
    /// Highest pitch searched, Hz.
    pub max_pitch_hz: f64,
    /// What the network predicts: the next sample's code (`"sample"`), or LPCNet's
    /// `"excitation"`, the next sample minus the linear prediction, quantized with the data's
    /// codec (generation adds the prediction back, so the sampled noise is shaped by the
    /// predictor's spectrum).
    pub target: LpcTarget,
    /// Bandwidth expansion: tap `k` of every fit is scaled by `bandwidth_gamma^k` (1: off), so
    /// the predictor's resonances are wider and damped (the poles move inside by this
    /// factor). Backward-adaptive codecs do this so that a fit to a pure tone cannot ring on
    /// by itself; generation from an excitation model needs it for the same reason.
    pub bandwidth_gamma: f64,
    /// What the pitch channel carries one period back: the `"sample"`, or its `"excitation"`
    /// (the prediction error there: a glottal pulse or not, the cue for the next pulse when
    /// the model predicts excitations).
    pub pitch_of: PitchOf,
}

/// The values of `model.features.pitch_of`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PitchOf {
    /// The sample one period back.
    #[default]
    Sample,
    /// The prediction error one period back.
    Excitation,
}

/// The values of `model.features.target`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LpcTarget {
    /// The next sample's code.
    #[default]
    Sample,
    /// The next sample's prediction error (LPCNet).
    Excitation,
}

impl Default for LpcOptions {
    fn default() -> Self {
        LpcOptions {
            order: 32,
            history: 480,
            frame: 16,
            excitation: true,
            pitch: true,
            min_pitch_hz: 70.0,
            max_pitch_hz: 400.0,
            target: LpcTarget::Sample,
            bandwidth_gamma: 1.0,
            pitch_of: PitchOf::Sample,
        }
    }
}

impl LpcOptions {
    /// Channel vocabularies for a codec of `vocab` tokens: the prediction's token, with
    /// `excitation` the prediction error's token, and with `pitch` the lagged sample's token or
    /// the extra "no pitch" id `vocab`.
    pub fn channels(&self, vocab: usize) -> Vec<usize> {
        let mut c = vec![vocab];
        if self.excitation {
            c.push(vocab);
        }
        if self.pitch {
            c.push(vocab + 1);
        }
        c
    }

    fn check(&self, rate: u32) -> Result<(usize, usize), GymError> {
        let bad =
            |key: &str, msg: String| Err(GymError::Config(format!("model.features.{key}: {msg}")));
        if !(1..=MAX_ORDER).contains(&self.order) {
            return bad(
                "order",
                format!("{} is out of range; expected 1..={MAX_ORDER}", self.order),
            );
        }
        if !(self.order + 1..=MAX_HISTORY).contains(&self.history) {
            return bad(
                "history",
                format!(
                    "{} is out of range; expected {}..={MAX_HISTORY} (more than order)",
                    self.history,
                    self.order + 1
                ),
            );
        }
        if !(self.bandwidth_gamma > 0.0 && self.bandwidth_gamma <= 1.0) {
            return bad(
                "bandwidth_gamma",
                format!("{} is out of range; expected (0, 1]", self.bandwidth_gamma),
            );
        }
        if !(1..=self.history).contains(&self.frame) {
            return bad(
                "frame",
                format!("{} is out of range; expected 1..=history", self.frame),
            );
        }
        let lag = |hz: f64| (f64::from(rate) / hz).round();
        let ok = |hz: f64| hz.is_finite() && hz > 0.0;
        if !ok(self.min_pitch_hz)
            || !ok(self.max_pitch_hz)
            || self.min_pitch_hz >= self.max_pitch_hz
        {
            return bad(
                "min_pitch_hz",
                format!(
                    "{} .. {} Hz is not a range of positive frequencies",
                    self.min_pitch_hz, self.max_pitch_hz
                ),
            );
        }
        let (lo, hi) = (lag(self.max_pitch_hz).max(2.0), lag(self.min_pitch_hz));
        if hi > MAX_HISTORY as f64 {
            return bad(
                "min_pitch_hz",
                format!("{} Hz is too low", self.min_pitch_hz),
            );
        }
        Ok((lo as usize, (hi as usize).max(lo as usize)))
    }
}

/// The built features: options checked against the codec's sample rate.
pub struct LpcFeatures {
    opts: LpcOptions,
    codec: Arc<dyn Codec>,
    channels: Vec<usize>,
    /// Pitch lags searched, in samples.
    lags: (usize, usize),
    /// With `target = "excitation"`.
    excitation: Option<Excitation>,
}

/// LPCNet's output coding ([`LpcTarget::Excitation`]): the model predicts the code of the
/// next sample minus the lane's linear prediction (its [`FeatureLane::target_context`]).
/// As a density, an id is uniform over its cell of the codec's sample domain, the two end
/// cells stretched to ±2 (the furthest a sample in [−1, 1] can lie from a prediction in
/// [−1, 1]), so every token has a probability: `eval` scores these models per sample like
/// any other.
struct Excitation {
    codec: Arc<dyn Codec>,
    /// The codec's V − 1 cell edges.
    edges: Vec<f64>,
}

/// How far an excitation reaches: a sample in [−1, 1] minus a prediction in [−1, 1].
const EXCITATION_REACH: f64 = 2.0;

impl Excitation {
    fn audio(&self) -> &dyn AudioCodec {
        self.codec.audio().expect("an audio codec")
    }

    /// Cell `id` of the excitation density.
    fn cell(&self, id: usize) -> (f64, f64) {
        let lo = if id == 0 {
            -EXCITATION_REACH
        } else {
            self.edges[id - 1]
        };
        let hi = self.edges.get(id).copied().unwrap_or(EXCITATION_REACH);
        (lo, hi)
    }

    /// `P(e ≤ x)` for the excitation density of `probs`.
    fn cdf(&self, probs: &[f32], x: f64) -> f64 {
        if x <= -EXCITATION_REACH {
            return 0.0;
        }
        if x >= EXCITATION_REACH {
            return 1.0;
        }
        let j = self.edges.partition_point(|&e| e < x).min(probs.len() - 1);
        let (lo, hi) = self.cell(j);
        let below: f64 = probs[..j].iter().map(|&p| f64::from(p)).sum();
        below + f64::from(probs[j]) * ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
    }
}

impl TargetCoding for Excitation {
    fn code(&self, pred: f32, token: u32) -> u32 {
        let a = self.audio();
        a.token_of((a.sample_of(token) - pred).clamp(-1.0, 1.0))
    }

    fn decode(&self, pred: f32, id: u32, dither: f32) -> u32 {
        let (lo, hi) = self.cell(id as usize);
        let e = lo + (hi - lo) * f64::from(dither.clamp(0.0, 1.0));
        self.audio().token_of((f64::from(pred) + e) as f32)
    }

    fn token_nll(&self, pred: f32, probs: &[f32], token: u32) -> f64 {
        let k = token as usize;
        // The token's cell in the sample domain, the end cells open (token_of clamps).
        let lo = match k {
            0 => f64::NEG_INFINITY,
            k => self.edges[k - 1],
        };
        let hi = self.edges.get(k).copied().unwrap_or(f64::INFINITY);
        let p = f64::from(pred);
        let mass = self.cdf(probs, hi - p) - self.cdf(probs, lo - p);
        -mass.max(f64::MIN_POSITIVE).ln()
    }
}

impl LpcFeatures {
    /// Features for `codec`, which must be an audio codec.
    pub fn new(opts: &LpcOptions, codec: Arc<dyn Codec>) -> Result<Self, GymError> {
        let Some(audio) = codec.audio() else {
            return Err(GymError::Config(format!(
                "model.features: kind = \"lpc\" needs audio data (gym wav-v1); this gym's codec is '{}'",
                codec.kind()
            )));
        };
        let lags = opts.check(audio.sample_rate())?;
        let excitation = (opts.target == LpcTarget::Excitation).then(|| Excitation {
            edges: audio.cell_edges(),
            codec: codec.clone(),
        });
        Ok(LpcFeatures {
            channels: opts.channels(codec.vocab_size()),
            opts: opts.clone(),
            codec,
            lags,
            excitation,
        })
    }
}

impl Features for LpcFeatures {
    fn channels(&self) -> &[usize] {
        &self.channels
    }

    fn target_coding(&self) -> Option<&dyn TargetCoding> {
        self.excitation.as_ref().map(|e| e as &dyn TargetCoding)
    }

    fn lane(&self) -> Box<dyn FeatureLane> {
        let o = &self.opts;
        let keep = o
            .history
            .max(if o.pitch { o.history + self.lags.1 } else { 0 })
            + 1;
        Box::new(LpcLane {
            codec: self.codec.clone(),
            order: o.order,
            history: o.history,
            frame: o.frame,
            pitch: o.pitch.then_some(self.lags),
            excitation: o.excitation,
            gamma: o.bandwidth_gamma,
            pred: 0.0,
            keep,
            hist: vec![0.0; keep],
            errs: match o.pitch_of {
                PitchOf::Excitation => vec![0.0; keep],
                PitchOf::Sample => Vec::new(),
            },
            phase: 0,
            coef: vec![0.0; o.order],
            lag: 0,
            corr: 0.0,
        })
    }
}

struct LpcLane {
    codec: Arc<dyn Codec>,
    order: usize,
    history: usize,
    frame: usize,
    pitch: Option<(usize, usize)>,
    excitation: bool,
    /// [`LpcOptions::bandwidth_gamma`].
    gamma: f64,
    /// The prediction made for the sample pushed next.
    pred: f32,
    /// Samples of history the lane needs.
    keep: usize,
    /// Decoded samples, oldest first; at least `keep`, trimmed to `keep` when twice as long.
    hist: Vec<f32>,
    /// With [`PitchOf::Excitation`]: each sample's prediction error, aligned with `hist`
    /// (empty otherwise).
    errs: Vec<f32>,
    /// Samples pushed since the last re-fit (mod `frame`).
    phase: usize,
    coef: Vec<f32>,
    /// Current pitch period in samples; 0 when the signal is not periodic.
    lag: usize,
    /// The normalised correlation at `lag` (0 when not periodic).
    corr: f32,
}

impl LpcLane {
    fn audio(&self) -> &dyn AudioCodec {
        self.codec
            .audio()
            .expect("checked when the features were built")
    }

    fn refit(&mut self) {
        let n = self.hist.len();
        let seg = &self.hist[n - self.history..];
        let mut r = autocorr(seg, self.order);
        // A −40 dB white-noise floor keeps the fit stable; a silent segment predicts 0.
        r[0] *= 1.0 + 1e-4;
        let coef = match r[0] > 1e-10 {
            true => levinson_durbin(&r),
            false => vec![0.0; self.order],
        };
        let mut g = 1.0;
        for (c, v) in self.coef.iter_mut().zip(coef) {
            g *= self.gamma;
            *c = (v * g) as f32;
        }
        if let Some((lo, hi)) = self.pitch {
            (self.lag, self.corr) = match pitch_lag(&self.hist, self.history, lo, hi) {
                Some((lag, r)) => (lag, r as f32),
                None => (0, 0.0),
            };
        }
    }
}

impl FeatureLane for LpcLane {
    fn push(&mut self, token: u32, out: &mut [u32]) {
        let x = self.audio().sample_of(token);
        if self.hist.len() >= 2 * self.keep {
            self.hist.drain(..self.hist.len() - self.keep);
            if !self.errs.is_empty() {
                self.errs.drain(..self.errs.len() - self.keep);
            }
        }
        self.hist.push(x);
        if !self.errs.is_empty() {
            self.errs.push(x - self.pred);
        }
        if self.phase == 0 {
            self.refit();
        }
        self.phase = (self.phase + 1) % self.frame;
        let n = self.hist.len();
        let error = x - self.pred;
        self.pred = (self.coef.iter())
            .zip(self.hist[n - self.order..].iter().rev())
            .map(|(a, x)| a * x)
            .sum::<f32>()
            .clamp(-1.0, 1.0);
        out[0] = self.audio().token_of(self.pred);
        let mut k = 1;
        if self.excitation {
            out[k] = self.audio().token_of(error.clamp(-1.0, 1.0));
            k += 1;
        }
        if self.pitch.is_some() {
            out[k] = if self.lag > 0 {
                let back = match self.errs.is_empty() {
                    true => self.hist[n - self.lag],
                    false => self.errs[n - self.lag].clamp(-1.0, 1.0),
                };
                self.audio().token_of(back)
            } else {
                self.codec.vocab_size() as u32
            };
        }
    }

    fn reset(&mut self) {
        self.hist.clear();
        self.hist.resize(self.keep, 0.0);
        if !self.errs.is_empty() {
            self.errs.clear();
            self.errs.resize(self.keep, 0.0);
        }
        self.phase = 0;
        self.coef.fill(0.0);
        self.lag = 0;
        self.corr = 0.0;
        self.pred = 0.0;
    }

    fn voicing(&self) -> f32 {
        self.corr
    }

    fn target_context(&self) -> f32 {
        self.pred
    }

    fn save(&self) -> Vec<f32> {
        let mut s = vec![self.phase as f32, self.lag as f32, self.pred, self.corr];
        s.extend_from_slice(&self.coef);
        s.extend_from_slice(&self.hist[self.hist.len() - self.keep..]);
        if !self.errs.is_empty() {
            s.extend_from_slice(&self.errs[self.errs.len() - self.keep..]);
        }
        s
    }

    fn load(&mut self, state: &[f32]) -> Result<(), String> {
        let errs = if self.errs.is_empty() { 0 } else { self.keep };
        let want = 4 + self.order + self.keep + errs;
        if state.len() != want {
            return Err(format!("{} values, expected {want}", state.len()));
        }
        let (phase, lag) = (state[0], state[1]);
        let max_lag = self.pitch.map_or(0, |p| p.1) as f32;
        let whole = |v: f32, max: f32| (0.0..=max).contains(&v) && v.fract() == 0.0;
        if !whole(phase, self.frame as f32 - 1.0)
            || !whole(lag, max_lag)
            || state.iter().any(|v| !v.is_finite())
        {
            return Err("values out of range".into());
        }
        self.phase = phase as usize;
        self.lag = lag as usize;
        self.pred = state[2];
        self.corr = state[3].clamp(0.0, 1.0);
        self.coef.copy_from_slice(&state[4..4 + self.order]);
        let (hist, err) = state[4 + self.order..].split_at(self.keep);
        self.hist.clear();
        self.hist.extend_from_slice(hist);
        if errs > 0 {
            self.errs.clear();
            self.errs.extend_from_slice(err);
        }
        Ok(())
    }
}

/// `r[k] = Σ seg[i] · seg[i − k]` for `k ≤ order`, in f64.
pub fn autocorr(seg: &[f32], order: usize) -> Vec<f64> {
    (0..=order)
        .map(|k| dot(&seg[k..], &seg[..seg.len() - k]))
        .collect()
}

/// The lag in `lo..=hi` with the highest normalised autocorrelation of the last `window`
/// samples of `x` (`x` holds at least `window + hi`), and that correlation, when it exceeds
/// 0.5 (`VOICED`) and the window is louder than −80 dBFS.
pub fn pitch_lag(x: &[f32], window: usize, lo: usize, hi: usize) -> Option<(usize, f64)> {
    let n = x.len();
    let cur = &x[n - window..];
    let e0 = dot(cur, cur);
    // Below −80 dBFS (mu-law's smallest cells around 0) nothing counts as periodic.
    if e0 <= 1e-8 * window as f64 {
        return None;
    }
    let mut best = (VOICED, None);
    for lag in lo..=hi {
        let past = &x[n - window - lag..n - lag];
        let c = dot(cur, past);
        if c <= 0.0 {
            continue;
        }
        let r = c / (e0 * dot(past, past)).sqrt().max(1e-20);
        if r > best.0 {
            best = (r, Some(lag));
        }
    }
    best.1.map(|lag| (lag, best.0))
}

/// `Σ a[i]·b[i]` over the shorter length, in 8 f32 partial sums (so it vectorizes) added in
/// f64.
fn dot(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = (ca.remainder().iter())
        .zip(cb.remainder())
        .map(|(x, y)| f64::from(x * y))
        .sum();
    for (xa, xb) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += xa[i] * xb[i];
        }
    }
    acc.iter().map(|&v| f64::from(v)).sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wav::codec::SampleCodec;

    fn features(opts: LpcOptions) -> LpcFeatures {
        let codec: Arc<dyn Codec> = Arc::new(SampleCodec::mu_law(16000));
        LpcFeatures::new(&opts, codec).unwrap()
    }

    /// A softmax-like distribution over 256 ids from a seeded hash.
    fn some_probs(seed: u64) -> Vec<f32> {
        let mut s = seed;
        let w: Vec<f32> = (0..256)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 * 6.0).exp()
            })
            .collect();
        let z: f32 = w.iter().sum();
        w.iter().map(|x| x / z).collect()
    }

    fn excitation() -> LpcFeatures {
        features(LpcOptions {
            target: LpcTarget::Excitation,
            ..LpcOptions::default()
        })
    }

    #[test]
    fn the_excitation_density_is_a_distribution_over_the_tokens() {
        let f = excitation();
        let c = f.target_coding().expect("excitation target");
        assert!(features(LpcOptions::default()).target_coding().is_none());
        for (seed, pred) in [(1, 0.0f32), (2, 0.3), (3, -0.97), (4, 1.0), (5, -0.0004)] {
            let probs = some_probs(seed);
            let total: f64 = (0..256)
                .map(|k| (-c.token_nll(pred, &probs, k)).exp())
                .sum();
            assert!((total - 1.0).abs() < 1e-5, "pred {pred}: {total}");
            // Every token is possible, however far from the prediction.
            for k in [0, 1, 127, 128, 254, 255] {
                assert!(
                    c.token_nll(pred, &probs, k).is_finite(),
                    "pred {pred}, token {k}"
                );
            }
        }
    }

    #[test]
    fn excitation_codes_decode_to_their_token_and_draws_follow_the_density() {
        let f = excitation();
        let c = f.target_coding().unwrap();
        let audio = SampleCodec::mu_law(16000);
        // A well-predicted sample (small excitation, finest cells) comes back exactly.
        for pred in [0.0f32, 0.25, -0.6] {
            for k in 0..256u32 {
                let s = audio.sample_of(k);
                let back = c.decode(pred, c.code(pred, k), 0.5);
                let e = (s - pred).abs();
                if e < 0.05 {
                    assert_eq!(back, k, "pred {pred}, token {k}");
                } else if e < 0.95 {
                    // A larger excitation has a coarser cell (mu-law: about 4.4 % of its
                    // size), which may span several of the sample's own cells.
                    let off = (audio.sample_of(back) - s).abs();
                    assert!(
                        off <= 0.05 * e + 0.002,
                        "pred {pred}, token {k}: {back}, {off}"
                    );
                }
            }
        }
        // Drawing an id from `probs` and a uniform dither gives the tokens token_nll scores.
        let (pred, probs) = (0.2f32, some_probs(9));
        let mut hist = [0u32; 256];
        let mut s = 77u64;
        let n = 400_000;
        let mut cdf = 0.0;
        let cum: Vec<f32> = probs
            .iter()
            .map(|p| {
                cdf += p;
                cdf
            })
            .collect();
        for _ in 0..n {
            let mut u = || {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 40) as f32 / (1u64 << 24) as f32
            };
            let (pick, dither) = (u(), u());
            let id = cum.partition_point(|&c| c < pick).min(255) as u32;
            hist[c.decode(pred, id, dither) as usize] += 1;
        }
        for k in 0..256u32 {
            let want = (-c.token_nll(pred, &probs, k)).exp() * n as f64;
            let got = f64::from(hist[k as usize]);
            assert!(
                (got - want).abs() <= 5.0 * want.sqrt() + 3.0,
                "token {k}: drew {got}, expected {want:.1}"
            );
        }
    }

    #[test]
    fn levinson_recovers_an_ar2_process() {
        // x_t = 1.6 x_{t-1} − 0.8 x_{t-2} + noise: the fit finds the two taps.
        let mut x = vec![0.0f32; 4000];
        let mut s = 12345u64;
        for t in 2..x.len() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            let e = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.01;
            x[t] = 1.6 * x[t - 1] - 0.8 * x[t - 2] + e;
        }
        let a = levinson_durbin(&autocorr(&x, 2));
        assert!(
            (a[0] - 1.6).abs() < 0.02 && (a[1] + 0.8).abs() < 0.02,
            "{a:?}"
        );
    }

    #[test]
    fn a_sine_is_predicted_and_its_period_found() {
        let f = features(LpcOptions::default());
        let mut lane = f.lane();
        let audio = SampleCodec::mu_law(16000);
        let period = 80.0; // 200 Hz
        let x = |t: usize| 0.5 * (2.0 * std::f32::consts::PI * t as f32 / period).sin();
        let mut out = [0u32; 3];
        let (mut hits, mut small) = (0, 0);
        for t in 0..4000 {
            lane.push(audio.token_of(x(t)), &mut out);
            if t > 1000 {
                // The prediction's cell is the next sample's, or a neighbour.
                hits += usize::from(out[0].abs_diff(audio.token_of(x(t + 1))) <= 1);
                assert_eq!(out[2], audio.token_of(x(t + 1 - 80)), "t={t}");
                // The excitation of a predictable signal is about its quantization noise.
                small += usize::from(audio.sample_of(out[1]).abs() < 0.02);
            }
        }
        assert!(hits > 2900, "{hits} of 2999 predictions within a cell");
        assert!(small > 2900, "{small} of 2999 small errors");
        assert!(lane.voicing() > 0.95, "{}", lane.voicing());
    }

    #[test]
    fn silence_has_no_pitch_and_predicts_silence() {
        let f = features(LpcOptions::default());
        let mut lane = f.lane();
        let audio = SampleCodec::mu_law(16000);
        let zero = audio.token_of(0.0);
        let mut out = [0u32; 3];
        for _ in 0..100 {
            lane.push(zero, &mut out);
            assert_eq!(out, [zero, zero, 256]);
        }
        assert_eq!(lane.voicing(), 0.0);
    }

    #[test]
    fn a_saved_lane_continues_identically() {
        for pitch_of in [PitchOf::Sample, PitchOf::Excitation] {
            let f = features(LpcOptions {
                frame: 7,
                pitch_of,
                ..LpcOptions::default()
            });
            let (mut a, mut b) = (f.lane(), f.lane());
            let tok = |t: usize| ((t * 37 + t * t / 11) % 256) as u32;
            let mut out = [0u32; 3];
            for t in 0..1234 {
                a.push(tok(t), &mut out);
            }
            b.load(&a.save()).unwrap();
            let (mut oa, mut ob) = ([0u32; 3], [0u32; 3]);
            for t in 1234..3000 {
                a.push(tok(t), &mut oa);
                b.push(tok(t), &mut ob);
                assert_eq!(oa, ob, "{pitch_of:?}, t={t}");
            }
            assert!(b.load(&[0.0; 3]).is_err());
            let mut bad = a.save();
            bad[0] = 99.0;
            assert!(b.load(&bad).is_err());
        }
    }

    #[test]
    fn the_pitch_channel_carries_the_excitation_one_period_back() {
        // A pulse train with a period of 100 samples: one period back from a pulse is a
        // pulse, in the excitation as in the sample.
        let audio = SampleCodec::mu_law(16000);
        let f = features(LpcOptions {
            pitch_of: PitchOf::Excitation,
            ..LpcOptions::default()
        });
        let mut lane = f.lane();
        let mut out = [0u32; 3];
        let x = |t: usize| {
            if t.is_multiple_of(100) {
                0.5
            } else {
                0.01 * ((t % 7) as f32 - 3.0)
            }
        };
        let mut pulses_seen = 0;
        for t in 0..3000 {
            lane.push(audio.token_of(x(t)), &mut out);
            // `out` describes the context of sample t + 1.
            if t > 1500 && (t + 1) % 100 == 0 {
                let back = audio.sample_of(out[2]);
                assert!(
                    back > 0.2,
                    "t={t}: the excitation one period back is {back}"
                );
                pulses_seen += 1;
            }
        }
        assert!(pulses_seen > 10);
    }

    #[test]
    fn options_are_checked_with_their_key() {
        let codec: Arc<dyn Codec> = Arc::new(SampleCodec::mu_law(16000));
        for (o, key) in [
            (
                LpcOptions {
                    order: 0,
                    ..Default::default()
                },
                "order",
            ),
            (
                LpcOptions {
                    history: 10,
                    ..Default::default()
                },
                "history",
            ),
            (
                LpcOptions {
                    frame: 0,
                    ..Default::default()
                },
                "frame",
            ),
            (
                LpcOptions {
                    min_pitch_hz: 500.0,
                    ..Default::default()
                },
                "min_pitch_hz",
            ),
        ] {
            let e = LpcFeatures::new(&o, codec.clone())
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(&format!("model.features.{key}")), "{e}");
        }
        let text: Arc<dyn Codec> = Arc::new(crate::CharCodec::from_chars("ab".chars()));
        let e = LpcFeatures::new(&LpcOptions::default(), text)
            .err()
            .unwrap();
        assert!(e.to_string().contains("needs audio data"), "{e}");
    }
}

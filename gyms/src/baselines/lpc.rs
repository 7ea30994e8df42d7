//! The linear-prediction baseline for audio codecs. Before sample `t` (decoded to its level's
//! value `x`), every `refit_every` samples, a `order`-tap predictor is fitted to the previous
//! `fit_window` decoded samples by the autocorrelation method (rectangular window, lags
//! `r(k) = Σ x_i x_{i−k}` within the window, `r(0)` raised by the ridge `ridge · r(0)`, a
//! −50 dB white-noise floor that keeps the system well conditioned) and Levinson–Durbin; it
//! predicts `μ = Σ_k a_k x_{t−k}` (0 before the first fit). The residual is modelled as a
//! Laplace distribution centred on `μ` with scale `b = max(scale_floor, mean |x_s − μ_s|)`
//! over the previous `scale_window` samples, and a token costs the Laplace mass of its
//! quantization cell in the sample domain: the cell of level `k` runs between the midpoints
//! (on the codec's companded axis) to its neighbours, the outermost cells open-ended.

use std::collections::VecDeque;

use super::Baseline;

/// The predictor's sizes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LpcSettings {
    /// Taps.
    pub order: usize,
    /// Samples between re-fits.
    pub refit_every: usize,
    /// Past samples each fit uses.
    pub fit_window: usize,
    /// Past residuals the Laplace scale is the mean magnitude of.
    pub scale_window: usize,
    /// The least Laplace scale.
    pub scale_floor: f64,
    /// White-noise correction: `r(0)` is multiplied by `1 + ridge`.
    pub ridge: f64,
}

impl Default for LpcSettings {
    fn default() -> Self {
        LpcSettings {
            order: 32,
            refit_every: 16,
            fit_window: 480,
            scale_window: 160,
            scale_floor: 2e-5,
            ridge: 1e-5,
        }
    }
}

/// The adaptive linear predictor with a Laplace residual (see the module docs).
#[derive(Clone, Debug)]
pub struct Lpc {
    s: LpcSettings,
    /// The decoded value of each token.
    levels: Vec<f64>,
    /// `levels.len() − 1` cell edges: edge `k` divides level `k` from level `k + 1`.
    edges: Vec<f64>,
    /// The last `fit_window` decoded samples.
    hist: VecDeque<f64>,
    /// The last `scale_window` residual magnitudes.
    resid: VecDeque<f64>,
    /// `a_1..a_p`.
    coefs: Vec<f64>,
    seen: usize,
    /// The prediction of the next sample and the Laplace scale around it.
    mu: f64,
    scale: f64,
}

impl Lpc {
    /// A fresh predictor over tokens whose decoded values are `levels` (ascending) with the
    /// cell edges `edges` between them.
    pub fn new(levels: Vec<f64>, edges: Vec<f64>, s: LpcSettings) -> Lpc {
        debug_assert_eq!(edges.len() + 1, levels.len());
        Lpc {
            coefs: Vec::new(),
            hist: VecDeque::with_capacity(s.fit_window + 1),
            resid: VecDeque::with_capacity(s.scale_window + 1),
            s,
            levels,
            edges,
            seen: 0,
            mu: 0.0,
            scale: s.scale_floor,
        }
    }

    /// The prediction of the next sample.
    pub fn prediction(&self) -> f64 {
        self.mu
    }

    fn refit(&mut self) {
        let x: Vec<f64> = self.hist.iter().copied().collect();
        let p = self.s.order.min(x.len().saturating_sub(1));
        let mut r: Vec<f64> = (0..=p)
            .map(|k| (k..x.len()).map(|i| x[i] * x[i - k]).sum())
            .collect();
        r[0] *= 1.0 + self.s.ridge;
        self.coefs = levinson_durbin(&r);
    }

    fn predict(&self) -> f64 {
        let n = self.hist.len();
        self.coefs
            .iter()
            .enumerate()
            .take_while(|(k, _)| *k < n)
            .map(|(k, a)| a * self.hist[n - 1 - k])
            .sum()
    }
}

impl Baseline for Lpc {
    fn nats(&self, token: u32) -> f64 {
        let k = (token as usize).min(self.levels.len() - 1);
        let lo = if k == 0 {
            f64::NEG_INFINITY
        } else {
            self.edges[k - 1]
        };
        let hi = self.edges.get(k).copied().unwrap_or(f64::INFINITY);
        laplace_cell_nats(lo, hi, self.mu, self.scale)
    }

    fn observe(&mut self, token: u32) {
        let x = self.levels[(token as usize).min(self.levels.len() - 1)];
        push_bounded(&mut self.resid, (x - self.mu).abs(), self.s.scale_window);
        push_bounded(&mut self.hist, x, self.s.fit_window);
        self.seen += 1;
        if self.seen.is_multiple_of(self.s.refit_every.max(1)) {
            self.refit();
        }
        self.mu = self.predict();
        let mean = self.resid.iter().sum::<f64>() / self.resid.len() as f64;
        self.scale = mean.max(self.s.scale_floor);
    }
}

fn push_bounded(q: &mut VecDeque<f64>, v: f64, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(v);
}

/// Levinson–Durbin on autocorrelations `r[0..=p]`: the coefficients `a_1..a_p` of the
/// predictor `x̂_t = Σ a_k x_{t−k}`. Stops at the order reached when the prediction error
/// stops being positive (zeros beyond it); all zeros when `r[0]` is not positive.
pub fn levinson_durbin(r: &[f64]) -> Vec<f64> {
    let p = r.len().saturating_sub(1);
    let mut a = vec![0.0; p];
    let mut err = r.first().copied().unwrap_or(0.0);
    if err.is_nan() || err <= 0.0 {
        return a;
    }
    let mut prev = vec![0.0; p];
    for i in 0..p {
        // Reflection coefficient of order i + 1.
        let acc: f64 = r[i + 1] - (0..i).map(|j| a[j] * r[i - j]).sum::<f64>();
        let k = acc / err;
        let next_err = err * (1.0 - k * k);
        if !next_err.is_finite() || next_err <= 0.0 {
            break;
        }
        prev[..i].copy_from_slice(&a[..i]);
        a[i] = k;
        for j in 0..i {
            a[j] = prev[j] - k * prev[i - 1 - j];
        }
        err = next_err;
    }
    a
}

/// `−ln P(lo < X ≤ hi)` for `X ~ Laplace(mu, b)` (either bound may be infinite), computed
/// in log space on the side of `mu` where both bounds lie so that far-away cells keep their
/// tiny probability instead of rounding to zero.
pub fn laplace_cell_nats(lo: f64, hi: f64, mu: f64, b: f64) -> f64 {
    let (u, v) = ((lo - mu) / b, (hi - mu) / b);
    let half = std::f64::consts::LN_2;
    if u >= 0.0 {
        // 0.5·(e^−u − e^−v)
        half + u - ln_one_minus_exp(v - u)
    } else if v <= 0.0 {
        // 0.5·(e^v − e^u)
        half - v - ln_one_minus_exp(v - u)
    } else {
        // 1 − 0.5·e^u − 0.5·e^−v
        -(1.0 - 0.5 * u.exp() - 0.5 * (-v).exp()).ln()
    }
}

/// `ln(1 − e^{−d})` for `d > 0` (`−∞` at 0, 0 at `+∞`), accurate for small `d`.
fn ln_one_minus_exp(d: f64) -> f64 {
    (-(-d).exp_m1()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wav::SampleCodec;
    use crate::AudioCodec;

    fn mulaw_lpc() -> Lpc {
        let c = SampleCodec::mu_law(16_000);
        let levels = (0..256).map(|t| f64::from(c.sample_of(t))).collect();
        Lpc::new(levels, c.cell_edges(), LpcSettings::default())
    }

    #[test]
    fn levinson_durbin_solves_an_ar1() {
        // r(k) = ρ^k of an AR(1) with ρ = 0.9: the predictor is x̂ = 0.9 x_{t−1}.
        let r: Vec<f64> = (0..5).map(|k| 0.9f64.powi(k)).collect();
        let a = levinson_durbin(&r);
        assert!((a[0] - 0.9).abs() < 1e-12, "{a:?}");
        assert!(a[1..].iter().all(|x| x.abs() < 1e-12), "{a:?}");
        assert_eq!(levinson_durbin(&[0.0, 0.0]), vec![0.0]);
    }

    #[test]
    fn lpc_predicts_a_pure_sinusoid_almost_exactly() {
        let mut lpc = mulaw_lpc();
        let c = SampleCodec::mu_law(16_000);
        let (mut err, mut n) = (0.0, 0);
        for i in 0..4000 {
            let x = 0.5 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 16_000.0).sin();
            let tok = c.token_of(x as f32);
            if i >= 1000 {
                err += (f64::from(c.sample_of(tok)) - lpc.prediction()).abs();
                n += 1;
            }
            lpc.observe(tok);
        }
        // The quantization alone leaves errors of up to half a mu-law step (≈ 0.006 at 0.5).
        let mean = err / n as f64;
        assert!(mean < 0.01, "mean |error| {mean}");
    }

    #[test]
    fn a_tone_costs_far_fewer_bits_than_its_levels() {
        let c = SampleCodec::mu_law(8000);
        let mut lpc = mulaw_lpc();
        let tokens: Vec<u32> = (0..4000)
            .map(|i| {
                let x = 0.4 * (2.0 * std::f64::consts::PI * 250.0 * i as f64 / 8000.0).sin();
                c.token_of(x as f32)
            })
            .collect();
        // The first samples cost more (measured: 8.4 bits over the first 240): the scale
        // still remembers the residuals from before the first fits.
        let mut late = 0.0;
        for (i, &t) in tokens.iter().enumerate() {
            if i >= 2000 {
                late += lpc.nats(t) / std::f64::consts::LN_2 / 2000.0;
            }
            lpc.observe(t);
        }
        assert!(late < 3.0, "{late} bits/sample once warmed up");
    }

    #[test]
    fn laplace_cell_masses_over_all_tokens_sum_to_one() {
        let mut lpc = mulaw_lpc();
        for (mu, b) in [
            (0.0, 0.01),
            (0.3, 2e-5),
            (-0.99, 0.5),
            (1.7, 0.05),
            (0.0, 2e-5),
        ] {
            lpc.mu = mu;
            lpc.scale = b;
            let sum: f64 = (0..256).map(|t| (-lpc.nats(t)).exp()).sum();
            assert!((sum - 1.0).abs() < 1e-9, "mu {mu} b {b}: {sum}");
        }
    }

    #[test]
    fn far_cells_keep_a_finite_cost() {
        let nats = laplace_cell_nats(0.9, 0.95, 0.0, 1e-3);
        assert!(nats.is_finite() && nats > 800.0, "{nats}");
        let nats = laplace_cell_nats(-0.95, -0.9, 0.0, 1e-3);
        assert!(nats.is_finite() && nats > 800.0, "{nats}");
    }
}

#[cfg(test)]
mod edge_tests {
    use crate::wav::{Quantizer, SampleCodec};
    use crate::AudioCodec;

    #[test]
    fn cell_edges_are_where_token_of_switches() {
        for q in [Quantizer::MuLaw, Quantizer::Linear] {
            let c = SampleCodec::new(q, 64, 8000).unwrap();
            let edges = c.cell_edges();
            assert_eq!(edges.len(), 63);
            for (k, &e) in edges.iter().enumerate() {
                let d = 1e-4 * (1.0 + e.abs());
                assert_eq!(c.token_of((e - d) as f32), k as u32, "{q:?} edge {k}");
                assert_eq!(c.token_of((e + d) as f32), k as u32 + 1, "{q:?} edge {k}");
            }
        }
    }
}

//! The numbers behind `rnngym visualize`: per-character activations and top-5 predictions
//! (batch 1, one token at a time, state carried), simple text features, and correlations.

use rnngym_kernels::Backend;
use rnngym_trainer::model::Mode;
use rnngym_trainer::Model;
use serde::Serialize;

/// Activations and predictions over a text.
pub struct Trace {
    /// `acts[l]`: `[N, H]` activations of layer `l` after each token, in [-1, 1].
    pub acts: Vec<Vec<f32>>,
    /// Per position: the 5 most likely next tokens and their probabilities in per mille,
    /// flattened as `[tok, p, tok, p, ...]`.
    pub top: Vec<Vec<u32>>,
}

/// Feeds `tokens` one at a time from a zero state; records `tanh(c)` (`cell_state`) or `h`.
pub fn trace<B: Backend>(
    be: &B,
    model: &Model<B>,
    tokens: &[u32],
    cell_state: bool,
) -> rnngym_kernels::Result<Trace> {
    let (layers, hidden, vocab) = (model.dims.layers, model.dims.hidden, model.dims.vocab);
    let mut ws = model.workspace(be, 1, 1)?;
    let mut logits = vec![0.0f32; vocab];
    let mut acts = vec![Vec::with_capacity(tokens.len() * hidden); layers];
    let mut top = Vec::with_capacity(tokens.len());
    for &t in tokens {
        model.forward(be, &mut ws, &[t], None, &[false], Mode::Eval)?;
        ws.read_logits(be, 0, &mut logits)?;
        for (l, (h, c)) in ws.read_state(be, hidden)?.into_iter().enumerate() {
            if cell_state {
                acts[l].extend(c.iter().map(|v| v.tanh()));
            } else {
                acts[l].extend(h);
            }
        }
        top.push(top5(&logits));
    }
    Ok(Trace { acts, top })
}

/// The 5 largest softmax probabilities as `[tok, per mille, ...]`.
fn top5(logits: &[f32]) -> Vec<u32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = logits.iter().map(|&z| ((z - max) as f64).exp()).collect();
    let sum: f64 = exps.iter().sum();
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| exps[b].total_cmp(&exps[a]));
    idx.iter()
        .take(5)
        .flat_map(|&i| [i as u32, (exps[i] / sum * 1000.0).round() as u32])
        .collect()
}

impl Trace {
    /// Each layer's activations quantized to i8 (`round(127 v)`), row-major `[N, H]`, base64.
    pub fn acts_base64(&self) -> Vec<String> {
        self.acts
            .iter()
            .map(|a| {
                let bytes: Vec<u8> = a
                    .iter()
                    .map(|v| (v.clamp(-1.0, 1.0) * 127.0).round() as i8 as u8)
                    .collect();
                base64(&bytes)
            })
            .collect()
    }
}

/// Simple per-character features of a text.
pub struct Features {
    /// One value per character per feature, in [`Features::DESCRIPTIONS`] order.
    pub values: Vec<Vec<f32>>,
}

impl Features {
    /// Names and meanings of the features.
    pub const DESCRIPTIONS: [(&'static str, &'static str); 4] = [
        ("inside quotes", "1 between a \" and the next \", else 0"),
        ("inside parentheses", "1 inside ( ... ), else 0"),
        ("position in line", "characters since the last newline"),
        ("inside a word", "1 on letters and apostrophes, else 0"),
    ];

    /// The features of `chars` (each one token rendered).
    pub fn of(chars: &[String]) -> Self {
        let mut values = vec![Vec::with_capacity(chars.len()); Self::DESCRIPTIONS.len()];
        let (mut quote, mut depth, mut col) = (false, 0i32, 0usize);
        for ch in chars {
            match ch.as_str() {
                "\"" => quote = !quote,
                "(" => depth += 1,
                ")" => depth = (depth - 1).max(0),
                _ => {}
            }
            col = if ch == "\n" { 0 } else { col + 1 };
            let word = ch.chars().all(|c| c.is_alphabetic() || c == '\'') && !ch.is_empty();
            values[0].push(quote as u8 as f32);
            values[1].push((depth > 0) as u8 as f32);
            values[2].push(col as f32);
            values[3].push(word as u8 as f32);
        }
        Features { values }
    }
}

/// One neuron's correlation with one feature.
#[derive(Serialize, Debug, Clone)]
pub struct Correlation {
    /// Index into [`Features::DESCRIPTIONS`].
    pub feature: usize,
    /// Layer (0-based).
    pub layer: usize,
    /// Neuron within the layer.
    pub neuron: usize,
    /// Pearson correlation coefficient.
    pub r: f64,
}

/// For each feature that varies over the text, the `k` neurons with the largest |r|.
pub fn correlations(
    t: &Trace,
    f: &Features,
    layers: usize,
    hidden: usize,
    k: usize,
) -> Vec<Correlation> {
    let mut out = Vec::new();
    for (fi, fv) in f.values.iter().enumerate() {
        let mut all = Vec::new();
        for l in 0..layers {
            for j in 0..hidden {
                let a = t.acts[l].iter().skip(j).step_by(hidden).copied();
                if let Some(r) = pearson(a, fv) {
                    all.push(Correlation {
                        feature: fi,
                        layer: l,
                        neuron: j,
                        r: (r * 1000.0).round() / 1000.0,
                    });
                }
            }
        }
        all.sort_by(|x, y| y.r.abs().total_cmp(&x.r.abs()));
        out.extend(all.into_iter().take(k));
    }
    out
}

/// Pearson's r, or None when either series is constant.
fn pearson(a: impl Iterator<Item = f32>, b: &[f32]) -> Option<f64> {
    let n = b.len() as f64;
    let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (x, &y) in a.zip(b) {
        let (x, y) = (x as f64, y as f64);
        (sa, sb) = (sa + x, sb + y);
        (saa, sbb, sab) = (saa + x * x, sbb + y * y, sab + x * y);
    }
    let va = saa - sa * sa / n;
    let vb = sbb - sb * sb / n;
    (va > 1e-9 && vb > 1e-9).then(|| (sab - sa * sb / n) / (va * vb).sqrt())
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn features_and_pearson() {
        let chars: Vec<String> = "a \"b\"\n(c)".chars().map(String::from).collect();
        let f = Features::of(&chars);
        assert_eq!(f.values[0], [0., 0., 1., 1., 0., 0., 0., 0., 0.]);
        assert_eq!(f.values[2][5], 0.0);
        assert_eq!(f.values[1][7], 1.0);
        let r = pearson([1.0, 2.0, 3.0].into_iter(), &[2.0, 4.0, 6.0]).unwrap();
        assert!((r - 1.0).abs() < 1e-12);
        assert!(pearson([1.0, 1.0].into_iter(), &[1.0, 2.0]).is_none());
    }
}

//! Baselines a model must beat, scored on the same tokens: each predicts a token from the
//! tokens before it in the same source only, learning as it goes (online), so no token is
//! ever predicted by a model that has seen it. [`score`] runs one over a source: the first
//! token is context, every later token is scored once, like `rnngym eval` scores a model.
//!
//! - [`KtUnigram`]: adaptive unigram counts with the Krichevsky–Trofimov (add-½) estimator.
//! - [`KtBigram`]: the same, conditioned on the previous token (first order).
//! - [`Lpc`] (audio codecs): a 32-tap linear predictor re-fitted on the recent decoded
//!   samples, its residual modelled as a Laplace distribution integrated over each token's
//!   quantization cell.

mod counts;
mod lpc;

pub use counts::{KtBigram, KtUnigram};
pub use lpc::{laplace_cell_nats, levinson_durbin, Lpc, LpcSettings};

/// A model of the next token that learns online.
pub trait Baseline {
    /// Cost in nats of `token` being next, given every token observed so far.
    fn nats(&self, token: u32) -> f64;
    /// Takes `token` as the next token of the source.
    fn observe(&mut self, token: u32);
}

/// The summed cost in nats of `tokens[1..]` under `model`, each predicted from the tokens
/// before it (`tokens[0]` is context only); `model` should be fresh.
pub fn score(model: &mut dyn Baseline, tokens: &[u32]) -> f64 {
    let mut sum = 0.0;
    for (i, &t) in tokens.iter().enumerate() {
        if i > 0 {
            sum += model.nats(t);
        }
        model.observe(t);
    }
    sum
}

//! Input features: extra token channels that a lane computes from its own token history, fed
//! to the model beside each input token (LPCNet's idea: a classical predictor does the cheap
//! part, so a small network can spend itself on the rest).
//!
//! Features are causal and stateful per lane: at step t the lane has seen tokens `x_0..=x_t`
//! and describes the context of predicting `x_{t+1}`. The same lane code runs in training,
//! validation, `eval` and generation, so a model never sees features computed differently
//! from the ones it was trained on. A lane's state is saved in checkpoints beside the
//! recurrent state, so a resumed run continues bit for bit.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::wav::lpc::{LpcFeatures, LpcOptions};
use crate::{Codec, GymError};

/// Extra input channels computed from a lane's token history.
pub trait Features: Send + Sync {
    /// Vocabulary size of each extra channel (each gets its own embedding rows).
    fn channels(&self) -> &[usize];
    /// A fresh lane (a zero history, like a zeroed recurrent state).
    fn lane(&self) -> Box<dyn FeatureLane>;
    /// How the model's outputs code the next token, when they are not the token itself
    /// (LPCNet's excitation); `None` (the default) when the model predicts tokens.
    fn target_coding(&self) -> Option<&dyn TargetCoding> {
        None
    }
}

/// A coding of the next token that the model predicts instead of the token: an output id
/// and a lane's context (a number its [`FeatureLane::target_context`] reports after each
/// push) give the token back. Ids and tokens share the vocabulary.
pub trait TargetCoding: Send + Sync {
    /// The id the model is trained to predict for `token` in `context`.
    fn code(&self, context: f32, token: u32) -> u32;
    /// The token a drawn `id` stands for in `context`; `dither` in [0, 1) says where in the
    /// id's cell the value lies (0.5: its centre), so that generation draws from the density
    /// [`TargetCoding::token_nll`] scores.
    fn decode(&self, context: f32, id: u32, dither: f32) -> u32;
    /// `−ln P(token)` in `context` when the model gives the ids probabilities `probs` (a
    /// distribution over the tokens, so losses compare with token-predicting models).
    fn token_nll(&self, context: f32, probs: &[f32], token: u32) -> f64;
}

/// One lane's feature state.
pub trait FeatureLane: Send {
    /// Feeds the input token of the next step and writes one id per extra channel into `out`
    /// (`out.len()` = the number of channels).
    fn push(&mut self, token: u32, out: &mut [u32]);
    /// Back to a fresh lane's state (a zero history).
    fn reset(&mut self);
    /// How periodic the recent history is, in [0, 1] (a pitch correlation; 0 when the
    /// features do not measure it). Generation samples voiced stretches colder with it.
    fn voicing(&self) -> f32 {
        0.0
    }
    /// What [`TargetCoding`] needs to code and decode the next token (0 without one).
    fn target_context(&self) -> f32 {
        0.0
    }
    /// The lane's whole state as numbers (checkpoints keep it beside the recurrent state).
    fn save(&self) -> Vec<f32>;
    /// Restores a [`FeatureLane::save`]d state; a description of what is wrong otherwise.
    fn load(&mut self, state: &[f32]) -> Result<(), String>;
}

/// The `[model.features]` table of a config: which features, with their options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum FeaturesSpec {
    /// Linear prediction of the next sample and the sample one pitch period back
    /// (audio codecs only).
    Lpc(LpcOptions),
}

impl FeaturesSpec {
    /// Builds the features for data encoded by `codec`; a [`GymError::Config`] naming the key
    /// when the options or the codec do not fit.
    pub fn build(&self, codec: &Arc<dyn Codec>) -> Result<Arc<dyn Features>, GymError> {
        match self {
            FeaturesSpec::Lpc(o) => Ok(Arc::new(LpcFeatures::new(o, codec.clone())?)),
        }
    }

    /// The `kind` a config names it by.
    pub fn kind(&self) -> &'static str {
        match self {
            FeaturesSpec::Lpc(_) => "lpc",
        }
    }

    /// The extra channels' vocabulary sizes for a codec of `vocab` tokens, without building
    /// anything (model sizes are known before the data is read).
    pub fn channels(&self, vocab: usize) -> Vec<usize> {
        match self {
            FeaturesSpec::Lpc(o) => o.channels(vocab),
        }
    }
}

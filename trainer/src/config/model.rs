//! `[model]`: the cell type and the network's shape.

use serde::{Deserialize, Serialize};

use rnngym_gyms::FeaturesSpec;

use super::DeviceChoice;

/// The recurrent cell type: the kernels' [`Cell`](rnngym_kernels::Cell), which holds every
/// fact about it (configs name it `"lstm"`, `"gru"` or `"rnn"`).
pub use rnngym_kernels::Cell as CellKind;

/// `model.embed_init`: how the embedding table is initialised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedInit {
    /// N(0, 1), like `nn.Embedding`.
    #[default]
    Normal,
    /// LPCNet's PCM embedding: each channel's rows ramp linearly with their index, plus
    /// uniform noise.
    Ramp,
}

/// `[model]`: the network's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Cell type: "lstm", "gru" or "rnn".
    pub cell: CellKind,
    /// H: hidden width of every layer.
    pub hidden: usize,
    /// L: number of stacked layers.
    pub layers: usize,
    /// Embedding width; None means the same as `hidden`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embed: Option<usize>,
    /// Dropout probability between layers (0 disables).
    pub dropout: f64,
    /// Where the model runs: "auto", "cpu", "cuda" or "cuda:N".
    pub device: DeviceChoice,
    /// Uniform init half-width; 0 means PyTorch's default 1/sqrt(H).
    pub init_scale: f64,
    /// LSTM forget-gate bias at init; unset keeps PyTorch's uniform draw, which trained
    /// better on tinyshakespeare than a bias of 1 (README, "Quality").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_bias: Option<f64>,
    /// How the embedding table starts: "normal" (PyTorch's N(0, 1)) or "ramp" (LPCNet's PCM
    /// embedding: a linear function of the index plus noise, for quantized audio).
    pub embed_init: EmbedInit,
    /// `[model.features]`: extra input channels computed from each lane's history (e.g.
    /// `kind = "lpc"` for audio); none by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<FeaturesSpec>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            cell: CellKind::default(),
            hidden: 128,
            layers: 2,
            embed: None,
            dropout: 0.0,
            device: DeviceChoice::Auto,
            init_scale: 0.0,
            forget_bias: None,
            features: None,
            embed_init: EmbedInit::Normal,
        }
    }
}

impl ModelConfig {
    /// The embedding width actually used.
    pub fn embed_dim(&self) -> usize {
        self.embed.unwrap_or(self.hidden)
    }

    /// The extra input channels' vocabulary sizes for a codec of `vocab` tokens (empty
    /// without `[model.features]`).
    pub fn feature_channels(&self, vocab: usize) -> Vec<usize> {
        self.features
            .as_ref()
            .map_or_else(Vec::new, |f| f.channels(vocab))
    }
}

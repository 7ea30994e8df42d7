//! [`Cell`]: the one place that knows what each recurrent cell type is made of — gates per
//! unit, whether it carries a cell state, whether its recurrent pre-activations need a buffer
//! of their own, and the buffer sizes of one layer's window that follow from that. The model,
//! the memory budget, the kernels and the CLI all read these facts from here.

use serde::{Deserialize, Serialize};

/// Which recurrent cell a layer runs (PyTorch semantics; the math is in the kernels' cell
/// steps). Configs name it in lowercase: `"lstm"`, `"gru"`, `"rnn"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    /// `nn.LSTM`, gate order i, f, g, o; G = 4H; carries a cell state `c`.
    #[default]
    Lstm,
    /// `nn.GRU`, gate order r, z, n, with `n = tanh(x_n + r · (W_hn h + b_hn))`; G = 3H. Its
    /// recurrent pre-activations `h·W_hhᵀ + b_hh` stay apart from the input ones (`gh`).
    Gru,
    /// `nn.RNN` with tanh; G = H.
    Rnn,
}

impl Cell {
    /// Every cell type, in a fixed order (tests and benchmarks iterate over it).
    pub const ALL: [Cell; 3] = [Cell::Lstm, Cell::Gru, Cell::Rnn];

    /// Gate rows per hidden unit (G / H).
    pub fn gates_per_unit(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
            Cell::Rnn => 1,
        }
    }

    /// Whether the cell carries a cell state `c` beside `h` (and its gradient `dc`).
    pub fn has_cell_state(self) -> bool {
        self == Cell::Lstm
    }

    /// Whether the recurrent pre-activations `h·W_hhᵀ + b_hh` get their own `[T, B, G]`
    /// buffer (`gh`) instead of being added into the input ones; then the two biases also
    /// stay apart and get gradients of their own.
    pub fn has_recurrent_gates(self) -> bool {
        self == Cell::Gru
    }

    /// The gate block (0-based, in units of H) of the forget gate, for cells that have one:
    /// its bias is what `model.forget_bias` sets.
    pub fn forget_gate(self) -> Option<usize> {
        match self {
            Cell::Lstm => Some(1),
            Cell::Gru | Cell::Rnn => None,
        }
    }

    /// The config / checkpoint name: `"lstm"`, `"gru"` or `"rnn"`.
    pub fn name(self) -> &'static str {
        match self {
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
            Cell::Rnn => "rnn",
        }
    }

    /// The sizes of one layer's window buffers for `t` steps of `b` rows and `h` units, in
    /// u128 so that no shape can overflow them (callers refuse what they cannot allocate).
    pub fn window_sizes(self, t: usize, b: usize, h: usize) -> WindowSizes {
        let (t, b, h) = (t as u128, b as u128, h as u128);
        let steps_g = t * b * h * self.gates_per_unit() as u128;
        let states = (t + 1) * b * h;
        WindowSizes {
            gates: steps_g,
            gh: if self.has_recurrent_gates() {
                steps_g
            } else {
                0
            },
            hs: states,
            cs: if self.has_cell_state() { states } else { 0 },
            dc: if self.has_cell_state() { b * h } else { 0 },
        }
    }
}

impl std::str::FromStr for Cell {
    type Err = UnknownCell;

    /// Parses a [`Cell::name`].
    fn from_str(s: &str) -> Result<Self, UnknownCell> {
        Cell::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownCell(s.to_string()))
    }
}

/// A cell name that is none of [`Cell::ALL`]'s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown cell '{0}' (expected lstm, gru or rnn)")]
pub struct UnknownCell(pub String);

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Elements of each buffer of a [`LayerState`](crate::LayerState) for one window (0: the cell
/// does not use it). `dhs` is `[T + 1, B, H]` like `hs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSizes {
    /// `[T, B, G]` gate pre-activations / activations / gradients.
    pub gates: u128,
    /// `[T, B, G]` recurrent pre-activations (GRU).
    pub gh: u128,
    /// `[T + 1, B, H]` hidden states.
    pub hs: u128,
    /// `[T + 1, B, H]` cell states (LSTM).
    pub cs: u128,
    /// `[B, H]` carried cell-state gradient (LSTM).
    pub dc: u128,
}

impl WindowSizes {
    /// All of them together.
    pub fn total(&self) -> u128 {
        self.gates + self.gh + self.hs + self.cs + self.dc
    }
}

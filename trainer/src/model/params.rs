//! The parameter layout: which tensors the flat buffer holds, in order, under PyTorch's
//! `state_dict` names. [`Model::new`](super::Model::new) lays the buffer out from it and the
//! memory budget counts it ([`param_count`]), so the two cannot drift apart.

use rnngym_kernels::KernelError;

use super::ModelDims;
use crate::plan::to_usize;

/// One named tensor inside the flat parameter buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    /// PyTorch-style name, e.g. `rnn.weight_hh_l1`.
    pub name: String,
    /// Shape, row-major.
    pub shape: Vec<usize>,
    /// Element offset in the flat buffer.
    pub off: usize,
}

impl ParamInfo {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether the tensor is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A tensor of the layout before it has an offset; sizes in u128 so that counting the
/// parameters of absurd dims cannot overflow.
pub(super) struct TensorShape {
    name: String,
    shape: Vec<u128>,
}

impl TensorShape {
    fn new(name: String, shape: &[usize]) -> Self {
        TensorShape {
            name,
            shape: shape.iter().map(|&n| n as u128).collect(),
        }
    }

    fn count(&self) -> u128 {
        self.shape.iter().product()
    }
}

/// `embed.weight` `[V, E]`: first, so the flat buffer starts with the embedding table.
pub(super) fn embed_tensor(d: &ModelDims) -> TensorShape {
    TensorShape::new("embed.weight".into(), &[d.vocab, d.embed])
}

/// Layer `l`'s `weight_ih` `[G, input]`, `weight_hh` `[G, H]`, `bias_ih` `[G]` and `bias_hh`
/// `[G]`, in that order (`bias_hh` right after `bias_ih`: the layer sums them as two rows).
/// The input is the embedding for layer 0 and the layer below's output above it.
pub(super) fn layer_tensors(d: &ModelDims, l: usize) -> [TensorShape; 4] {
    let input = if l == 0 { d.embed } else { d.hidden };
    let g = d.cell.gates_per_unit() as u128 * d.hidden as u128;
    let with_g = |name: String, rest: &[usize]| {
        let mut t = TensorShape::new(name, rest);
        t.shape.insert(0, g);
        t
    };
    [
        with_g(format!("rnn.weight_ih_l{l}"), &[input]),
        with_g(format!("rnn.weight_hh_l{l}"), &[d.hidden]),
        with_g(format!("rnn.bias_ih_l{l}"), &[]),
        with_g(format!("rnn.bias_hh_l{l}"), &[]),
    ]
}

/// `proj.weight` `[V, H]` and `proj.bias` `[V]`.
pub(super) fn proj_tensors(d: &ModelDims) -> [TensorShape; 2] {
    [
        TensorShape::new("proj.weight".into(), &[d.vocab, d.hidden]),
        TensorShape::new("proj.bias".into(), &[d.vocab]),
    ]
}

/// Parameters of a model of `dims` (u128, so it cannot overflow).
pub fn param_count(dims: &ModelDims) -> u128 {
    let sum = |ts: &[TensorShape]| ts.iter().map(TensorShape::count).sum::<u128>();
    // Every layer above the first has the same shapes: count one, not L (L is unchecked here).
    let layers = match dims.layers {
        0 => 0,
        l => sum(&layer_tensors(dims, 0)) + (l as u128 - 1) * sum(&layer_tensors(dims, 1)),
    };
    embed_tensor(dims).count() + layers + sum(&proj_tensors(dims))
}

/// Lays tensors out one after another in a flat buffer.
#[derive(Default)]
pub(super) struct Layout {
    /// The tensors placed so far.
    pub infos: Vec<ParamInfo>,
    /// Elements placed so far.
    pub total: usize,
}

impl Layout {
    /// Places `t` after the tensors placed so far; returns it.
    pub fn add(&mut self, t: TensorShape) -> rnngym_kernels::Result<&ParamInfo> {
        let len = to_usize(t.count(), &t.name)?;
        let shape = t
            .shape
            .iter()
            .map(|&n| to_usize(n, &t.name))
            .collect::<rnngym_kernels::Result<_>>()?;
        let off = self.total;
        self.total = off.checked_add(len).ok_or_else(|| {
            KernelError::Shape(format!("the parameters do not fit in memory at {}", t.name))
        })?;
        self.infos.push(ParamInfo {
            name: t.name,
            shape,
            off,
        });
        Ok(&self.infos[self.infos.len() - 1])
    }
}

//! The parameters: the layout (which tensors the flat buffer holds, in order, under PyTorch's
//! `state_dict` names — [`Model::new`] lays the buffer out from it and the memory budget counts
//! it with [`param_count`], so the two cannot drift apart), their initialisation and the
//! forget-gate bias.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rnngym_kernels::{Backend, KernelError};

use super::{KResult, Model, ModelDims};
use crate::cell::LayerParams;
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
struct TensorShape {
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

/// `embed.weight` `[V_in, E]` (V_in = V plus the feature channels' rows): first, so the flat
/// buffer starts with the embedding table.
fn embed_tensor(d: &ModelDims) -> TensorShape {
    TensorShape::new("embed.weight".into(), &[d.inputs, d.embed])
}

/// Layer `l`'s `weight_ih` `[G, input]`, `weight_hh` `[G, H]`, `bias_ih` `[G]` and `bias_hh`
/// `[G]`, in that order (`bias_hh` right after `bias_ih`: the layer sums them as two rows).
/// The input is the C embeddings side by side for layer 0 and the layer below's output above
/// it.
fn layer_tensors(d: &ModelDims, l: usize) -> [TensorShape; 4] {
    let input = if l == 0 {
        d.channels.saturating_mul(d.embed)
    } else {
        d.hidden
    };
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
fn proj_tensors(d: &ModelDims) -> [TensorShape; 2] {
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
struct Layout {
    /// The tensors placed so far.
    infos: Vec<ParamInfo>,
    /// Elements placed so far.
    total: usize,
}

impl Layout {
    /// Places `t` after the tensors placed so far; returns it.
    fn add(&mut self, t: TensorShape) -> rnngym_kernels::Result<&ParamInfo> {
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

impl<B: Backend> Model<B> {
    /// A model with PyTorch's default initialisation (uniform ±1/√H for recurrent and output
    /// weights and all biases, N(0, 1) embeddings), seeded by `seed`.
    pub fn new(be: &B, dims: ModelDims, dropout: f32, seed: u64) -> KResult<Self> {
        let mut layout = Layout::default();
        let embed_off = layout.add(embed_tensor(&dims))?.off;
        let mut layers = Vec::new();
        for l in 0..dims.layers {
            let [w_ih, w_hh, b_ih, b_hh] = layer_tensors(&dims, l);
            let w_ih = layout.add(w_ih)?;
            let (input, gates, w_ih) = (w_ih.shape[1], w_ih.shape[0], w_ih.off);
            layers.push(LayerParams {
                input,
                hidden: dims.hidden,
                gates,
                w_ih,
                w_hh: layout.add(w_hh)?.off,
                b_ih: layout.add(b_ih)?.off,
                b_hh: layout.add(b_hh)?.off,
            });
        }
        let [proj_w, proj_b] = proj_tensors(&dims);
        let proj_off = layout.add(proj_w)?.off;
        let proj_b_off = layout.add(proj_b)?.off;
        let Layout { infos, total } = layout;

        let mut rng = StdRng::seed_from_u64(seed);
        let mut host = vec![0f32; total];
        let k = 1.0 / (dims.hidden as f32).sqrt();
        for info in &infos {
            let slot = &mut host[info.off..info.off + info.len()];
            if info.name == "embed.weight" {
                let normal = rand_distr::StandardNormal;
                slot.iter_mut()
                    .for_each(|x| *x = rng.sample::<f32, _>(normal));
            } else {
                slot.iter_mut().for_each(|x| *x = rng.random_range(-k..k));
            }
        }
        Ok(Model {
            dims,
            dropout,
            infos,
            layers,
            embed_off,
            proj_off,
            proj_b_off,
            params: be.upload(&host)?,
            grads: be.zeros(total)?,
            total,
            features: None,
        })
    }

    /// Re-draws every parameter uniformly from `[-scale, scale]` (char-rnn's `init_scale`).
    pub fn reinit_uniform(&mut self, be: &B, scale: f32, seed: u64) -> KResult<()> {
        let mut rng = StdRng::seed_from_u64(seed);
        let host: Vec<f32> = (0..self.total)
            .map(|_| rng.random_range(-scale..=scale))
            .collect();
        be.write(&mut self.params, 0, &host)
    }

    /// Sets every LSTM layer's forget-gate bias to `value` (in `bias_ih`; `bias_hh`'s forget
    /// block to 0) — the Jozefowicz et al. trick, which `model.forget_bias` opts into. A no-op
    /// for GRU and RNN cells, which have no forget gate.
    pub fn set_forget_bias(&mut self, be: &B, value: f32) -> KResult<()> {
        let Some(gate) = self.dims.cell.forget_gate() else {
            return Ok(());
        };
        let h = self.dims.hidden;
        for lp in &self.layers {
            be.fill(&mut self.params, lp.b_ih + gate * h, h, value)?;
            be.fill(&mut self.params, lp.b_hh + gate * h, h, 0.0)?;
        }
        Ok(())
    }

    /// Re-draws the embedding table as LPCNet's PCM embedding: each channel's block of n rows
    /// gets uniform unit-variance noise plus the ramp `√12·(r − (n−1)/2)/n` on every column,
    /// so an ordered vocabulary (quantized samples) starts as a linear function of its index
    /// and rows seen rarely still sit between their neighbours. Seeded by `seed`.
    pub fn ramp_embeddings(&mut self, be: &B, seed: u64) -> KResult<()> {
        let d = self.dims;
        let mut rng = StdRng::seed_from_u64(seed);
        let root12 = 12f32.sqrt();
        let mut host = Vec::with_capacity(d.inputs * d.embed);
        for (_, n) in self.input_blocks() {
            for r in 0..n {
                let ramp = root12 * (r as f32 - (n as f32 - 1.0) / 2.0) / n as f32;
                host.extend((0..d.embed).map(|_| ramp + root12 * (rng.random::<f32>() - 0.5)));
            }
        }
        be.write(&mut self.params, self.embed_off, &host)
    }

    /// The parameter named `name`.
    pub fn info(&self, name: &str) -> Option<&ParamInfo> {
        self.infos.iter().find(|i| i.name == name)
    }
}

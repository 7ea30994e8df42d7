//! The memory budget: a model and batch that cannot fit are refused before anything is
//! allocated, with a message naming the keys to change, instead of ending in an out-of-memory
//! abort. Counts are in f32 elements and computed in u128, so absurd sizes cannot overflow.

use crate::config::CellKind;
use crate::model::ModelDims;

/// Most parameters a model may have (2^31): beyond it a parameter index leaves the i32 range
/// that GPU kernels and BLAS use, and the weights alone exceed 8 GiB.
pub const MAX_PARAMS: u64 = 1 << 31;

/// Parameter copies a training run keeps: weights, gradients, two optimizer moments, and two
/// host snapshots of weights + moments (the rollback point and a held-back checkpoint).
const PARAM_COPIES: u128 = 4 + 2 * 3;

/// What a training run allocates, in f32 elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// Parameters of the model.
    pub params: u128,
    /// Activations and gradients of one workspace (one window of `[T, B]`).
    pub workspace: u128,
    /// Workspaces allocated (training, plus validation when there is a validation split).
    pub workspaces: u128,
}

impl Footprint {
    /// The sizes a model of `dims` trained on `[t, b]` windows implies.
    pub fn of(dims: &ModelDims, t: usize, b: usize, dropout: bool, validation: bool) -> Self {
        let (v, e, h) = (dims.vocab as u128, dims.embed as u128, dims.hidden as u128);
        let (l, g) = (dims.layers as u128, dims.gates() as u128);
        let params = param_count(dims);
        let (t, b) = (t as u128, b as u128);
        let rows = t * b;
        // Per layer (see cell::LayerBufs): gates, GRU's recurrent gates, h / c over T + 1 steps,
        // the dropout mask and output; then one dh over T + 1 steps (shared by the layers),
        // embeddings in and out, logits and their gradients.
        let gru = if dims.cell == CellKind::Gru { g } else { 0 };
        let lstm = if dims.cell == CellKind::Lstm { 1 } else { 0 };
        let per_layer = rows * (g + gru) + (t + 1) * b * h * (1 + lstm) + b * h * lstm + g;
        let drop = if dropout {
            2 * rows * h * l.saturating_sub(1)
        } else {
            0
        };
        // Layer 0's embedding-projection table when V < T·B (see Model::workspace), else the
        // gathered embeddings and their gradient.
        let embed = if v < rows { v * g } else { 2 * rows * e };
        let workspace = l * per_layer + (t + 1) * b * h + drop + embed + 2 * rows * v + 2 * rows;
        Footprint {
            params,
            workspace,
            workspaces: if validation { 2 } else { 1 },
        }
    }

    /// Bytes in all (f32 = 4 bytes).
    pub fn bytes(&self) -> u128 {
        4 * (PARAM_COPIES * self.params + self.workspaces * self.workspace)
    }
}

/// Parameters of a model of `dims` (u128, so it cannot overflow).
pub fn param_count(dims: &ModelDims) -> u128 {
    let (v, e, h) = (dims.vocab as u128, dims.embed as u128, dims.hidden as u128);
    let (l, g) = (dims.layers as u128, dims.gates() as u128);
    let first = g * (e + h) + 2 * g;
    let rest = l.saturating_sub(1) * (g * (h + h) + 2 * g);
    v * e + first + rest + v * h + v
}

/// Refuses more than [`MAX_PARAMS`] parameters, naming the keys.
pub fn check_params(dims: &ModelDims) -> Result<(), String> {
    let p = param_count(dims);
    if p > MAX_PARAMS as u128 {
        return Err(format!(
            "model.hidden = {}, model.layers = {}, model.embed = {} with a vocabulary of {} give {p} parameters; at most {MAX_PARAMS} are supported: lower model.hidden or model.layers",
            dims.hidden, dims.layers, dims.embed, dims.vocab
        ));
    }
    Ok(())
}

/// Refuses a run whose [`Footprint`] exceeds `available` bytes (when known), naming the keys.
pub fn check_memory(
    fp: &Footprint,
    t: usize,
    b: usize,
    available: Option<u64>,
    device: &str,
) -> Result<(), String> {
    let Some(avail) = available else {
        return Ok(());
    };
    let need = fp.bytes();
    if need <= avail as u128 {
        return Ok(());
    }
    let gib = |x: u128| x as f64 / f64::from(1u32 << 30);
    let hint = if fp.workspaces * fp.workspace >= PARAM_COPIES * fp.params {
        "lower train.batch or train.seq_len (activations dominate)"
    } else {
        "lower model.hidden or model.layers (parameters dominate)"
    };
    Err(format!(
        "train.batch × train.seq_len = {b} × {t} with {} parameters needs about {:.1} GiB, but {device} has only {:.1} GiB free: {hint}",
        fp.params,
        gib(need),
        gib(avail as u128)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use rnngym_kernels::{Backend, CpuBackend};

    fn dims(cell: CellKind, layers: usize) -> ModelDims {
        ModelDims {
            cell,
            vocab: 11,
            embed: 5,
            hidden: 7,
            layers,
        }
    }

    #[test]
    fn counts_match_what_is_allocated() {
        let be = CpuBackend::new(1);
        for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
            for (layers, dropout) in [(1, false), (3, false), (3, true)] {
                let d = dims(cell, layers);
                let m = Model::new(&be, d, if dropout { 0.5 } else { 0.0 }, 1).unwrap();
                assert_eq!(param_count(&d), m.total as u128, "{cell:?} {layers}");
                let (t, b) = (6, 4);
                let ws = m.workspace(&be, t, b).unwrap();
                let mut floats = 2 * ws.t * ws.b * d.vocab + be.len(&ws.dhs);
                for lb in &ws.layers {
                    for buf in [
                        &lb.gates,
                        &lb.gh,
                        &lb.hs,
                        &lb.cs,
                        &lb.dc,
                        &lb.bias,
                        &lb.mask,
                        &lb.dropped,
                        &lb.table,
                    ] {
                        floats += be.len(buf);
                    }
                }
                // + the two `[T·B]` id buffers.
                let fp = Footprint::of(&d, t, b, dropout, false);
                assert_eq!(
                    fp.workspace,
                    (floats + 2 * t * b) as u128,
                    "{cell:?} {layers}"
                );
            }
        }
    }

    #[test]
    fn refusals_name_the_keys() {
        let mut d = dims(CellKind::Lstm, 64);
        d.hidden = 65536;
        d.embed = 65536;
        let e = check_params(&d).unwrap_err();
        assert!(
            e.contains("model.hidden = 65536") && e.contains("model.layers = 64"),
            "{e}"
        );
        check_params(&dims(CellKind::Lstm, 2)).unwrap();

        let small = dims(CellKind::Lstm, 1);
        let fp = Footprint::of(&small, 1 << 20, 64, false, true);
        let e = check_memory(&fp, 1 << 20, 64, Some(1 << 30), "cpu").unwrap_err();
        assert!(
            e.contains("train.batch × train.seq_len = 64 × 1048576"),
            "{e}"
        );
        assert!(e.contains("lower train.batch or train.seq_len"), "{e}");
        check_memory(&fp, 1 << 20, 64, None, "cpu").unwrap();
        check_memory(&fp, 1 << 20, 64, Some(u64::MAX), "cpu").unwrap();
    }
}

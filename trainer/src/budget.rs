//! The memory budget: a model and batch that cannot fit are refused before anything is
//! allocated, with a message naming the keys to change, instead of ending in an out-of-memory
//! abort. Counts are in f32 elements and computed in u128, so absurd sizes cannot overflow.

use crate::config::OptimizerKind;
use crate::model::ModelDims;
use crate::plan::WorkspacePlan;

pub use crate::model::param_count;

/// Most parameters a model may have (2^31): beyond it a parameter index leaves the i32 range
/// that GPU kernels and BLAS use, and the weights alone exceed 8 GiB.
pub const MAX_PARAMS: u64 = 1 << 31;

/// What a training run allocates, in f32 elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// Parameters of the model.
    pub params: u128,
    /// Copies of the parameters' size a run keeps (see [`param_copies`]).
    pub param_copies: u128,
    /// Activations and gradients of one workspace (one window of `[T, B]`).
    pub workspace: u128,
    /// Workspaces allocated (training, plus validation when there is a validation split).
    pub workspaces: u128,
}

impl Footprint {
    /// The sizes a model of `dims` trained on `[t, b]` windows with `optimizer` implies: the
    /// workspace is [`WorkspacePlan`]'s, with layer 0's table chosen as `Model::workspace`
    /// chooses it.
    pub fn of(
        dims: &ModelDims,
        t: usize,
        b: usize,
        dropout: bool,
        validation: bool,
        optimizer: OptimizerKind,
    ) -> Self {
        let table = WorkspacePlan::embed_table_pays(dims, t, b);
        Footprint {
            params: param_count(dims),
            param_copies: param_copies(optimizer),
            workspace: WorkspacePlan::new(dims, t, b, dropout, table).total(),
            workspaces: if validation { 2 } else { 1 },
        }
    }

    /// Elements of all the parameter copies.
    pub fn param_floats(&self) -> u128 {
        self.param_copies * self.params
    }

    /// Bytes in all (f32 = 4 bytes).
    pub fn bytes(&self) -> u128 {
        4 * (self.param_floats() + self.workspaces * self.workspace)
    }
}

/// Parameter-sized buffers a training run with `optimizer` keeps: on the device the weights,
/// their gradients and the optimizer state; on the host two snapshots of weights + state (the
/// rollback point and a held-back checkpoint).
pub fn param_copies(optimizer: OptimizerKind) -> u128 {
    let state = optimizer.state_per_param() as u128;
    2 + state + 2 * (1 + state)
}

/// A model or batch that cannot fit, refused before anything is allocated; the message names
/// the config keys to change.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BudgetError {
    /// More than [`MAX_PARAMS`] parameters.
    #[error(
        "model.hidden = {}, model.layers = {}, model.embed = {} with a vocabulary of {} give \
         {params} parameters; at most {MAX_PARAMS} are supported: lower model.hidden or \
         model.layers",
        .dims.hidden, .dims.layers, .dims.embed, .dims.vocab
    )]
    TooManyParams {
        /// The model's dimensions.
        dims: ModelDims,
        /// How many parameters they give.
        params: u128,
    },
    /// The run's [`Footprint`] exceeds the memory free on the device.
    #[error(
        "train.batch × train.seq_len = {batch} × {seq_len} with {params} parameters needs about \
         {:.1} GiB, but {device} has only {:.1} GiB free: {}",
        gib(*.need),
        gib(u128::from(*.available)),
        memory_hint(*.activations_dominate)
    )]
    OutOfMemory {
        /// B: lanes per window.
        batch: usize,
        /// T: steps per window.
        seq_len: usize,
        /// Parameters of the model.
        params: u128,
        /// Bytes the run needs.
        need: u128,
        /// Bytes free on the device.
        available: u64,
        /// The device's name.
        device: String,
        /// Whether activations (rather than parameter copies) take most of the memory.
        activations_dominate: bool,
    },
}

fn gib(bytes: u128) -> f64 {
    bytes as f64 / f64::from(1u32 << 30)
}

fn memory_hint(activations_dominate: bool) -> &'static str {
    if activations_dominate {
        "lower train.batch or train.seq_len (activations dominate)"
    } else {
        "lower model.hidden or model.layers (parameters dominate)"
    }
}

/// Refuses more than [`MAX_PARAMS`] parameters, naming the keys.
pub fn check_params(dims: &ModelDims) -> Result<(), BudgetError> {
    let params = param_count(dims);
    if params > MAX_PARAMS as u128 {
        return Err(BudgetError::TooManyParams {
            dims: *dims,
            params,
        });
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
) -> Result<(), BudgetError> {
    let Some(avail) = available else {
        return Ok(());
    };
    let need = fp.bytes();
    if need <= avail as u128 {
        return Ok(());
    }
    Err(BudgetError::OutOfMemory {
        batch: b,
        seq_len: t,
        params: fp.params,
        need,
        available: avail,
        device: device.to_string(),
        activations_dominate: fp.workspaces * fp.workspace >= fp.param_floats(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;
    use crate::model::Model;
    use crate::optim::Optimizer;
    use rnngym_kernels::{Backend, Cell, CpuBackend};

    fn dims(cell: Cell, layers: usize) -> ModelDims {
        ModelDims::plain(cell, 11, 5, 7, layers)
    }

    #[test]
    fn counts_match_what_is_allocated() {
        let be = CpuBackend::new(1);
        for cell in Cell::ALL {
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
                for opt in [OptimizerKind::Adam, OptimizerKind::Rmsprop] {
                    // + the two `[T·B]` id buffers.
                    let fp = Footprint::of(&d, t, b, dropout, false, opt);
                    assert_eq!(
                        fp.workspace,
                        (floats + 2 * t * b) as u128,
                        "{cell:?} {layers}"
                    );
                    // On the device: weights, gradients and the optimizer's state.
                    let cfg = TrainConfig {
                        optimizer: opt,
                        ..TrainConfig::default()
                    };
                    let o = Optimizer::new(&be, &cfg, m.total).unwrap();
                    // Its parameter-sized tensors (Adam's step count is two more scalars).
                    let state: usize = o.state(&be).unwrap().iter().map(|(_, v)| v.len()).sum();
                    let state = state - state % m.total;
                    let device = be.len(&m.params) + be.len(&m.grads) + state;
                    let host = 2 * (m.total + state);
                    assert_eq!(fp.param_floats(), (device + host) as u128, "{opt:?}");
                }
            }
        }
    }

    #[test]
    fn refusals_name_the_keys() {
        let mut d = dims(Cell::Lstm, 64);
        d.hidden = 65536;
        d.embed = 65536;
        let e = check_params(&d).unwrap_err().to_string();
        assert!(
            e.contains("model.hidden = 65536") && e.contains("model.layers = 64"),
            "{e}"
        );
        check_params(&dims(Cell::Lstm, 2)).unwrap();

        let small = dims(Cell::Lstm, 1);
        let fp = Footprint::of(&small, 1 << 20, 64, false, true, OptimizerKind::Adam);
        let e = check_memory(&fp, 1 << 20, 64, Some(1 << 30), "cpu")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("train.batch × train.seq_len = 64 × 1048576"),
            "{e}"
        );
        assert!(e.contains("lower train.batch or train.seq_len"), "{e}");
        check_memory(&fp, 1 << 20, 64, None, "cpu").unwrap();
        check_memory(&fp, 1 << 20, 64, Some(u64::MAX), "cpu").unwrap();
    }
}

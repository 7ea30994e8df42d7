//! [`WorkspacePlan`]: the size of every buffer a workspace allocates, in one place. Allocation
//! reads its sizes from here and the memory budget sums the same plan, so the two cannot
//! drift apart. Sizes are f32 (or id) elements in u128, so absurd configs cannot overflow;
//! allocation converts them with `to_usize`, which refuses what does not fit.

use rnngym_kernels::{Cell, KernelError, WindowSizes};

use crate::model::ModelDims;

/// The buffers of one layer (see [`LayerBufs`](crate::cell::LayerBufs)), in elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerPlan {
    /// The layer's cell.
    pub cell: Cell,
    /// T: time steps of the window.
    pub t: usize,
    /// B: rows (lanes) of the window.
    pub b: usize,
    /// Whether dropout follows the layer.
    pub dropout: bool,
    /// The recurrent loop's buffers, as the cell sizes them (gates, gh, hs, cs, dc).
    pub window: WindowSizes,
    /// `[G]` bias scratch.
    pub bias: u128,
    /// `[T, B, H]` dropout mask (0 without dropout).
    pub mask: u128,
    /// `[T, B, H]` output after dropout (0 without dropout).
    pub dropped: u128,
    /// `[V, G]` embedding-projection table (0 unless layer 0 uses it).
    pub table: u128,
}

impl LayerPlan {
    /// All of the layer's buffers together.
    pub fn total(&self) -> u128 {
        self.window.total() + self.bias + self.mask + self.dropped + self.table
    }
}

/// Every buffer of a [`Workspace`](crate::Workspace) for `[T, B]` windows, in elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkspacePlan {
    /// The model's sizes.
    pub dims: ModelDims,
    /// T: time steps.
    pub t: usize,
    /// B: lanes.
    pub b: usize,
    /// Whether the model trains with dropout (between layers, not after the top one).
    pub dropout: bool,
    /// Whether layer 0 works on the `[V, G]` embedding-projection table.
    pub embed_table: bool,
    /// `[T·B]` token ids.
    pub ids: u128,
    /// `[T·B]` target ids.
    pub targets: u128,
    /// `[T·B, E]` gathered embeddings (0 with the table: layer 0 never reads them).
    pub x0: u128,
    /// `[T·B, E]` their gradient (0 with the table).
    pub dx0: u128,
    /// `[T + 1, B, H]` hidden-state gradient, shared by the layers.
    pub dhs: u128,
    /// `[T·B, V]` logits.
    pub logits: u128,
    /// `[T·B, V]` their gradient.
    pub d_logits: u128,
}

impl WorkspacePlan {
    /// Whether layer 0 should project the V embedding rows instead of the T·B input rows:
    /// when V < T·B that is less work (see `cell::input_projection`).
    /// Only for one input channel: with feature channels layer 0 reads several rows per step.
    pub fn embed_table_pays(dims: &ModelDims, t: usize, b: usize) -> bool {
        dims.channels == 1 && wide(dims.vocab) < wide(t) * wide(b)
    }

    /// The plan for a model of `dims` on `[t, b]` windows.
    pub fn new(dims: &ModelDims, t: usize, b: usize, dropout: bool, embed_table: bool) -> Self {
        let rows = wide(t) * wide(b);
        let (v, e, h) = (wide(dims.vocab), wide(dims.embed), wide(dims.hidden));
        let c = wide(dims.channels);
        let embeddings = if embed_table { 0 } else { rows * c * e };
        WorkspacePlan {
            dims: *dims,
            t,
            b,
            dropout,
            embed_table,
            ids: rows * c,
            targets: rows,
            x0: embeddings,
            dx0: embeddings,
            dhs: (wide(t) + 1) * wide(b) * h,
            logits: rows * v,
            d_logits: rows * v,
        }
    }

    /// The buffers of layer `l`.
    pub fn layer(&self, l: usize) -> LayerPlan {
        let d = &self.dims;
        let (t, b, h) = (wide(self.t), wide(self.b), wide(d.hidden));
        let g = wide(d.cell.gates_per_unit()) * h;
        let dropout = self.dropout && l + 1 < d.layers;
        let out = if dropout { t * b * h } else { 0 };
        LayerPlan {
            cell: d.cell,
            t: self.t,
            b: self.b,
            dropout,
            window: d.cell.window_sizes(self.t, self.b, d.hidden),
            bias: g,
            mask: out,
            dropped: out,
            table: if l == 0 && self.embed_table {
                wide(d.vocab) * g
            } else {
                0
            },
        }
    }

    /// Every buffer together.
    pub fn total(&self) -> u128 {
        let layers: u128 = (0..self.dims.layers).map(|l| self.layer(l).total()).sum();
        let ids = self.ids + self.targets;
        layers + ids + self.x0 + self.dx0 + self.dhs + self.logits + self.d_logits
    }
}

fn wide(n: usize) -> u128 {
    n as u128
}

/// A planned size as a `usize`, or a shape error naming `what` when it cannot be addressed.
pub(crate) fn to_usize(n: u128, what: &str) -> rnngym_kernels::Result<usize> {
    usize::try_from(n).map_err(|_| {
        KernelError::Shape(format!(
            "{what} would need {n} elements, more than this machine can address"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use rnngym_kernels::CpuBackend;

    fn dims(cell: Cell) -> ModelDims {
        ModelDims::plain(cell, 11, 5, 7, 2)
    }

    #[test]
    fn windows_too_large_to_address_are_refused_not_wrapped() {
        let (t, b) = (usize::MAX / 2, 4);
        for cell in Cell::ALL {
            let plan = WorkspacePlan::new(&dims(cell), t, b, true, true);
            assert!(plan.total() > usize::MAX as u128, "{cell:?}");
            let m = Model::new(&CpuBackend::new(1), dims(cell), 0.5, 1).unwrap();
            match m.workspace(&CpuBackend::new(1), t, b) {
                Err(KernelError::Shape(e)) => assert!(e.contains("gates"), "{e}"),
                Err(e) => panic!("{cell:?}: {e}"),
                Ok(_) => panic!("{cell:?}: allocated"),
            }
        }
    }
}

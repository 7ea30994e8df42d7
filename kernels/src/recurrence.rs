//! The recurrent time loop of one layer over a window, as one backend operation.
//!
//! A layer's forward pass is `T` dependent steps of "recurrent GEMM, then pointwise cell";
//! its backward pass the same in reverse. [`forward_steps`] and [`backward_steps`] spell the
//! loops out with [`Backend::gemm`] and the cell steps [`Backend::cell_forward`] /
//! [`Backend::cell_backward`] — they are the spec, and what a backend runs unless it overrides
//! [`Backend::recurrent_forward`] / [`Backend::recurrent_backward`] (the CPU backend does: it
//! packs `W_hh` once per window and gives each thread its own batch rows for all `T` steps).
//!
//! Operands are described, not listed: a [`Recurrence`] (the window's shape), a [`CellStep`]
//! (where one step reads and writes) and a [`LayerState`] (the buffers) are checked once by
//! the shared code here, so every backend refuses a bad operand with the same message.

use crate::check::{disjoint, mul, same_or_disjoint, shape_err, span};
use crate::{Backend, Cell, Gemm, Result};

/// Shape of one layer's window and where its recurrent weights are.
#[derive(Clone, Copy, Debug)]
pub struct Recurrence {
    /// The cell.
    pub cell: Cell,
    /// Time steps T.
    pub t: usize,
    /// Batch rows B.
    pub b: usize,
    /// Hidden units H.
    pub h: usize,
    /// Element offset of `weight_hh` (`[G, H]`, row-major) in the parameter buffer.
    pub w_hh: usize,
}

impl Recurrence {
    /// Gate rows G.
    pub fn g(&self) -> usize {
        self.cell.gates_per_unit() * self.h
    }

    /// Where step `step` of the window reads and writes: gate block `step`, state slots
    /// `step` (carried in) and `step + 1` (produced).
    pub fn step(&self, step: usize) -> CellStep {
        let bh = self.b * self.h;
        CellStep {
            cell: self.cell,
            b: self.b,
            h: self.h,
            gates: step * bh * self.cell.gates_per_unit(),
            prev: step * bh,
            next: (step + 1) * bh,
        }
    }

    /// Checks `W_hh` in a parameter buffer of `params` elements and every buffer of the window
    /// (`backward`: also `dhs` and `dc`); returns G. Runs once per window, and for every
    /// generated token, so nothing is formatted unless a check fails.
    pub fn check(&self, params: usize, lens: &StateLens, backward: bool) -> Result<usize> {
        let what = if backward {
            "recurrent_backward"
        } else {
            "recurrent_forward"
        };
        let g = mul(what, self.cell.gates_per_unit(), self.h)?;
        let bh = mul(what, self.b, self.h)?;
        let steps_g = mul(what, mul(what, self.t, self.b)?, g)?;
        let states = mul(what, self.t + 1, bh)?;
        span(Name(what, "W_hh"), params, self.w_hh, mul(what, g, self.h)?)?;
        span(Name(what, "gates"), lens.gates, 0, steps_g)?;
        span(Name(what, "hs"), lens.hs, 0, states)?;
        if self.cell.has_recurrent_gates() {
            span(Name(what, "gh"), lens.gh, 0, steps_g)?;
        }
        if self.cell.has_cell_state() {
            span(Name(what, "cs"), lens.cs, 0, states)?;
        }
        if backward {
            span(Name(what, "dhs"), lens.dhs, 0, states)?;
            if self.cell.has_cell_state() {
                span(Name(what, "dc"), lens.dc, 0, bh)?;
            }
        }
        Ok(g)
    }
}

/// Where one pointwise cell step reads and writes inside a [`LayerState`].
///
/// Forward: reads the pre-activations of the `[B, G]` block at `gates` (GRU: and the
/// recurrent ones at the same offset of `gh`) and the carried state at `prev` (`hs`, and `cs`
/// for the LSTM); writes the state at `next` and leaves the activations in the gate block(s)
/// for the backward. `prev == next` updates the state in place.
///
/// Backward: reads the gradient w.r.t. the state at `next` from `dhs` (LSTM: and the carried
/// `dc`), overwrites the gate block(s) with the pre-activation gradients and `dc` with the
/// gradient w.r.t. `c_prev`; the GRU adds its direct path `dh · z` into `dhs` at `prev`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellStep {
    /// The cell.
    pub cell: Cell,
    /// Batch rows B.
    pub b: usize,
    /// Hidden units H.
    pub h: usize,
    /// Element offset of the step's `[B, G]` block in `gates` (and `gh`).
    pub gates: usize,
    /// Element offset of the carried-in `[B, H]` state in `hs`, `cs` and `dhs`.
    pub prev: usize,
    /// Element offset of the produced `[B, H]` state in `hs`, `cs` and `dhs`.
    pub next: usize,
}

impl CellStep {
    /// The same step restricted to batch rows `r0 .. r0 + n`: each row's gates and states are
    /// contiguous, so a block of rows is a step of its own (the CPU gives each thread one).
    pub fn rows(self, r0: usize, n: usize) -> CellStep {
        let g = self.cell.gates_per_unit() * self.h;
        CellStep {
            b: n,
            gates: self.gates + r0 * g,
            prev: self.prev + r0 * self.h,
            next: self.next + r0 * self.h,
            ..self
        }
    }

    /// Checks every operand the step touches; returns the elements of a gate block and of a
    /// state block (`B·G`, `B·H`).
    pub fn check(&self, lens: &StateLens, backward: bool) -> Result<(usize, usize)> {
        let what = if backward {
            "cell_backward"
        } else {
            "cell_forward"
        };
        let nh = mul(what, self.b, self.h)?;
        let ng = mul(what, nh, self.cell.gates_per_unit())?;
        span(Name(what, "gates"), lens.gates, self.gates, ng)?;
        if self.cell.has_recurrent_gates() {
            span(Name(what, "gh"), lens.gh, self.gates, ng)?;
        }
        let states = |name: &'static str, len: usize| -> Result<()> {
            span(Name(what, name), len, self.prev, nh)?;
            span(Name(what, name), len, self.next, nh)
        };
        match (self.cell, backward) {
            // The LSTM never reads h_prev; the RNN reads no carried state at all.
            (Cell::Lstm, false) => {
                span(Name(what, "hs"), lens.hs, self.next, nh)?;
                states("cs", lens.cs)?;
            }
            (Cell::Lstm, true) => {
                states("cs", lens.cs)?;
                span(Name(what, "dhs"), lens.dhs, self.next, nh)?;
                span(Name(what, "dc"), lens.dc, 0, nh)?;
            }
            (Cell::Gru, false) => states("hs", lens.hs)?,
            (Cell::Gru, true) => {
                span(Name(what, "hs"), lens.hs, self.prev, nh)?;
                states("dhs", lens.dhs)?;
                if !disjoint(self.prev, self.next, nh) {
                    return shape_err(format!(
                        "{what}: dh at {} and dh_prev at {} ({nh} elements) overlap",
                        self.next, self.prev
                    ));
                }
            }
            (Cell::Rnn, false) => span(Name(what, "hs"), lens.hs, self.next, nh)?,
            (Cell::Rnn, true) => span(Name(what, "dhs"), lens.dhs, self.next, nh)?,
        }
        if !backward {
            same_or_disjoint(what, self.prev, self.next, nh)?;
        }
        Ok((ng, nh))
    }
}

/// An operand's name, formatted only when a check fails.
#[derive(Clone, Copy)]
struct Name(&'static str, &'static str);

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.1)
    }
}

/// One layer's window buffers (time-major; state slot 0 holds the state carried in).
///
/// Buffers the cell does not use (see [`Cell::window_sizes`]) may be empty.
pub struct LayerState<'a, Buf> {
    /// `[T, B, G]`: forward: pre-activations with the input part and bias on entry,
    /// activations on exit; backward: gate gradients on exit.
    pub gates: &'a mut Buf,
    /// GRU: `[T, B, G]`: forward: `b_hh` on entry, `h·W_hhᵀ + b_hh` on exit; backward: the
    /// gradient of that on exit.
    pub gh: &'a mut Buf,
    /// `[T + 1, B, H]` hidden states.
    pub hs: &'a mut Buf,
    /// LSTM: `[T + 1, B, H]` cell states.
    pub cs: &'a mut Buf,
    /// `[T + 1, B, H]`: backward: the gradient from above in slots `1..`; on exit slot `s`
    /// holds the full gradient w.r.t. `hs[s]` (slot 0: w.r.t. the carried state).
    pub dhs: &'a mut Buf,
    /// LSTM: `[B, H]` gradient w.r.t. the cell state, carried between steps (zeroed first).
    pub dc: &'a mut Buf,
}

impl<Buf> LayerState<'_, Buf> {
    /// The length of every buffer, as `len` measures it.
    pub fn lens(&self, len: impl Fn(&Buf) -> usize) -> StateLens {
        StateLens {
            gates: len(self.gates),
            gh: len(self.gh),
            hs: len(self.hs),
            cs: len(self.cs),
            dhs: len(self.dhs),
            dc: len(self.dc),
        }
    }
}

/// Element counts of a [`LayerState`]'s buffers, for the shared checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateLens {
    /// `gates`.
    pub gates: usize,
    /// `gh`.
    pub gh: usize,
    /// `hs`.
    pub hs: usize,
    /// `cs`.
    pub cs: usize,
    /// `dhs`.
    pub dhs: usize,
    /// `dc`.
    pub dc: usize,
}

/// The spec of [`Backend::recurrent_forward`]: for each step, `pre += h_prev · W_hhᵀ` (into
/// `gh` when the cell keeps its recurrent gates apart, `gates` otherwise), then the cell step.
pub fn forward_steps<B: Backend + ?Sized>(
    be: &B,
    r: &Recurrence,
    params: &B::Buf,
    mut s: LayerState<'_, B::Buf>,
) -> Result<()> {
    let g = r.check(be.len(params), &s.lens(|x| be.len(x)), false)?;
    for step in 0..r.t {
        let c = r.step(step);
        let mm = Gemm::nt(r.b, g, r.h)
            .offsets(c.prev, r.w_hh, c.gates)
            .scale(1.0, 1.0);
        let pre = if r.cell.has_recurrent_gates() {
            &mut *s.gh
        } else {
            &mut *s.gates
        };
        be.gemm(&mm, s.hs, params, pre)?;
        be.cell_forward(&c, &mut s)?;
    }
    Ok(())
}

/// The spec of [`Backend::recurrent_backward`]: zeroes `dhs[0]` (and `dc`), then for each step
/// from the last, the cell step's backward and `dhs[s] += d_pre · W_hh`.
pub fn backward_steps<B: Backend + ?Sized>(
    be: &B,
    r: &Recurrence,
    params: &B::Buf,
    mut s: LayerState<'_, B::Buf>,
) -> Result<()> {
    let g = r.check(be.len(params), &s.lens(|x| be.len(x)), true)?;
    let bh = r.b * r.h;
    be.fill(s.dhs, 0, bh, 0.0)?;
    if r.cell.has_cell_state() {
        be.fill(s.dc, 0, bh, 0.0)?;
    }
    for step in (0..r.t).rev() {
        let c = r.step(step);
        be.cell_backward(&c, &mut s)?;
        let mm = Gemm::nn(r.b, r.h, g)
            .offsets(c.gates, r.w_hh, c.prev)
            .scale(1.0, 1.0);
        let d_pre = if r.cell.has_recurrent_gates() {
            &*s.gh
        } else {
            &*s.gates
        };
        be.gemm(&mm, d_pre, params, s.dhs)?;
    }
    Ok(())
}

//! The CPU's recurrent time loop (`Backend::recurrent_forward` / `_backward`).
//!
//! Two things make it faster than the step-by-step spec in [`crate::recurrence`]:
//! - `W_hh` is packed once per window ([`Packed`]) instead of once per step inside a general
//!   GEMM;
//! - the batch rows are independent sequences, so each thread takes a block of rows and runs
//!   all `T` steps for them alone — no synchronisation inside the loop. (Splitting each
//!   step's GEMM between threads instead needs a join per step, which costs more than a step
//!   of the S preset computes.)
//!
//! Tested against the spec in `tests/parity_recurrence.rs`.

use rayon::prelude::*;

use super::packed::Packed;
use super::{cells, fastmath};
use crate::recurrence::{backward_steps, forward_steps, LayerState, Recurrence};
use crate::Cell;
use crate::{CpuBackend, Result};

use super::tuning::{WINDOW_PACKED_MIN_ROW_STEPS, WINDOW_THREADS_MIN_MACS};

/// Raw views of a layer's buffers, shared by the row blocks of one window.
#[derive(Clone, Copy)]
struct Ptrs {
    gates: *mut f32,
    gh: *mut f32,
    hs: *mut f32,
    cs: *mut f32,
    dhs: *mut f32,
    dc: *mut f32,
}

// SAFETY: the threads of one window touch disjoint batch rows of every buffer (see `run`).
unsafe impl Send for Ptrs {}
unsafe impl Sync for Ptrs {}

impl Ptrs {
    fn get(&self) -> Ptrs {
        *self
    }

    fn new(s: &mut LayerState<'_, Vec<f32>>) -> Self {
        Ptrs {
            gates: s.gates.as_mut_ptr(),
            gh: s.gh.as_mut_ptr(),
            hs: s.hs.as_mut_ptr(),
            cs: s.cs.as_mut_ptr(),
            dhs: s.dhs.as_mut_ptr(),
            dc: s.dc.as_mut_ptr(),
        }
    }
}

/// `n` elements at `p + off`.
///
/// # Safety
/// The range is inside the buffer (checked by `Recurrence::check`) and no other live slice overlaps it.
unsafe fn at<'a>(p: *mut f32, off: usize, n: usize) -> &'a mut [f32] {
    std::slice::from_raw_parts_mut(p.add(off), n)
}

/// Whether the packed, row-parallel loop runs (else the spec).
fn packed_path(r: &Recurrence) -> bool {
    fastmath::has_avx2_fma() && r.t.saturating_mul(r.b) >= WINDOW_PACKED_MIN_ROW_STEPS
}

/// Runs `body(first_row, rows)` over blocks of the batch, one per thread.
fn run(be: &CpuBackend, r: &Recurrence, g: usize, body: impl Fn(usize, usize) + Sync) {
    let macs =
        r.t.saturating_mul(r.b)
            .saturating_mul(g)
            .saturating_mul(r.h);
    let blocks = if macs >= WINDOW_THREADS_MIN_MACS {
        be.threads().min(r.b).max(1)
    } else {
        1
    };
    if blocks == 1 {
        return body(0, r.b);
    }
    let bounds: Vec<(usize, usize)> = (0..blocks)
        .map(|i| (i * r.b / blocks, (i + 1) * r.b / blocks - i * r.b / blocks))
        .collect();
    bounds.par_iter().for_each(|&(r0, n)| body(r0, n));
}

/// `Backend::recurrent_forward` for the CPU.
pub(crate) fn forward(
    be: &CpuBackend,
    r: &Recurrence,
    params: &Vec<f32>,
    mut s: LayerState<'_, Vec<f32>>,
) -> Result<()> {
    if !packed_path(r) {
        return forward_steps(be, r, params, s);
    }
    let g = r.check(params.len(), &s.lens(Vec::len), false)?;
    let h = r.h;
    let w = Packed::from_transposed(&params[r.w_hh..r.w_hh + g * h], g, h);
    let p = Ptrs::new(&mut s);
    run(be, r, g, |r0, n| {
        // A method call captures the whole `Ptrs` (Sync), not its raw-pointer fields.
        let p = p.get();
        let (ng, nh) = (n * g, n * h);
        for step in 0..r.t {
            let c = r.step(step).rows(r0, n);
            let (go, hp, ho) = (c.gates, c.prev, c.next);
            // SAFETY: `Recurrence::check` checked the extents; rows r0..r0 + n of each slot belong to
            // this block alone, and slots `step` and `step + 1` are disjoint.
            unsafe {
                let h_prev = &*at(p.hs, hp, nh);
                let h_out = at(p.hs, ho, nh);
                let gates = at(p.gates, go, ng);
                match r.cell {
                    Cell::Lstm => {
                        w.gemm_acc(n, h_prev, h, gates, g);
                        let c = at(p.cs, ho, nh);
                        c.copy_from_slice(at(p.cs, hp, nh));
                        // 8 lanes: an AVX2 GEMM follows each step (see
                        // `CpuBackend::wide_cells`).
                        cells::lstm_fwd(h, gates, c, h_out, false);
                    }
                    Cell::Gru => {
                        let gh = at(p.gh, go, ng);
                        w.gemm_acc(n, h_prev, h, gh, g);
                        h_out.copy_from_slice(h_prev);
                        cells::gru_fwd(h, gates, gh, h_out, false);
                    }
                    Cell::Rnn => {
                        w.gemm_acc(n, h_prev, h, gates, g);
                        cells::rnn_fwd(gates, h_out);
                    }
                }
            }
        }
    });
    Ok(())
}

/// `Backend::recurrent_backward` for the CPU.
pub(crate) fn backward(
    be: &CpuBackend,
    r: &Recurrence,
    params: &Vec<f32>,
    mut s: LayerState<'_, Vec<f32>>,
) -> Result<()> {
    if !packed_path(r) {
        return backward_steps(be, r, params, s);
    }
    let g = r.check(params.len(), &s.lens(Vec::len), true)?;
    let (b, h) = (r.b, r.h);
    s.dhs[..b * h].fill(0.0);
    if r.cell.has_cell_state() {
        s.dc[..b * h].fill(0.0);
    }
    let w = Packed::from_rows(&params[r.w_hh..r.w_hh + g * h], g, h);
    let p = Ptrs::new(&mut s);
    run(be, r, g, |r0, n| {
        // A method call captures the whole `Ptrs` (Sync), not its raw-pointer fields.
        let p = p.get();
        let (ng, nh) = (n * g, n * h);
        for step in (0..r.t).rev() {
            let c = r.step(step).rows(r0, n);
            let (go, hp, ho) = (c.gates, c.prev, c.next);
            // SAFETY: as in `forward`; `dc` rows r0..r0 + n are this block's too.
            unsafe {
                let dh = &*at(p.dhs, ho, nh);
                let dh_prev = at(p.dhs, hp, nh);
                let gates = at(p.gates, go, ng);
                match r.cell {
                    Cell::Lstm => {
                        let (c_prev, c) = (&*at(p.cs, hp, nh), &*at(p.cs, ho, nh));
                        cells::lstm_bwd(h, gates, c_prev, c, dh, at(p.dc, r0 * h, nh));
                        w.gemm_acc(n, gates, g, dh_prev, h);
                    }
                    Cell::Gru => {
                        let gh = at(p.gh, go, ng);
                        cells::gru_bwd(h, gates, gh, &*at(p.hs, hp, nh), dh, dh_prev);
                        w.gemm_acc(n, gh, g, dh_prev, h);
                    }
                    Cell::Rnn => {
                        cells::rnn_bwd(gates, dh);
                        w.gemm_acc(n, gates, g, dh_prev, h);
                    }
                }
            }
        }
    });
    Ok(())
}

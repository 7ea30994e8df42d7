//! Recurrent cell steps on the device: the shared operand check of [`CellStep`], then one
//! fused pointwise kernel per step from `kernels/cells.cu`.

use super::buffers::CudaBuf;
use super::context::{grid, grid2d, launch, CudaBackend};
use crate::recurrence::{CellStep, LayerState};
use crate::{Cell, Result};

/// See [`Backend::cell_forward`](crate::Backend::cell_forward).
pub(crate) fn forward(
    be: &CudaBackend,
    c: &CellStep,
    s: &mut LayerState<'_, CudaBuf>,
) -> Result<()> {
    let (_, nh) = c.check(&s.lens(CudaBuf::len), false)?;
    if nh == 0 {
        return Ok(());
    }
    let st = &be.stream;
    let (b, h, n) = (c.b as u64, c.h as u64, nh as u64);
    let (gates, h_next) = (s.gates.at(st, c.gates), s.hs.at(st, c.next));
    match c.cell {
        Cell::Lstm => {
            let (c_prev, c_next) = (s.cs.at(st, c.prev), s.cs.at(st, c.next));
            launch!(
                be,
                lstm_fwd,
                grid2d(c.b, c.h),
                b,
                h,
                gates,
                c_prev,
                c_next,
                h_next
            )
        }
        Cell::Gru => {
            let (gh, h_prev) = (s.gh.at(st, c.gates), s.hs.at(st, c.prev));
            launch!(
                be,
                gru_fwd,
                grid2d(c.b, c.h),
                b,
                h,
                gates,
                gh,
                h_prev,
                h_next
            )
        }
        Cell::Rnn => launch!(be, rnn_fwd, grid(nh), n, gates, h_next),
    }
}

/// See [`Backend::cell_backward`](crate::Backend::cell_backward).
pub(crate) fn backward(
    be: &CudaBackend,
    c: &CellStep,
    s: &mut LayerState<'_, CudaBuf>,
) -> Result<()> {
    let (_, nh) = c.check(&s.lens(CudaBuf::len), true)?;
    if nh == 0 {
        return Ok(());
    }
    let st = &be.stream;
    let (b, h, n) = (c.b as u64, c.h as u64, nh as u64);
    let (gates, dh) = (s.gates.at(st, c.gates), s.dhs.at(st, c.next));
    match c.cell {
        Cell::Lstm => {
            let (c_prev, c_next) = (s.cs.at(st, c.prev), s.cs.at(st, c.next));
            let dc = s.dc.at(st, 0);
            launch!(
                be,
                lstm_bwd,
                grid2d(c.b, c.h),
                b,
                h,
                gates,
                c_prev,
                c_next,
                dh,
                dc
            )
        }
        Cell::Gru => {
            let (gh, h_prev) = (s.gh.at(st, c.gates), s.hs.at(st, c.prev));
            let dh_prev = s.dhs.at(st, c.prev);
            launch!(
                be,
                gru_bwd,
                grid2d(c.b, c.h),
                b,
                h,
                gates,
                gh,
                h_prev,
                dh,
                dh_prev
            )
        }
        Cell::Rnn => launch!(be, rnn_bwd, grid(nh), n, gates, dh),
    }
}

//! Recurrent cell steps on the device: bounds checks (as in the CPU backend), then one fused
//! pointwise kernel per step from `kernels/cells.cu`.

use super::buffers::CudaBuf;
use super::context::{grid, launch, CudaBackend};
use crate::check_cells;
use crate::{CellDims, Result};

/// See [`Backend::lstm_fwd`](crate::Backend::lstm_fwd).
#[allow(clippy::too_many_arguments)]
pub(crate) fn lstm_fwd(
    be: &CudaBackend,
    d: CellDims,
    gates: &mut CudaBuf,
    g_off: usize,
    cs: &mut CudaBuf,
    c_prev_off: usize,
    c_off: usize,
    hs: &mut CudaBuf,
    h_off: usize,
) -> Result<()> {
    let (_, nh) = check_cells::lstm_fwd(
        d,
        gates.len(),
        g_off,
        cs.len(),
        c_prev_off,
        c_off,
        hs.len(),
        h_off,
    )?;
    if nh == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (b, h) = (d.b as u64, d.h as u64);
    let (pg, pcp, pc, ph) = (
        gates.at(s, g_off),
        cs.at(s, c_prev_off),
        cs.at(s, c_off),
        hs.at(s, h_off),
    );
    launch!(be, lstm_fwd, grid(nh), b, h, pg, pcp, pc, ph)
}

/// See [`Backend::lstm_bwd`](crate::Backend::lstm_bwd).
#[allow(clippy::too_many_arguments)]
pub(crate) fn lstm_bwd(
    be: &CudaBackend,
    d: CellDims,
    gates: &mut CudaBuf,
    g_off: usize,
    cs: &CudaBuf,
    c_prev_off: usize,
    c_off: usize,
    dhs: &CudaBuf,
    dh_off: usize,
    dc: &mut CudaBuf,
) -> Result<()> {
    let (_, nh) = check_cells::lstm_bwd(
        d,
        gates.len(),
        g_off,
        cs.len(),
        c_prev_off,
        c_off,
        dhs.len(),
        dh_off,
        dc.len(),
    )?;
    if nh == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (b, h) = (d.b as u64, d.h as u64);
    let (pg, pcp, pc, pdh, pdc) = (
        gates.at(s, g_off),
        cs.at(s, c_prev_off),
        cs.at(s, c_off),
        dhs.at(s, dh_off),
        dc.at(s, 0),
    );
    launch!(be, lstm_bwd, grid(nh), b, h, pg, pcp, pc, pdh, pdc)
}

/// See [`Backend::gru_fwd`](crate::Backend::gru_fwd).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gru_fwd(
    be: &CudaBackend,
    d: CellDims,
    gx: &mut CudaBuf,
    gx_off: usize,
    gh: &CudaBuf,
    gh_off: usize,
    hs: &mut CudaBuf,
    h_prev_off: usize,
    h_off: usize,
) -> Result<()> {
    let (_, nh) = check_cells::gru_fwd(
        d,
        gx.len(),
        gx_off,
        gh.len(),
        gh_off,
        hs.len(),
        h_prev_off,
        h_off,
    )?;
    if nh == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (b, h) = (d.b as u64, d.h as u64);
    let (px, ph_, php, pout) = (
        gx.at(s, gx_off),
        gh.at(s, gh_off),
        hs.at(s, h_prev_off),
        hs.at(s, h_off),
    );
    launch!(be, gru_fwd, grid(nh), b, h, px, ph_, php, pout)
}

/// See [`Backend::gru_bwd`](crate::Backend::gru_bwd).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gru_bwd(
    be: &CudaBackend,
    d: CellDims,
    gx: &mut CudaBuf,
    gx_off: usize,
    gh: &mut CudaBuf,
    gh_off: usize,
    hs: &CudaBuf,
    h_prev_off: usize,
    dhs: &mut CudaBuf,
    dh_off: usize,
    dh_prev_off: usize,
) -> Result<()> {
    let (_, nh) = check_cells::gru_bwd(
        d,
        gx.len(),
        gx_off,
        gh.len(),
        gh_off,
        hs.len(),
        h_prev_off,
        dhs.len(),
        dh_off,
        dh_prev_off,
    )?;
    if nh == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (b, h) = (d.b as u64, d.h as u64);
    let (px, ph_, php, pdh, pdhp) = (
        gx.at(s, gx_off),
        gh.at(s, gh_off),
        hs.at(s, h_prev_off),
        dhs.at(s, dh_off),
        dhs.at(s, dh_prev_off),
    );
    launch!(be, gru_bwd, grid(nh), b, h, px, ph_, php, pdh, pdhp)
}

/// See [`Backend::rnn_fwd`](crate::Backend::rnn_fwd).
pub(crate) fn rnn_fwd(
    be: &CudaBackend,
    d: CellDims,
    gates: &mut CudaBuf,
    g_off: usize,
    hs: &mut CudaBuf,
    h_off: usize,
) -> Result<()> {
    let n = check_cells::rnn_fwd(d, gates.len(), g_off, hs.len(), h_off)?;
    if n == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (pg, ph) = (gates.at(s, g_off), hs.at(s, h_off));
    launch!(be, rnn_fwd, grid(n), n as u64, pg, ph)
}

/// See [`Backend::rnn_bwd`](crate::Backend::rnn_bwd).
pub(crate) fn rnn_bwd(
    be: &CudaBackend,
    d: CellDims,
    gates: &mut CudaBuf,
    g_off: usize,
    dhs: &CudaBuf,
    dh_off: usize,
) -> Result<()> {
    let n = check_cells::rnn_bwd(d, gates.len(), g_off, dhs.len(), dh_off)?;
    if n == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (pg, pdh) = (gates.at(s, g_off), dhs.at(s, dh_off));
    launch!(be, rnn_bwd, grid(n), n as u64, pg, pdh)
}

//! Recurrent cell steps on the device: bounds checks (as in the CPU backend), then one fused
//! pointwise kernel per step from `kernels/cells.cu`.

use super::buffers::CudaBuf;
use super::check::{self, same_or_disjoint, shape_err, span};
use super::context::{grid, launch, CudaBackend};
use crate::{CellDims, Result};

/// `b · k · h` elements, overflow-checked (a `[B, kH]` block).
fn block(what: &str, d: CellDims, k: usize) -> Result<usize> {
    check::mul(what, check::mul(what, d.b, d.h)?, k)
}

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
    let (ng, nh) = (block("lstm_fwd", d, 4)?, block("lstm_fwd", d, 1)?);
    span("lstm_fwd gates", gates.len(), g_off, ng)?;
    span("lstm_fwd c_prev", cs.len(), c_prev_off, nh)?;
    span("lstm_fwd c", cs.len(), c_off, nh)?;
    span("lstm_fwd h", hs.len(), h_off, nh)?;
    same_or_disjoint("lstm_fwd c_prev / c", c_prev_off, c_off, nh)?;
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
    let (ng, nh) = (block("lstm_bwd", d, 4)?, block("lstm_bwd", d, 1)?);
    span("lstm_bwd gates", gates.len(), g_off, ng)?;
    span("lstm_bwd c_prev", cs.len(), c_prev_off, nh)?;
    span("lstm_bwd c", cs.len(), c_off, nh)?;
    span("lstm_bwd dh", dhs.len(), dh_off, nh)?;
    span("lstm_bwd dc", dc.len(), 0, nh)?;
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
    let (ng, nh) = (block("gru_fwd", d, 3)?, block("gru_fwd", d, 1)?);
    span("gru_fwd gx", gx.len(), gx_off, ng)?;
    span("gru_fwd gh", gh.len(), gh_off, ng)?;
    span("gru_fwd h_prev", hs.len(), h_prev_off, nh)?;
    span("gru_fwd h", hs.len(), h_off, nh)?;
    same_or_disjoint("gru_fwd h_prev / h", h_prev_off, h_off, nh)?;
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
    let (ng, nh) = (block("gru_bwd", d, 3)?, block("gru_bwd", d, 1)?);
    span("gru_bwd gx", gx.len(), gx_off, ng)?;
    span("gru_bwd gh", gh.len(), gh_off, ng)?;
    span("gru_bwd h_prev", hs.len(), h_prev_off, nh)?;
    span("gru_bwd dh", dhs.len(), dh_off, nh)?;
    span("gru_bwd dh_prev", dhs.len(), dh_prev_off, nh)?;
    if !check::disjoint(dh_off, dh_prev_off, nh) {
        return shape_err(format!(
            "gru_bwd: dh at {dh_off} and dh_prev at {dh_prev_off} ({nh} elements) overlap"
        ));
    }
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
    let n = block("rnn_fwd", d, 1)?;
    span("rnn_fwd gates", gates.len(), g_off, n)?;
    span("rnn_fwd h", hs.len(), h_off, n)?;
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
    let n = block("rnn_bwd", d, 1)?;
    span("rnn_bwd gates", gates.len(), g_off, n)?;
    span("rnn_bwd dh", dhs.len(), dh_off, n)?;
    if n == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (pg, pdh) = (gates.at(s, g_off), dhs.at(s, dh_off));
    launch!(be, rnn_bwd, grid(n), n as u64, pg, pdh)
}

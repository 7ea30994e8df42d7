//! Operand checks of the single-step cell ops, shared by every backend so a bad offset gives
//! the same `KernelError::Shape` message on the CPU and the GPU. Each takes buffer lengths and
//! returns the element counts of a gate block and a state block.

use crate::check::{disjoint, mul, same_or_disjoint, shape_err, span};
use crate::{CellDims, Result};

/// `b · h · k` elements, overflow-checked (a `[B, kH]` block).
pub(crate) fn block(what: &str, d: CellDims, k: usize) -> Result<usize> {
    mul(what, mul(what, d.b, d.h)?, k)
}

/// `lstm_fwd`: gates `[B, 4H]`, `c_prev` and `c` in `cs` (same or disjoint), `h`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn lstm_fwd(
    d: CellDims,
    gates: usize,
    g_off: usize,
    cs: usize,
    c_prev_off: usize,
    c_off: usize,
    hs: usize,
    h_off: usize,
) -> Result<(usize, usize)> {
    let (ng, nh) = (block("lstm_fwd", d, 4)?, block("lstm_fwd", d, 1)?);
    span("lstm_fwd gates", gates, g_off, ng)?;
    span("lstm_fwd c_prev", cs, c_prev_off, nh)?;
    span("lstm_fwd c", cs, c_off, nh)?;
    span("lstm_fwd h", hs, h_off, nh)?;
    same_or_disjoint("lstm_fwd c_prev / c", c_prev_off, c_off, nh)?;
    Ok((ng, nh))
}

/// `lstm_bwd`: gates, `c_prev` and `c` in `cs`, `dh`, and `dc` at offset 0.
#[allow(clippy::too_many_arguments)]
pub(crate) fn lstm_bwd(
    d: CellDims,
    gates: usize,
    g_off: usize,
    cs: usize,
    c_prev_off: usize,
    c_off: usize,
    dhs: usize,
    dh_off: usize,
    dc: usize,
) -> Result<(usize, usize)> {
    let (ng, nh) = (block("lstm_bwd", d, 4)?, block("lstm_bwd", d, 1)?);
    span("lstm_bwd gates", gates, g_off, ng)?;
    span("lstm_bwd c_prev", cs, c_prev_off, nh)?;
    span("lstm_bwd c", cs, c_off, nh)?;
    span("lstm_bwd dh", dhs, dh_off, nh)?;
    span("lstm_bwd dc", dc, 0, nh)?;
    Ok((ng, nh))
}

/// `gru_fwd`: `gx`, `gh` `[B, 3H]`, `h_prev` and `h` in `hs` (same or disjoint).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gru_fwd(
    d: CellDims,
    gx: usize,
    gx_off: usize,
    gh: usize,
    gh_off: usize,
    hs: usize,
    h_prev_off: usize,
    h_off: usize,
) -> Result<(usize, usize)> {
    let (ng, nh) = (block("gru_fwd", d, 3)?, block("gru_fwd", d, 1)?);
    span("gru_fwd gx", gx, gx_off, ng)?;
    span("gru_fwd gh", gh, gh_off, ng)?;
    span("gru_fwd h_prev", hs, h_prev_off, nh)?;
    span("gru_fwd h", hs, h_off, nh)?;
    same_or_disjoint("gru_fwd h_prev / h", h_prev_off, h_off, nh)?;
    Ok((ng, nh))
}

/// `gru_bwd`: `gx`, `gh`, `h_prev` in `hs`, and `dh`, `dh_prev` in `dhs` (disjoint).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gru_bwd(
    d: CellDims,
    gx: usize,
    gx_off: usize,
    gh: usize,
    gh_off: usize,
    hs: usize,
    h_prev_off: usize,
    dhs: usize,
    dh_off: usize,
    dh_prev_off: usize,
) -> Result<(usize, usize)> {
    let (ng, nh) = (block("gru_bwd", d, 3)?, block("gru_bwd", d, 1)?);
    span("gru_bwd gx", gx, gx_off, ng)?;
    span("gru_bwd gh", gh, gh_off, ng)?;
    span("gru_bwd h_prev", hs, h_prev_off, nh)?;
    span("gru_bwd dh", dhs, dh_off, nh)?;
    span("gru_bwd dh_prev", dhs, dh_prev_off, nh)?;
    if !disjoint(dh_off, dh_prev_off, nh) {
        return shape_err(format!(
            "gru_bwd: dh at {dh_off} and dh_prev at {dh_prev_off} ({nh} elements) overlap"
        ));
    }
    Ok((ng, nh))
}

/// `rnn_fwd`: gates `[B, H]` and `h`.
pub(crate) fn rnn_fwd(
    d: CellDims,
    gates: usize,
    g_off: usize,
    hs: usize,
    h_off: usize,
) -> Result<usize> {
    let n = block("rnn_fwd", d, 1)?;
    span("rnn_fwd gates", gates, g_off, n)?;
    span("rnn_fwd h", hs, h_off, n)?;
    Ok(n)
}

/// `rnn_bwd`: gates `[B, H]` and `dh`.
pub(crate) fn rnn_bwd(
    d: CellDims,
    gates: usize,
    g_off: usize,
    dhs: usize,
    dh_off: usize,
) -> Result<usize> {
    let n = block("rnn_bwd", d, 1)?;
    span("rnn_bwd gates", gates, g_off, n)?;
    span("rnn_bwd dh", dhs, dh_off, n)?;
    Ok(n)
}

//! GRU layer (PyTorch `nn.GRU` semantics, gate order r, z, n, with
//! `n = tanh(x_n + r · (W_hn h + b_hn))`): forward and backward over one window.

use rnngym_kernels::Backend;

use super::{dims, input_projection, recurrent_grad, recurrent_step, weight_grads, Input};
use super::{LayerBufs, LayerParams};

/// Forward over `t` steps of `b` rows; reads the carried state from slot 0 of `hs`.
pub fn forward<B: Backend>(
    be: &B,
    p: &LayerParams,
    params: &B::Buf,
    x: &Input<'_, B>,
    lb: &mut LayerBufs<B>,
    t: usize,
    b: usize,
) -> rnngym_kernels::Result<()> {
    let (h, g) = (p.hidden, p.gates);
    // The two biases stay apart: b_hn sits inside r · (W_hn h + b_hn).
    be.broadcast_rows(params, p.b_ih, &mut lb.gates, 0, t * b, g)?;
    be.broadcast_rows(params, p.b_hh, &mut lb.gh, 0, t * b, g)?;
    input_projection(be, p, params, x, t * b, &mut lb.gates, &mut lb.table)?;
    for s in 0..t {
        let (g_off, h_prev, h_out) = (s * b * g, s * b * h, (s + 1) * b * h);
        recurrent_step(be, p, params, &lb.hs, h_prev, &mut lb.gh, g_off, b)?;
        be.gru_fwd(
            dims(b, h),
            &mut lb.gates,
            g_off,
            &lb.gh,
            g_off,
            &mut lb.hs,
            h_prev,
            h_out,
        )?;
    }
    Ok(())
}

/// Backward over the window (see [`super::lstm::backward`]); `lb.gh` ends up holding the
/// gradient of the recurrent pre-activations.
#[allow(clippy::too_many_arguments)]
pub fn backward<B: Backend>(
    be: &B,
    p: &LayerParams,
    params: &B::Buf,
    grads: &mut B::Buf,
    x: &Input<'_, B>,
    lb: &mut LayerBufs<B>,
    t: usize,
    b: usize,
) -> rnngym_kernels::Result<()> {
    let (h, g) = (p.hidden, p.gates);
    be.fill(&mut lb.dhs, 0, b * h, 0.0)?;
    for s in (0..t).rev() {
        let (g_off, h_prev, h_out) = (s * b * g, s * b * h, (s + 1) * b * h);
        be.gru_bwd(
            dims(b, h),
            &mut lb.gates,
            g_off,
            &mut lb.gh,
            g_off,
            &lb.hs,
            h_prev,
            &mut lb.dhs,
            h_out,
            h_prev,
        )?;
        recurrent_grad(be, p, params, &lb.gh, g_off, &mut lb.dhs, h_prev, b)?;
    }
    weight_grads(be, p, x, lb, t * b, grads)
}

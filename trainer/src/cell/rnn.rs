//! Vanilla tanh RNN layer (PyTorch `nn.RNN(nonlinearity = "tanh")`): forward and backward.

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
    let h = p.hidden;
    be.sum_rows(params, p.b_ih, 2, h, &mut lb.bias, 0, false)?;
    be.broadcast_rows(&lb.bias, 0, &mut lb.gates, 0, t * b, h)?;
    input_projection(be, p, params, x, t * b, &mut lb.gates, &mut lb.table)?;
    for s in 0..t {
        let (g_off, h_prev, h_out) = (s * b * h, s * b * h, (s + 1) * b * h);
        recurrent_step(be, p, params, &lb.hs, h_prev, &mut lb.gates, g_off, b)?;
        be.rnn_fwd(dims(b, h), &mut lb.gates, g_off, &mut lb.hs, h_out)?;
    }
    Ok(())
}

/// Backward over the window (see [`super::lstm::backward`]).
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
    let h = p.hidden;
    be.fill(&mut lb.dhs, 0, b * h, 0.0)?;
    for s in (0..t).rev() {
        let (g_off, h_prev, h_out) = (s * b * h, s * b * h, (s + 1) * b * h);
        be.rnn_bwd(dims(b, h), &mut lb.gates, g_off, &lb.dhs, h_out)?;
        recurrent_grad(be, p, params, &lb.gates, g_off, &mut lb.dhs, h_prev, b)?;
    }
    weight_grads(be, p, x, lb, t * b, grads)
}

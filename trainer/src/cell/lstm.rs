//! LSTM layer (PyTorch `nn.LSTM` semantics, gate order i, f, g, o): forward and backward over
//! one window.

use rnngym_kernels::Backend;

use super::{dims, input_projection, recurrent_grad, recurrent_step, weight_grads, Input};
use super::{LayerBufs, LayerParams};

/// Forward over `t` steps of `b` rows; reads the carried state from slot 0 of `hs` / `cs`.
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
    be.sum_rows(params, p.b_ih, 2, g, &mut lb.bias, 0, false)?;
    be.broadcast_rows(&lb.bias, 0, &mut lb.gates, 0, t * b, g)?;
    input_projection(be, p, params, x, t * b, &mut lb.gates, &mut lb.table)?;
    for s in 0..t {
        let (g_off, h_prev, h_out) = (s * b * g, s * b * h, (s + 1) * b * h);
        recurrent_step(be, p, params, &lb.hs, h_prev, &mut lb.gates, g_off, b)?;
        be.lstm_fwd(
            dims(b, h),
            &mut lb.gates,
            g_off,
            &mut lb.cs,
            h_prev,
            h_out,
            &mut lb.hs,
            h_out,
        )?;
    }
    Ok(())
}

/// Backward over the window: `lb.dhs[1..]` holds the gradient from above; writes the gate
/// gradients into `lb.gates` and the parameter gradients into `grads`.
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
    be.fill(&mut lb.dc, 0, b * h, 0.0)?;
    be.fill(&mut lb.dhs, 0, b * h, 0.0)?;
    for s in (0..t).rev() {
        let (g_off, h_prev, h_out) = (s * b * g, s * b * h, (s + 1) * b * h);
        be.lstm_bwd(
            dims(b, h),
            &mut lb.gates,
            g_off,
            &lb.cs,
            h_prev,
            h_out,
            &lb.dhs,
            h_out,
            &mut lb.dc,
        )?;
        recurrent_grad(be, p, params, &lb.gates, g_off, &mut lb.dhs, h_prev, b)?;
    }
    weight_grads(be, p, x, lb, t * b, grads)
}

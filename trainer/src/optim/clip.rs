//! Gradient clipping by global norm (as `torch.nn.utils.clip_grad_norm_`).

use rnngym_kernels::Backend;

/// Returns the global L2 norm of `grads[..n]` and, when it exceeds `max_norm > 0`, scales the
/// gradients down to that norm. A non-finite norm is returned untouched for the caller to stop.
pub fn clip_global_norm<B: Backend>(
    be: &B,
    grads: &mut B::Buf,
    n: usize,
    max_norm: f64,
) -> rnngym_kernels::Result<f64> {
    let norm = be.sum_squares(grads, 0, n)?.sqrt();
    if max_norm > 0.0 && norm.is_finite() && norm > max_norm {
        be.scale(grads, 0, n, (max_norm / (norm + 1e-6)) as f32)?;
    }
    Ok(norm)
}

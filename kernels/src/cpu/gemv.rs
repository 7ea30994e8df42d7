//! Batch-1 products (`m == 1`, B transposed): `y = alpha·W·x + beta·y`, `W` `[n, k]` row-major —
//! the shape of every per-token step of generation. The gemm crate's own path for this shape
//! is fast on one core (faster than a hand-written AVX2 dot kernel) but only threads very
//! large products, so the rows of `W` are split between two threads here: through a rayon
//! join, or cheaper through the backend's hot helper thread ([`super::spin`]). Thresholds in
//! [`super::tuning`], measurements in docs/PERFORMANCE.md.

use super::tuning::{GEMV_HELPER_MIN_MACS, GEMV_JOIN_MIN_MACS};

/// Whether a `1 × n × k` product should be split across `threads` threads (`hot`: through
/// the spinning helper).
pub(crate) fn split_rows(n: usize, k: usize, threads: usize, hot: bool) -> bool {
    let min = if hot {
        GEMV_HELPER_MIN_MACS
    } else {
        GEMV_JOIN_MIN_MACS
    };
    threads > 1 && n >= 2 * threads && n.saturating_mul(k) >= min
}

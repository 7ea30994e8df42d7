//! Batch-1 products (`m == 1`, B transposed): `y = alpha·W·x + beta·y`, `W` `[n, k]` row-major —
//! the shape of every per-token step of generation. The gemm crate's own path for this shape
//! is fast on one core (measured: 108 µs for 2048×512 against 158 µs for a hand-written
//! 4-row AVX2 dot kernel) but only threads products above 2²⁴ multiply-adds; splitting the rows
//! of `W` between two threads pays above about 2¹⁹.

/// Below this many multiply-adds one thread does the whole product: a rayon join costs a few
/// microseconds; at 1024×256 (2¹⁸, preset M) the split measured slower, at 2048×512 (2²⁰, preset L) twice as fast.
pub(crate) const PAR_MIN_MACS: usize = 1 << 19;

/// Whether a `1 × n × k` product should be split across `threads` threads.
pub(crate) fn split_rows(n: usize, k: usize, threads: usize) -> bool {
    threads > 1 && n >= 2 * threads && n.saturating_mul(k) >= PAR_MIN_MACS
}

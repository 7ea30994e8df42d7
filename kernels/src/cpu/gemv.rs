//! Batch-1 products (`m == 1`, B transposed): `y = alpha·W·x + beta·y`, `W` `[n, k]` row-major —
//! the shape of every per-token step of generation. The gemm crate's own path for this shape
//! is fast on one core (measured: 108 µs for 2048×512 against 158 µs for a hand-written
//! 4-row AVX2 dot kernel) but only threads products above 2²⁴ multiply-adds. Splitting the rows
//! of `W` between two threads pays above about 2¹⁹ through a rayon join, and above 2¹⁶ through
//! the backend's hot helper thread ([`super::spin`]): batch-1 generation 1.15–1.5× faster at
//! preset S, 1.5–1.7× at M and 1.2–1.3× at L (4–8 interleaved rounds each against the rayon
//! split, which M and S did not use).

/// Below this many multiply-adds one thread does the whole product: a rayon join costs a few
/// microseconds; at 1024×256 (2¹⁸, preset M) the split measured slower, at 2048×512 (2²⁰, preset L) twice as fast.
pub(crate) const PAR_MIN_MACS: usize = 1 << 19;

/// The same threshold with the hot helper thread ([`super::spin`]), whose hand-off costs a
/// cache-line transfer instead of a wake-up.
pub(crate) const SPIN_MIN_MACS: usize = 1 << 16;

/// Whether a `1 × n × k` product should be split across `threads` threads (`hot`: through
/// the spinning helper).
pub(crate) fn split_rows(n: usize, k: usize, threads: usize, hot: bool) -> bool {
    let min = if hot { SPIN_MIN_MACS } else { PAR_MIN_MACS };
    threads > 1 && n >= 2 * threads && n.saturating_mul(k) >= min
}

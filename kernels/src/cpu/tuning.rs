//! Every threshold the CPU backend tunes on, in one place: where it stops splitting work
//! between threads and where it switches kernels. The measurements behind each value are in
//! `docs/PERFORMANCE.md` ("CPU thresholds"); change them there and here together.

use std::time::Duration;

/// Fewest multiply-adds (`m·n·k`) for which a general GEMM uses more than one thread: below
/// it the fork / join costs more than it saves.
pub(crate) const GEMM_THREADS_MIN_MACS: usize = 1 << 22;

/// Fewest rows of `C` per thread when a GEMM splits its rows between threads; below that the
/// gemm crate splits the product itself.
pub(crate) const GEMM_MIN_ROWS_PER_THREAD: usize = 16;

/// Fewest multiply-adds for which a batch-1 product (GEMV) is split through a rayon join,
/// whose wake-up costs a few microseconds.
pub(crate) const GEMV_JOIN_MIN_MACS: usize = 1 << 19;

/// Fewest multiply-adds for which a batch-1 product is split through the hot helper thread,
/// whose hand-off costs a cache-line transfer instead of a wake-up.
pub(crate) const GEMV_HELPER_MIN_MACS: usize = 1 << 16;

/// How long the hot helper thread spins for the next job before it parks (so an idle process
/// does not burn a core).
pub(crate) const HELPER_SPIN: Duration = Duration::from_micros(200);

/// Fewest multiply-adds per window for which a layer's time loop gives each thread its own
/// batch rows.
pub(crate) const WINDOW_THREADS_MIN_MACS: usize = 1 << 22;

/// Fewest rows × steps for which a window packs `W_hh` once and runs the packed loop; below it
/// (batch-1 generation steps) packing would cost as much as the product.
pub(crate) const WINDOW_PACKED_MIN_ROW_STEPS: usize = 16;

/// Fewest `B·H` elements for which one pointwise cell step splits its rows between two threads
/// (preset L's 64 × 512 is above it, S and M below).
pub(crate) const CELL_THREADS_MIN_UNITS: usize = 1 << 15;

/// Fewest `B·H` elements for which a cell step splits its rows through the hot helper thread
/// when there is one (generation of many streams: a hand-off costs about a microsecond, a
/// rayon wake-up several, and the helper would otherwise wait through the step). With the
/// 16-lane cells (2026-12-06, w8a16, interleaved A/B): 2048 units split pays (M 8 streams
/// +10 %, S 16 streams +15 %), 1024 do not (M 4 streams −10 %).
pub(crate) const CELL_HELPER_MIN_UNITS: usize = 1 << 11;

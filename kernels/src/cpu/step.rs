//! `Backend::cell_forward` / `cell_backward` on the CPU: the shared operand check, then
//! exact-size slices for the fast kernels in `cells`, the batch rows split between two threads
//! where a step is big enough to pay for the join.

use super::cells;
use super::check::split_src_dst;
use super::spin::{join_parts, Helper};
use super::tuning::{CELL_HELPER_MIN_UNITS, CELL_THREADS_MIN_UNITS};
use crate::recurrence::{CellStep, LayerState};
use crate::{Cell, CpuBackend, Result};

impl CpuBackend {
    /// Rows for the first thread when a pointwise cell step is worth splitting across two
    /// threads, else `None`.
    fn row_split(&self, c: &CellStep) -> Option<usize> {
        (self.threads() > 1 && c.b >= 2 && c.b * c.h >= CELL_THREADS_MIN_UNITS).then_some(c.b / 2)
    }

    /// Whether forward cell steps run at 16 lanes (on AVX-512 CPUs): once the hot helper runs,
    /// i.e. while generating, whose products are 512-bit already. Measured (2-core Xeon, M,
    /// interleaved A/B): generation +8 % at batch 1 and +12 % at 64 streams, but LSTM
    /// training −4 % (S): perf shows the AVX2 recurrent GEMM between its steps taking longer
    /// (likely the lower AVX-512 clock, which lingers after 512-bit code).
    pub(crate) fn wide_cells(&self) -> bool {
        self.running_helper().is_some()
    }

    /// How a forward cell step splits its rows, if it does: a big one through rayon (`None`,
    /// as [`CpuBackend::row_split`]), a smaller one (many generated streams) through the hot
    /// helper thread; with the rows for this thread.
    fn forward_split(&self, c: &CellStep) -> Option<(Option<&Helper>, usize)> {
        let worth = c.b >= 2 && c.b * c.h >= CELL_HELPER_MIN_UNITS;
        // While generating, the running helper takes big steps too: a rayon worker beside it
        // would make three busy threads on two cores (preset L, 64 streams: its 32k-unit steps
        // went to rayon while the helper spun).
        if let Some(helper) = self.running_helper().filter(|_| worth) {
            return Some((Some(helper), c.b / 2));
        }
        if let Some(half) = self.row_split(c) {
            return Some((None, half));
        }
        if !worth {
            return None;
        }
        self.spin().map(|helper| (Some(helper), c.b / 2))
    }
}

/// See [`Backend::cell_forward`](crate::Backend::cell_forward).
pub(crate) fn forward(
    be: &CpuBackend,
    c: &CellStep,
    s: &mut LayerState<'_, Vec<f32>>,
) -> Result<()> {
    let (ng, nh) = c.check(&s.lens(Vec::len), false)?;
    let (go, prev, next, h) = (c.gates, c.prev, c.next, c.h);
    let wide = be.wide_cells();
    match c.cell {
        Cell::Lstm => {
            // The kernel updates c in place; a separate c_prev is copied in first (B·H floats,
            // negligible next to the GEMM) so one kernel serves both layouts.
            if prev != next {
                s.cs.copy_within(prev..prev + nh, next);
            }
            let (g, cs, hs) = (
                &mut s.gates[go..go + ng],
                &mut s.cs[next..next + nh],
                &mut s.hs[next..next + nh],
            );
            match be.forward_split(c) {
                // Rows are independent: each thread takes half of the batch.
                Some((helper, half)) => {
                    let at = [half * 4 * h, half * h, half * h];
                    join_parts(helper, [g, cs, hs], at, |_, [g, cs, hs]| {
                        cells::lstm_fwd(h, g, cs, hs, wide)
                    });
                }
                None => cells::lstm_fwd(h, g, cs, hs, wide),
            }
        }
        Cell::Gru => {
            // As for the LSTM: the kernel updates h in place from h_prev.
            if prev != next {
                s.hs.copy_within(prev..prev + nh, next);
            }
            let (gx, gh) = (&mut s.gates[go..go + ng], &s.gh[go..go + ng]);
            let hs = &mut s.hs[next..next + nh];
            match be.forward_split(c) {
                Some((helper, half)) => {
                    let gh = gh.split_at(half * 3 * h);
                    join_parts(helper, [gx, hs], [half * 3 * h, half * h], |i, [gx, hs]| {
                        cells::gru_fwd(h, gx, [gh.0, gh.1][i], hs, wide)
                    });
                }
                None => cells::gru_fwd(h, gx, gh, hs, wide),
            }
        }
        Cell::Rnn => cells::rnn_fwd(&mut s.gates[go..go + nh], &mut s.hs[next..next + nh]),
    }
    Ok(())
}

/// See [`Backend::cell_backward`](crate::Backend::cell_backward).
pub(crate) fn backward(
    be: &CpuBackend,
    c: &CellStep,
    s: &mut LayerState<'_, Vec<f32>>,
) -> Result<()> {
    let (ng, nh) = c.check(&s.lens(Vec::len), true)?;
    let (go, prev, next, h) = (c.gates, c.prev, c.next, c.h);
    match c.cell {
        Cell::Lstm => {
            let (g, cp, cn, dh, dc) = (
                &mut s.gates[go..go + ng],
                &s.cs[prev..prev + nh],
                &s.cs[next..next + nh],
                &s.dhs[next..next + nh],
                &mut s.dc[..nh],
            );
            match be.row_split(c) {
                Some(half) => {
                    let (g0, g1) = g.split_at_mut(half * 4 * h);
                    let n0 = half * h;
                    let (dc0, dc1) = dc.split_at_mut(n0);
                    rayon::join(
                        || cells::lstm_bwd(h, g0, &cp[..n0], &cn[..n0], &dh[..n0], dc0),
                        || cells::lstm_bwd(h, g1, &cp[n0..], &cn[n0..], &dh[n0..], dc1),
                    );
                }
                None => cells::lstm_bwd(h, g, cp, cn, dh, dc),
            }
        }
        Cell::Gru => {
            let (dh, dh_prev) = split_src_dst(s.dhs, next, prev, nh);
            let (gx, gh) = (&mut s.gates[go..go + ng], &mut s.gh[go..go + ng]);
            cells::gru_bwd(h, gx, gh, &s.hs[prev..prev + nh], dh, dh_prev);
        }
        Cell::Rnn => cells::rnn_bwd(&mut s.gates[go..go + nh], &s.dhs[next..next + nh]),
    }
    Ok(())
}

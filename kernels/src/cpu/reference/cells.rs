//! Reference recurrent cell steps (LSTM, GRU, vanilla RNN), forward and backward: the spec of
//! [`Backend::cell_forward`](crate::Backend::cell_forward) and
//! [`Backend::cell_backward`](crate::Backend::cell_backward), generic over the float type so
//! the gradient checks can run them in f64. Operands are checked by the caller.
//!
//! Row `r`, unit `j` of a `[B, kH]` gate block lives at `c.gates + r * kH + q * H + j` for
//! gate `q`; of a `[B, H]` state block at `c.prev` / `c.next` + `r * H + j`.

use super::Real;
use crate::recurrence::{CellStep, LayerState};
use crate::Cell;

/// Logistic sigmoid `1 / (1 + e⁻ˣ)`; saturates to exactly 0 or 1 without producing NaN.
#[inline]
pub fn sigmoid<R: Real>(x: R) -> R {
    let one = R::from_f64(1.0);
    one / (one + (-x).exp())
}

/// The cell step's forward (see [`CellStep`]).
pub fn cell_forward<R: Real>(c: &CellStep, s: &mut LayerState<'_, Vec<R>>) {
    match c.cell {
        Cell::Lstm => lstm_fwd(c, s),
        Cell::Gru => gru_fwd(c, s),
        Cell::Rnn => {
            for k in 0..c.b * c.h {
                let y = s.gates[c.gates + k].tanh();
                s.gates[c.gates + k] = y;
                s.hs[c.next + k] = y;
            }
        }
    }
}

/// The cell step's backward (see [`CellStep`]).
pub fn cell_backward<R: Real>(c: &CellStep, s: &mut LayerState<'_, Vec<R>>) {
    match c.cell {
        Cell::Lstm => lstm_bwd(c, s),
        Cell::Gru => gru_bwd(c, s),
        Cell::Rnn => {
            let one = R::from_f64(1.0);
            for k in 0..c.b * c.h {
                let y = s.gates[c.gates + k];
                s.gates[c.gates + k] = s.dhs[c.next + k] * (one - y * y);
            }
        }
    }
}

fn lstm_fwd<R: Real>(c: &CellStep, s: &mut LayerState<'_, Vec<R>>) {
    let h = c.h;
    for r in 0..c.b {
        for j in 0..h {
            let gi = c.gates + r * 4 * h + j;
            let g = &mut s.gates;
            let i = sigmoid(g[gi]);
            let f = sigmoid(g[gi + h]);
            let gg = g[gi + 2 * h].tanh();
            let o = sigmoid(g[gi + 3 * h]);
            let cell = f * s.cs[c.prev + r * h + j] + i * gg;
            s.cs[c.next + r * h + j] = cell;
            s.hs[c.next + r * h + j] = o * cell.tanh();
            g[gi] = i;
            g[gi + h] = f;
            g[gi + 2 * h] = gg;
            g[gi + 3 * h] = o;
        }
    }
}

fn lstm_bwd<R: Real>(c: &CellStep, s: &mut LayerState<'_, Vec<R>>) {
    let h = c.h;
    let one = R::from_f64(1.0);
    for r in 0..c.b {
        for j in 0..h {
            let gi = c.gates + r * 4 * h + j;
            let g = &mut s.gates;
            let (i, f, gg, o) = (g[gi], g[gi + h], g[gi + 2 * h], g[gi + 3 * h]);
            let c_prev = s.cs[c.prev + r * h + j];
            let tc = s.cs[c.next + r * h + j].tanh();
            let dh = s.dhs[c.next + r * h + j];
            // h = o·tanh(c): the carried dc (from step t+1) plus this step's path through h.
            let dct = s.dc[r * h + j] + dh * o * (one - tc * tc);
            let d_o = dh * tc;
            let d_i = dct * gg;
            let d_f = dct * c_prev;
            let d_g = dct * i;
            s.dc[r * h + j] = dct * f;
            g[gi] = d_i * i * (one - i);
            g[gi + h] = d_f * f * (one - f);
            g[gi + 2 * h] = d_g * (one - gg * gg);
            g[gi + 3 * h] = d_o * o * (one - o);
        }
    }
}

fn gru_fwd<R: Real>(c: &CellStep, s: &mut LayerState<'_, Vec<R>>) {
    let h = c.h;
    let one = R::from_f64(1.0);
    for row in 0..c.b {
        for j in 0..h {
            let i = c.gates + row * 3 * h + j;
            let (gx, gh) = (&mut s.gates, &s.gh);
            let r = sigmoid(gx[i] + gh[i]);
            let z = sigmoid(gx[i + h] + gh[i + h]);
            let n = (gx[i + 2 * h] + r * gh[i + 2 * h]).tanh();
            let h_prev = s.hs[c.prev + row * h + j];
            s.hs[c.next + row * h + j] = (one - z) * n + z * h_prev;
            gx[i] = r;
            gx[i + h] = z;
            gx[i + 2 * h] = n;
        }
    }
}

fn gru_bwd<R: Real>(c: &CellStep, s: &mut LayerState<'_, Vec<R>>) {
    let h = c.h;
    let one = R::from_f64(1.0);
    for row in 0..c.b {
        for j in 0..h {
            let i = c.gates + row * 3 * h + j;
            let (gx, gh) = (&mut s.gates, &mut s.gh);
            let (r, z, n) = (gx[i], gx[i + h], gx[i + 2 * h]);
            let h_n = gh[i + 2 * h];
            let h_prev = s.hs[c.prev + row * h + j];
            let dh = s.dhs[c.next + row * h + j];
            let dn_pre = dh * (one - z) * (one - n * n);
            let dz_pre = dh * (h_prev - n) * z * (one - z);
            let dr_pre = dn_pre * h_n * r * (one - r);
            s.dhs[c.prev + row * h + j] = s.dhs[c.prev + row * h + j] + dh * z;
            gx[i] = dr_pre;
            gx[i + h] = dz_pre;
            gx[i + 2 * h] = dn_pre;
            gh[i] = dr_pre;
            gh[i + h] = dz_pre;
            // r gates only the recurrent part of n.
            gh[i + 2 * h] = dn_pre * r;
        }
    }
}

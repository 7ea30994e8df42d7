//! The CPU backend's whole-window recurrent loop (packed `W_hh`, batch rows split between
//! threads) against the step-by-step spec in `rnngym_kernels::recurrence`, for every cell, on
//! ragged shapes, with one and two threads.
//!
//! Tolerance: `2e-5·|spec| + 2e-5` — both sides are f32 with the same pointwise kernels; only
//! the GEMM's summation order differs (and compounds over the steps).

mod common;
use common::*;
use rnngym_kernels::recurrence::{backward_steps, forward_steps};
use rnngym_kernels::{Backend, Cell, CpuBackend, Recurrence};

const REL: f32 = 2e-5;
const ABS: f32 = 2e-5;

/// Random inputs for `r`: parameters (`W_hh` at a nonzero offset, after some other
/// parameters), then the window's buffers.
fn inputs(r: &Recurrence, seed: u64) -> (Vec<f32>, Bufs<Vec<f32>>) {
    let mut rng = rng(seed);
    let params = rand_vec(&mut rng, r.w_hh + r.g() * r.h + 3, 0.3);
    let bufs = Bufs::window(&mut rng, r);
    (params, bufs)
}

fn case(r: Recurrence, threads: usize) {
    let be = CpuBackend::new(threads);
    let what = format!(
        "{:?} t={} b={} h={} threads={threads}",
        r.cell, r.t, r.b, r.h
    );
    let (params, start) = inputs(&r, r.t as u64 * 1000 + r.h as u64);

    let (mut spec, mut fast) = (start.clone(), start);
    forward_steps(&be, &r, &params, spec.state()).unwrap();
    be.recurrent_forward(&r, &params, fast.state()).unwrap();
    fast.assert_close(&format!("forward {what}"), &spec, REL, ABS);

    // The backward pass starts from the spec's forward state on both sides.
    let mut fast = spec.clone();
    backward_steps(&be, &r, &params, spec.state()).unwrap();
    be.recurrent_backward(&r, &params, fast.state()).unwrap();
    fast.assert_close(&format!("backward {what}"), &spec, REL, ABS);
}

#[test]
fn window_loop_matches_the_step_by_step_spec() {
    for cell in [Cell::Lstm, Cell::Gru, Cell::Rnn] {
        for threads in [1, 2] {
            // Tiny (the spec path itself), ragged (7 rows, 13 units: partial tiles and
            // panels), and large enough that two threads split the batch (odd rows per block).
            for (t, b, h) in [(1, 1, 3), (5, 7, 13), (3, 6, 16), (8, 9, 250)] {
                let w_hh = 11;
                case(
                    Recurrence {
                        cell,
                        t,
                        b,
                        h,
                        w_hh,
                    },
                    threads,
                );
            }
        }
    }
}

#[test]
fn window_loop_rejects_short_buffers() {
    let be = CpuBackend::new(1);
    let r = Recurrence {
        cell: Cell::Lstm,
        t: 4,
        b: 8,
        h: 16,
        w_hh: 0,
    };
    let (params, mut bufs) = inputs(&r, 1);
    bufs.cs.truncate(10);
    let err = be.recurrent_forward(&r, &params, bufs.state()).unwrap_err();
    assert!(err.to_string().contains("cs"), "{err}");
    let err = be
        .recurrent_forward(&r, &params[..100].to_vec(), bufs.state())
        .unwrap_err();
    assert!(err.to_string().contains("W_hh"), "{err}");
}

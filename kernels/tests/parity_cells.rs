//! Fast recurrent cell steps against the reference, on random inputs at nonzero offsets.
//!
//! Tolerance: `1e-5·|ref| + 1e-6` (both sides are f32 with the same formulas; only
//! instruction order and libm may differ).

mod common;
use common::*;
use rnngym_kernels::cpu::reference;
use rnngym_kernels::{Backend, Cell, CellStep, CpuBackend, Gemm};

const REL: f32 = 1e-5;
const ABS: f32 = 1e-6;
/// `(B, H)`.
const DIMS: [(usize, usize); 3] = [(1, 1), (3, 17), (5, 65)];
/// Big enough that two threads split the rows (odd B: uneven halves).
const SPLIT: (usize, usize) = (65, 512);

/// A step of `cell` at nonzero offsets: gate block at 3, state slots at 2 and `2 + B·H`.
fn step(cell: Cell, (b, h): (usize, usize)) -> CellStep {
    CellStep {
        cell,
        b,
        h,
        gates: 3,
        prev: 2,
        next: 2 + b * h,
    }
}

/// Forward then backward of `c` on the backend and the reference, from the same random
/// buffers; every buffer must agree after each.
fn check(be: &CpuBackend, c: &CellStep, seed: u64) -> Bufs<Vec<f32>> {
    let what = format!("{:?} b={} h={}", c.cell, c.b, c.h);
    let start = Bufs::random(&mut rng(seed), c);
    let (mut want, mut got) = (start.clone(), start);
    reference::cell_forward(c, &mut want.state());
    be.cell_forward(c, &mut got.state()).unwrap();
    got.assert_close(&format!("{what} forward"), &want, REL, ABS);
    reference::cell_backward(c, &mut want.state());
    be.cell_backward(c, &mut got.state()).unwrap();
    got.assert_close(&format!("{what} backward"), &want, REL, ABS);
    want
}

#[test]
fn lstm_fwd_bwd_match_reference() {
    for threads in [1, 2] {
        let be = CpuBackend::new(threads);
        for (s, &d) in DIMS.iter().chain([&SPLIT]).enumerate() {
            check(&be, &step(Cell::Lstm, d), s as u64);
        }
    }
}

#[test]
fn gru_fwd_bwd_match_reference() {
    let be = CpuBackend::new(1);
    for (s, &d) in DIMS.iter().enumerate() {
        check(&be, &step(Cell::Gru, d), 10 + s as u64);
    }
}

/// Big enough for the hot helper thread (generation's many streams), below the rayon split.
const HELPER: (usize, usize) = (17, 256);

#[test]
fn steps_handed_half_to_the_helper_thread_match_one_thread_bit_for_bit() {
    for (s, cell) in [Cell::Lstm, Cell::Gru].into_iter().enumerate() {
        let c = step(cell, HELPER);
        // Against the reference, then the two-thread forward against the one-thread one.
        check(&CpuBackend::new(2), &c, 30 + s as u64);
        let start = Bufs::random(&mut rng(40 + s as u64), &c);
        let (mut one, mut two) = (start.clone(), start);
        CpuBackend::new(1)
            .cell_forward(&c, &mut one.state())
            .unwrap();
        CpuBackend::new(2)
            .cell_forward(&c, &mut two.state())
            .unwrap();
        two.assert_close(&format!("{cell:?} split"), &one, 0.0, 0.0);
    }
}

#[test]
fn big_steps_while_generating_go_to_the_helper_and_match_one_thread_bit_for_bit() {
    // A batch-1 product starts the hot helper (as generation does); a step above the rayon
    // threshold then splits through it (and 16-lane cells where the CPU has AVX-512).
    let two = CpuBackend::new(2);
    let (k, n) = (64, 96);
    let (a, b, mut c) = (vec![0.5f32; k], vec![0.25f32; n * k], vec![0.0f32; n]);
    two.gemm(&Gemm::nt(1, n, k), &a, &b, &mut c).unwrap();
    for (s, cell) in [Cell::Lstm, Cell::Gru].into_iter().enumerate() {
        let step = step(cell, SPLIT);
        let start = Bufs::random(&mut rng(60 + s as u64), &step);
        let (mut one, mut split) = (start.clone(), start);
        CpuBackend::new(1)
            .cell_forward(&step, &mut one.state())
            .unwrap();
        two.cell_forward(&step, &mut split.state()).unwrap();
        split.assert_close(&format!("{cell:?} helper split"), &one, 0.0, 0.0);
    }
}

#[test]
fn rnn_fwd_bwd_match_reference() {
    let be = CpuBackend::new(1);
    for (s, &d) in DIMS.iter().enumerate() {
        check(&be, &step(Cell::Rnn, d), 20 + s as u64);
    }
}

#[test]
fn in_place_steps_match_separate_slots() {
    // prev == next (the state updated in place) gives the same new state as two slots.
    for cell in [Cell::Lstm, Cell::Gru] {
        for threads in [1, 2] {
            let be = CpuBackend::new(threads);
            for (s, &d) in DIMS.iter().chain([&SPLIT]).enumerate() {
                let apart = step(cell, d);
                let start = Bufs::random(&mut rng(30 + s as u64), &apart);
                let mut want = start.clone();
                reference::cell_forward(&apart, &mut want.state());
                let in_place = CellStep {
                    next: apart.prev,
                    ..apart
                };
                let mut got = start;
                be.cell_forward(&in_place, &mut got.state()).unwrap();
                let (p, n, nh) = (apart.prev, apart.next, d.0 * d.1);
                let state = |b: &Bufs<Vec<f32>>, off: usize| match cell {
                    Cell::Lstm => [b.cs[off..off + nh].to_vec(), b.hs[off..off + nh].to_vec()],
                    _ => [b.hs[off..off + nh].to_vec(), vec![]],
                };
                let (g, w) = (state(&got, p), state(&want, n));
                assert_close(&format!("{cell:?} in-place state"), &g[0], &w[0], REL, ABS);
                assert_close(&format!("{cell:?} in-place h"), &g[1], &w[1], REL, ABS);
                assert_close(
                    &format!("{cell:?} in-place gates"),
                    &got.gates,
                    &want.gates,
                    REL,
                    ABS,
                );
            }
        }
    }
}

#[test]
fn saturated_gates_stay_finite() {
    // Pre-activations far beyond the f32 exp range must saturate, not produce NaN.
    let be = CpuBackend::new(1);
    let c = CellStep {
        cell: Cell::Lstm,
        b: 1,
        h: 2,
        gates: 0,
        prev: 0,
        next: 2,
    };
    let mut b = Bufs {
        gates: vec![1e4, -1e4, 1e4, -1e4, -1e4, 1e4, 1e4, -1e4],
        gh: vec![],
        hs: vec![0.0; 4],
        cs: vec![0.5, -0.5, 0.0, 0.0],
        dhs: vec![],
        dc: vec![],
    };
    be.cell_forward(&c, &mut b.state()).unwrap();
    assert!(b
        .gates
        .iter()
        .chain(&b.cs)
        .chain(&b.hs)
        .all(|x| x.is_finite()));
    assert_eq!(&b.gates[..2], &[1.0, 0.0]);
}

//! Finite-difference checks, in f64, of the reference backward formulas: every pre-activation
//! and carried-state input is perturbed by ±1e-5 and the central difference of a random linear
//! functional of the outputs is compared with the analytic gradient (relative error < 1e-6,
//! denominators floored at 1e-3).

mod common;
use common::*;
use rnngym_kernels::cpu::reference;
use rnngym_kernels::{Cell, CellStep};

const EPS: f64 = 1e-5;
const TOL: f64 = 1e-6;
/// B, H and B·H of the checked steps.
const B: usize = 2;
const H: usize = 3;
const NH: usize = B * H;

/// Central difference of `f` with respect to `x[i]`.
fn numeric(x: &mut [f64], i: usize, f: &dyn Fn(&[f64]) -> f64) -> f64 {
    let x0 = x[i];
    x[i] = x0 + EPS;
    let up = f(x);
    x[i] = x0 - EPS;
    let down = f(x);
    x[i] = x0;
    (up - down) / (2.0 * EPS)
}

/// Compares analytic `grad` with finite differences of `f` at `x`, element by element.
fn check(what: &str, x: &[f64], grad: &[f64], f: &dyn Fn(&[f64]) -> f64) {
    let mut x = x.to_vec();
    assert_eq!(x.len(), grad.len());
    for (i, &a) in grad.iter().enumerate() {
        let n = numeric(&mut x, i, f);
        let e = rel_err(a, n);
        assert!(
            e < TOL,
            "{what}[{i}]: analytic {a} vs numeric {n} (rel {e:e})"
        );
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Step 0 of a window of two state slots: gates at 0, states at 0 (in) and B·H (out).
fn step(cell: Cell) -> CellStep {
    CellStep {
        cell,
        b: B,
        h: H,
        gates: 0,
        prev: 0,
        next: NH,
    }
}

/// f64 buffers: `gates`, `gh`, `hs`, `cs` as given, no gradients yet.
fn bufs(gates: &[f64], gh: &[f64], hs: Vec<f64>, cs: Vec<f64>) -> Bufs<Vec<f64>> {
    Bufs {
        gates: gates.to_vec(),
        gh: gh.to_vec(),
        hs,
        cs,
        dhs: vec![],
        dc: vec![],
    }
}

/// `[carried-in state, zeros for the produced one]`.
fn slots(prev: &[f64]) -> Vec<f64> {
    [prev, &[0.0; NH]].concat()
}

#[test]
fn lstm_step_gradients() {
    let mut r = rng(1);
    let c = step(Cell::Lstm);
    let pre = rand_vec64(&mut r, 4 * NH, 2.0);
    let c_prev = rand_vec64(&mut r, NH, 1.5);
    let (wh, wc) = (rand_vec64(&mut r, NH, 1.0), rand_vec64(&mut r, NH, 1.0));
    // Loss = wh·h + wc·c, so dL/dh = wh and the carried dL/dc = wc.
    let run = |pre: &[f64], c_prev: &[f64]| {
        let mut b = bufs(pre, &[], slots(&[0.0; NH]), slots(c_prev));
        reference::cell_forward(&c, &mut b.state());
        b
    };
    let loss = |pre: &[f64], c_prev: &[f64]| {
        let b = run(pre, c_prev);
        dot(&wh, &b.hs[NH..]) + dot(&wc, &b.cs[NH..])
    };
    let mut b = run(&pre, &c_prev);
    (b.dhs, b.dc) = (slots(&[0.0; NH]), wc.clone());
    b.dhs[NH..].copy_from_slice(&wh);
    reference::cell_backward(&c, &mut b.state());
    check("lstm d_gates", &pre, &b.gates, &|x| loss(x, &c_prev));
    check("lstm d_c_prev", &c_prev, &b.dc, &|x| loss(&pre, x));
}

#[test]
fn gru_step_gradients() {
    let mut r = rng(2);
    let c = step(Cell::Gru);
    let gx = rand_vec64(&mut r, 3 * NH, 2.0);
    let gh = rand_vec64(&mut r, 3 * NH, 2.0);
    let h_prev = rand_vec64(&mut r, NH, 1.0);
    let wh = rand_vec64(&mut r, NH, 1.0);
    let run = |gx: &[f64], gh: &[f64], hp: &[f64]| {
        let mut b = bufs(gx, gh, slots(hp), vec![]);
        reference::cell_forward(&c, &mut b.state());
        b
    };
    let loss = |gx: &[f64], gh: &[f64], hp: &[f64]| dot(&wh, &run(gx, gh, hp).hs[NH..]);
    let mut b = run(&gx, &gh, &h_prev);
    // dhs = [dh_prev (starts at 0, receives the direct path), dh = wh].
    b.dhs = slots(&[0.0; NH]);
    b.dhs[NH..].copy_from_slice(&wh);
    reference::cell_backward(&c, &mut b.state());
    check("gru d_gx", &gx, &b.gates, &|x| loss(x, &gh, &h_prev));
    check("gru d_gh", &gh, &b.gh, &|x| loss(&gx, x, &h_prev));
    // With gh held fixed, h_prev reaches h only through z·h_prev.
    check("gru d_h_prev (direct)", &h_prev, &b.dhs[..NH], &|x| {
        loss(&gx, &gh, x)
    });
}

#[test]
fn rnn_step_gradients() {
    let mut r = rng(3);
    let c = step(Cell::Rnn);
    let pre = rand_vec64(&mut r, NH, 2.0);
    let wh = rand_vec64(&mut r, NH, 1.0);
    let fwd = |pre: &[f64]| {
        let mut b = bufs(pre, &[], slots(&[0.0; NH]), vec![]);
        reference::cell_forward(&c, &mut b.state());
        b
    };
    let mut b = fwd(&pre);
    b.dhs = slots(&[0.0; NH]);
    b.dhs[NH..].copy_from_slice(&wh);
    reference::cell_backward(&c, &mut b.state());
    check("rnn d_pre", &pre, &b.gates, &|x| dot(&wh, &fwd(x).hs[NH..]));
}

#[test]
fn softmax_xent_gradients() {
    let mut r = rng(4);
    let (rows, cols) = (3, 5);
    let logits = rand_vec64(&mut r, rows * cols, 3.0);
    let targets = rand_ids(&mut r, rows, cols as u32);
    let loss = |x: &[f64]| reference::softmax_xent(x, rows, cols, &targets, None, 1.0);
    let mut d = vec![0.0; rows * cols];
    reference::softmax_xent(&logits, rows, cols, &targets, Some(&mut d), 1.0);
    check("softmax_xent d_logits", &logits, &d, &loss);
    // grad_scale scales the gradient only.
    let mut d2 = vec![0.0; rows * cols];
    let l2 = reference::softmax_xent(&logits, rows, cols, &targets, Some(&mut d2), 0.5);
    assert_eq!(l2, loss(&logits));
    d.iter()
        .zip(&d2)
        .for_each(|(a, b)| assert!((a * 0.5 - b).abs() < 1e-15));
}

#[test]
fn gradcheck_detects_a_wrong_gradient() {
    // The harness itself must be able to fail: a gradient off by 1e-4 is caught.
    let x = [0.3, -0.7];
    let f = |x: &[f64]| x[0] * x[0] + 3.0 * x[1];
    let r = std::panic::catch_unwind(|| check("bad", &x, &[0.6 + 1e-4, 3.0], &f));
    assert!(r.is_err());
    check("good", &x, &[0.6, 3.0], &f);
}

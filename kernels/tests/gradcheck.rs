//! Finite-difference checks, in f64, of the reference backward formulas: every pre-activation
//! and carried-state input is perturbed by ±1e-5 and the central difference of a random linear
//! functional of the outputs is compared with the analytic gradient (relative error < 1e-6,
//! denominators floored at 1e-3).

mod common;
use common::*;
use rnngym_kernels::cpu::reference;
use rnngym_kernels::CellDims;

const EPS: f64 = 1e-5;
const TOL: f64 = 1e-6;
const D: CellDims = CellDims { b: 2, h: 3 };

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

#[test]
fn lstm_step_gradients() {
    let mut r = rng(1);
    let nh = D.b * D.h;
    let pre = rand_vec64(&mut r, 4 * nh, 2.0);
    let c_prev = rand_vec64(&mut r, nh, 1.5);
    let (wh, wc) = (rand_vec64(&mut r, nh, 1.0), rand_vec64(&mut r, nh, 1.0));
    // Loss = wh·h + wc·c, so dL/dh = wh and the carried dL/dc = wc.
    let run = |pre: &[f64], c_prev: &[f64]| {
        let mut g = pre.to_vec();
        let mut cs = [c_prev, &vec![0.0; nh]].concat();
        let mut hs = vec![0.0; nh];
        reference::lstm_fwd(D, &mut g, 0, &mut cs, 0, nh, &mut hs, 0);
        (g, cs, hs)
    };
    let loss = |pre: &[f64], c_prev: &[f64]| {
        let (_, cs, hs) = run(pre, c_prev);
        dot(&wh, &hs) + dot(&wc, &cs[nh..])
    };
    let (mut g, cs, _) = run(&pre, &c_prev);
    let mut dc = wc.clone();
    reference::lstm_bwd(D, &mut g, 0, &cs, 0, nh, &wh, 0, &mut dc);
    check("lstm d_gates", &pre, &g, &|x| loss(x, &c_prev));
    check("lstm d_c_prev", &c_prev, &dc, &|x| loss(&pre, x));
}

#[test]
fn gru_step_gradients() {
    let mut r = rng(2);
    let nh = D.b * D.h;
    let gx = rand_vec64(&mut r, 3 * nh, 2.0);
    let gh = rand_vec64(&mut r, 3 * nh, 2.0);
    let h_prev = rand_vec64(&mut r, nh, 1.0);
    let wh = rand_vec64(&mut r, nh, 1.0);
    let run = |gx: &[f64], gh: &[f64], hp: &[f64]| {
        let mut gx = gx.to_vec();
        let mut hs = [hp, &vec![0.0; nh]].concat();
        reference::gru_fwd(D, &mut gx, 0, gh, 0, &mut hs, 0, nh);
        (gx, hs)
    };
    let loss = |gx: &[f64], gh: &[f64], hp: &[f64]| dot(&wh, &run(gx, gh, hp).1[nh..]);
    let (mut d_gx, hs) = run(&gx, &gh, &h_prev);
    let mut d_gh = gh.clone();
    // dhs = [dh_prev (starts at 0, receives the direct path), dh = wh].
    let mut dhs = [vec![0.0; nh], wh.clone()].concat();
    reference::gru_bwd(D, &mut d_gx, 0, &mut d_gh, 0, &hs, 0, &mut dhs, nh, 0);
    check("gru d_gx", &gx, &d_gx, &|x| loss(x, &gh, &h_prev));
    check("gru d_gh", &gh, &d_gh, &|x| loss(&gx, x, &h_prev));
    // With gh held fixed, h_prev reaches h only through z·h_prev.
    check("gru d_h_prev (direct)", &h_prev, &dhs[..nh], &|x| {
        loss(&gx, &gh, x)
    });
}

#[test]
fn rnn_step_gradients() {
    let mut r = rng(3);
    let nh = D.b * D.h;
    let pre = rand_vec64(&mut r, nh, 2.0);
    let wh = rand_vec64(&mut r, nh, 1.0);
    let fwd = |pre: &[f64]| {
        let mut g = pre.to_vec();
        let mut hs = vec![0.0; nh];
        reference::rnn_fwd(D, &mut g, 0, &mut hs, 0);
        (g, hs)
    };
    let (mut g, _) = fwd(&pre);
    reference::rnn_bwd(D, &mut g, 0, &wh, 0);
    check("rnn d_pre", &pre, &g, &|x| dot(&wh, &fwd(x).1));
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

//! CPU ↔ CUDA parity: each test body is written once, generic over [`Backend`], run on the CPU
//! backend (the spec) and on the CUDA backend, and every output is compared (rule 1 and 6 of
//! the design notes). Without a usable GPU each test prints `SKIPPED <test>: <reason>` and
//! passes, unless `RNNGYM_REQUIRE_GPU=1` (set by `scripts/gpu-check.sh` bundles), which turns a
//! skip into a failure. `cuda_determinism.rs` holds the row ops (fill_rows, sum_rows over many
//! rows, scatter-add with skewed ids) and the run-to-run checks.
//!
//! Tolerances (|gpu − cpu| ≤ abs + rel·|cpu|), as each `parity!` states them:
//! - bit-exact (0, 0): copies, fill, broadcast, mul/scale, dropout masks and outputs;
//! - cells: rel 2e-5, abs 2e-6 (CUDA `expf`/`tanhf` are within 2 ulp of the host libm);
//! - whole recurrent windows (cells and their GEMMs): rel 1e-4, abs 1e-5;
//! - GEMM: rel 1e-4, abs 1e-4 (cuBLAS sums in another order; k ≤ 96);
//! - gather and scatter-add: bit-exact (the scatter adds in the CPU's order);
//! - sum_rows: rel 1e-5, abs 1e-5; softmax-xent (loss and gradient): rel 1e-5, abs 1e-6; sum
//!   of squares (an f64 result): rel 1e-6;
//! - optimizers: rel 1e-6, abs 1e-7 (same f32 formulas, `--fmad=false`, IEEE sqrt/div);
//! - reduced-precision products (`qgemv`): rel 1e-5, abs 1e-5 (the same converted weights,
//!   summed in another order: a warp's lanes, then a tree); bit-exact for `w8a16` and `w8a8`
//!   (inputs rounded by the same steps, integer sums exact in any order).

#[macro_use]
mod common;
use common::gpu::*;
use common::*;
use rnngym_kernels::cuda::CudaBackend;
use rnngym_kernels::sample::pick;
use rnngym_kernels::{
    AdamStep, Backend, Cell, CellStep, CpuBackend, Gemm, KernelError, Precision, Recurrence,
    RmsPropStep, Rows, SampleOptions,
};

parity!(reduced_precision_products_match, 1e-5, 1e-5, |be| {
    // Off-panel and off-warp shapes, one and several input rows, set and accumulate.
    let shapes = [(1, 1, 1), (97, 33, 1), (512, 256, 1), (70, 130, 5)];
    let float_inputs = Precision::ALL.into_iter().filter(|p| !p.rounds_inputs());
    products(be, 11, &shapes, &float_inputs.collect::<Vec<_>>(), false)
});

parity!(rounded_input_products_are_exact, 0.0, 0.0, |be| {
    // Off-warp and off-quad shapes, a deep one, many rows; inputs of wide and of tiny range,
    // a zero row (scale 0) and exact ties (0.5 steps) among them.
    let shapes = [
        (1, 1, 1),
        (97, 33, 1),
        (512, 256, 1),
        (70, 130, 5),
        (33, 3001, 3),
        (64, 64, 37),
    ];
    products(be, 12, &shapes, &[Precision::W8a16, Precision::W8a8], true)
});

/// `y (+)= W · x` at each precision of `ps` for each `(n, k, m)` of `shapes` (random `W` from
/// offset 3, `x` from 2, `y` from 1), written and accumulated; with `special`, the second and
/// third input rows (where `m > 1`) are all zeros and exact ties against a largest of 127, and
/// the third starts with a tiny value.
fn products<B: Backend>(
    be: &B,
    seed: u64,
    shapes: &[(usize, usize, usize)],
    ps: &[Precision],
    special: bool,
) -> Outs {
    let mut r = rng(seed);
    let mut outs = Outs::new();
    for &(n, k, m) in shapes {
        let w = up(be, &rand_vec(&mut r, 3 + n * k, 0.5));
        let mut xs = rand_vec(&mut r, 2 + m * k, 1.0);
        if special && m > 1 {
            xs[2..2 + k].iter_mut().for_each(|v| *v = 0.0);
            xs[2 + k..2 + 2 * k]
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = (i % 7) as f32 * 0.5 - 127.0 * ((i == 0) as u8 as f32));
            xs[2 + 2 * k] = 1e-30;
        }
        let x = up(be, &xs);
        let init = rand_vec(&mut r, 1 + m * n, 1.0);
        for &p in ps {
            let q = be.quantize(&w, 3, n, k, p).unwrap();
            let mut set = up(be, &init);
            be.qgemv(&q, m, &x, 2, &mut set, 1, false).unwrap();
            let mut acc = up(be, &init);
            be.qgemv(&q, m, &x, 2, &mut acc, 1, true).unwrap();
            outs.push(("set", down(be, &set)));
            outs.push(("acc", down(be, &acc)));
        }
    }
    outs
}

parity!(memory_ops_are_exact, 0.0, 0.0, |be| {
    let mut r = rng(1);
    let x = rand_vec(&mut r, 1000, 3.0);
    let mut a = up(be, &x);
    be.write(&mut a, 17, &x[..100]).unwrap();
    be.fill(&mut a, 500, 33, -2.5).unwrap();
    let mut b = be.zeros(600).unwrap();
    be.copy(&a, 3, &mut b, 5, 590).unwrap();
    be.copy_within(&mut b, 0, 300, 250).unwrap();
    let mut part = vec![0f32; 77];
    be.read(&a, 400, &mut part).unwrap();
    let empty = be.zeros(0).unwrap();
    assert_eq!(be.len(&empty), 0);
    vec![
        ("a", down(be, &a)),
        ("b", down(be, &b)),
        ("part", part.into_iter().map(f64::from).collect()),
    ]
});

parity!(elementwise_ops_are_exact, 0.0, 0.0, |be| {
    let mut r = rng(2);
    let (rows, cols) = (37, 70);
    let bias = up(be, &rand_vec(&mut r, cols + 9, 1.0));
    let mut out = up(be, &rand_vec(&mut r, 5 + rows * cols, 1.0));
    be.broadcast_rows(&bias, 9, &mut out, 5, rows, cols)
        .unwrap();
    let mut a = up(be, &rand_vec(&mut r, 3000, 2.0));
    let b = up(be, &rand_vec(&mut r, 3000, 2.0));
    be.mul_assign(&mut a, 10, &b, 20, 2900).unwrap();
    be.scale(&mut a, 1, 2000, -0.75).unwrap();
    vec![("broadcast", down(be, &out)), ("mul_scale", down(be, &a))]
});

parity!(sum_rows_matches, 1e-5, 1e-5, |be| {
    let mut r = rng(3);
    let mut outs = Outs::new();
    for &(rows, cols) in &[(1usize, 1usize), (300, 70), (1000, 33), (7, 513)] {
        let src = up(be, &rand_vec(&mut r, 4 + rows * cols, 1.0));
        let init = rand_vec(&mut r, cols + 2, 1.0);
        let mut set = up(be, &init);
        be.sum_rows(&src, Rows::new(4, rows, cols), &mut set, 2, false)
            .unwrap();
        let mut acc = up(be, &init);
        be.sum_rows(&src, Rows::new(4, rows, cols), &mut acc, 2, true)
            .unwrap();
        outs.push(("set", down(be, &set)));
        outs.push(("acc", down(be, &acc)));
    }
    outs
});

parity!(sum_squares_matches, 1e-6, 0.0, |be| {
    let mut r = rng(4);
    let x = up(be, &rand_vec(&mut r, 300_001, 1.5));
    let mut v = Vec::new();
    for &(off, n) in &[(0usize, 0usize), (0, 1), (3, 255), (1, 257), (1, 300_000)] {
        v.push(be.sum_squares(&x, off, n).unwrap());
    }
    vec![("sum_squares", v)]
});

parity!(gemm_matches_every_layout, 1e-4, 1e-4, |be| {
    let mut r = rng(5);
    let mut outs = Outs::new();
    for &(m, n, k) in &[
        (1usize, 1usize, 1usize),
        (17, 33, 9),
        (64, 96, 96),
        (5, 7, 0),
    ] {
        for &(ta, tb) in &[(false, false), (false, true), (true, false), (true, true)] {
            let (ar, ac) = if ta { (k, m) } else { (m, k) };
            let (br, bc) = if tb { (n, k) } else { (k, n) };
            let (lda, ldb, ldc) = (ac + 3, bc + 1, n + 2);
            let g = Gemm {
                m,
                n,
                k,
                alpha: 0.5,
                beta: if k == 0 { 0.0 } else { 0.25 },
                trans_a: ta,
                trans_b: tb,
                a_off: 2,
                lda,
                b_off: 1,
                ldb,
                c_off: 3,
                ldc,
            };
            let a = up(be, &rand_vec(&mut r, 2 + ar * lda, 1.0));
            let b = up(be, &rand_vec(&mut r, 1 + br * ldb, 1.0));
            let mut c = up(be, &rand_vec(&mut r, 3 + m * ldc, 1.0));
            be.gemm(&g, &a, &b, &mut c).unwrap();
            outs.push(("c", down(be, &c)));
        }
    }
    outs
});

// Bit-exact: the scatter adds each id's rows in the CPU's order (tests/scatter_order.rs), and
// each gathered sum its rows in order from zero.
parity!(embedding_gather_scatter_are_exact, 0.0, 0.0, |be| {
    let mut r = rng(6);
    let (v, cols, n) = (65usize, 48usize, 700usize);
    let table = up(be, &rand_vec(&mut r, v * cols, 1.0));
    let tok = ids(be, &rand_ids(&mut r, n + 5, v as u32));
    let mut out = be.zeros(n * cols).unwrap();
    be.gather_rows(&table, cols, &tok, n, &mut out).unwrap();
    // Full-mantissa values, whose sums round differently in another order.
    let wide = up(be, &rand_vec(&mut r, v * cols, 1.37));
    let mut sums = up(be, &rand_vec(&mut r, n / 4 * cols, 1.37));
    be.gather_sum_rows(&wide, cols, &tok, 4, n / 4, &mut sums, true)
        .unwrap();
    let mut one = be.zeros(cols).unwrap();
    be.gather_sum_rows(&wide, cols, &tok, 3, 1, &mut one, false)
        .unwrap();
    let src = up(be, &rand_vec(&mut r, n * cols, 1.0));
    let mut d_table = up(be, &rand_vec(&mut r, 4 + v * cols, 1.0));
    be.scatter_add_rows(&src, cols, &tok, n, &mut d_table, 4)
        .unwrap();
    vec![
        ("gather", down(be, &out)),
        ("gather-sum", down(be, &sums)),
        ("gather-sum one", down(be, &one)),
        ("scatter", down(be, &d_table)),
    ]
});

/// Forward then backward of `c` (and the forward in place, `prev == next`) from random
/// buffers; every buffer after each.
fn cell_outs<B: Backend>(be: &B, r: &mut rand::rngs::StdRng, c: &CellStep, outs: &mut Outs) {
    let host = Bufs::random(r, c);
    let mut b = host.map(|x| up(be, x));
    be.cell_forward(c, &mut b.state()).unwrap();
    push_all(be, "fwd", &b, outs);
    be.cell_backward(c, &mut b.state()).unwrap();
    push_all(be, "bwd", &b, outs);
    if c.cell != Cell::Rnn {
        let mut b = host.map(|x| up(be, x));
        let in_place = CellStep { next: c.prev, ..*c };
        be.cell_forward(&in_place, &mut b.state()).unwrap();
        push_all(be, "fwd in-place", &b, outs);
    }
}

/// Every buffer of `b`, named `what` (the step; the buffers follow in `Bufs` order).
fn push_all<B: Backend>(be: &B, what: &'static str, b: &Bufs<B::Buf>, outs: &mut Outs) {
    let all = b.map(|x| down(be, x));
    for v in [all.gates, all.gh, all.hs, all.cs, all.dhs, all.dc] {
        outs.push((what, v));
    }
}

/// Steps of `cell` at nonzero offsets (gates at 3, states at 1 and 1 + B·H).
fn cell_steps(cell: Cell) -> Vec<CellStep> {
    [(1, 1), (5, 65), (32, 128)]
        .into_iter()
        .map(|(b, h)| CellStep {
            cell,
            b,
            h,
            gates: 3,
            prev: 1,
            next: 1 + b * h,
        })
        .collect()
}

parity!(lstm_cells_match, 2e-5, 2e-6, |be| {
    let mut r = rng(7);
    let mut outs = Outs::new();
    for c in cell_steps(Cell::Lstm) {
        cell_outs(be, &mut r, &c, &mut outs);
    }
    outs
});

parity!(gru_and_rnn_cells_match, 2e-5, 2e-6, |be| {
    let mut r = rng(8);
    let mut outs = Outs::new();
    for c in cell_steps(Cell::Gru)
        .into_iter()
        .chain(cell_steps(Cell::Rnn))
    {
        cell_outs(be, &mut r, &c, &mut outs);
    }
    outs
});

parity!(softmax_xent_matches, 1e-5, 1e-6, |be| {
    let mut r = rng(9);
    let mut outs = Outs::new();
    for &(rows, cols) in &[(1usize, 1usize), (257, 65), (64, 300), (3, 5000)] {
        let logits = up(be, &rand_vec(&mut r, rows * cols, 8.0));
        let t = ids(be, &rand_ids(&mut r, rows, cols as u32));
        let mut d = be.zeros(rows * cols).unwrap();
        let loss = be
            .softmax_xent(&logits, rows, cols, &t, Some(&mut d), 0.125)
            .unwrap();
        let loss_only = be.softmax_xent(&logits, rows, cols, &t, None, 1.0).unwrap();
        outs.push(("loss", vec![loss, loss_only]));
        outs.push(("d_logits", down(be, &d)));
    }
    outs
});

parity!(dropout_masks_are_identical, 0.0, 0.0, |be| {
    let mut r = rng(10);
    let mut outs = Outs::new();
    for &(p, seed) in &[(0.0f32, 1u64), (0.25, 42), (0.5, u64::MAX)] {
        let mut x = up(be, &rand_vec(&mut r, 6 + 10_000, 1.0));
        let mut mask = be.zeros(10_000).unwrap();
        be.dropout(&mut x, 6, &mut mask, 10_000, p, seed).unwrap();
        outs.push(("x", down(be, &x)));
        outs.push(("mask", down(be, &mask)));
    }
    outs
});

parity!(optimizer_steps_match, 1e-6, 1e-7, |be| {
    let mut r = rng(11);
    let n = 5000;
    let mut p = up(be, &rand_vec(&mut r, n, 1.0));
    let mut m = be.zeros(n).unwrap();
    let mut v = be.zeros(n).unwrap();
    let mut p2 = up(be, &rand_vec(&mut r, n, 1.0));
    let mut sq = be.zeros(n).unwrap();
    for step in 1..=5u64 {
        let g = up(be, &rand_vec(&mut r, n, 0.1));
        let s = AdamStep {
            lr: 2e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            step,
        };
        be.adam_step(&mut p, &g, &mut m, &mut v, n, &s).unwrap();
        let s = RmsPropStep {
            lr: 1e-3,
            alpha: 0.99,
            eps: 1e-8,
        };
        be.rmsprop_step(&mut p2, &g, &mut sq, n, &s).unwrap();
    }
    vec![
        ("adam p", down(be, &p)),
        ("adam m", down(be, &m)),
        ("adam v", down(be, &v)),
        ("rmsprop p", down(be, &p2)),
        ("rmsprop sq", down(be, &sq)),
    ]
});

/// One `sample_rows` case: its rows of logits, options and uniforms, and the picked tokens.
struct Picks {
    what: String,
    rows: Vec<Vec<f32>>,
    opts: SampleOptions,
    uniforms: Vec<f64>,
    tokens: Vec<u32>,
}

/// Tokens from `sample_rows` for a grid of options over random rows (ties in every row, a NaN
/// in the first, +inf in the last of several), several row counts and widths.
fn sampled_tokens<B: Backend>(be: &B) -> Vec<Picks> {
    use rand::Rng;
    let mut r = rng(23);
    let mut out = Vec::new();
    for &(rows, cols) in &[(1usize, 65usize), (40, 5), (64, 65), (16, 300), (4, 3000)] {
        let mut x = rand_vec(&mut r, 3 + rows * cols, 3.0);
        for k in 0..rows {
            x[3 + k * cols] = x[3 + k * cols + cols / 2];
        }
        x[3 + cols / 3] = f32::NAN;
        if rows > 1 {
            x[3 + (rows - 1) * cols + 1] = f32::INFINITY;
        }
        let buf = up(be, &x);
        let host: Vec<Vec<f32>> = x[3..].chunks(cols).map(<[f32]>::to_vec).collect();
        let uniforms: Vec<f64> = (0..rows).map(|_| r.random()).collect();
        for temperature in [0.5f32, 1.0, 2.0] {
            for (top_k, top_p) in [
                (0, 1.0f32),
                (1, 1.0),
                (5, 1.0),
                (0, 0.9),
                (10, 0.5),
                (0, 0.0),
            ] {
                for argmax in [false, true] {
                    let opts = SampleOptions {
                        temperature,
                        top_k,
                        top_p,
                        argmax,
                    };
                    let mut tokens = vec![0u32; rows];
                    be.sample_rows(
                        &buf,
                        Rows::new(3, rows, cols),
                        &opts,
                        &uniforms,
                        &mut tokens,
                    )
                    .unwrap();
                    out.push(Picks {
                        what: format!("{rows}x{cols} {opts:?}"),
                        rows: host.clone(),
                        opts,
                        uniforms: uniforms.clone(),
                        tokens,
                    });
                }
            }
        }
    }
    out
}

/// Stated tolerance: picks that draw nothing (argmax, top-k 1, top-p 0) are identical; a drawn
/// pick may differ only where its uniform lies within 1e-6 of a boundary between two tokens
/// (CUDA's `expf` is within 2 ulp of the host's, and its sums run in another order), which the
/// spec confirms by picking the GPU's token at `u ± 1e-6`.
#[test]
fn sample_rows_match() {
    let want = sampled_tokens(&CpuBackend::new(1));
    let Some(cuda) = gpu("sample_rows_match") else {
        return;
    };
    let got = sampled_tokens(&cuda);
    assert_eq!(got.len(), want.len());
    let mut scratch = Vec::new();
    let mut boundary = 0;
    for (g, w) in got.iter().zip(&want) {
        let o = &w.opts;
        let deterministic = o.argmax || o.top_k == 1 || o.top_p == 0.0;
        for (row, (&gt, &wt)) in g.tokens.iter().zip(&w.tokens).enumerate() {
            if gt == wt {
                continue;
            }
            let mut at = |u: f64| pick(&w.rows[row], o, u.clamp(0.0, 1.0), &mut scratch);
            let u = w.uniforms[row];
            let near = !deterministic && (at(u - 1e-6) == gt || at(u + 1e-6) == gt);
            assert!(near, "{} row {row} u={u}: cuda {gt}, cpu {wt}", w.what);
            boundary += 1;
        }
    }
    assert!(
        boundary <= 3,
        "{boundary} picks differ at a boundary: more than rounding explains"
    );
}

#[test]
fn bad_operands_are_shape_errors_on_the_gpu() {
    let Some(be) = gpu("bad_operands_are_shape_errors_on_the_gpu") else {
        return;
    };
    let mut a = be.zeros(10).unwrap();
    let b = be.zeros(10).unwrap();
    let shape = |r: rnngym_kernels::Result<()>| matches!(r, Err(KernelError::Shape(_)));
    assert!(shape(be.fill(&mut a, 5, 6, 1.0)));
    assert!(shape(be.copy(&b, 0, &mut a, 1, 10)));
    assert!(shape(be.gemm(
        &Gemm::nn(4, 4, 4),
        &a,
        &b,
        &mut be.zeros(16).unwrap()
    )));
    let t = ids(&be, &[0, 70]);
    let mut out = be.zeros(20).unwrap();
    assert!(shape(be.gather_rows(&a, 5, &t, 2, &mut out)));
    assert!(matches!(
        be.softmax_xent(&a, 2, 5, &t, None, 1.0),
        Err(KernelError::Shape(_))
    ));
}

#[test]
fn missing_device_is_a_clean_error() {
    // Never a panic: without CUDA this is `Unavailable`; with it, a nonexistent ordinal is.
    match CudaBackend::new(4096) {
        Err(KernelError::Unavailable(msg)) => {
            assert!(
                !msg.is_empty() && !msg.contains('\n'),
                "one-line reason: {msg}"
            );
            skip_note(&format!("cuda:4096 -> {msg}"));
        }
        Err(e) => panic!("expected Unavailable, got {e}"),
        Ok(_) => panic!("cuda:4096 should not exist"),
    }
}

// A layer's whole recurrent window: the CUDA backend runs the trait's step-by-step default,
// the CPU its packed, row-blocked loop (t·b ≥ 16 here, so the packed path is the one compared).
parity!(recurrent_windows_match, 1e-4, 1e-5, |be| {
    let mut r = rng(21);
    let mut outs = Outs::new();
    for cell in [Cell::Lstm, Cell::Gru, Cell::Rnn] {
        let rec = Recurrence {
            cell,
            t: 6,
            b: 9,
            h: 40,
            w_hh: 7,
        };
        let params = up(be, &rand_vec(&mut r, 7 + rec.g() * rec.h, 0.3));
        let mut b = Bufs::window(&mut r, &rec).map(|x| up(be, x));
        be.recurrent_forward(&rec, &params, b.state()).unwrap();
        be.recurrent_backward(&rec, &params, b.state()).unwrap();
        push_all(be, "window", &b, &mut outs);
    }
    outs
});

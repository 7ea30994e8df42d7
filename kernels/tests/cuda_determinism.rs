//! Row ops on the GPU against the CPU, and run-to-run determinism: the embedding scatter adds
//! each id's rows in the CPU's order (bit-exact even with the skewed ids of text), `fill_rows`
//! zeroes any set of lanes in one launch (bit-exact), `sum_rows` spreads many rows over the grid
//! with a fixed-order second pass, and a sequence of the reducing ops repeats bit for bit on
//! the GPU. Skips like `cuda_parity` without a GPU (the CPU half of each body still runs).
//!
//! Tolerances (|gpu − cpu| ≤ abs + rel·|cpu|): fill_rows and scatter-add bit-exact; sum_rows
//! over up to 50,000 rows rel 1e-5, abs 1e-3 (the CPU's own sequential f32 rounding over 6,400
//! rows of [-1, 1) values is about 1e-4).

#[macro_use]
mod common;
use common::gpu::*;
use common::*;
use rnngym_kernels::{Backend, Gemm, Rows};

parity!(fill_rows_is_exact, 0.0, 0.0, |be| {
    let mut r = rng(50);
    let (lanes, h, off) = (100usize, 37usize, 5usize);
    let mut outs = Outs::new();
    // Lanes zeroed: none, all, odd ones, the first, every third past 64.
    let patterns: [fn(usize) -> bool; 5] = [
        |_| false,
        |_| true,
        |i| i % 2 == 1,
        |i| i == 0,
        |i| i >= 64 && i % 3 == 0,
    ];
    for pick in patterns {
        let select: Vec<bool> = (0..lanes).map(pick).collect();
        let mut buf = up(be, &rand_vec(&mut r, off + lanes * h + 3, 1.0));
        be.fill_rows(&mut buf, Rows::new(off, lanes, h), &select, 0.0)
            .unwrap();
        outs.push(("fill_rows", down(be, &buf)));
    }
    outs
});

parity!(sum_rows_over_many_rows_match, 1e-5, 1e-3, |be| {
    let mut r = rng(51);
    let mut outs = Outs::new();
    // Projection bias at preset L (T·B = 6400, V = 65), gate bias (G = 2048), a tall thin one.
    for &(rows, cols) in &[(6400usize, 65usize), (3000, 700), (64, 2048), (50_000, 3)] {
        let src = up(be, &rand_vec(&mut r, rows * cols, 1.0));
        let init = rand_vec(&mut r, cols, 1.0);
        for acc in [false, true] {
            let mut dst = up(be, &init);
            be.sum_rows(&src, Rows::new(0, rows, cols), &mut dst, 0, acc)
                .unwrap();
            outs.push(("sum_rows", down(be, &dst)));
        }
    }
    outs
});

parity!(scatter_add_with_skewed_ids_is_exact, 0.0, 0.0, |be| {
    let mut r = rng(52);
    let mut outs = Outs::new();
    for &(v, cols, n) in &[(65u32, 512usize, 3200usize), (256, 1, 5000), (65, 33, 64)] {
        let tok = ids(be, &skewed_ids(&mut r, n, v));
        let src = up(be, &wide_values(&mut r, n * cols));
        let mut d_table = up(be, &wide_values(&mut r, v as usize * cols));
        be.scatter_add_rows(&src, cols, &tok, n, &mut d_table, 0)
            .unwrap();
        outs.push(("scatter", down(be, &d_table)));
    }
    outs
});

/// The reducing ops a training step uses, on fresh buffers from fixed data: every output.
fn reducing_ops<B: Backend>(be: &B) -> Vec<u32> {
    let mut r = rng(53);
    let (n, cols, v) = (6400usize, 256usize, 65usize);
    let tok = ids(be, &skewed_ids(&mut r, n, v as u32));
    let src = up(be, &rand_vec(&mut r, n * cols, 1.0));
    let mut d_table = be.zeros(v * cols).unwrap();
    be.scatter_add_rows(&src, cols, &tok, n, &mut d_table, 0)
        .unwrap();
    let mut bias = be.zeros(cols).unwrap();
    be.sum_rows(&src, Rows::new(0, n, cols), &mut bias, 0, false)
        .unwrap();
    let logits = up(be, &rand_vec(&mut r, n * v, 3.0));
    let mut d_logits = be.zeros(n * v).unwrap();
    let loss = be
        .softmax_xent(&logits, n, v, &tok, Some(&mut d_logits), 0.5)
        .unwrap();
    let norm = be.sum_squares(&src, 0, n * cols).unwrap();
    let mut c = be.zeros(v * cols).unwrap();
    be.gemm(&Gemm::tn(v, cols, n), &d_logits, &src, &mut c)
        .unwrap();
    let mut bits: Vec<u32> = [d_table, bias, d_logits, c]
        .iter()
        .flat_map(|b| down(be, b))
        .map(|x| (x as f32).to_bits())
        .collect();
    bits.extend([loss, norm].iter().flat_map(|x| {
        let b = x.to_bits();
        [b as u32, (b >> 32) as u32]
    }));
    bits
}

#[test]
fn gpu_ops_repeat_bit_for_bit() {
    let Some(cuda) = gpu("gpu_ops_repeat_bit_for_bit") else {
        return;
    };
    let first = reducing_ops(&cuda);
    for run in 1..3 {
        let again = reducing_ops(&cuda);
        let differ = first.iter().zip(&again).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "run {run}: {differ} values differ from run 0");
    }
}

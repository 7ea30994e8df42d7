//! Criterion benchmarks of the CPU hot paths at the S preset's shapes (B = 32, H = 128,
//! T = 64, V = 65): the per-step recurrent GEMM, the all-steps input projection, the LSTM
//! and GRU pointwise steps and the loss; and preset M's generation products at every weight
//! precision.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rnngym_kernels::{Backend, Cell, CellStep, CpuBackend, Gemm, LayerState, Precision};
use std::hint::black_box;

/// Deterministic pseudo-random values in [-1, 1) without an RNG dependency.
fn data(n: usize, seed: u64) -> Vec<f32> {
    (0..n)
        .map(|i| rnngym_kernels::hash::uniform(seed, i as u64) * 2.0 - 1.0)
        .collect()
}

fn bench_gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    // (m, n, k): B x 4H x H (one recurrent step) and T*B x 4H x H (input projection) for
    // presets S and L, and 1 x 4H x H (one token of batch-1 generation, preset L). Throughput
    // is in FLOP (2mnk), so criterion's elem/s reads as FLOP/s.
    let shapes = [
        (32, 512, 128),
        (2048, 512, 128),
        (64, 2048, 512),
        (6400, 2048, 512),
        (1, 2048, 512),
    ];
    for &(m, n, k) in &shapes {
        for threads in [1, 2] {
            let be = CpuBackend::new(threads);
            let a = data(m * k, 1);
            let b = data(n * k, 2);
            let mut out = vec![0.0; m * n];
            let g = Gemm::nt(m, n, k);
            group.throughput(Throughput::Elements((2 * m * n * k) as u64));
            group.bench_function(format!("{m}x{n}x{k}/t{threads}"), |bch| {
                bch.iter(|| be.gemm(black_box(&g), &a, &b, &mut out).unwrap())
            });
        }
    }
    group.finish();
}

fn bench_qgemv(c: &mut Criterion) {
    let mut group = c.benchmark_group("qgemv");
    // One recurrent product of preset M's generation (W `[4H, H]`, H = 256) for 1, 16 and 64
    // streams at every storage precision. Throughput in multiply-adds (m·n·k).
    let (n, k) = (1024, 256);
    for precision in Precision::ALL {
        for m in [1, 16, 64] {
            for threads in [1, 2] {
                let be = CpuBackend::new(threads);
                let w = be.quantize(&data(n * k, 3), 0, n, k, precision).unwrap();
                let x = data(m * k, 4);
                let mut y = vec![0.0; m * n];
                group.throughput(Throughput::Elements((m * n * k) as u64));
                group.bench_function(format!("{precision}/{m}x{n}x{k}/t{threads}"), |bch| {
                    bch.iter(|| be.qgemv(&w, m, black_box(&x), 0, &mut y, 0, false).unwrap())
                });
            }
        }
    }
    group.finish();
}

fn bench_cells(c: &mut Criterion) {
    let be = CpuBackend::new(1);
    let (b, h) = (32, 128);
    let nh = b * h;
    let step = |cell| CellStep {
        cell,
        b,
        h,
        gates: 0,
        prev: 0,
        next: nh,
    };
    let pre = data(4 * nh, 3);
    let (mut gh, mut cs, mut hs) = (data(3 * nh, 7), data(2 * nh, 4), data(2 * nh, 8));
    let mut dhs = [vec![0.0; nh], data(nh, 5)].concat();
    let mut dc = vec![0.0; nh];
    let mut group = c.benchmark_group("cells");
    group.throughput(Throughput::Elements(nh as u64));
    // The kernels overwrite their gate inputs; each call gets a fresh copy made outside the
    // timing (copying the 64 KiB of gates inside it took half the measured time).
    let mut run = |name: &str, cell, backward: bool, gates: &Vec<f32>| {
        let c = step(cell);
        group.bench_function(name, |bch| {
            bch.iter_batched_ref(
                || gates.clone(),
                |gates| {
                    let mut s = LayerState {
                        gates,
                        gh: &mut gh,
                        hs: &mut hs,
                        cs: &mut cs,
                        dhs: &mut dhs,
                        dc: &mut dc,
                    };
                    if backward {
                        be.cell_backward(&c, &mut s).unwrap()
                    } else {
                        be.cell_forward(&c, &mut s).unwrap()
                    }
                },
                BatchSize::SmallInput,
            )
        });
    };
    run("lstm_fwd/b32h128", Cell::Lstm, false, &pre);
    let acts: Vec<f32> = pre.iter().map(|x| 1.0 / (1.0 + (-x).exp())).collect();
    run("lstm_bwd/b32h128", Cell::Lstm, true, &acts);
    run("gru_fwd/b32h128", Cell::Gru, false, &pre[..3 * nh].to_vec());
    group.finish();
}

fn bench_loss(c: &mut Criterion) {
    let be = CpuBackend::new(1);
    let (rows, cols) = (2048, 65);
    let logits = data(rows * cols, 6);
    let targets: Vec<u32> = (0..rows as u32).map(|i| i % cols as u32).collect();
    let mut d = vec![0.0; rows * cols];
    let mut group = c.benchmark_group("loss");
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function("softmax_xent/2048x65", |bch| {
        bch.iter(|| {
            be.softmax_xent(&logits, rows, cols, &targets, Some(&mut d), 1.0)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_gemm, bench_qgemv, bench_cells, bench_loss);
criterion_main!(benches);

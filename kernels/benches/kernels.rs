//! Criterion benchmarks of the CPU hot paths at the S preset's shapes (B = 32, H = 128,
//! T = 64, V = 65): the per-step recurrent GEMM, the all-steps input projection, the LSTM
//! and GRU pointwise steps and the loss.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rnngym_kernels::{Backend, CellDims, CpuBackend, Gemm};
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

fn bench_cells(c: &mut Criterion) {
    let be = CpuBackend::new(1);
    let d = CellDims { b: 32, h: 128 };
    let nh = d.b * d.h;
    let pre = data(4 * nh, 3);
    let mut cs = data(2 * nh, 4);
    let mut hs = vec![0.0; nh];
    let dh = data(nh, 5);
    let mut dc = vec![0.0; nh];
    let mut group = c.benchmark_group("cells");
    group.throughput(Throughput::Elements(nh as u64));
    // The kernels overwrite their inputs; each call gets a fresh copy made outside the timing
    // (copying the 64 KiB of gates inside it took half the measured time).
    group.bench_function("lstm_fwd/b32h128", |bch| {
        bch.iter_batched_ref(
            || pre.clone(),
            |gates| {
                be.lstm_fwd(d, gates, 0, &mut cs, 0, nh, &mut hs, 0)
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    let mut acts = pre.clone();
    be.lstm_fwd(d, &mut acts, 0, &mut cs, 0, nh, &mut hs, 0)
        .unwrap();
    group.bench_function("lstm_bwd/b32h128", |bch| {
        bch.iter_batched_ref(
            || acts.clone(),
            |gates| {
                be.lstm_bwd(d, gates, 0, &cs, 0, nh, &dh, 0, &mut dc)
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    let (gx, gh) = (data(3 * nh, 6), data(3 * nh, 7));
    let mut states = data(2 * nh, 8);
    group.bench_function("gru_fwd/b32h128", |bch| {
        bch.iter_batched_ref(
            || gx.clone(),
            |gx| be.gru_fwd(d, gx, 0, &gh, 0, &mut states, 0, nh).unwrap(),
            BatchSize::SmallInput,
        )
    });
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

criterion_group!(benches, bench_gemm, bench_cells, bench_loss);
criterion_main!(benches);

//! `Backend::sample_rows` and the algorithm of `sample.cu`, checked against the spec
//! ([`pick`]) on the CPU. The CUDA kernel itself is compared in `cuda_parity.rs`
//! (`sample_rows_match`); here a scalar model of its threshold search (`device_model`, the
//! kernel's steps one for one, with the block reductions as plain loops) must choose the same
//! token as the sort-based spec on every case, ties, NaNs and every filter included.

mod common;
use common::*;
use rand::Rng;
use rnngym_kernels::sample::{pick, SampleOptions};
use rnngym_kernels::{Backend, CpuBackend, KernelError, Rows};

const NONE: u32 = u32::MAX;
const ONE_BITS: u32 = 0x3f80_0000;

fn sanitize(x: f32) -> f32 {
    if x.is_nan() {
        f32::NEG_INFINITY
    } else {
        x.min(f32::MAX)
    }
}

/// `sample_rows` in sample.cu for one row, step by step.
fn device_model(x: &[f32], o: &SampleOptions, u: f64) -> u32 {
    let cols = x.len();
    let (mut bv, mut bi) = (f32::NEG_INFINITY, NONE);
    for (i, &v) in x.iter().enumerate() {
        let v = sanitize(v);
        if v > bv {
            (bv, bi) = (v, i as u32);
        }
    }
    if !o.draws() || bv == f32::NEG_INFINITY {
        return if bi == NONE { 0 } else { bi };
    }
    let p = |i: usize| ((sanitize(x[i]) - bv) / o.temperature).exp();
    let kept = |b: u32, i: usize, pb: u32, ib: u32| b > pb || (b == pb && i as u64 <= ib as u64);
    let count_at_least = |lo: u32, pb: u32, ib: u32| {
        (0..cols)
            .filter(|&i| {
                let b = p(i).to_bits();
                b >= lo && kept(b, i, pb, ib)
            })
            .count() as u32
    };
    let mass_at_least = |lo: u32, strict: bool, pb: u32, ib: u32| {
        (0..cols)
            .map(|i| {
                let b = p(i).to_bits();
                let inside = if strict { b > lo } else { b >= lo };
                if inside && kept(b, i, pb, ib) {
                    f64::from(p(i))
                } else {
                    0.0
                }
            })
            .sum::<f64>()
    };
    let nth_tie = |pb: u32, ib: u32, n: u32| {
        let (mut lo, mut hi) = (0usize, cols - 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let c = (0..=mid)
                .filter(|&i| {
                    let b = p(i).to_bits();
                    b == pb && kept(b, i, pb, ib)
                })
                .count() as u32;
            if c >= n {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo as u32
    };

    let (mut pb, mut ib) = (1u32, NONE);
    let top_k = u32::try_from(o.top_k).unwrap_or(u32::MAX);
    if top_k > 0 && top_k < count_at_least(1, pb, ib) {
        let (mut lo, mut hi) = (1u32, ONE_BITS);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if count_at_least(mid, pb, ib) >= top_k {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let above = if lo < ONE_BITS {
            count_at_least(lo + 1, pb, ib)
        } else {
            0
        };
        let ties = count_at_least(lo, pb, ib) - above;
        let need = top_k - above;
        ib = if need < ties {
            nth_tie(lo, NONE, need)
        } else {
            NONE
        };
        pb = lo;
    }
    if o.top_p < 1.0 {
        let target = f64::from(o.top_p.max(0.0)) * mass_at_least(pb, false, pb, ib);
        let (mut lo, mut hi) = (pb, ONE_BITS);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if mass_at_least(mid, false, pb, ib) >= target {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let above = mass_at_least(lo, true, pb, ib);
        let ties = count_at_least(lo, pb, ib)
            - if lo < ONE_BITS {
                count_at_least(lo + 1, pb, ib)
            } else {
                0
            };
        let pl = f64::from(f32::from_bits(lo));
        let want = ((target - above) / pl).ceil();
        let need = if want < 1.0 {
            1
        } else if want >= f64::from(ties) {
            ties
        } else {
            want as u32
        };
        let tie_ib = if lo == pb { ib } else { NONE };
        ib = if need < ties {
            nth_tie(lo, tie_ib, need)
        } else {
            tie_ib
        };
        pb = lo;
    }
    let total = mass_at_least(pb, false, pb, ib);
    let target = u * total;
    let mut running = 0.0;
    for i in 0..cols {
        let pi = p(i);
        if kept(pi.to_bits(), i, pb, ib) {
            running += f64::from(pi);
            if target < running {
                return i as u32;
            }
        }
    }
    (0..cols)
        .rev()
        .find(|&i| kept(p(i).to_bits(), i, pb, ib))
        .unwrap_or(0) as u32
}

/// A row of logits: distinct values, a few drawn from a small set (ties), and sometimes a
/// NaN or an infinity.
fn logits_row(rng: &mut rand::rngs::StdRng, v: usize) -> Vec<f32> {
    let spread = [0.5f32, 3.0, 12.0][rng.random_range(0..3)];
    (0..v)
        .map(|_| match rng.random_range(0..20) {
            0 => f32::NAN,
            1 => [f32::INFINITY, f32::NEG_INFINITY][rng.random_range(0..2)],
            2..=5 => [0.0f32, 1.0, -2.0][rng.random_range(0..3)],
            _ => rng.random_range(-spread..spread),
        })
        .collect()
}

fn options(rng: &mut rand::rngs::StdRng, v: usize) -> SampleOptions {
    SampleOptions {
        temperature: [0.25f32, 1.0, 2.5, f32::NAN][rng.random_range(0..4)],
        top_k: [0, 0, 1, 2, 5, v.saturating_sub(1), v, v + 3][rng.random_range(0..8)],
        top_p: [1.0f32, 1.0, 0.95, 0.5, 1e-3, 0.0][rng.random_range(0..6)],
        argmax: rng.random_range(0..10) == 0,
    }
}

#[test]
fn device_model_matches_the_spec() {
    let mut rng = rng(17);
    let mut scratch = Vec::new();
    let mut filtered = 0;
    for case in 0..6000 {
        let v = [1usize, 2, 3, 5, 8, 65, 300][rng.random_range(0..7)];
        let x = logits_row(&mut rng, v);
        let o = options(&mut rng, v);
        filtered += usize::from(o.top_k > 0 || o.top_p < 1.0);
        for u in [0.0, rng.random::<f64>(), rng.random::<f64>(), 1.0 - 1e-12] {
            let want = pick(&x, &o, u, &mut scratch);
            let got = device_model(&x, &o, u);
            assert_eq!(got, want, "case {case}: v={v} {o:?} u={u} logits {x:?}");
        }
    }
    assert!(filtered > 2000, "too few filtered cases: {filtered}");
}

#[test]
fn all_equal_rows_keep_ties_in_index_order() {
    // Every probability ties: top-k and top-p must keep the lowest indices, as the spec does.
    let x = vec![0.5f32; 10];
    let mut scratch = Vec::new();
    for (top_k, top_p, most) in [(3, 1.0, 2), (0, 0.35, 3), (7, 0.5, 3), (0, 0.0, 0)] {
        let o = SampleOptions {
            top_k,
            top_p,
            ..SampleOptions::default()
        };
        for u in [0.0, 0.3, 0.7, 0.999_999] {
            let want = pick(&x, &o, u, &mut scratch);
            assert!(want <= most, "{o:?} u={u}: {want}");
            assert_eq!(device_model(&x, &o, u), want, "{o:?} u={u}");
        }
    }
}

#[test]
fn cpu_sample_rows_follows_the_spec_row_by_row() {
    let be = CpuBackend::new(1);
    let mut rng = rng(3);
    let (rows, cols, off) = (7, 65, 13);
    let mut host = rand_vec(&mut rng, off + rows * cols + 5, 4.0);
    host[off + 2 * cols + 4] = f32::NAN;
    let buf = be.upload(&host).unwrap();
    let o = SampleOptions {
        temperature: 0.8,
        top_k: 10,
        top_p: 0.9,
        argmax: false,
    };
    let uniforms: Vec<f64> = (0..rows).map(|_| rng.random()).collect();
    let mut out = vec![u32::MAX; rows];
    be.sample_rows(&buf, Rows::new(off, rows, cols), &o, &uniforms, &mut out)
        .unwrap();
    let mut scratch = Vec::new();
    for r in 0..rows {
        let row = &host[off + r * cols..off + (r + 1) * cols];
        assert_eq!(out[r], pick(row, &o, uniforms[r], &mut scratch), "row {r}");
    }
    // Uniforms walk the kept tokens in index order: a larger draw never picks a lower index.
    let row = &host[off..off + cols];
    let picks: Vec<u32> = (0..50)
        .map(|k| pick(row, &o, f64::from(k) / 50.0, &mut scratch))
        .collect();
    assert!(picks.windows(2).all(|w| w[0] <= w[1]), "{picks:?}");
    assert!(picks.first() < picks.last(), "{picks:?}");
}

#[test]
fn sample_rows_each_picks_each_row_by_its_own_options() {
    let be = CpuBackend::new(2);
    let mut rng = rng(5);
    let mut scratch = Vec::new();
    for (rows, cols) in [(1usize, 5usize), (3, 65), (8, 256), (13, 40)] {
        let off = 7;
        let mut host = vec![0.0f32; off];
        for _ in 0..rows {
            host.extend(logits_row(&mut rng, cols));
        }
        let buf = be.upload(&host).unwrap();
        let opts: Vec<SampleOptions> = (0..rows).map(|_| options(&mut rng, cols)).collect();
        let uniforms: Vec<f64> = (0..rows).map(|_| rng.random()).collect();
        let mut out = vec![u32::MAX; rows];
        let block = Rows::new(off, rows, cols);
        be.sample_rows_each(&buf, block, &opts, &uniforms, &mut out)
            .unwrap();
        for r in 0..rows {
            let row = &host[off + r * cols..off + (r + 1) * cols];
            let want = pick(row, &opts[r], uniforms[r], &mut scratch);
            assert_eq!(out[r], want, "{rows}x{cols} row {r} {:?}", opts[r]);
        }
    }
    let buf = be.upload(&[0.0; 20]).unwrap();
    let o = [SampleOptions::default()];
    let err = be.sample_rows_each(&buf, Rows::new(0, 2, 10), &o, &[0.1, 0.2], &mut [0; 2]);
    match err {
        Err(KernelError::Shape(m)) => assert!(m.contains("1 options for 2 rows"), "{m}"),
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn sample_rows_rejects_bad_operands() {
    let be = CpuBackend::new(1);
    let buf = be.upload(&[0.0; 20]).unwrap();
    let o = SampleOptions::default();
    let shape = |r: rnngym_kernels::Result<()>| match r {
        Err(KernelError::Shape(m)) => m,
        other => panic!("expected a shape error, got {other:?}"),
    };
    let mut out = [0u32; 2];
    let m = shape(be.sample_rows(&buf, Rows::new(5, 2, 10), &o, &[0.1, 0.2], &mut out));
    assert!(m.contains("exceeds buffer of 20"), "{m}");
    let m = shape(be.sample_rows(&buf, Rows::new(0, 2, 10), &o, &[0.1], &mut out));
    assert!(m.contains("1 uniforms for 2 rows"), "{m}");
    let m = shape(be.sample_rows(&buf, Rows::new(0, 2, 10), &o, &[0.1, 0.2], &mut out[..1]));
    assert!(m.contains("out holds 1 tokens, expected 2"), "{m}");
    let mut out = [9u32; 3];
    be.sample_rows(&buf, Rows::new(0, 3, 0), &o, &[0.5; 3], &mut out)
        .unwrap();
    assert_eq!(out, [0; 3], "empty rows pick token 0, as the spec does");
}

//! The batched generator (`BatchGenerator`) is the same model as the batch-1 `Generator`: a
//! batched step gives each lane the logits of a batch-1 step on that lane's tokens (LSTM, GRU,
//! RNN, and a model with LPC input features, each lane keeping its own feature state); a
//! prime lands in every lane; and its lanes are row-independent, so lane i of a 4-lane run
//! draws the same tokens as lane i of an 8-lane run.

mod common;
use common::{lpc_gru, lpc_model};

use rnngym_gyms::wav::lpc::{LpcOptions, LpcTarget, PitchOf};
use rnngym_kernels::{Backend, CpuBackend, Precision};
use rnngym_trainer::generate::{BatchGenerator, Generator, MAX_STREAMS};
use rnngym_trainer::sample::{seeded_rng, SampleOptions};
use rnngym_trainer::{CellKind, Model, ModelDims};

/// Feeds lane i the sequence `seq(i, k)` for k in 0..steps on a batch of `n` lanes and on `n`
/// batch-1 generators; every step's logits must agree to 1e-5.
fn batched_equals_batch_one<B: Backend>(be: &B, model: &Model<B>, n: usize, steps: usize) {
    let v = model.dims.vocab as u32;
    let seq = |lane: usize, k: usize| ((lane * 13 + k * 7 + 3) as u32 * 2654435761) % v;
    let mut batch = BatchGenerator::new(be, model, n).unwrap();
    let mut ones: Vec<_> = (0..n).map(|_| Generator::new(be, model).unwrap()).collect();
    for k in 0..steps {
        let toks: Vec<u32> = (0..n).map(|lane| seq(lane, k)).collect();
        batch.feed(be, &toks).unwrap();
        let got = batch.logits(be).unwrap().to_vec();
        for (lane, g) in ones.iter_mut().enumerate() {
            g.feed(be, toks[lane]).unwrap();
            let want = g.logits(be).unwrap();
            let row = &got[lane * v as usize..(lane + 1) * v as usize];
            for (j, (a, b)) in row.iter().zip(want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs() + 1e-5,
                    "{:?} step {k} lane {lane} logit {j}: batched {a} vs batch-1 {b}",
                    model.dims.cell
                );
            }
        }
    }
}

#[test]
fn a_batched_step_equals_batch_one_steps_for_every_cell() {
    let be = CpuBackend::new(2);
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        let model = Model::new(&be, ModelDims::plain(cell, 11, 9, 24, 2), 0.2, 5).unwrap();
        batched_equals_batch_one(&be, &model, 5, 30);
        // More lanes than vocabulary rows (and than a kernel's block of rows).
        batched_equals_batch_one(&be, &model, 17, 6);
    }
}

#[test]
fn feature_lanes_are_kept_per_stream() {
    let be = CpuBackend::new(1);
    let model = lpc_gru(&be, 16, 1, 3);
    batched_equals_batch_one(&be, &model, 3, 40);
}

#[test]
fn a_prime_lands_in_every_lane() {
    let be = CpuBackend::new(1);
    let model = Model::new(&be, ModelDims::plain(CellKind::Lstm, 11, 8, 16, 2), 0.0, 1).unwrap();
    let prime: Vec<u32> = (0..300).map(|i| (i * 5 + 1) % 11).collect();
    let mut one = Generator::new(&be, &model).unwrap();
    one.prime(&be, &prime).unwrap();
    let want = one.logits(&be).unwrap().to_vec();
    let mut batch = BatchGenerator::new(&be, &model, 3).unwrap();
    assert!(!batch.is_primed());
    let mut seen = Vec::new();
    batch.prime_with(&be, &prime, |k| seen.push(k)).unwrap();
    assert_eq!(
        seen,
        [256, 299, 300],
        "progress as the batch-1 prime reports it"
    );
    assert!(batch.is_primed());
    let got = batch.logits(&be).unwrap();
    for lane in 0..3 {
        assert_eq!(&got[lane * 11..(lane + 1) * 11], &want[..], "lane {lane}");
    }
    // The carried state was copied too: the next step agrees with the batch-1 generator's.
    let opts = SampleOptions::default();
    batch.feed(&be, &[4, 4, 4]).unwrap();
    one.feed(&be, 4).unwrap();
    let want = one.logits(&be).unwrap().to_vec();
    let got = batch.logits(&be).unwrap();
    for (a, b) in got[22..].iter().zip(&want) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    let mut rngs: Vec<_> = (0..3).map(|i| seeded_rng(Some(i))).collect();
    assert_eq!(batch.next(&be, &opts, &mut rngs).unwrap().len(), 3);
}

/// Tokens of `steps` picks of every lane of `g`, lane i drawing from seed `seed + i`.
fn draws(
    be: &CpuBackend,
    mut g: BatchGenerator<'_, CpuBackend>,
    seed: u64,
    steps: usize,
) -> Vec<Vec<u32>> {
    let n = g.lanes();
    let mut rngs: Vec<_> = (0..n as u64).map(|i| seeded_rng(Some(seed + i))).collect();
    let mut out = vec![Vec::new(); n];
    let opts = SampleOptions::default();
    for _ in 0..steps {
        for (lane, &t) in g.next(be, &opts, &mut rngs).unwrap().iter().enumerate() {
            out[lane].push(t);
        }
    }
    out
}

/// Tokens of `steps` picks of lane `0..n`, lane i drawing from seed `10 + i`.
fn streams(be: &CpuBackend, model: &Model<CpuBackend>, n: usize, steps: usize) -> Vec<Vec<u32>> {
    let mut g = BatchGenerator::new(be, model, n).unwrap();
    g.prime_with(be, &[1, 2, 3], |_| {}).unwrap();
    draws(be, g, 10, steps)
}

#[test]
fn lanes_are_row_independent_and_differ() {
    let be = CpuBackend::new(2);
    let model = Model::new(&be, ModelDims::plain(CellKind::Lstm, 40, 32, 64, 2), 0.0, 9).unwrap();
    let four = streams(&be, &model, 4, 200);
    let eight = streams(&be, &model, 8, 200);
    assert_eq!(four, eight[..4], "lane i is the same with 4 or 8 lanes");
    assert_eq!(four, streams(&be, &model, 4, 200), "reproducible");
    assert_ne!(four[0], four[1], "lanes draw from their own streams");
}

#[test]
fn the_number_of_streams_is_bounded() {
    let be = CpuBackend::new(1);
    let model = Model::new(&be, ModelDims::plain(CellKind::Gru, 5, 4, 4, 1), 0.0, 1).unwrap();
    for n in [0, MAX_STREAMS + 1] {
        let err = BatchGenerator::new(&be, &model, n).err().unwrap();
        assert!(err.to_string().contains("streams"), "{err}");
    }
}

/// Tokens of `steps` picks of `n` lanes of an LPCNet-style model (excitation targets decoded
/// in each lane's context, pitch sharpening) at int8 on two threads, lane i drawing from seed
/// `seed + i`: the lanes' feature updates, picks and decoding are shared with the hot helper.
fn audio_streams(be: &CpuBackend, model: &Model<CpuBackend>, n: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut g = BatchGenerator::with_precision(be, model, n, Precision::Int8)
        .unwrap()
        .with_pitch_sharpening(1.0);
    let prime: Vec<u32> = (0..40).map(|k| 128 + (k * 37 % 64) as u32).collect();
    g.prime_with(be, &prime, |_| {}).unwrap();
    draws(be, g, seed, 120)
}

#[test]
fn audio_lanes_shared_between_threads_are_each_their_own_stream() {
    let be = CpuBackend::new(2);
    let opts = LpcOptions {
        order: 4,
        history: 32,
        frame: 4,
        target: LpcTarget::Excitation,
        pitch_of: PitchOf::Excitation,
        ..LpcOptions::default()
    };
    let model = lpc_model(&be, CellKind::Lstm, opts, 16, 2, 4);
    assert!(model.target_coding().is_some(), "excitation targets");
    // Eight lanes split 4/4 between the threads, three 1/2, one not at all.
    let eight = audio_streams(&be, &model, 8, 20);
    let three = audio_streams(&be, &model, 3, 20);
    assert_eq!(three, eight[..3], "lane i is the same with 3 or 8 lanes");
    for (lane, want) in eight.iter().enumerate().skip(3) {
        let one = audio_streams(&be, &model, 1, 20 + lane as u64);
        assert_eq!(one[0], *want, "lane {lane} alone");
    }
    assert_ne!(eight[0], eight[5], "lanes draw from their own streams");
}

//! Generation with reduced-precision weights (`Generator::with_precision`): it computes what
//! the model with its weights round-tripped through that precision computes
//! (`Model::round_trip_weights`, what `rnngym eval --precision` scores), for every cell, with
//! and without input features, batched and batch 1; and on a trained model the loss moves by
//! less than the bounds (bf16 0.01, int8 0.03 nats/token).

mod common;
use common::*;

use rnngym_gyms::UnknownPolicy;
use rnngym_kernels::{Backend, CpuBackend, Precision};
use rnngym_trainer::generate::{bytes_per_token, bytes_per_token_at, BatchGenerator, Generator};
use rnngym_trainer::model::Mode;
use rnngym_trainer::{CellKind, Model, ModelDims, Trainer};

/// A deterministic token sequence over `v` symbols.
fn tokens(v: usize, n: usize, salt: usize) -> Vec<u32> {
    (0..n)
        .map(|k| ((k * 7 + salt * 13 + 3) as u32).wrapping_mul(2_654_435_761) % v as u32)
        .collect()
}

/// A copy of `model` (same weights and features) with its converted weights round-tripped.
fn round_tripped<B: Backend>(be: &B, model: &Model<B>, p: Precision) -> Model<B> {
    let mut host = vec![0.0; model.total];
    be.read(&model.params, 0, &mut host).unwrap();
    let mut copy = Model::new(be, model.dims, model.dropout, 0).unwrap();
    be.write(&mut copy.params, 0, &host).unwrap();
    if let Some(f) = model.features() {
        copy.set_features(f.clone()).unwrap();
    }
    copy.round_trip_weights(be, p).unwrap();
    copy
}

/// Feeds `seq` to a generator at `p` and to an f32 generator of the round-tripped model; the
/// logits of every step agree to 1e-4 (only the summation order differs).
fn matches_round_trip<B: Backend>(be: &B, model: &Model<B>, p: Precision, seq: &[u32]) {
    let rt = round_tripped(be, model, p);
    let mut low = Generator::with_precision(be, model, p).unwrap();
    assert_eq!(low.precision(), p);
    let mut want = Generator::new(be, &rt).unwrap();
    let mut moved = 0.0f32;
    for (k, &t) in seq.iter().enumerate() {
        low.feed(be, t).unwrap();
        want.feed(be, t).unwrap();
        let w = want.logits(be).unwrap().to_vec();
        let g = low.logits(be).unwrap();
        for (j, (a, b)) in g.iter().zip(&w).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{:?} {p} step {k} logit {j}: {a} vs round-tripped {b}",
                model.dims.cell
            );
        }
        moved = moved.max(max_diff(g, &w));
    }
    assert!(moved.is_finite());
}

#[test]
fn reduced_precision_steps_compute_the_round_tripped_model_for_every_cell() {
    let be = CpuBackend::new(2);
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        // Wide enough for several 32-row panels and the two-thread split.
        let model = Model::new(&be, ModelDims::plain(cell, 40, 24, 96, 2), 0.0, 5).unwrap();
        for p in [Precision::Bf16, Precision::Int8] {
            matches_round_trip(&be, &model, p, &tokens(40, 60, 1));
        }
    }
}

#[test]
fn generation_carries_the_state_of_the_training_forward_for_every_cell() {
    // The generator updates each layer's state in place from token to token; the training
    // forward runs the whole window. Every step's logits agree (to summation order).
    let be = CpuBackend::new(2);
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        let model = Model::new(&be, ModelDims::plain(cell, 40, 24, 96, 2), 0.0, 7).unwrap();
        generator_follows_forward(&be, &model, &tokens(40, 50, 2));
    }
}

#[test]
fn reduced_precision_changes_the_logits_but_round_tripping_is_what_it_computes() {
    // Guard against a test that would pass with the f32 weights: the converted model's logits
    // differ from the f32 model's, and int8 differs more than bf16.
    let be = CpuBackend::new(1);
    let model = Model::new(&be, ModelDims::plain(CellKind::Lstm, 30, 16, 64, 2), 0.0, 9).unwrap();
    let seq = tokens(30, 40, 2);
    let mut diffs = Vec::new();
    for p in Precision::ALL {
        let mut f = Generator::new(&be, &model).unwrap();
        let mut g = Generator::with_precision(&be, &model, p).unwrap();
        let mut d = 0.0f32;
        for &t in &seq {
            f.feed(&be, t).unwrap();
            g.feed(&be, t).unwrap();
            let w = f.logits(&be).unwrap().to_vec();
            d = d.max(max_diff(g.logits(&be).unwrap(), &w));
        }
        diffs.push(d);
    }
    assert_eq!(diffs[0], 0.0, "f32 is the plain generator");
    assert!(diffs[1] > 0.0 && diffs[2] > diffs[1], "{diffs:?}");
    assert!(diffs[3] > 0.0, "w8a16 rounds too: {diffs:?}");
    assert!(
        diffs[4] > diffs[3],
        "w8a8 rounds its inputs coarser: {diffs:?}"
    );
}

/// Feeds `seq` to a generator at `p` (`w8a16` or `w8a8`) and an `int8` one (the same weights):
/// their logits differ only by the rounding of each product's input, a 2⁻¹⁶ (`w8a16`) or 2⁻⁸
/// (`w8a8`) of its largest value; returns the largest difference.
fn int8_with_rounded_inputs<B: Backend>(
    be: &B,
    model: &Model<B>,
    p: Precision,
    seq: &[u32],
) -> f32 {
    // Each logit's error grows with the input step (2⁸ times w8a16's at w8a8); measured at most
    // 1.5e-5 and 4.7e-3 on the models here.
    let within = match p {
        Precision::W8a16 => 2e-3,
        _ => 2e-2,
    };
    let mut w = Generator::with_precision(be, model, p).unwrap();
    let mut i = Generator::with_precision(be, model, Precision::Int8).unwrap();
    let mut moved = 0.0f32;
    for (k, &t) in seq.iter().enumerate() {
        w.feed(be, t).unwrap();
        i.feed(be, t).unwrap();
        let want = i.logits(be).unwrap().to_vec();
        for (j, (a, b)) in w.logits(be).unwrap().iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= within * (1.0 + b.abs()),
                "{:?} step {k} logit {j}: {p} {a} vs int8 {b}",
                model.dims.cell
            );
            moved = moved.max((a - b).abs());
        }
    }
    moved
}

#[test]
fn rounded_input_steps_are_int8_steps_with_rounded_inputs_for_every_cell() {
    let be = CpuBackend::new(2);
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        let model = Model::new(&be, ModelDims::plain(cell, 40, 24, 96, 2), 0.0, 5).unwrap();
        let seq = tokens(40, 60, 1);
        let a16 = int8_with_rounded_inputs(&be, &model, Precision::W8a16, &seq);
        let a8 = int8_with_rounded_inputs(&be, &model, Precision::W8a8, &seq);
        println!(
            "{cell:?}: largest logit moved by rounding the inputs: w8a16 {a16:e}, w8a8 {a8:e}"
        );
        assert!(a16 > 0.0, "{cell:?}: the inputs are rounded");
        assert!(a8 > 10.0 * a16, "{cell:?}: 8-bit codes round coarser");
    }
}

#[test]
fn features_and_batches_run_at_reduced_precision() {
    let be = CpuBackend::new(1);
    let model = lpc_gru(&be, 40, 2, 3);
    let seq = tokens(256, 80, 3);
    matches_round_trip(&be, &model, Precision::Int8, &seq);
    for p in [Precision::W8a16, Precision::W8a8] {
        int8_with_rounded_inputs(&be, &model, p, &seq);
    }
    for p in [Precision::Int8, Precision::W8a16, Precision::W8a8] {
        n_lanes_are_n_generators(&be, &model, p, &seq, 3);
    }
}

#[test]
fn many_lanes_with_rounded_inputs_are_batch_one_generators() {
    // 64 inputs a product (w8a16 on AMX tiles where the CPU has them, from 4 rows), two
    // threads: 5 lanes (few rows: each thread takes half the panels of every lane), 12 (6 lanes
    // a thread) and 19 (an odd count: blocks of four rows and a tail).
    let be = CpuBackend::new(2);
    let model = Model::new(&be, ModelDims::plain(CellKind::Lstm, 70, 64, 64, 2), 0.0, 7).unwrap();
    let seq = tokens(70, 90, 5);
    for n in [5, 12, 19] {
        for p in [Precision::W8a16, Precision::W8a8] {
            n_lanes_are_n_generators(&be, &model, p, &seq, n);
        }
    }
}

/// `n` lanes at `p` = `n` batch-1 generators at `p` (w8a16 and w8a8 round each lane's input
/// on its own).
fn n_lanes_are_n_generators(
    be: &CpuBackend,
    model: &Model<CpuBackend>,
    p: Precision,
    seq: &[u32],
    n: usize,
) {
    let v = model.dims.vocab;
    let mut batch = BatchGenerator::with_precision(be, model, n, p).unwrap();
    let mut ones: Vec<_> = (0..n)
        .map(|_| Generator::with_precision(be, model, p).unwrap())
        .collect();
    for k in 0..40 {
        let toks: Vec<u32> = (0..n).map(|lane| seq[(k + lane * 7) % seq.len()]).collect();
        batch.feed(be, &toks).unwrap();
        let got = batch.logits(be).unwrap().to_vec();
        for (lane, g) in ones.iter_mut().enumerate() {
            g.feed(be, toks[lane]).unwrap();
            let want = g.logits(be).unwrap();
            for (a, b) in got[lane * v..(lane + 1) * v].iter().zip(want) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{p} step {k} lane {lane}"
                );
            }
        }
    }
}

#[test]
fn a_prime_at_reduced_precision_is_fed_at_that_precision() {
    let be = CpuBackend::new(1);
    let model = Model::new(&be, ModelDims::plain(CellKind::Lstm, 11, 8, 32, 2), 0.0, 1).unwrap();
    let prime = tokens(11, 300, 4);
    let mut primed = Generator::with_precision(&be, &model, Precision::Bf16).unwrap();
    let mut seen = Vec::new();
    primed.prime_with(&be, &prime, |k| seen.push(k)).unwrap();
    assert_eq!(seen, [256, 300]);
    let mut fed = Generator::with_precision(&be, &model, Precision::Bf16).unwrap();
    for &t in &prime {
        fed.feed(&be, t).unwrap();
    }
    let want = fed.logits(&be).unwrap().to_vec();
    assert_eq!(primed.logits(&be).unwrap(), &want[..]);
}

#[test]
fn converted_weights_read_fewer_bytes_per_token() {
    let be = CpuBackend::new(1);
    let model = Model::new(&be, ModelDims::plain(CellKind::Gru, 50, 16, 64, 2), 0.0, 1).unwrap();
    let f32s = bytes_per_token(&model, true);
    // Converted per token: W_ih of layer 1, W_hh of both layers (192 × 64 each), proj (50 × 64).
    let converted = 3 * 192 * 64 + 50 * 64;
    let rows = 3 * 192 + 50;
    let bf16 = bytes_per_token_at(&model, true, Precision::Bf16);
    let int8 = bytes_per_token_at(&model, true, Precision::Int8);
    assert_eq!(f32s - bf16, 2 * converted);
    assert_eq!(f32s - int8, 3 * converted - 4 * rows);
    let g = Generator::with_precision(&be, &model, Precision::Int8).unwrap();
    assert_eq!(g.bytes_per_token(), int8);
}

/// Mean cross-entropy of `model` on windows of `text`'s tokens (1 lane, carried state).
fn loss_on(be: &CpuBackend, model: &Model<CpuBackend>, ids: &[u32]) -> f64 {
    let t = 64;
    let mut ws = model.workspace(be, t, 1).unwrap();
    let (mut sum, mut n) = (0.0, 0);
    for w in ids.windows(t + 1).step_by(t) {
        let l = model
            .forward(be, &mut ws, &w[..t], Some(&w[1..]), &[false], Mode::Eval)
            .unwrap()
            .unwrap();
        sum += l;
        n += 1;
    }
    sum / n as f64
}

#[test]
fn a_trained_model_loses_less_than_the_bounds_at_reduced_precision() {
    let dir = tempfile::tempdir().unwrap();
    // Words drawn at random (a fixed LCG): a text with real uncertainty left, so the loss
    // stays well above zero, where a rounding of the weights shows.
    let words = [
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "a", "stitch", "in",
        "time", "saves", "nine", "all", "that", "glitters", "is", "not", "gold",
    ];
    let mut state = 12345u64;
    let text: String = (0..3000)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            format!("{} ", words[(state >> 33) as usize % words.len()])
        })
        .collect();
    let mut cfg = tiny_config(dir.path());
    cfg.model.hidden = 96;
    cfg.train.batch = 8;
    cfg.train.seq_len = 32;
    cfg.train.lr = 5e-3;
    let gym = text_gym(&text, 0.0);
    let codec = gym.codec();
    let mut t = Trainer::new(CpuBackend::new(2), cfg, gym).unwrap();
    t.train(300).unwrap();
    let (be, model) = (t.backend(), t.model());
    let ids = codec.encode(&text[..4097], UnknownPolicy::Error).unwrap();
    let f32_loss = loss_on(be, model, &ids);
    // Uniform over the characters would be ln(V) ≈ 3; the word choice alone costs about
    // ln(20) / 5.3 ≈ 0.57 nats per character.
    assert!(
        (0.5..1.0).contains(&f32_loss),
        "the model learned the text: {f32_loss} nats/char"
    );
    for (p, bound) in [(Precision::Bf16, 0.01), (Precision::Int8, 0.03)] {
        let loss = loss_on(be, &round_tripped(be, model, p), &ids);
        println!("{p}: {loss:.5} nats/char (f32 {f32_loss:.5}, bound {bound})");
        assert!(
            (loss - f32_loss).abs() <= bound,
            "{p}: {loss} vs f32 {f32_loss}"
        );
        // And what the generator computes at that precision is that model.
        matches_round_trip(be, model, p, &ids[..200]);
    }
    // w8a16 and w8a8 are scored through their generators, token by token (the f32 generator
    // reference): held to int8's bound.
    let through = |p: Precision| {
        let mut g = Generator::with_precision(be, model, p).unwrap();
        let n = 2048;
        let mut sum = 0.0;
        for w in ids[..=n].windows(2) {
            g.feed(be, w[0]).unwrap();
            sum += g.token_nll(be, w[1]).unwrap();
        }
        sum / n as f64
    };
    let f32_gen = through(Precision::F32);
    assert!((0.5..1.0).contains(&f32_gen), "{f32_gen}");
    for p in [Precision::W8a16, Precision::W8a8] {
        let loss = through(p);
        println!("{p}: {loss:.5} nats/char through the generator (f32 {f32_gen:.5}, bound 0.03)");
        assert!(
            (loss - f32_gen).abs() <= 0.03,
            "{p} {loss} vs f32 {f32_gen}"
        );
        assert!(loss != f32_gen, "{p} rounds");
    }
}

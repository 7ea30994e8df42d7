//! The batch-1 generation step (`Model::step_token`, with and without the layer-0 input table,
//! and the `Generator` on top) must give the logits of the window forward run one token at a
//! time with the state carried — for every cell, with dropout configured (off at inference).

use rnngym_kernels::{Backend, CpuBackend};
use rnngym_trainer::generate::Generator;
use rnngym_trainer::model::Mode;
use rnngym_trainer::{CellKind, Model, ModelDims};

fn logits<B: Backend>(be: &B, ws: &rnngym_trainer::Workspace<B>, v: usize) -> Vec<f32> {
    let mut out = vec![0f32; v];
    ws.read_logits(be, 0, &mut out).unwrap();
    out
}

#[test]
fn step_token_matches_the_window_forward() {
    let be = CpuBackend::new(2);
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        let dims = ModelDims::plain(cell, 11, 9, 24, 3);
        let model = Model::new(&be, dims, 0.3, 5).unwrap();
        let table = model.input_table(&be).unwrap();
        let (mut w_fwd, mut w_plain, mut w_table) = (
            model.workspace(&be, 1, 1).unwrap(),
            model.workspace(&be, 1, 1).unwrap(),
            model.workspace(&be, 1, 1).unwrap(),
        );
        let mut gen = Generator::new(&be, &model).unwrap();
        let tokens: Vec<u32> = (0..40).map(|i| (i * 7 + 3) % 11).collect();
        for (i, &tok) in tokens.iter().enumerate() {
            model
                .forward(&be, &mut w_fwd, &[tok], None, &[false], Mode::Eval)
                .unwrap();
            model.step_token(&be, &mut w_plain, tok, None).unwrap();
            model
                .step_token(&be, &mut w_table, tok, Some(&table))
                .unwrap();
            gen.feed(&be, tok).unwrap();
            let want = logits(&be, &w_fwd, 11);
            let got = [
                ("plain", logits(&be, &w_plain, 11)),
                ("table", logits(&be, &w_table, 11)),
                ("generator", gen.logits(&be).unwrap().to_vec()),
            ];
            for (what, got) in got {
                for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-5 * w.abs() + 1e-5,
                        "{cell:?} {what} token {i} logit {j}: {g} vs forward {w}"
                    );
                }
            }
        }
    }
}

/// A long prime runs as windows (`Generator::prime_with`); the generator then holds the state
/// and logits that feeding it one token at a time gives.
#[test]
fn a_windowed_prime_equals_feeding_token_by_token() {
    let be = CpuBackend::new(2);
    for cell in [CellKind::Lstm, CellKind::Gru] {
        let model = Model::new(&be, ModelDims::plain(cell, 11, 9, 24, 2), 0.0, 5).unwrap();
        let tokens: Vec<u32> = (0..600).map(|i| (i * i * 7 + 3) % 11).collect();
        let (mut fed, mut primed) = (
            Generator::new(&be, &model).unwrap(),
            Generator::new(&be, &model).unwrap(),
        );
        tokens.iter().for_each(|&t| fed.feed(&be, t).unwrap());
        primed.prime(&be, &tokens).unwrap();
        for step in 0..20 {
            let (a, b) = (
                fed.logits(&be).unwrap().to_vec(),
                primed.logits(&be).unwrap(),
            );
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= 1e-4, "{cell:?} step {step}: {x} vs {y}");
            }
            fed.feed(&be, step % 11).unwrap();
            primed.feed(&be, step % 11).unwrap();
        }
    }
}

#[test]
fn step_token_rejects_bad_tokens_and_shapes() {
    let be = CpuBackend::new(1);
    let dims = ModelDims::plain(CellKind::Lstm, 5, 3, 4, 1);
    let model = Model::new(&be, dims, 0.0, 1).unwrap();
    let mut ws = model.workspace(&be, 1, 1).unwrap();
    assert!(model.step_token(&be, &mut ws, 5, None).is_err());
    let mut wide = model.workspace(&be, 2, 1).unwrap();
    assert!(model.step_token(&be, &mut wide, 0, None).is_err());
}

/// The bytes a batch-1 token reads, counted by hand for a tiny 2-layer LSTM and GRU
/// (V = 5, E = 3, H = 4): with the input table one `[G]` row replaces the embedding row and
/// `weight_ih_l0`; everything else is read whole.
#[test]
fn bytes_per_token_matches_a_hand_count() {
    use rnngym_trainer::generate::bytes_per_token;
    let be = CpuBackend::new(1);
    let (v, e, h) = (5, 3, 4);
    for (cell, gates) in [(CellKind::Lstm, 4), (CellKind::Gru, 3)] {
        let g = gates * h;
        let model = Model::new(&be, ModelDims::plain(cell, v, e, h, 2), 0.0, 1).unwrap();
        // Layer 0 past its input, layer 1 whole, the projection.
        let rest = (g * h + 2 * g) + (g * h + g * h + 2 * g) + (v * h + v);
        let with_table = g + rest;
        let without = e + g * e + rest;
        assert_eq!(bytes_per_token(&model, true), 4 * with_table, "{cell:?}");
        assert_eq!(bytes_per_token(&model, false), 4 * without, "{cell:?}");
        // The generator keeps a table for a model this small.
        let gen = Generator::new(&be, &model).unwrap();
        assert_eq!(gen.bytes_per_token(), 4 * with_table, "{cell:?}");
    }
    // Spelled out for the LSTM: G = 16, so 16 + (64 + 32) + (64 + 64 + 32) + (20 + 5) floats.
    let lstm = Model::new(&be, ModelDims::plain(CellKind::Lstm, v, e, h, 2), 0.0, 1).unwrap();
    assert_eq!(bytes_per_token(&lstm, true), 4 * 297);
}

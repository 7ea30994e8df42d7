//! Finite-difference gradient checks of the whole model (embedding, with and without input
//! feature channels, every cell type over several layers and steps with a carried-in state,
//! projection, softmax cross-entropy).
//!
//! The model is f32, so central differences use ε = 1e-2 and the tolerance is
//! |numeric − analytic| ≤ 2e-3 + 3e-2·|analytic|. The kernels crate checks each cell's
//! backward formulas in f64 at 1e-6; this test checks how the model wires them together.

use std::sync::Arc;

use rnngym_gyms::{FeatureLane, Features};
use rnngym_kernels::{Backend, CpuBackend};
use rnngym_trainer::model::Mode;
use rnngym_trainer::{CellKind, Model, ModelDims};

fn loss_at(
    be: &CpuBackend,
    model: &Model<CpuBackend>,
    state: &[(Vec<f32>, Vec<f32>)],
    x: &[u32],
    y: &[u32],
    t: usize,
    b: usize,
) -> f64 {
    let mut ws = model.workspace(be, t, b).unwrap();
    ws.write_state(be, state).unwrap();
    model
        .forward(be, &mut ws, x, Some(y), &vec![false; b], Mode::Eval)
        .unwrap()
        .unwrap()
}

/// Test features: one channel of 3 ids mixing the token with how many tokens the lane has seen
/// (so the lane's state matters), and one of 2 ids.
struct Counting;

struct CountingLane(u32);

impl Features for Counting {
    fn channels(&self) -> &[usize] {
        &[3, 2]
    }
    fn lane(&self) -> Box<dyn FeatureLane> {
        Box::new(CountingLane(0))
    }
}

impl FeatureLane for CountingLane {
    fn push(&mut self, token: u32, out: &mut [u32]) {
        self.0 += 1;
        out[0] = (token + self.0) % 3;
        out[1] = token % 2;
    }
    fn reset(&mut self) {
        self.0 = 0;
    }
    fn save(&self) -> Vec<f32> {
        vec![self.0 as f32]
    }
    fn load(&mut self, s: &[f32]) -> Result<(), String> {
        self.0 = s[0] as u32;
        Ok(())
    }
}

fn gradcheck(cell: CellKind, features: bool) {
    let mut dims = ModelDims::plain(cell, 5, 3, 4, 2);
    if features {
        dims = dims.with_channels(Counting.channels());
    }
    let (t, b, h) = (3, 2, dims.hidden);
    let be = CpuBackend::new(1);
    let mut model = Model::new(&be, dims, 0.0, 7).unwrap();
    if features {
        model.set_features(Arc::new(Counting)).unwrap();
    }
    let x: Vec<u32> = (0..t * b).map(|i| (i * 3 % 5) as u32).collect();
    let y: Vec<u32> = (0..t * b).map(|i| (i * 2 + 1) as u32 % 5).collect();
    let lstm = cell == CellKind::Lstm;
    let state: Vec<(Vec<f32>, Vec<f32>)> = (0..dims.layers)
        .map(|l| {
            let v = |k: usize| ((l * 31 + k * 7) % 11) as f32 / 11.0 - 0.5;
            (
                (0..b * h).map(v).collect(),
                if lstm {
                    (0..b * h).map(|k| v(k + 3)).collect()
                } else {
                    vec![]
                },
            )
        })
        .collect();
    let mut ws = model.workspace(&be, t, b).unwrap();
    ws.write_state(&be, &state).unwrap();
    model
        .forward(
            &be,
            &mut ws,
            &x,
            Some(&y),
            &vec![false; b],
            Mode::Train { dropout_seed: 0 },
        )
        .unwrap();
    model.backward(&be, &mut ws).unwrap();
    let mut grads = vec![0f32; model.total];
    be.read(&model.grads, 0, &mut grads).unwrap();
    if features {
        // The feature channels' embedding rows (after the V token rows) are trained.
        let e = dims.embed;
        let rows = &grads[model.embed_off + dims.vocab * e..][..(dims.inputs - dims.vocab) * e];
        assert!(
            rows.iter().filter(|g| g.abs() > 1e-6).count() >= 3 * e,
            "{rows:?}"
        );
    }
    let mut params = vec![0f32; model.total];
    be.read(&model.params, 0, &mut params).unwrap();
    let eps = 1e-2f32;
    let mut checked = 0;
    for info in model.infos.clone() {
        // Up to 6 entries per tensor, spread over it.
        let n = info.len();
        for k in 0..n.min(6) {
            let i = info.off + k * n / n.min(6);
            let orig = params[i];
            be.write(&mut model.params, i, &[orig + eps]).unwrap();
            let lp = loss_at(&be, &model, &state, &x, &y, t, b);
            be.write(&mut model.params, i, &[orig - eps]).unwrap();
            let lm = loss_at(&be, &model, &state, &x, &y, t, b);
            be.write(&mut model.params, i, &[orig]).unwrap();
            let num = (lp - lm) / (2.0 * eps as f64);
            let ana = grads[i] as f64;
            assert!(
                (num - ana).abs() <= 2e-3 + 3e-2 * ana.abs(),
                "{cell:?} {}[{}]: numeric {num:.6} vs analytic {ana:.6}",
                info.name,
                i - info.off
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "checked only {checked} entries");
}

#[test]
fn lstm_model_gradients_match_finite_differences() {
    gradcheck(CellKind::Lstm, false);
}

#[test]
fn gru_model_gradients_match_finite_differences() {
    gradcheck(CellKind::Gru, false);
}

#[test]
fn rnn_model_gradients_match_finite_differences() {
    gradcheck(CellKind::Rnn, false);
}

/// Input feature channels: their embedding rows and layer 0's wider input weights.
#[test]
fn feature_channel_gradients_match_finite_differences() {
    gradcheck(CellKind::Lstm, true);
    gradcheck(CellKind::Gru, true);
}

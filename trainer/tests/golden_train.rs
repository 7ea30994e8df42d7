//! Golden training trajectory against PyTorch: `tests/reference/make_fixtures.py` trains a
//! 2-layer LSTM (H = 24, so the SIMD paths run) for 12 Adam steps through carried state, with
//! clipping, in float64, and stores the initial weights, the token stream, every step's loss
//! and gradient norm, and the final weights. Our f32 loop (forward, backward,
//! `clip_global_norm`, `Optimizer::step`) must follow the same trajectory. This is what catches
//! a training loop that is right for one step but drifts: wrong state carry, Adam or clipping.

use rnngym_kernels::{Backend, CpuBackend};
use rnngym_trainer::config::TrainConfig;
use rnngym_trainer::model::Mode;
use rnngym_trainer::optim::{clip, Optimizer};
use rnngym_trainer::{CellKind, Model, ModelDims};
mod fixture;
use fixture::{fixture, floats, usize_of as num};

fn trajectory(threads: usize) {
    let f = fixture("lstm_train.json");
    let dims = ModelDims::plain(
        CellKind::Lstm,
        num(&f, "vocab"),
        num(&f, "embed"),
        num(&f, "hidden"),
        num(&f, "layers"),
    );
    let (b, t, windows, steps) = (
        num(&f, "batch"),
        num(&f, "seq"),
        num(&f, "windows"),
        num(&f, "steps"),
    );
    let be = CpuBackend::new(threads);
    let mut model = Model::new(&be, dims, 0.0, 0).unwrap();
    for info in model.infos.clone() {
        let data = floats(&f["params"][&info.name]["data"]);
        assert_eq!(data.len(), info.len(), "{}: size", info.name);
        be.write(&mut model.params, info.off, &data).unwrap();
    }
    let stream: Vec<Vec<u32>> = f["stream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect();
    let cfg = TrainConfig {
        lr: f["lr"].as_f64().unwrap(),
        ..TrainConfig::default()
    };
    let max_norm = f["clip"].as_f64().unwrap();
    let mut opt = Optimizer::new(&be, &cfg, model.total).unwrap();
    let mut ws = model.workspace(&be, t, b).unwrap();
    let (want_losses, want_norms) = (floats(&f["losses"]), floats(&f["grad_norms"]));
    for step in 0..steps {
        let w = step % windows;
        let window = |shift: usize| -> Vec<u32> {
            stream
                .iter()
                .flat_map(|lane| lane[w * t + shift..w * t + shift + t].to_vec())
                .collect()
        };
        let (inputs, targets) = (window(0), window(1));
        let loss = model
            .forward(
                &be,
                &mut ws,
                &inputs,
                Some(&targets),
                &vec![w == 0; b],
                Mode::Train {
                    dropout_seed: step as u64,
                },
            )
            .unwrap()
            .unwrap();
        model.backward(&be, &mut ws).unwrap();
        let norm = clip::clip_global_norm(&be, &mut model.grads, model.total, max_norm).unwrap();
        opt.step(&be, &cfg, &mut model.params, &model.grads, cfg.lr as f32)
            .unwrap();
        let (wl, wn) = (want_losses[step] as f64, want_norms[step] as f64);
        assert!(
            (loss - wl).abs() < 1e-4 * wl,
            "threads {threads} step {step}: loss {loss} vs PyTorch {wl}"
        );
        assert!(
            (norm - wn).abs() < 1e-3 * wn,
            "threads {threads} step {step}: grad norm {norm} vs PyTorch {wn}"
        );
    }
    // Adam's update is ~lr·sign(m) wherever |g| ≫ eps, so f32 rounding may flip a few tiny
    // moments; bound the largest weight error by a tenth of one step.
    let lr = cfg.lr as f32;
    for info in &model.infos {
        let mut got = vec![0f32; info.len()];
        be.read(&model.params, info.off, &mut got).unwrap();
        let want = floats(&f["final"][&info.name]["data"]);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() < 0.1 * lr,
                "threads {threads} {}[{i}]: {g} vs PyTorch {w}",
                info.name
            );
        }
    }
}

#[test]
fn adam_trajectory_matches_pytorch_one_thread() {
    trajectory(1);
}

#[test]
fn adam_trajectory_matches_pytorch_two_threads() {
    trajectory(2);
}

#[test]
fn forget_bias_sets_only_the_lstm_forget_block() {
    let be = CpuBackend::new(1);
    let dims = ModelDims::plain(CellKind::Lstm, 5, 3, 4, 2);
    let mut model = Model::new(&be, dims, 0.0, 3).unwrap();
    model.set_forget_bias(&be, 1.0).unwrap();
    let read = |name: String| {
        let info = model.info(&name).expect("parameter exists");
        let mut out = vec![0f32; info.len()];
        be.read(&model.params, info.off, &mut out).unwrap();
        out
    };
    for l in 0..2 {
        let b_ih = read(format!("rnn.bias_ih_l{l}"));
        let b_hh = read(format!("rnn.bias_hh_l{l}"));
        // Gate order i, f, g, o: only rows H..2H are the forget gate.
        assert!(b_ih[4..8].iter().all(|&x| x == 1.0), "{b_ih:?}");
        assert!(b_hh[4..8].iter().all(|&x| x == 0.0), "{b_hh:?}");
        let k = 1.0 / 2.0; // PyTorch's bound 1/sqrt(H), H = 4
        assert!(b_ih[..4]
            .iter()
            .chain(&b_ih[8..])
            .all(|x| x.abs() <= k && *x != 1.0));
    }
}

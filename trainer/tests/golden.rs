//! Golden tests against PyTorch: `tests/reference/make_fixtures.py` builds the same model in
//! float64 (`nn.Embedding` → `nn.LSTM` / `nn.GRU` / `nn.RNN` → `nn.Linear`, mean cross-entropy)
//! and stores weights, inputs, initial state, logits, loss, final state and every gradient.
//! Our f32 model must match to a relative tolerance of 2e-4 (f32 rounding over a few layers).

use rnngym_kernels::{Backend, CpuBackend};
use rnngym_trainer::model::Mode;
use rnngym_trainer::{CellKind, Model, ModelDims};
mod fixture;
use fixture::{fixture, floats, usize_of};

const TOL: f64 = 2e-4;

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want
        .iter()
        .fold(0f64, |m, &x| m.max((x as f64).abs()))
        .max(1e-3);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w as f64).abs() / scale;
        assert!(
            err < TOL,
            "{what}[{i}]: got {g}, PyTorch {w} (rel err {err:.2e} > {TOL})"
        );
    }
}

fn check(name: &str, embed_table: bool) {
    let f = fixture(name);
    let cell = match f["cell"].as_str().expect("cell") {
        "lstm" => CellKind::Lstm,
        "gru" => CellKind::Gru,
        "rnn" => CellKind::Rnn,
        other => panic!("unknown cell {other}"),
    };
    let dims = ModelDims::plain(
        cell,
        usize_of(&f, "vocab"),
        usize_of(&f, "embed"),
        usize_of(&f, "hidden"),
        usize_of(&f, "layers"),
    );
    let (t, b, h, l) = (
        usize_of(&f, "seq"),
        usize_of(&f, "batch"),
        dims.hidden,
        dims.layers,
    );
    let be = CpuBackend::new(1);
    let mut model = Model::new(&be, dims, 0.0, 0).unwrap();
    for info in model.infos.clone() {
        let p = &f["params"][&info.name];
        let shape: Vec<usize> = p["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(shape, info.shape, "{}: shape", info.name);
        be.write(&mut model.params, info.off, &floats(&p["data"]))
            .unwrap();
    }
    // Fixtures are time-major [T][B]; gyms serve lane-major [B, T].
    let lane_major = |key: &str| {
        let rows = f[key].as_array().unwrap();
        let mut out = vec![0u32; b * t];
        for (s, row) in rows.iter().enumerate() {
            for (lane, x) in row.as_array().unwrap().iter().enumerate() {
                out[lane * t + s] = x.as_u64().unwrap() as u32;
            }
        }
        out
    };
    let (inputs, targets) = (lane_major("inputs"), lane_major("targets"));
    let h0 = floats(&f["h0"]);
    let c0 = if cell == CellKind::Lstm {
        floats(&f["c0"])
    } else {
        vec![]
    };
    let state: Vec<(Vec<f32>, Vec<f32>)> = (0..l)
        .map(|k| {
            let c = if c0.is_empty() {
                vec![]
            } else {
                c0[k * b * h..(k + 1) * b * h].to_vec()
            };
            (h0[k * b * h..(k + 1) * b * h].to_vec(), c)
        })
        .collect();
    let mut ws = model.workspace_with(&be, t, b, embed_table).unwrap();
    ws.write_state(&be, &state).unwrap();
    let loss = model
        .forward(
            &be,
            &mut ws,
            &inputs,
            Some(&targets),
            &vec![false; b],
            Mode::Train { dropout_seed: 1 },
        )
        .unwrap()
        .unwrap();
    let want_loss = f["loss"].as_f64().unwrap();
    assert!(
        (loss - want_loss).abs() < 1e-5 * want_loss.abs().max(1.0),
        "{name}: loss {loss} vs PyTorch {want_loss}"
    );
    let v = dims.vocab;
    let mut logits = vec![0f32; t * b * v];
    for r in 0..t * b {
        ws.read_logits(&be, r, &mut logits[r * v..(r + 1) * v])
            .unwrap();
    }
    assert_close(
        &format!("{name} (table {embed_table}) logits"),
        &logits,
        &floats(&f["logits"]["data"]),
    );
    let fin = ws.read_state(&be, h).unwrap();
    let h_n: Vec<f32> = fin.iter().flat_map(|(h, _)| h.clone()).collect();
    assert_close(&format!("{name} h_n"), &h_n, &floats(&f["h_n"]));
    if cell == CellKind::Lstm {
        let c_n: Vec<f32> = fin.iter().flat_map(|(_, c)| c.clone()).collect();
        assert_close(&format!("{name} c_n"), &c_n, &floats(&f["c_n"]));
    }
    model.backward(&be, &mut ws).unwrap();
    for info in &model.infos {
        let mut g = vec![0f32; info.len()];
        be.read(&model.grads, info.off, &mut g).unwrap();
        assert_close(
            &format!("{name} (table {embed_table}) d {}", info.name),
            &g,
            &floats(&f["grads"][&info.name]["data"]),
        );
    }
}

#[test]
fn lstm_matches_pytorch() {
    check("lstm.json", true);
    check("lstm.json", false);
}

#[test]
fn lstm_three_layers_long_window_matches_pytorch() {
    check("lstm_long.json", true);
    check("lstm_long.json", false);
}

#[test]
fn gru_matches_pytorch() {
    check("gru.json", true);
    check("gru.json", false);
}

#[test]
fn rnn_matches_pytorch() {
    check("rnn.json", true);
    check("rnn.json", false);
}

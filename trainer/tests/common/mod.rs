//! Setup shared by the trainer's integration tests: a short text, a text gym over it, tone WAV
//! files, a small 2-layer LSTM config, and an observer that records losses.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use rnngym_gyms::text::TextGym;
use rnngym_gyms::wav::lpc::LpcOptions;
use rnngym_gyms::{FeaturesSpec, Gym, GymSpec};
use rnngym_kernels::CpuBackend;
use rnngym_trainer::generate::Generator;
use rnngym_trainer::model::Mode;
use rnngym_trainer::{CellKind, Config, Model, ModelDims, Observer, Update};

/// The largest `|a − b|` over two equally long runs of values.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

/// Feeds `tokens` one by one to a generator of `model` and checks each step's logits against
/// the training forward over the whole window (within 1e-4: only the summation order may
/// differ); returns the generator, its state after the last token.
pub fn generator_follows_forward<'m>(
    be: &CpuBackend,
    model: &'m Model<CpuBackend>,
    tokens: &[u32],
) -> Generator<'m, CpuBackend> {
    let mut ws = model.workspace(be, tokens.len(), 1).unwrap();
    model
        .forward(be, &mut ws, tokens, None, &[true], Mode::Eval)
        .unwrap();
    let mut gen = Generator::new(be, model).unwrap();
    let mut want = vec![0f32; model.dims.vocab];
    for (i, &tok) in tokens.iter().enumerate() {
        gen.feed(be, tok).unwrap();
        ws.read_logits(be, i, &mut want).unwrap();
        let worst = max_diff(gen.logits(be).unwrap(), &want);
        let cell = model.dims.cell;
        assert!(worst < 1e-4, "{cell:?} step {i}: logits differ by {worst}");
    }
    gen
}

/// A GRU (`layers` × `hidden`, E 8) over 8 kHz mu-law samples with small LPC input features
/// (order 4 on 32 samples, refitted every 4), seeded.
pub fn lpc_gru(be: &CpuBackend, hidden: usize, layers: usize, seed: u64) -> Model<CpuBackend> {
    let opts = LpcOptions {
        order: 4,
        history: 32,
        frame: 4,
        ..LpcOptions::default()
    };
    lpc_model(be, CellKind::Gru, opts, hidden, layers, seed)
}

/// A `cell` network (`layers` × `hidden`, E 8) over 8 kHz mu-law samples with the LPC input
/// features of `opts`, seeded.
pub fn lpc_model(
    be: &CpuBackend,
    cell: CellKind,
    opts: LpcOptions,
    hidden: usize,
    layers: usize,
    seed: u64,
) -> Model<CpuBackend> {
    let codec: Arc<dyn rnngym_gyms::Codec> = Arc::new(rnngym_gyms::wav::SampleCodec::mu_law(8000));
    let features = FeaturesSpec::Lpc(opts).build(&codec).unwrap();
    let dims = ModelDims::plain(cell, 256, 8, hidden, layers).with_channels(features.channels());
    let mut model = Model::new(be, dims, 0.0, seed).unwrap();
    model.set_features(features).unwrap();
    model
}

/// Two pangrams: every letter, a few punctuation marks.
pub const TEXT: &str = "the quick brown fox jumps over the lazy dog. \
                        pack my box with five dozen liquor jugs! ";

/// Writes `dir/data/tone-{i}.wav`, one per frequency: `samples` samples at `rate` Hz of
/// `wave(phase)` (phase in radians).
pub fn write_tones(dir: &Path, rate: u32, freqs: &[f32], samples: u32, wave: impl Fn(f32) -> f32) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for (i, f) in freqs.iter().enumerate() {
        let path = dir.join(format!("data/tone-{i}.wav"));
        let mut w = rnngym_gyms::wav::WavFileWriter::create(&path, rate).unwrap();
        for k in 0..samples {
            w.push(wave(
                2.0 * std::f32::consts::PI * f * k as f32 / rate as f32,
            ))
            .unwrap();
        }
        w.finish().unwrap();
    }
}

/// A `wav-v1` config over `dir/data` at `rate` Hz with `val` of the files held out, and a tiny
/// model (1×16 LSTM, embed 8).
pub fn wav_config(dir: &Path, rate: u32, val: f64) -> Config {
    let mut gym = GymSpec::new("wav-v1");
    gym.path = Some(dir.join("data").display().to_string());
    gym.val_fraction = val;
    gym.options
        .insert("sample_rate".into(), toml::Value::Integer(rate.into()));
    let mut c = Config {
        gym,
        ..Default::default()
    };
    c.model.hidden = 16;
    c.model.layers = 1;
    c.model.embed = Some(8);
    c
}

/// A text gym over `text` with `val` of it held out.
pub fn text_gym(text: &str, val: f64) -> Box<dyn Gym> {
    Box::new(TextGym::from_text(text, val).unwrap())
}

/// 2-layer LSTM (H 32, E 16), B 2, T 16, Adam 1e-2, 50 iterations, no validation split, no
/// validation runs and no checkpoints unless a test asks; writes under `dir`.
pub fn tiny_config(dir: &Path) -> Config {
    let mut c = Config {
        gym: GymSpec::new("text-v1"),
        ..Default::default()
    };
    c.gym.val_fraction = 0.0;
    c.model.hidden = 32;
    c.model.layers = 2;
    c.model.embed = Some(16);
    c.train.batch = 2;
    c.train.seq_len = 16;
    c.train.lr = 1e-2;
    c.train.iterations = 50;
    c.train.val_every = 0;
    c.checkpoint.dir = dir.display().to_string();
    c.checkpoint.every = 0;
    c
}

/// Records every update's loss.
pub struct Losses(pub Arc<Mutex<Vec<f64>>>);

impl Observer for Losses {
    fn on_update(&mut self, u: &Update) {
        self.0.lock().unwrap().push(u.loss);
    }
}

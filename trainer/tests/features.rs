//! Input features (`[model.features]`) and input noise (`train.input_noise`): a run with LPC
//! features and noisy inputs resumes bit for bit (the lanes' feature state is in the
//! checkpoint), generation computes the same features as the training window (fed one token at
//! a time or primed in windows), and audio features or input noise on text fail with the key's
//! name.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rnngym_gyms::wav::lpc::LpcOptions;
use rnngym_gyms::{FeaturesSpec, GymRegistry};
use rnngym_kernels::CpuBackend;
use rnngym_trainer::generate::Generator;
use rnngym_trainer::model::Mode;
use rnngym_trainer::{state, Config, Trainer};

mod common;

const RATE: u32 = 8000;

/// Three half-second tones with a third harmonic at 8 kHz in `dir/data` (periodic, so the
/// pitch channel is busy).
fn write_tones(dir: &Path) {
    let wave = |ph: f32| 0.3 * ph.sin() + 0.1 * (3.0 * ph).sin();
    common::write_tones(dir, RATE, &[180.0, 250.0, 320.0], RATE / 2, wave);
}

fn config(dir: &Path, run: &str) -> Config {
    let mut c = common::wav_config(dir, RATE, 0.34);
    c.model.features = Some(FeaturesSpec::Lpc(LpcOptions {
        order: 8,
        history: 64,
        frame: 4,
        ..LpcOptions::default()
    }));
    // Noisy inputs (clean targets): replayed exactly on resume too.
    c.train.input_noise = 1.0;
    c.train.batch = 2;
    c.train.seq_len = 24;
    c.train.lr = 3e-3;
    c.train.val_every = 4;
    c.train.val_windows = 2;
    c.checkpoint.dir = dir.join(run).display().to_string();
    c.checkpoint.every = 5;
    c.validate().unwrap();
    c
}

fn trainer(cfg: &Config, resume: Option<&Path>) -> (Trainer<CpuBackend>, Arc<Mutex<Vec<f64>>>) {
    let gym = GymRegistry::with_builtins().make(&cfg.gym).unwrap();
    let be = CpuBackend::new(1);
    let mut t = match resume {
        Some(p) => Trainer::resume(be, cfg.clone(), gym, p).unwrap(),
        None => Trainer::new(be, cfg.clone(), gym).unwrap(),
    };
    let losses = Arc::new(Mutex::new(Vec::new()));
    t.add_observer(Box::new(common::Losses(losses.clone())));
    (t, losses)
}

#[test]
fn a_run_with_lpc_features_resumes_bit_for_bit() {
    let d = tempfile::tempdir().unwrap();
    write_tones(d.path());
    let (k, m) = (10u64, 9u64);
    let (mut t, straight) = trainer(&config(d.path(), "a"), None);
    t.train(k + m).unwrap();
    let straight = straight.lock().unwrap().clone();

    let cfg = config(d.path(), "b");
    let (mut t, first) = trainer(&cfg, None);
    t.train(k).unwrap();
    let ckpt = d.path().join("b/latest.safetensors");
    let loaded = state::read(&ckpt).unwrap();
    let saved = &loaded.tensors["state.features"];
    assert_eq!(saved.shape[0], 2, "one row per lane");
    assert!(
        saved.data.iter().any(|&v| v != 0.0),
        "the lanes' history is saved"
    );
    let (mut t, rest) = trainer(&cfg, Some(&ckpt));
    t.train(m).unwrap();
    let mut resumed = first.lock().unwrap().clone();
    resumed.extend(rest.lock().unwrap().iter());
    assert_eq!(straight, resumed, "k + m straight equals k, resume, m");
    assert!(
        straight[k as usize + m as usize - 1] < straight[0],
        "it learns"
    );
    let mut clean = config(d.path(), "c");
    clean.train.input_noise = 0.0;
    let (mut t, quiet) = trainer(&clean, None);
    t.train(k).unwrap();
    let quiet = quiet.lock().unwrap().clone();
    assert_ne!(
        quiet[1..],
        straight[1..k as usize],
        "noise changes the inputs"
    );
}

#[test]
fn generation_computes_the_features_of_the_training_window() {
    let d = tempfile::tempdir().unwrap();
    write_tones(d.path());
    let cfg = config(d.path(), "g");
    let (mut t, _) = trainer(&cfg, None);
    t.train(5).unwrap();
    let be = CpuBackend::new(1);
    let (model, loaded) = state::load_model(&be, &d.path().join("g/latest.safetensors")).unwrap();
    assert_eq!(
        model.dims.channels, 4,
        "token, prediction, excitation, pitch"
    );
    let audio = loaded.codec.audio().unwrap();
    let tokens: Vec<u32> = (0..700)
        .map(|k| audio.token_of(0.4 * (k as f32 * 0.2).sin()))
        .collect();
    let mut gen = common::generator_follows_forward(&be, &model, &tokens);
    // A prime longer than a window runs as windows, then the generator carries on from it.
    let mut primed = Generator::new(&be, &model).unwrap();
    let mut seen = Vec::new();
    primed.prime_with(&be, &tokens, |k| seen.push(k)).unwrap();
    assert_eq!(seen, [256, 512, 699, 700], "progress after each window");
    let a = primed.logits(&be).unwrap().to_vec();
    let b = gen.logits(&be).unwrap();
    let worst = common::max_diff(&a, b);
    assert!(worst < 1e-4, "primed logits differ by {worst}");
    // The tone is periodic: pitch sharpening samples it colder, by LPCNet's rule.
    let plain = rnngym_kernels::sample::SampleOptions::default();
    assert_eq!(gen.step_options(&plain).temperature, 1.0, "off by default");
    let sharp = Generator::new(&be, &model)
        .unwrap()
        .with_pitch_sharpening(1.0);
    let mut sharp = sharp;
    sharp.prime(&be, &tokens).unwrap();
    let t = sharp.step_options(&plain).temperature;
    assert!(
        (0.5..0.6).contains(&t),
        "a periodic history halves it nearly: {t}"
    );
    let (x, y) = (
        primed.pick(&be, &Default::default(), 0.3),
        gen.pick(&be, &Default::default(), 0.3),
    );
    assert_eq!(x.unwrap(), y.unwrap());
}

#[test]
fn audio_features_on_text_name_the_key() {
    let d = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(d.path());
    cfg.model.features = Some(FeaturesSpec::Lpc(LpcOptions::default()));
    let gym = common::text_gym(&"abcab ".repeat(50), 0.2);
    let err = Trainer::new(CpuBackend::new(1), cfg.clone(), gym)
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("model.features") && msg.contains("audio"),
        "{msg}"
    );
    (cfg.model.features, cfg.train.input_noise) = (None, 1.0);
    let gym = common::text_gym(&"abcab ".repeat(50), 0.2);
    let err = Trainer::new(CpuBackend::new(1), cfg, gym).err().unwrap();
    assert!(err.to_string().contains("train.input_noise"), "{err}");
}

/// `model.embed_init = "ramp"`: each channel's block of rows ramps with its index (LPCNet's
/// PCM embedding), so neighbouring quantization levels start out close.
#[test]
fn ramp_embeddings_ramp_within_each_channel() {
    let be = CpuBackend::new(1);
    let codec: Arc<dyn rnngym_gyms::Codec> = Arc::new(rnngym_gyms::wav::SampleCodec::mu_law(8000));
    let spec = FeaturesSpec::Lpc(LpcOptions::default());
    let features = spec.build(&codec).unwrap();
    let dims = rnngym_trainer::ModelDims::plain(rnngym_trainer::CellKind::Gru, 256, 32, 8, 1)
        .with_channels(features.channels());
    let mut model = rnngym_trainer::Model::new(&be, dims, 0.0, 1).unwrap();
    model.set_features(features).unwrap();
    model.ramp_embeddings(&be, 3).unwrap();
    let mut table = vec![0f32; dims.inputs * dims.embed];
    rnngym_kernels::Backend::read(&be, &model.params, model.embed_off, &mut table).unwrap();
    let mean = |r: usize| table[r * 32..(r + 1) * 32].iter().sum::<f32>() / 32.0;
    let mut base = 0;
    for n in [256, 256, 256, 257] {
        let (first, last) = (mean(base), mean(base + n - 1));
        assert!(
            first < -1.2 && last > 1.2,
            "block at {base}: {first} .. {last}"
        );
        // Neighbours are close; rows far apart are not.
        assert!((mean(base + 100) - mean(base + 101)).abs() < 0.5);
        base += n;
    }
    assert_eq!(base, dims.inputs);
}

/// An excitation model ([`rnngym_gyms::wav::lpc::LpcTarget::Excitation`]) trains on the code of
/// each target minus the prediction made after its input, is scored per sample, and generates
/// tokens (not ids) repeatably.
#[test]
fn an_excitation_model_codes_each_target_in_its_steps_context() {
    use rnngym_gyms::wav::lpc::LpcTarget;
    let d = tempfile::tempdir().unwrap();
    write_tones(d.path());
    let mut cfg = config(d.path(), "x");
    cfg.model.features = Some(FeaturesSpec::Lpc(LpcOptions {
        order: 8,
        history: 64,
        frame: 4,
        target: LpcTarget::Excitation,
        bandwidth_gamma: 0.98,
        ..LpcOptions::default()
    }));
    let (mut t, losses) = trainer(&cfg, None);
    t.train(6).unwrap();
    assert!(losses.lock().unwrap().iter().all(|l| l.is_finite()));
    let be = CpuBackend::new(1);
    let (model, loaded) = state::load_model(&be, &d.path().join("x/latest.safetensors")).unwrap();
    let coding = model.target_coding().expect("an excitation model");
    let audio = loaded.codec.audio().unwrap();
    let tokens: Vec<u32> = (0..301)
        .map(|k| audio.token_of(0.4 * (k as f32 * 0.2).sin() + 0.05 * (k as f32 * 1.3).cos()))
        .collect();
    let (inputs, targets) = (&tokens[..300], &tokens[1..]);
    let n = inputs.len();
    let v = model.dims.vocab;
    let mut ws = model.workspace(&be, n, 1).unwrap();
    model
        .forward(&be, &mut ws, inputs, None, &[true], Mode::Eval)
        .unwrap();
    let mut logits = vec![0f32; n * v];
    rnngym_kernels::Backend::read(&be, &ws.logits, 0, &mut logits).unwrap();
    // Host references: a fresh lane fed the inputs gives each step's context.
    let mut lane = model.features().unwrap().lane();
    let mut ids = vec![0u32; model.dims.channels - 1];
    let (mut coded_ce, mut token_nll) = (0.0, 0.0);
    for i in 0..n {
        lane.push(inputs[i], &mut ids);
        let ctx = lane.target_context();
        let z = &logits[i * v..(i + 1) * v];
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let total: f64 = z.iter().map(|&x| f64::from(x - max).exp()).sum();
        let probs: Vec<f32> = z
            .iter()
            .map(|&x| (f64::from(x - max).exp() / total) as f32)
            .collect();
        let id = coding.code(ctx, targets[i]) as usize;
        coded_ce += total.ln() - f64::from(z[id] - max);
        token_nll += coding.token_nll(ctx, &probs, targets[i]);
    }
    let (coded_ce, token_nll) = (coded_ce / n as f64, token_nll / n as f64);
    let trained = model
        .forward(&be, &mut ws, inputs, Some(targets), &[true], Mode::Eval)
        .unwrap()
        .unwrap();
    assert!(
        (trained - coded_ce).abs() < 1e-5 * coded_ce,
        "{trained} vs {coded_ce}"
    );
    let scored = model
        .token_loss(&be, &mut ws, inputs, targets, &[true])
        .unwrap();
    assert!(
        (scored - token_nll).abs() < 1e-9 * token_nll,
        "{scored} vs {token_nll}"
    );
    assert!(
        scored.is_finite() && scored != trained,
        "per sample, not per id"
    );
    // Generation draws tokens through the coding, the same ones for the same seed.
    let draw = || {
        let mut g = Generator::new(&be, &model).unwrap();
        g.prime(&be, &tokens[..50]).unwrap();
        let mut rng = rnngym_trainer::sample::seeded_rng(Some(11));
        let opts = rnngym_kernels::sample::SampleOptions::default();
        (0..200)
            .map(|_| g.next(&be, &opts, &mut rng).unwrap())
            .collect::<Vec<u32>>()
    };
    let (a, b) = (draw(), draw());
    assert_eq!(a, b);
    assert!(a.iter().all(|&t| (t as usize) < v));
    assert!(
        a.iter().collect::<std::collections::HashSet<_>>().len() > 5,
        "{a:?}"
    );
}

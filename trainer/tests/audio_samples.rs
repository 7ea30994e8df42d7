//! Audio samples during training: an audio gym gets a WAV per checkpoint (not a text sample
//! every `train.sample_every`), written under `samples/` with a `samples.jsonl` record naming
//! it, reproducible under the seed, and without disturbing the training losses.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rnngym_gyms::GymRegistry;
use rnngym_kernels::CpuBackend;
use rnngym_trainer::observers::{read_jsonl, SampleWriter};
use rnngym_trainer::{Config, Observer, TrainSample, Trainer, Update};

mod common;

const RATE: u32 = 8000;

/// Four quarter-second tones at 8 kHz in `dir/data`.
fn write_tones(dir: &Path) {
    common::write_tones(dir, RATE, &[220.0, 330.0, 440.0, 550.0], RATE / 4, |ph| {
        0.4 * ph.sin()
    });
}

fn config(data: &Path, run: &Path, seconds: f64) -> Config {
    let mut c = common::wav_config(data, RATE, 0.25);
    c.train.batch = 2;
    c.train.seq_len = 32;
    c.train.lr = 3e-3;
    c.train.iterations = 12;
    c.train.val_every = 0;
    c.train.sample_every = 2; // for text gyms only: must not add samples here
    c.sample.train_seconds = seconds;
    // Unset sample.train_temperature: the clips use the config's own temperature.
    c.sample.temperature = 0.9;
    c.checkpoint.dir = run.display().to_string();
    c.checkpoint.every = 5;
    c.validate().unwrap();
    c
}

/// Records losses and samples.
struct Probe {
    losses: Arc<Mutex<Vec<f64>>>,
    samples: Arc<Mutex<Vec<TrainSample>>>,
}

impl Observer for Probe {
    fn on_update(&mut self, u: &Update) {
        self.losses.lock().unwrap().push(u.loss);
    }
    fn on_sample(&mut self, s: &TrainSample) {
        self.samples.lock().unwrap().push(s.clone());
    }
}

fn train(cfg: &Config) -> (Vec<f64>, Vec<TrainSample>) {
    let gym = GymRegistry::with_builtins().make(&cfg.gym).unwrap();
    let mut t = Trainer::new(CpuBackend::new(1), cfg.clone(), gym).unwrap();
    let (losses, samples) = <(Arc<Mutex<_>>, Arc<Mutex<_>>)>::default();
    t.add_observer(Box::new(SampleWriter::new(Path::new(&cfg.checkpoint.dir))));
    t.add_observer(Box::new(Probe {
        losses: Arc::clone(&losses),
        samples: Arc::clone(&samples),
    }));
    t.train(cfg.train.iterations).unwrap();
    let l = losses.lock().unwrap().clone();
    let s = samples.lock().unwrap().clone();
    (l, s)
}

#[test]
fn audio_gym_writes_a_wav_per_checkpoint_without_disturbing_training() {
    let d = tempfile::tempdir().unwrap();
    write_tones(d.path());
    let (run_a, run_b, run_c) = (d.path().join("a"), d.path().join("b"), d.path().join("c"));
    let (la, sa) = train(&config(d.path(), &run_a, 0.05));
    let (lb, sb) = train(&config(d.path(), &run_b, 0.0));
    assert_eq!(
        la, lb,
        "losses are bit-identical with and without audio samples"
    );
    assert!(sb.is_empty() && !run_b.join("samples").exists());

    // Checkpoints at 5 and 10, and at the end (12); 0.05 s at 8 kHz = 400 samples each.
    let its: Vec<u64> = sa.iter().map(|s| s.iteration).collect();
    assert_eq!(its, [5, 10, 12]);
    let recs = read_jsonl(&run_a.join("samples.jsonl")).unwrap();
    assert_eq!(recs.len(), 3);
    for (s, rec) in sa.iter().zip(&recs) {
        let clip = s.audio.as_ref().expect("an audio sample");
        assert_eq!((clip.sample_rate, clip.samples.len()), (RATE, 400));
        assert_eq!(s.tokens.len(), 400);
        assert!(s.text.is_empty());
        let rel = format!("samples/iter-{:06}.wav", s.iteration);
        assert_eq!(rec["iteration"].as_u64(), Some(s.iteration));
        assert_eq!(rec["wav"].as_str(), Some(rel.as_str()), "{rec}");
        assert_eq!(rec["sample_rate"].as_u64(), Some(RATE.into()));
        assert_eq!(rec["samples"].as_u64(), Some(400));
        assert_eq!(rec["temperature"].as_f64(), Some(0.9));
        let mut r = hound::WavReader::open(run_a.join(&rel)).unwrap();
        let spec = r.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, RATE, 16)
        );
        let pcm: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).collect();
        let want: Vec<i16> = clip
            .samples
            .iter()
            .map(|&x| (x.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .collect();
        assert_eq!(pcm, want, "the WAV holds the generated samples");
    }
    assert!(
        sa[0].tokens != sa[2].tokens,
        "different iterations, different audio"
    );
    // No temporary files are left beside the WAVs.
    let names: Vec<String> = std::fs::read_dir(run_a.join("samples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");

    // Reproducible under the seed.
    let (_, sc) = train(&config(d.path(), &run_c, 0.05));
    assert_eq!(sa, sc);
    for s in &sa {
        let rel = format!("samples/iter-{:06}.wav", s.iteration);
        assert_eq!(
            std::fs::read(run_a.join(&rel)).unwrap(),
            std::fs::read(run_c.join(&rel)).unwrap()
        );
    }
}

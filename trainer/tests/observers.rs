//! The run-directory observers and training hooks: metrics.jsonl and samples.jsonl are valid
//! JSON lines with monotonic iterations (also across an interrupt and resume), sampling during
//! training does not disturb the training stream, and the stop flag checkpoints and resumes
//! bit-exactly.

mod common;
use common::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rnngym_gyms::Gym;
use rnngym_kernels::CpuBackend;
use rnngym_trainer::observers::{read_jsonl, MetricsWriter, SampleWriter};
use rnngym_trainer::{Config, Observer, TrainSample, Trainer, TrainerError, Update};

fn gym() -> Box<dyn Gym> {
    text_gym(&TEXT.repeat(20), 0.2)
}

fn config(dir: &Path) -> Config {
    let mut c = tiny_config(dir);
    c.gym.val_fraction = 0.2;
    c.model.hidden = 24;
    c.model.embed = Some(8);
    c.model.dropout = 0.1;
    c.train.iterations = 30;
    c.train.val_every = 7;
    c.train.val_windows = 2;
    c.train.log_every = 4;
    c.train.sample_every = 5;
    c.sample.train_length = 40;
    c.checkpoint.dir = dir.display().to_string();
    c.checkpoint.every = 0;
    c
}

/// Records losses and samples; raises `stop` after iteration `stop_at`.
struct Probe {
    losses: Arc<Mutex<Vec<f64>>>,
    samples: Arc<Mutex<Vec<TrainSample>>>,
    stop: Option<(u64, Arc<AtomicBool>)>,
}

impl Observer for Probe {
    fn on_update(&mut self, u: &Update) {
        self.losses.lock().unwrap().push(u.loss);
        if let Some((at, flag)) = &self.stop {
            if u.iteration == *at {
                flag.store(true, Ordering::SeqCst);
            }
        }
    }
    fn on_sample(&mut self, s: &TrainSample) {
        self.samples.lock().unwrap().push(s.clone());
    }
}

type Run = (Vec<f64>, Vec<TrainSample>, Result<f64, TrainerError>);

fn train(cfg: &Config, resume: bool, iterations: u64, stop_at: Option<u64>) -> Run {
    let dir = Path::new(&cfg.checkpoint.dir);
    let be = CpuBackend::new(1);
    let mut t = if resume {
        Trainer::resume(be, cfg.clone(), gym(), &dir.join("latest.safetensors")).unwrap()
    } else {
        Trainer::new(be, cfg.clone(), gym()).unwrap()
    };
    let (losses, samples) = Default::default();
    let flag = Arc::new(AtomicBool::new(false));
    t.set_stop_flag(flag.clone());
    t.add_observer(Box::new(MetricsWriter::new(dir, cfg.train.log_every)));
    t.add_observer(Box::new(SampleWriter::new(dir)));
    t.add_observer(Box::new(Probe {
        losses: Arc::clone(&losses),
        samples: Arc::clone(&samples),
        stop: stop_at.map(|s| (s, flag)),
    }));
    let r = t.train(iterations);
    let l = losses.lock().unwrap().clone();
    let s = samples.lock().unwrap().clone();
    (l, s, r)
}

fn iterations(dir: &Path, file: &str) -> Vec<(String, u64)> {
    let recs = read_jsonl(&dir.join(file)).unwrap();
    let raw = std::fs::read_to_string(dir.join(file)).unwrap();
    assert_eq!(
        raw.lines().count(),
        recs.len(),
        "every line is a JSON object"
    );
    recs.iter()
        .map(|r| {
            let kind = r.get("kind").and_then(|k| k.as_str()).unwrap_or("sample");
            (kind.to_string(), r["iteration"].as_u64().unwrap())
        })
        .collect()
}

fn assert_monotonic(v: &[(String, u64)]) {
    assert!(v.windows(2).all(|w| w[0].1 <= w[1].1), "{v:?}");
}

#[test]
fn sampling_does_not_disturb_training() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let with = config(dir_a.path());
    let mut without = config(dir_b.path());
    without.train.sample_every = 0;
    let (la, sa, _) = train(&with, false, 30, None);
    let (lb, sb, _) = train(&without, false, 30, None);
    assert_eq!(la, lb, "losses are bit-identical with and without sampling");
    assert!(sb.is_empty());
    let its: Vec<u64> = sa.iter().map(|s| s.iteration).collect();
    assert_eq!(its, [5, 10, 15, 20, 25, 30]);
    assert!(sa
        .iter()
        .all(|s| s.tokens.len() == 40 && !s.text.is_empty()));
    // Samples are reproducible under the seed.
    let dir_c = tempfile::tempdir().unwrap();
    let (_, sc, _) = train(&config(dir_c.path()), false, 30, None);
    assert_eq!(sa, sc);
}

#[test]
fn metrics_and_samples_files_are_json_lines_with_monotonic_iterations() {
    let dir = tempfile::tempdir().unwrap();
    train(&config(dir.path()), false, 30, None).2.unwrap();
    let m = iterations(dir.path(), "metrics.jsonl");
    assert_monotonic(&m);
    let train_its: Vec<u64> = m.iter().filter(|r| r.0 == "train").map(|r| r.1).collect();
    assert_eq!(train_its, [1, 4, 8, 12, 16, 20, 24, 28, 30]);
    let val_its: Vec<u64> = m.iter().filter(|r| r.0 == "val").map(|r| r.1).collect();
    assert_eq!(val_its, [7, 14, 21, 28, 30]);
    let recs = read_jsonl(&dir.path().join("metrics.jsonl")).unwrap();
    for key in [
        "wall_s",
        "loss",
        "bits_per_token",
        "lr",
        "grad_norm",
        "tokens_per_sec",
    ] {
        assert!(recs[0][key].is_number(), "{key} in {}", recs[0]);
    }
    let val = recs.iter().find(|r| r["kind"] == "val").unwrap();
    assert!(val["val_loss"].is_number() && val["val_bits_per_token"].is_number());
    let s = iterations(dir.path(), "samples.jsonl");
    assert_eq!(
        s.iter().map(|r| r.1).collect::<Vec<_>>(),
        [5, 10, 15, 20, 25, 30]
    );
    let first = &read_jsonl(&dir.path().join("samples.jsonl")).unwrap()[0];
    assert!(first["text"].is_string() && first["temperature"].as_f64() == Some(0.8));
}

#[test]
fn interrupt_checkpoints_and_resumes_bit_exactly() {
    let dir_a = tempfile::tempdir().unwrap();
    let (straight, samples_straight, _) = train(&config(dir_a.path()), false, 30, None);

    let dir_b = tempfile::tempdir().unwrap();
    let cfg = config(dir_b.path());
    let (first, _, r) = train(&cfg, false, 30, Some(12));
    match r {
        Err(TrainerError::Interrupted {
            iteration,
            checkpoint,
        }) => {
            assert_eq!(iteration, 12);
            assert_eq!(checkpoint, dir_b.path().join("latest.safetensors"));
        }
        other => panic!("expected Interrupted, got {other:?}"),
    }
    // Records of iterations after the checkpoint (none here, but a crash could leave some)
    // are dropped on resume: append a stray one to check.
    let stray = "{\"kind\":\"train\",\"iteration\":13,\"loss\":1.0}\n";
    let metrics = dir_b.path().join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    text.push_str(stray);
    std::fs::write(&metrics, text).unwrap();

    let (rest, _, r) = train(&cfg, true, 18, None);
    r.unwrap();
    let mut resumed = first;
    resumed.extend(rest);
    assert_eq!(straight, resumed, "interrupted + resumed equals straight");
    let m = iterations(dir_b.path(), "metrics.jsonl");
    assert_monotonic(&m);
    assert_eq!(m.iter().filter(|r| r.1 == 13).count(), 0, "{m:?}");
    let s = iterations(dir_b.path(), "samples.jsonl");
    assert_eq!(
        s.iter().map(|r| r.1).collect::<Vec<_>>(),
        [5, 10, 15, 20, 25, 30]
    );
    let texts: Vec<String> = read_jsonl(&dir_b.path().join("samples.jsonl"))
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    let straight_texts: Vec<String> = samples_straight.into_iter().map(|s| s.text).collect();
    assert_eq!(texts, straight_texts);
}

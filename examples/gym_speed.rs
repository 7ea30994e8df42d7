//! What a configured gym costs: windows per second alone, and its share of a training run
//! (the time the trainer spends inside the gym's `reset` and `step`, measured around the
//! calls). The figures of docs/PERFORMANCE.md's process-gym section come from it.
//!
//! ```text
//! cargo run --release --example gym_speed -- CONFIG [alone SECONDS | train ITERATIONS] [KEY=VALUE...]
//! ```
//!
//! Windows have the config's `train.batch` × `train.seq_len` shape; `KEY=VALUE` overrides
//! the config like `rnngym --set` (e.g. `model.hidden=128 model.layers=2 model.embed=128` for
//! the model of bench preset S). Training runs on the CPU with `train.threads`, without
//! validation or checkpoints.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rnngym_gyms::{Codec, EpisodeInfo, Gym, GymError, GymRegistry, Shape, Split, Step};
use rnngym_kernels::CpuBackend;
use rnngym_trainer::{Config, Trainer};

/// A gym that adds up the time spent in its inner gym's calls.
struct Timed {
    inner: Box<dyn Gym>,
    spent: Arc<Mutex<Duration>>,
}

impl Timed {
    fn time<T>(&mut self, f: impl FnOnce(&mut dyn Gym) -> T) -> T {
        let t = Instant::now();
        let out = f(self.inner.as_mut());
        *self.spent.lock().unwrap() += t.elapsed();
        out
    }
}

impl Gym for Timed {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn codec(&self) -> Arc<dyn Codec> {
        self.inner.codec()
    }
    fn reset(&mut self, split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
        self.time(|g| g.reset(split, seed, shape))
    }
    fn step(&mut self) -> Result<Step, GymError> {
        self.time(|g| g.step())
    }
}

fn alone(gym: &mut dyn Gym, shape: Shape, seconds: f64) -> Result<(), GymError> {
    let mut episode = 0u64;
    let mut step = |gym: &mut dyn Gym| -> Result<(), GymError> {
        if gym.step()?.episode_done {
            episode += 1;
            gym.reset(Split::Train, episode, shape)?;
        }
        Ok(())
    };
    gym.reset(Split::Train, 0, shape)?;
    for _ in 0..10 {
        step(gym)?; // warm-up
    }
    let (t0, mut windows) = (Instant::now(), 0u64);
    while t0.elapsed().as_secs_f64() < seconds {
        step(gym)?;
        windows += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "alone: {windows} windows in {secs:.2} s: {:.0} windows/s, {:.3} ms/window, {:.2} M \
         tokens/s",
        windows as f64 / secs,
        1e3 * secs / windows as f64,
        windows as f64 * (shape.batch * shape.seq) as f64 / secs / 1e6
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: gym_speed CONFIG [alone SECONDS | train ITERATIONS] [KEY=VALUE...]";
    let path = args.first().ok_or(usage)?;
    let (mode, amount, sets) = match args.get(1).map(String::as_str) {
        Some(m @ ("alone" | "train")) => (m, args.get(2).ok_or(usage)?.parse::<f64>()?, &args[3..]),
        _ => ("alone", 5.0, &args[1..]),
    };
    let mut cfg = Config::load_with_overrides(Some(path.as_ref()), sets)?;
    let shape = Shape {
        batch: cfg.train.batch,
        seq: cfg.train.seq_len,
    };
    let started = Instant::now();
    let mut gym = GymRegistry::with_builtins().make(&cfg.gym)?;
    println!(
        "gym {}: {} lanes × {} steps, started in {:.3} s",
        cfg.gym.id,
        shape.batch,
        shape.seq,
        started.elapsed().as_secs_f64()
    );
    if mode == "alone" {
        return Ok(alone(gym.as_mut(), shape, amount)?);
    }
    let iterations = amount as u64;
    (
        cfg.train.iterations,
        cfg.train.val_every,
        cfg.train.sample_every,
    ) = (iterations, 0, 0);
    cfg.gym.val_fraction = 0.0;
    cfg.checkpoint.every = 0;
    cfg.checkpoint.dir = tempfile::tempdir()?.path().display().to_string();
    let spent = Arc::new(Mutex::new(Duration::ZERO));
    let timed = Timed {
        inner: gym,
        spent: spent.clone(),
    };
    let mut trainer = Trainer::new(CpuBackend::new(cfg.train.threads), cfg, Box::new(timed))?;
    *spent.lock().unwrap() = Duration::ZERO; // the start-up checks are not training
    let t0 = Instant::now();
    trainer.train(iterations)?;
    let total = t0.elapsed().as_secs_f64();
    let in_gym = spent.lock().unwrap().as_secs_f64();
    println!(
        "train: {iterations} iterations in {total:.2} s ({:.2} ms/iteration); in the gym {:.3} s \
         ({:.3} ms/iteration) = {:.2} % of training time",
        1e3 * total / iterations as f64,
        in_gym,
        1e3 * in_gym / iterations as f64,
        100.0 * in_gym / total
    );
    Ok(())
}

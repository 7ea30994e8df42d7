//! A gym defined outside the library: an endless stream of additions ("17+5=22;…").
//!
//! It registers itself under a versioned id, passes the conformance suite, and trains through
//! the `Trainer` API. Run it with `cargo run --release --example custom_gym`.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rnngym_gyms::{
    check_gym, CharCodec, Codec, EpisodeInfo, Gym, GymError, GymRegistry, GymSpec, Shape, Split,
    Step,
};
use rnngym_kernels::CpuBackend;
use rnngym_trainer::{Config, Trainer};

/// The id this example registers.
pub const ID: &str = "addition-v1";
const ALPHABET: &str = "0123456789+=;";
/// Windows per episode: an episode is one seeded stream of sums.
const WINDOWS: usize = 40;

/// Serves `a+b=c;` with random `a, b < 100`, one independent stream per lane.
pub struct AdditionGym {
    codec: Arc<CharCodec>,
    rng: StdRng,
    lanes: Vec<Vec<u32>>,
    shape: Shape,
    window: usize,
    live: bool,
}

impl AdditionGym {
    /// Builds the gym; it takes no data path and no options.
    pub fn from_spec(spec: &GymSpec) -> Result<Box<dyn Gym>, GymError> {
        if let Some(key) = spec.options.keys().next() {
            return Err(GymError::Config(format!(
                "gym.options.{key}: {ID} has no options"
            )));
        }
        Ok(Box::new(AdditionGym {
            codec: Arc::new(CharCodec::from_text(ALPHABET)),
            rng: StdRng::seed_from_u64(0),
            lanes: Vec::new(),
            shape: Shape { batch: 1, seq: 1 },
            window: 0,
            live: false,
        }))
    }

    /// Appends one random sum to `lane`.
    fn push_sum(&mut self, lane: usize) {
        let (a, b) = (
            self.rng.random_range(0..100u32),
            self.rng.random_range(0..100u32),
        );
        let text = format!("{a}+{b}={};", a + b);
        let codec = self.codec.clone();
        let toks = codec
            .encode(&text, Default::default())
            .expect("alphabet covers sums");
        self.lanes[lane].extend(toks);
    }
}

impl Gym for AdditionGym {
    fn id(&self) -> &str {
        ID
    }

    fn codec(&self) -> Arc<dyn Codec> {
        self.codec.clone()
    }

    fn reset(&mut self, split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
        shape.check()?; // a clear error for a zero batch or window, as the built-in gyms give
                        // Validation draws from a disjoint seed family, so it is held out.
        let salt = if split == Split::Val { 0xA11CE } else { 0 };
        self.rng = StdRng::seed_from_u64(seed ^ salt);
        self.lanes = vec![Vec::new(); shape.batch];
        (self.shape, self.window, self.live) = (shape, 0, true);
        Ok(EpisodeInfo {
            name: format!("{split:?} sums"),
            windows: Some(WINDOWS),
            tokens: 0,
        })
    }

    /// A fresh gym: it holds no loaded data, so validation can run on its own copy.
    fn fork(&self) -> Option<Box<dyn Gym>> {
        AdditionGym::from_spec(&GymSpec::new(ID)).ok()
    }

    fn step(&mut self) -> Result<Step, GymError> {
        if !self.live {
            return Err(GymError::Contract(
                "step() without a live episode; call reset()".into(),
            ));
        }
        let (b, t) = (self.shape.batch, self.shape.seq);
        let (mut inputs, mut targets) = (Vec::with_capacity(b * t), Vec::with_capacity(b * t));
        for lane in 0..b {
            while self.lanes[lane].len() < t + 1 {
                self.push_sum(lane);
            }
            let l = &mut self.lanes[lane];
            inputs.extend_from_slice(&l[..t]);
            targets.extend_from_slice(&l[1..=t]);
            l.drain(..t);
        }
        let first = self.window == 0;
        self.window += 1;
        let episode_done = self.window == WINDOWS;
        self.live = !episode_done;
        Ok(Step {
            inputs,
            targets,
            reset: vec![first; b],
            episode_done,
        })
    }
}

/// Registers the gym, checks it, trains `iterations` steps and returns
/// `(validation loss, uniform baseline ln V)` in nats per token.
pub fn train_demo(
    iterations: u64,
    dir: &std::path::Path,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let mut registry = GymRegistry::with_builtins();
    registry.register(ID, AdditionGym::from_spec)?;

    let mut cfg = Config {
        gym: GymSpec::new(ID),
        ..Default::default()
    };
    cfg.model.hidden = 64;
    cfg.model.layers = 1;
    cfg.model.embed = Some(16);
    cfg.train.batch = 16;
    cfg.train.seq_len = 32;
    cfg.train.lr = 1e-2;
    cfg.train.iterations = iterations;
    cfg.train.val_every = 0;
    cfg.train.val_windows = 10;
    cfg.checkpoint.dir = dir.display().to_string();
    cfg.validate()?;

    let mut gym = registry.make(&cfg.gym)?;
    let report = check_gym(gym.as_mut(), Shape { batch: 4, seq: 8 })?;
    println!("{ID} passed check_gym: {report}");

    let mut trainer = Trainer::new(CpuBackend::new(1), cfg, gym)?;
    trainer.train(iterations)?;
    let val = trainer.test(10)?;
    let baseline = (ALPHABET.chars().count() as f64).ln();
    Ok((val.loss, baseline))
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join("rnngym-custom-gym-example");
    let (loss, baseline) = train_demo(300, &dir)?;
    println!("validation loss {loss:.3} nats/token vs uniform baseline {baseline:.3}");
    Ok(())
}

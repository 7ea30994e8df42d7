//! Gyms for rnngym: the [`Gym`] and [`Codec`] traits, the registry of versioned gym ids and
//! codec kinds ([`GymRegistry`], [`CodecRegistry`]), the [`check_gym`] conformance suite, and
//! the built-in gyms: text (`text-v1`), WAV audio (`wav-v1`), and gyms in any language run as
//! child processes (`process-v1`).
//!
//! # The gym contract
//!
//! A gym serves *episodes* of token windows. [`check_gym`] (and `rnngym check-gym`) enforces
//! every rule below; a gym that passes it trains, validates, checkpoints and resumes like the
//! built-in ones.
//!
//! 1. **Codec.** [`Gym::codec`] has at least 2 tokens. `encode(render(tokens)) == tokens`, and
//!    the codec rebuilt from [`Codec::spec`] through the registry (the checkpoint's copy)
//!    renders the same text. A custom codec kind must be registered
//!    ([`GymRegistry::with_codec`]) by every program that reads its checkpoints.
//! 2. **Windows.** After [`Gym::reset`]`(split, seed, shape)`, each [`Gym::step`] returns
//!    `inputs` and `targets` of `shape.batch × shape.seq` tokens (lane-major), every token
//!    below the vocabulary size, and `reset` with one flag per lane. Within a lane,
//!    `targets[t] == inputs[t + 1]`: the target is the token that follows each input.
//! 3. **Lanes.** The first window after a reset sets every lane's reset flag. Later, a lane
//!    whose flag is false continues its stream: its first input is the previous window's
//!    last target for that lane (the trainer carries the recurrent state across).
//! 4. **Episodes end.** `reset` reports the number of windows when it knows it
//!    ([`EpisodeInfo::windows`], at least 1), and the episode ends (`episode_done`) after
//!    exactly that many. `step` after `episode_done`, without a new `reset`, is an error.
//! 5. **Determinism.** The same `(split, seed, shape)` gives the same [`EpisodeInfo`] and the
//!    same windows: the trainer resumes a run by replaying the stream to its saved position.
//! 6. **Validation.** `reset(Split::Val, ..)` either works under the same rules or fails with
//!    a [`GymError::Data`] or [`WindowError::TooSmall`] (no validation split).
//! 7. **Forks** (optional). [`Gym::fork`] returns an independent gym over the same data that
//!    serves the same windows for the same seed without sharing a position, so validation
//!    never disturbs the training stream.
//! 8. **Whole sources** (optional, for `rnngym eval`). [`Gym::sources`] lists the sources of a
//!    split with their lengths; [`Gym::reset_source`] walks one of them in one lane, the last
//!    window shorter, so every token but the first is a target exactly once.
//! 9. **Shards** (optional, for data-parallel training). A gym whose [`Gym::serve_lanes`]
//!    accepts a lane range serves exactly those rows of each window the full shape would give,
//!    so each rank reads only its own lanes' data; the others are cut from full windows.
//!
//! # A minimal gym
//!
//! A gym that counts `0 1 2 … 9 0 1 …` in every lane, checked by the conformance suite:
//!
//! ```
//! use std::sync::Arc;
//! use rnngym_gyms::{
//!     check_gym, Codec, EpisodeInfo, Gym, GymError, OpaqueCodec, Shape, Split, Step,
//! };
//!
//! /// Serves `WINDOWS` windows of a count modulo 10 per episode.
//! struct Counting {
//!     shape: Shape,
//!     /// The next window's number; `None` between episodes.
//!     window: Option<usize>,
//!     /// Where the count starts (from the seed, so each seed gives its own stream).
//!     start: u32,
//! }
//!
//! const WINDOWS: usize = 3;
//!
//! impl Gym for Counting {
//!     fn id(&self) -> &str {
//!         "counting-v1"
//!     }
//!     fn codec(&self) -> Arc<dyn Codec> {
//!         Arc::new(OpaqueCodec::new(10))
//!     }
//!     fn reset(&mut self, _split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
//!         shape.check()?;
//!         (self.shape, self.window, self.start) = (shape, Some(0), (seed % 10) as u32);
//!         Ok(EpisodeInfo { name: "count".into(), windows: Some(WINDOWS), tokens: 0 })
//!     }
//!     fn step(&mut self) -> Result<Step, GymError> {
//!         let w = self
//!             .window
//!             .ok_or_else(|| GymError::Contract("step() needs a reset()".into()))?;
//!         let Shape { batch, seq } = self.shape;
//!         // Lane b counts from start + b; window w continues where window w − 1 stopped.
//!         let token = |b: usize, t: usize| (self.start + (b + w * seq + t) as u32) % 10;
//!         let lanes = |shift: usize| -> Vec<u32> {
//!             (0..batch).flat_map(|b| (0..seq).map(move |t| token(b, t + shift))).collect()
//!         };
//!         let done = w + 1 == WINDOWS;
//!         self.window = (!done).then_some(w + 1);
//!         Ok(Step {
//!             inputs: lanes(0),
//!             targets: lanes(1),
//!             reset: vec![w == 0; batch],
//!             episode_done: done,
//!         })
//!     }
//! }
//!
//! let mut gym = Counting { shape: Shape { batch: 1, seq: 1 }, window: None, start: 0 };
//! let report = check_gym(&mut gym, Shape { batch: 4, seq: 8 }).unwrap();
//! assert_eq!((report.vocab_size, report.train_windows), (10, WINDOWS));
//! ```
//!
//! To train it from a config, implement [`NamedGym`] for it, add it to a registry
//! (`GymRegistry::with_builtins().with::<Counting>()`) and hand that to
//! `rnngym::cli::main_with` in your program's `main`: every `rnngym` command then knows
//! `gym.id = "counting-v1"`. Gyms in other languages run as child processes (`process-v1`,
//! docs/GYM_PROTOCOL.md).

pub mod baselines;
mod cache;
pub mod check;
pub mod codec;
pub mod codecs;
mod error;
pub mod features;
pub mod gym;
pub mod paths;
pub mod process;
pub mod registry;
pub mod text;
mod tokens;
mod walk;
pub mod wav;

pub use cache::{CacheOptions, DEFAULT_IN_MEMORY_MB};
pub use check::{check_gym, check_gym_with, CheckReport};
pub use codec::{CharCodec, CharSpec, OpaqueCodec, OpaqueSpec};
pub use codecs::{codec_from_spec, CodecRegistry, CodecSpec};
pub use error::{GymError, WindowError};
pub use features::{FeatureLane, Features, FeaturesSpec, TargetCoding};
pub use gym::{lanes_of, AudioCodec, Codec, EpisodeInfo, Gym, Shape, Split, Step, UnknownPolicy};
pub use registry::{GymCtor, GymRegistry, GymSpec, NamedGym};

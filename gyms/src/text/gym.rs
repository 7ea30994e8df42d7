//! `TextGym`: a corpus as char-rnn windows. Each split `S` (length n) is cut into `B` contiguous
//! lane streams of `W·T` tokens (W = ⌊(n−1)/(B·T)⌋), starting at a seeded offset `o`; window `w`
//! of lane `b` holds `S[o + b·W·T + w·T + j]`, `j < T`, and its targets are the next tokens. The
//! trainer carries hidden state from window to window, so lanes must be contiguous streams.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::corpus::load_corpus;
use super::ID;
use crate::{CharCodec, Codec, EpisodeInfo, Gym, GymError, GymSpec, Shape, Split, Step};

/// The built-in text gym (`text-v1`).
pub struct TextGym {
    codec: Arc<CharCodec>,
    train: Vec<u32>,
    val: Vec<u32>,
    val_fraction: f64,
    source: String,
    episode: Option<Episode>,
}

/// Where the current episode stands.
struct Episode {
    split: Split,
    shape: Shape,
    offset: usize,
    windows: usize,
    next: usize,
}

impl TextGym {
    /// Builds the gym from a `[gym]` config section (`path`, `val_fraction`, `options.lowercase`).
    pub fn from_spec(spec: &GymSpec) -> Result<TextGym, GymError> {
        check_val_fraction(spec.val_fraction)?;
        let mut lowercase = false;
        for (key, value) in &spec.options {
            match (key.as_str(), value) {
                ("lowercase", toml::Value::Boolean(b)) => lowercase = *b,
                ("lowercase", other) => {
                    return Err(GymError::Config(format!(
                        "gym.options.lowercase: expected true or false, got {other}"
                    )));
                }
                _ => {
                    return Err(GymError::Config(format!(
                        "gym.options.{key}: unknown option for {ID} (known: lowercase)"
                    )));
                }
            }
        }
        let path = spec.path.as_deref().ok_or_else(|| {
            GymError::Config(format!(
                "gym.path: missing; {ID} needs a file, directory or glob pattern of UTF-8 text"
            ))
        })?;
        let corpus = load_corpus(path, &spec.base_dir)?;
        let text = if lowercase {
            corpus.text.to_lowercase()
        } else {
            corpus.text
        };
        Self::build(&text, spec.val_fraction, corpus.source)
    }

    /// [`TextGym::from_spec`], boxed for the registry.
    pub fn from_spec_boxed(spec: &GymSpec) -> Result<Box<dyn Gym>, GymError> {
        Ok(Box::new(Self::from_spec(spec)?))
    }

    /// Builds the gym from in-memory text (tests, examples).
    pub fn from_text(text: &str, val_fraction: f64) -> Result<TextGym, GymError> {
        check_val_fraction(val_fraction)?;
        if text.is_empty() {
            return Err(GymError::Data("text corpus is empty".into()));
        }
        Self::build(text, val_fraction, "<text>".into())
    }

    /// The char codec, concretely typed.
    pub fn char_codec(&self) -> &CharCodec {
        &self.codec
    }

    /// The tokens of `split`.
    pub fn tokens(&self, split: Split) -> &[u32] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }

    fn build(text: &str, val_fraction: f64, source: String) -> Result<TextGym, GymError> {
        let codec = CharCodec::from_text(text);
        if codec.chars().len() < 2 {
            let only = codec.chars().first().map(|c| c.escape_debug().to_string());
            return Err(GymError::Data(format!(
                "gym.path: corpus {source} has only one distinct character ('{}'); {ID} needs at \
                 least 2 distinct characters",
                only.unwrap_or_default()
            )));
        }
        let mut train = codec.encode_known(text)?;
        let n_val = (train.len() as f64 * val_fraction).floor() as usize;
        let val = train.split_off(train.len() - n_val.min(train.len()));
        Ok(TextGym {
            codec: Arc::new(codec),
            train,
            val,
            val_fraction,
            source,
            episode: None,
        })
    }
}

fn check_val_fraction(v: f64) -> Result<(), GymError> {
    if (0.0..=0.5).contains(&v) {
        Ok(())
    } else {
        Err(GymError::Config(format!(
            "gym.val_fraction: {v} is out of range; expected a value in [0, 0.5]"
        )))
    }
}

fn split_name(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Val => "validation",
    }
}

impl Gym for TextGym {
    fn id(&self) -> &str {
        ID
    }

    fn codec(&self) -> Arc<dyn Codec> {
        self.codec.clone()
    }

    fn reset(&mut self, split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
        self.episode = None;
        if shape.batch == 0 || shape.seq == 0 {
            return Err(GymError::Config(format!(
                "train.batch={} and train.seq_len={} must both be at least 1",
                shape.batch, shape.seq
            )));
        }
        if split == Split::Val && self.val_fraction == 0.0 {
            return Err(GymError::Data(
                "no validation split: gym.val_fraction is 0".into(),
            ));
        }
        let n = self.tokens(split).len();
        let per_window = shape.batch.checked_mul(shape.seq).ok_or_else(|| {
            GymError::Config(format!(
                "train.batch={} × train.seq_len={} overflows",
                shape.batch, shape.seq
            ))
        })?;
        let windows = n.saturating_sub(1) / per_window;
        if windows == 0 {
            let hint = match split {
                Split::Val => "raise gym.val_fraction or lower train.batch / train.seq_len",
                Split::Train => {
                    "use a larger corpus, lower gym.val_fraction, or lower train.batch / \
                     train.seq_len"
                }
            };
            return Err(GymError::Data(format!(
                "{} split has {n} characters, too small for one window of train.batch={} × \
                 train.seq_len={} (needs {}); {hint}",
                split_name(split),
                shape.batch,
                shape.seq,
                per_window.saturating_add(1)
            )));
        }
        let slack = n - 1 - windows * per_window;
        let offset = StdRng::seed_from_u64(seed).random_range(0..=slack);
        self.episode = Some(Episode {
            split,
            shape,
            offset,
            windows,
            next: 0,
        });
        Ok(EpisodeInfo {
            name: format!("{} split of {}", split_name(split), self.source),
            windows: Some(windows),
            tokens: n,
        })
    }

    fn step(&mut self) -> Result<Step, GymError> {
        let ep = self.episode.as_mut().ok_or_else(|| {
            GymError::Contract("step() called before reset() or after the episode ended".into())
        })?;
        let Shape { batch, seq } = ep.shape;
        let w = ep.next;
        let stream = match ep.split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        };
        let mut inputs = Vec::with_capacity(batch * seq);
        let mut targets = Vec::with_capacity(batch * seq);
        for b in 0..batch {
            let start = ep.offset + b * ep.windows * seq + w * seq;
            inputs.extend_from_slice(&stream[start..start + seq]);
            targets.extend_from_slice(&stream[start + 1..start + seq + 1]);
        }
        ep.next += 1;
        let episode_done = ep.next == ep.windows;
        if episode_done {
            self.episode = None;
        }
        Ok(Step {
            inputs,
            targets,
            reset: vec![w == 0; batch],
            episode_done,
        })
    }
}

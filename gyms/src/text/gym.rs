//! `TextGym`: a corpus as char-rnn windows. Each split `S` (length n) is cut into `B` contiguous
//! lane streams of `W·T` tokens (W = ⌊(n−1)/(B·T)⌋), starting at a seeded offset `o`; window `w`
//! of lane `b` holds `S[o + b·W·T + w·T + j]`, `j < T`, and its targets are the next tokens. The
//! trainer carries hidden state from window to window, so lanes must be contiguous streams.

use std::ops::Range;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::corpus::resolve_files;
use super::encode::{encode_files, encode_str, Encoded, TextOptions};
use super::ID;
use crate::tokens::TokenStore;
use crate::walk::SourceWalk;
use crate::{
    lanes_of, CharCodec, Codec, EpisodeInfo, Gym, GymError, GymSpec, Shape, Split, Step,
    WindowError,
};

/// The built-in text gym (`text-v1`). A clone shares the loaded corpus.
#[derive(Clone)]
pub struct TextGym {
    codec: Arc<CharCodec>,
    /// The whole corpus; the train split is `..n_train`, the validation split the rest.
    /// Shared with the gym's forks.
    tokens: Arc<TokenStore>,
    n_train: usize,
    val_fraction: f64,
    source: String,
    episode: Option<Episode>,
    /// A whole-source walk under way ([`Gym::reset_source`]).
    walk: Option<SourceWalk>,
    /// The lanes served ([`Gym::serve_lanes`]); `None` for all.
    lanes: Option<Range<usize>>,
}

/// Where the current episode stands.
#[derive(Clone)]
struct Episode {
    split: Split,
    shape: Shape,
    /// The lanes of each window this gym serves.
    lanes: Range<usize>,
    offset: usize,
    windows: usize,
    next: usize,
}

impl TextGym {
    /// Builds the gym from a `[gym]` config section (`path`, `val_fraction`, and the options of
    /// [`TextOptions`]).
    pub fn from_spec(spec: &GymSpec) -> Result<TextGym, GymError> {
        Self::from_spec_in(spec, None)
    }

    /// [`TextGym::from_spec`] with a given vocabulary instead of the corpus's own (to evaluate
    /// a model on other text): a character outside `codec` is an error naming it.
    pub fn from_spec_with_codec(spec: &GymSpec, codec: &CharCodec) -> Result<TextGym, GymError> {
        Self::from_spec_in(spec, Some(codec))
    }

    fn from_spec_in(spec: &GymSpec, vocab: Option<&CharCodec>) -> Result<TextGym, GymError> {
        check_val_fraction(spec.val_fraction)?;
        let opts = TextOptions::from_table(&spec.options, &spec.base_dir)?;
        // An empty path would resolve to the config's own folder: say so rather than train on it.
        let path = spec.path.as_deref().filter(|p| !p.trim().is_empty()).ok_or_else(|| {
            GymError::Config(format!(
                "gym.path: missing or empty; {ID} needs a file, directory or glob pattern of UTF-8 text"
            ))
        })?;
        let (files, source) = resolve_files(path, &spec.base_dir)?;
        let encoded = encode_files(&files, &opts, &source, vocab)?;
        Ok(Self::build(encoded, spec.val_fraction, source))
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
        let encoded = encode_str(text, "<text>")?;
        Ok(Self::build(encoded, val_fraction, "<text>".into()))
    }

    /// The char codec, concretely typed.
    pub fn char_codec(&self) -> &CharCodec {
        &self.codec
    }

    /// The tokens of `split`, copied out (meant for tests and small corpora).
    pub fn tokens(&self, split: Split) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.token_count(split));
        self.tokens.extend(self.range(split), &mut out);
        out
    }

    /// The number of tokens in `split`.
    pub fn token_count(&self, split: Split) -> usize {
        self.range(split).len()
    }

    /// Whether the corpus is served from a memory-mapped token cache (else from the heap).
    pub fn is_mapped(&self) -> bool {
        self.tokens.is_mapped()
    }

    fn range(&self, split: Split) -> std::ops::Range<usize> {
        match split {
            Split::Train => 0..self.n_train,
            Split::Val => self.n_train..self.tokens.len(),
        }
    }

    fn build(encoded: Encoded, val_fraction: f64, source: String) -> TextGym {
        let n = encoded.tokens.len();
        let n_val = (n as f64 * val_fraction).floor() as usize;
        TextGym {
            codec: Arc::new(encoded.codec),
            tokens: Arc::new(encoded.tokens),
            n_train: n - n_val.min(n),
            val_fraction,
            source,
            episode: None,
            walk: None,
            lanes: None,
        }
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

    fn fork(&self) -> Option<Box<dyn Gym>> {
        Some(Box::new(TextGym {
            episode: None,
            walk: None,
            ..self.clone()
        }))
    }

    /// One source per split: the files are one concatenated corpus.
    fn sources(&self, split: Split) -> Vec<(String, usize)> {
        let n = self.token_count(split);
        match n {
            0 => Vec::new(),
            n => vec![(format!("{} split of {}", split_name(split), self.source), n)],
        }
    }

    fn reset_source(
        &mut self,
        split: Split,
        index: usize,
        seq: usize,
    ) -> Result<EpisodeInfo, GymError> {
        (self.episode, self.walk) = (None, None);
        let sources = self.sources(split);
        let (name, _) = sources.get(index).ok_or_else(|| {
            GymError::Data(format!(
                "source {index} of the {} split of {}: it has {} source(s)",
                split_name(split),
                self.source,
                sources.len()
            ))
        })?;
        let (walk, info) = SourceWalk::start(name, self.range(split), seq)?;
        self.walk = Some(walk);
        Ok(info)
    }

    fn codec(&self) -> Arc<dyn Codec> {
        self.codec.clone()
    }

    fn serve_lanes(&mut self, lanes: Option<Range<usize>>) -> bool {
        self.lanes = lanes;
        true
    }

    fn reset(&mut self, split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
        (self.episode, self.walk) = (None, None);
        shape.check()?;
        if split == Split::Val && self.val_fraction == 0.0 {
            return Err(GymError::Data(
                "no validation split: gym.val_fraction is 0".into(),
            ));
        }
        let n = self.token_count(split);
        let per_window = shape.tokens()?;
        let windows = n.saturating_sub(1) / per_window;
        if windows == 0 {
            let hint = match split {
                Split::Val => "raise gym.val_fraction",
                Split::Train => "use a larger corpus or lower gym.val_fraction",
            };
            return Err(WindowError::TooSmall {
                message: format!(
                    "{} split has {n} characters, too small for one window of {} lanes × {} \
                     steps (needs {}); {hint}",
                    split_name(split),
                    shape.batch,
                    shape.seq,
                    per_window.saturating_add(1)
                ),
                batch: shape.batch,
                seq: shape.seq,
            }
            .into());
        }
        let slack = n - 1 - windows * per_window;
        let offset = StdRng::seed_from_u64(seed).random_range(0..=slack);
        self.episode = Some(Episode {
            split,
            shape,
            lanes: lanes_of(&self.lanes, shape.batch)?,
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
        if let Some(walk) = self.walk.as_mut() {
            let step = walk.step(&self.tokens);
            if step.episode_done {
                self.walk = None;
            }
            return Ok(step);
        }
        let ep = self.episode.as_mut().ok_or_else(|| {
            GymError::Contract("step() called before reset() or after the episode ended".into())
        })?;
        let seq = ep.shape.seq;
        let w = ep.next;
        let base = match ep.split {
            Split::Train => 0,
            Split::Val => self.n_train,
        };
        let (offset, windows) = (ep.offset, ep.windows);
        let lanes = ep.lanes.clone();
        let starts = lanes
            .clone()
            .map(|b| base + offset + b * windows * seq + w * seq);
        let (inputs, targets) = self.tokens.windows(starts, seq);
        ep.next += 1;
        let episode_done = ep.next == ep.windows;
        if episode_done {
            self.episode = None;
        }
        Ok(Step {
            inputs,
            targets,
            reset: vec![w == 0; lanes.len()],
            episode_done,
        })
    }
}

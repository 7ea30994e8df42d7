//! `WavGym`: a WAV corpus as char-rnn windows. A training episode is one file (chosen by the
//! seed, weighted by length, as in MyCaffe's gym): its `n` tokens are cut into `B` contiguous
//! lane streams of `W·T` tokens (W = ⌊(n−1)/(B·T)⌋) from a seeded offset, exactly like
//! `text-v1`, so windows never straddle files and the trainer carries state across windows. A
//! validation episode walks every validation file in turn, each starting with every lane reset,
//! so one `test()` measures the whole validation split.

use std::ops::Range;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::codec::SampleCodec;
use super::corpus::{load_corpus, unigram_entropy_bits, Clip};
use super::options::{SplitMode, WavOptions};
use super::ID;
use crate::tokens::TokenStore;
use crate::walk::SourceWalk;
use crate::{
    lanes_of, AudioCodec, Codec, EpisodeInfo, Gym, GymError, GymSpec, Shape, Split, Step,
    WindowError,
};

/// One contiguous run of tokens from one file (a whole file, or its head or tail).
#[derive(Clone, Debug)]
struct Stream {
    name: String,
    /// Where its tokens lie in the gym's token store.
    range: Range<usize>,
}

impl Stream {
    fn len(&self) -> usize {
        self.range.len()
    }
}

/// The windows of one stream in an episode.
#[derive(Clone, Copy, Debug)]
struct Segment {
    stream: usize,
    offset: usize,
    windows: usize,
}

/// Where the current episode stands.
#[derive(Clone)]
struct Episode {
    split: Split,
    shape: Shape,
    /// The lanes of each window this gym serves.
    lanes: Range<usize>,
    segments: Vec<Segment>,
    seg: usize,
    w: usize,
}

/// The built-in WAV gym (`wav-v1`). A clone shares the loaded tokens.
#[derive(Clone)]
pub struct WavGym {
    codec: Arc<SampleCodec>,
    /// Every stream's tokens; shared with the gym's forks.
    tokens: Arc<TokenStore>,
    train: Vec<Stream>,
    val: Vec<Stream>,
    by_file: bool,
    skipped: Vec<String>,
    source: String,
    episode: Option<Episode>,
    /// A whole-source walk under way ([`Gym::reset_source`]).
    walk: Option<SourceWalk>,
    /// The lanes served ([`Gym::serve_lanes`]); `None` for all.
    lanes: Option<Range<usize>>,
}

impl WavGym {
    /// Builds the gym from a `[gym]` config section (see [`WavOptions`] for the options).
    pub fn from_spec(spec: &GymSpec) -> Result<WavGym, GymError> {
        if !(0.0..=0.5).contains(&spec.val_fraction) {
            return Err(GymError::Config(format!(
                "gym.val_fraction: {} is out of range; expected a value in [0, 0.5]",
                spec.val_fraction
            )));
        }
        let opts = WavOptions::from_table(&spec.options, &spec.base_dir)?;
        // An empty path would resolve to the config's own folder: say so rather than train on it.
        let path = spec
            .path
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| {
                GymError::Config(format!(
                "gym.path: missing or empty; {ID} needs a WAV file, a directory or a glob pattern"
            ))
            })?;
        let codec = opts.codec()?;
        let corpus = load_corpus(
            path,
            &spec.base_dir,
            opts.channel,
            &codec,
            opts.skip_bad_files,
            &opts.cache,
        )?;
        let gym = Self::build(
            codec,
            corpus.tokens,
            corpus.clips,
            spec.val_fraction,
            opts.split,
            corpus.source,
        )?;
        Ok(WavGym {
            skipped: corpus.skipped,
            ..gym
        })
    }

    /// [`WavGym::from_spec`], boxed for the registry.
    pub fn from_spec_boxed(spec: &GymSpec) -> Result<Box<dyn Gym>, GymError> {
        Ok(Box::new(Self::from_spec(spec)?))
    }

    fn build(
        codec: SampleCodec,
        tokens: TokenStore,
        clips: Vec<Clip>,
        val_fraction: f64,
        mode: SplitMode,
        source: String,
    ) -> Result<WavGym, GymError> {
        let n = clips.len();
        let n_val_files = (n as f64 * val_fraction).floor() as usize;
        let by_file = val_fraction > 0.0
            && match mode {
                SplitMode::Tail => false,
                SplitMode::Auto => n_val_files >= 1 && n_val_files < n,
                SplitMode::Files => {
                    if n < 2 {
                        return Err(GymError::Config(format!(
                            "gym.options.split = \"files\" needs at least 2 files; {source} has \
                             {n}"
                        )));
                    }
                    true
                }
            };
        let (mut train, mut val) = (Vec::new(), Vec::new());
        let first_val = if by_file {
            n - n_val_files.clamp(1, n - 1)
        } else {
            n
        };
        for (i, c) in clips.into_iter().enumerate() {
            let name = c.path.display().to_string();
            let range = c.range;
            if by_file {
                let dest = if i >= first_val { &mut val } else { &mut train };
                dest.push(Stream { name, range });
            } else {
                let k = (range.len() as f64 * val_fraction).floor() as usize;
                let cut = range.end - k;
                if k > 0 {
                    val.push(Stream {
                        name: format!("{name} (tail)"),
                        range: cut..range.end,
                    });
                }
                train.push(Stream {
                    name,
                    range: range.start..cut,
                });
            }
        }
        let gym = WavGym {
            codec: Arc::new(codec),
            tokens: Arc::new(tokens),
            train,
            val,
            by_file,
            skipped: Vec::new(),
            source,
            episode: None,
            walk: None,
            lanes: None,
        };
        gym.log_summary();
        Ok(gym)
    }

    fn log_summary(&self) {
        let rate = f64::from(self.codec.sample_rate());
        let secs = |s: &[Stream]| s.iter().map(Stream::len).sum::<usize>() as f64 / rate;
        let (h_train, h_val) = (
            self.unigram_entropy_bits(Split::Train),
            self.unigram_entropy_bits(Split::Val),
        );
        let how = if self.by_file {
            format!("by file ({} validation files)", self.val.len())
        } else {
            "by the tail of each file".to_string()
        };
        log::info!(
            "{ID}: {} — train {:.1} s, validation {:.1} s at {} Hz, {} {} levels, split {how}; \
             unigram entropy of the codes {:.3} bits/sample (train), {:.3} (validation)",
            self.source,
            secs(&self.train),
            secs(&self.val),
            self.codec.sample_rate(),
            self.codec.kind(),
            self.codec.levels(),
            h_train,
            h_val,
        );
    }

    /// The audio codec, concretely typed.
    pub fn sample_codec(&self) -> &SampleCodec {
        &self.codec
    }

    /// Entropy (bits/sample) of the token distribution of `split`: the unigram baseline.
    /// Reads the split once, in chunks.
    pub fn unigram_entropy_bits(&self, split: Split) -> f64 {
        const CHUNK: usize = 1 << 20;
        let mut counts = vec![0u64; self.codec.vocab_size()];
        let mut buf = Vec::with_capacity(CHUNK);
        for r in self.streams(split).iter().map(|s| s.range.clone()) {
            for start in r.clone().step_by(CHUNK) {
                buf.clear();
                self.tokens
                    .extend(start..(start + CHUNK).min(r.end), &mut buf);
                self.tokens.note_read(buf.len());
                for &t in &buf {
                    counts[t as usize] += 1;
                }
            }
        }
        unigram_entropy_bits(&counts)
    }

    /// Whether validation is whole files (else the tail of each file).
    pub fn split_by_file(&self) -> bool {
        self.by_file
    }

    /// `"file: reason"` for each file skipped under `skip_bad_files`.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    fn streams(&self, split: Split) -> &[Stream] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }
}

/// Windows of `shape` one stream of `n` tokens gives.
fn windows_of(n: usize, per_window: usize) -> usize {
    n.saturating_sub(1) / per_window
}

impl Gym for WavGym {
    fn id(&self) -> &str {
        ID
    }

    fn fork(&self) -> Option<Box<dyn Gym>> {
        Some(Box::new(WavGym {
            episode: None,
            walk: None,
            ..self.clone()
        }))
    }

    /// The files (or file parts) of `split`, with their lengths in samples.
    fn sources(&self, split: Split) -> Vec<(String, usize)> {
        self.streams(split)
            .iter()
            .map(|s| (s.name.clone(), s.len()))
            .collect()
    }

    fn reset_source(
        &mut self,
        split: Split,
        index: usize,
        seq: usize,
    ) -> Result<EpisodeInfo, GymError> {
        (self.episode, self.walk) = (None, None);
        let streams = self.streams(split);
        let s = streams.get(index).ok_or_else(|| {
            GymError::Data(format!(
                "source {index} of {}: the split has {} file(s)",
                self.source,
                streams.len()
            ))
        })?;
        let (walk, info) = SourceWalk::start(&s.name, s.range.clone(), seq)?;
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
        let per_window = shape.tokens()?;
        let streams = self.streams(split);
        let what = match split {
            Split::Train => "training",
            Split::Val => "validation",
        };
        if streams.is_empty() {
            return Err(GymError::Data(format!(
                "no {what} audio in {} (gym.val_fraction is 0 or the files are too short)",
                self.source
            )));
        }
        let usable: Vec<usize> = (0..streams.len())
            .filter(|&i| windows_of(streams[i].len(), per_window) > 0)
            .collect();
        if usable.is_empty() {
            let longest = streams.iter().map(Stream::len).max().unwrap_or(0);
            return Err(WindowError::TooSmall {
                message: format!(
                    "no {what} file of {} is long enough for one window of {} lanes × {} steps \
                     (needs {} samples, the longest has {longest})",
                    self.source,
                    shape.batch,
                    shape.seq,
                    per_window + 1
                ),
                batch: shape.batch,
                seq: shape.seq,
            }
            .into());
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let segment = |i: usize, rng: &mut StdRng| {
            let n = streams[i].len();
            let windows = windows_of(n, per_window);
            let slack = n - 1 - windows * per_window;
            Segment {
                stream: i,
                offset: rng.random_range(0..=slack),
                windows,
            }
        };
        let segments: Vec<Segment> = match split {
            Split::Train => {
                let total: usize = usable
                    .iter()
                    .map(|&i| windows_of(streams[i].len(), per_window))
                    .sum();
                let mut pick = rng.random_range(0..total);
                let mut chosen = usable[0];
                for &i in &usable {
                    let w = windows_of(streams[i].len(), per_window);
                    if pick < w {
                        chosen = i;
                        break;
                    }
                    pick -= w;
                }
                vec![segment(chosen, &mut rng)]
            }
            Split::Val => usable.iter().map(|&i| segment(i, &mut rng)).collect(),
        };
        let windows = segments.iter().map(|s| s.windows).sum();
        let tokens = segments.iter().map(|s| streams[s.stream].len()).sum();
        let name = match segments.as_slice() {
            [one] => streams[one.stream].name.clone(),
            many => format!("{} {what} files of {}", many.len(), self.source),
        };
        self.episode = Some(Episode {
            split,
            shape,
            lanes: lanes_of(&self.lanes, shape.batch)?,
            segments,
            seg: 0,
            w: 0,
        });
        Ok(EpisodeInfo {
            name,
            windows: Some(windows),
            tokens,
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
        let lanes = ep.lanes.clone();
        let seg = ep.segments[ep.seg];
        let base = match ep.split {
            Split::Train => self.train[seg.stream].range.start,
            Split::Val => self.val[seg.stream].range.start,
        };
        let w = ep.w;
        let starts = lanes
            .clone()
            .map(|b| base + seg.offset + b * seg.windows * seq + w * seq);
        let (inputs, targets) = self.tokens.windows(starts, seq);
        let first = ep.w == 0;
        ep.w += 1;
        if ep.w == seg.windows {
            ep.w = 0;
            ep.seg += 1;
        }
        let episode_done = ep.seg == ep.segments.len();
        if episode_done {
            self.episode = None;
        }
        Ok(Step {
            inputs,
            targets,
            reset: vec![first; lanes.len()],
            episode_done,
        })
    }
}

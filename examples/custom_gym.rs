//! Your own gym and codec with every `rnngym` command: a program of a few lines
//! ([`main`]) that registers them beside the built-ins and hands over to
//! `rnngym::cli::main_with`.
//!
//! `addition-v1` serves sums written in words, one token per word ("three plus four is
//! seven ."), through its own codec, kind `word`, which a checkpoint saves and `sample`
//! rebuilds, so samples come back as words:
//!
//! ```text
//! cargo run --release --example custom_gym -- check-gym --config configs/addition.toml
//! cargo run --release --example custom_gym -- train --config configs/addition.toml
//! cargo run --release --example custom_gym -- sample --checkpoint runs/addition \
//!     --prime "two plus two is" --length 40
//! cargo run --release --example custom_gym -- eval --checkpoint runs/addition
//! cargo run --release --example custom_gym -- plot --run runs/addition --out addition.png
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rnngym_gyms::codecs::tagged;
use rnngym_gyms::{
    Codec, CodecSpec, EpisodeInfo, Gym, GymError, GymRegistry, GymSpec, NamedGym, Shape, Split,
    Step, UnknownPolicy,
};

fn main() -> ExitCode {
    rnngym::cli::main_with(registry())
}

/// The built-in gyms and codecs plus this example's.
pub fn registry() -> GymRegistry {
    GymRegistry::with_builtins()
        .with::<AdditionGym>()
        .with_codec::<WordSpec>()
}

// ---- the codec: one token per word ----

/// Tokens are words; text is words separated by whitespace.
#[derive(Clone, Debug)]
pub struct WordCodec {
    words: Vec<String>,
}

/// The saved form of a [`WordCodec`] (kind `word`): its words in token order.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordSpec {
    /// Token id → word.
    pub words: Vec<String>,
}

impl CodecSpec for WordSpec {
    const KIND: &'static str = "word";

    fn build(self) -> Result<Arc<dyn Codec>, GymError> {
        WordCodec::new(self.words).map(|c| Arc::new(c) as Arc<dyn Codec>)
    }
}

impl WordCodec {
    /// A codec over `words`: non-empty, distinct, without whitespace.
    pub fn new(words: Vec<String>) -> Result<WordCodec, GymError> {
        if words.len() < 2 {
            return Err(GymError::Config("'words' needs at least 2 words".into()));
        }
        for (i, w) in words.iter().enumerate() {
            if w.is_empty() || w.contains(char::is_whitespace) || words[..i].contains(w) {
                return Err(GymError::Config(format!(
                    "'words': word {i} ({w:?}) is empty, holds whitespace or repeats"
                )));
            }
        }
        Ok(WordCodec { words })
    }

    fn token_of(&self, word: &str) -> Option<u32> {
        self.words.iter().position(|w| w == word).map(|i| i as u32)
    }
}

impl Codec for WordCodec {
    fn kind(&self) -> &str {
        WordSpec::KIND
    }

    fn vocab_size(&self) -> usize {
        self.words.len()
    }

    fn encode(&self, text: &str, policy: UnknownPolicy) -> Result<Vec<u32>, GymError> {
        let mut out = Vec::new();
        for (position, word) in text.split_whitespace().enumerate() {
            match (self.token_of(word), policy) {
                (Some(t), _) => out.push(t),
                (None, UnknownPolicy::Skip) => {}
                (None, UnknownPolicy::Error) => {
                    return Err(GymError::NotInVocabulary {
                        value: word.to_string(),
                        position,
                        message: format!(
                            "word {word:?} (word {position}) is not in the vocabulary ({} words)",
                            self.words.len()
                        ),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Each word followed by its separator (a newline after ".", else a space), so rendering
    /// token by token gives the same text as rendering them all at once.
    fn render(&self, tokens: &[u32]) -> String {
        let mut s = String::new();
        for &t in tokens {
            let word = self.words.get(t as usize).map_or("?", String::as_str);
            s.push_str(word);
            s.push(if word == "." { '\n' } else { ' ' });
        }
        s
    }

    fn spec(&self) -> serde_json::Value {
        tagged(&WordSpec {
            words: self.words.clone(),
        })
    }
}

/// English words for 0..=99.
pub fn number_word(n: u32) -> String {
    const ONES: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 10] = [
        "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    match n {
        0..20 => ONES[n as usize].to_string(),
        _ if n.is_multiple_of(10) => TENS[(n / 10) as usize].to_string(),
        _ => format!("{}-{}", TENS[(n / 10) as usize], ONES[(n % 10) as usize]),
    }
}

// ---- the gym ----

/// Windows per training or validation episode.
const WINDOWS: usize = 40;
/// Sums in each source that `eval` walks whole.
const SOURCE_SUMS: usize = 200;
/// Sources per split for `eval`.
const SOURCES: usize = 4;

/// Serves random sums `a plus b is c .` with `a, b ≤ max`, one independent stream per lane.
pub struct AdditionGym {
    codec: Arc<WordCodec>,
    max: u32,
    rng: StdRng,
    /// Per lane: tokens drawn but not yet served (the first is the next window's first input).
    lanes: Vec<Vec<u32>>,
    shape: Shape,
    window: usize,
    live: bool,
    /// A whole-source walk for `eval`: the source's tokens and the targets served so far.
    walk: Option<(Vec<u32>, usize)>,
}

impl NamedGym for AdditionGym {
    const ID: &'static str = "addition-v1";

    /// Options: `max` (the largest operand, 1..=49, default 9). It reads no data.
    fn from_spec(spec: &GymSpec) -> Result<Box<dyn Gym>, GymError> {
        let mut max = 9;
        for (key, value) in &spec.options {
            match (key.as_str(), value.as_integer()) {
                ("max", Some(m @ 1..=49)) => max = m as u32,
                ("max", _) => {
                    return Err(GymError::Config(format!(
                        "gym.options.max: expected an integer in 1..=49, got {value}"
                    )))
                }
                _ => {
                    return Err(GymError::Config(format!(
                        "gym.options.{key}: unknown option (addition-v1 has: max)"
                    )))
                }
            }
        }
        let mut words: Vec<String> = (0..=2 * max).map(number_word).collect();
        words.extend(["plus", "is", "."].map(String::from));
        Ok(Box::new(AdditionGym {
            codec: Arc::new(WordCodec::new(words)?),
            max,
            rng: StdRng::seed_from_u64(0),
            lanes: Vec::new(),
            shape: Shape { batch: 1, seq: 1 },
            window: 0,
            live: false,
            walk: None,
        }))
    }
}

impl AdditionGym {
    /// The tokens of one random sum.
    fn sum(&self, rng: &mut StdRng) -> Vec<u32> {
        let (a, b) = (
            rng.random_range(0..=self.max),
            rng.random_range(0..=self.max),
        );
        let text = format!(
            "{} plus {} is {} .",
            number_word(a),
            number_word(b),
            number_word(a + b)
        );
        self.codec
            .encode(&text, UnknownPolicy::Error)
            .expect("the vocabulary covers every sum")
    }

    /// Seeds of the two splits come from disjoint families, so validation is held out.
    fn rng_for(split: Split, seed: u64) -> StdRng {
        let salt = if split == Split::Val { 0xA11CE } else { 0 };
        StdRng::seed_from_u64(seed ^ salt)
    }
}

impl Gym for AdditionGym {
    fn id(&self) -> &str {
        Self::ID
    }

    fn codec(&self) -> Arc<dyn Codec> {
        self.codec.clone()
    }

    fn reset(&mut self, split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
        // A clear error for a zero batch or window, as the built-in gyms give.
        shape.check()?;
        self.rng = Self::rng_for(split, seed);
        self.lanes = vec![Vec::new(); shape.batch];
        (self.shape, self.window, self.live, self.walk) = (shape, 0, true, None);
        Ok(EpisodeInfo {
            name: format!("{split:?} sums"),
            windows: Some(WINDOWS),
            tokens: 0,
        })
    }

    /// A fresh gym: it holds no loaded data, so validation can run on its own copy.
    fn fork(&self) -> Option<Box<dyn Gym>> {
        let mut spec = GymSpec::new(Self::ID);
        spec.options
            .insert("max".into(), i64::from(self.max).into());
        AdditionGym::from_spec(&spec).ok()
    }

    fn sources(&self, split: Split) -> Vec<(String, usize)> {
        (0..SOURCES)
            .map(|i| {
                let mut rng = Self::rng_for(split, 1_000 + i as u64);
                let n = (0..SOURCE_SUMS).map(|_| self.sum(&mut rng).len()).sum();
                (format!("{split:?} sums #{i}"), n)
            })
            .collect()
    }

    fn reset_source(
        &mut self,
        split: Split,
        index: usize,
        seq: usize,
    ) -> Result<EpisodeInfo, GymError> {
        if index >= SOURCES || seq == 0 {
            return Err(GymError::Data(format!(
                "source {index} with windows of {seq} steps: {SOURCES} sources, seq ≥ 1"
            )));
        }
        let mut rng = Self::rng_for(split, 1_000 + index as u64);
        let tokens: Vec<u32> = (0..SOURCE_SUMS).flat_map(|_| self.sum(&mut rng)).collect();
        let n = tokens.len();
        (self.live, self.walk) = (true, Some((tokens, 0)));
        self.shape = Shape { batch: 1, seq };
        Ok(EpisodeInfo {
            name: format!("{split:?} sums #{index}"),
            windows: Some((n - 1).div_ceil(seq)),
            tokens: n,
        })
    }

    fn step(&mut self) -> Result<Step, GymError> {
        if !self.live {
            return Err(GymError::Contract(
                "step() without a live episode; call reset()".into(),
            ));
        }
        if let Some((tokens, pos)) = &mut self.walk {
            // One lane from the source's first token; the last window is shorter.
            let steps = self.shape.seq.min(tokens.len() - 1 - *pos);
            let step = Step {
                inputs: tokens[*pos..*pos + steps].to_vec(),
                targets: tokens[*pos + 1..=*pos + steps].to_vec(),
                reset: vec![*pos == 0],
                episode_done: *pos + steps == tokens.len() - 1,
            };
            *pos += steps;
            self.live = !step.episode_done;
            return Ok(step);
        }
        let (b, t) = (self.shape.batch, self.shape.seq);
        let (mut inputs, mut targets) = (Vec::with_capacity(b * t), Vec::with_capacity(b * t));
        let mut rng = std::mem::replace(&mut self.rng, StdRng::seed_from_u64(0));
        for lane in 0..b {
            while self.lanes[lane].len() < t + 1 {
                let sum = self.sum(&mut rng);
                self.lanes[lane].extend(sum);
            }
            let l = &mut self.lanes[lane];
            inputs.extend_from_slice(&l[..t]);
            targets.extend_from_slice(&l[1..=t]);
            l.drain(..t);
        }
        self.rng = rng;
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

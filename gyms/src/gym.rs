//! The `Gym` and `Codec` traits: what a data source must provide to be trained on.
//!
//! An *episode* is one pass over one source (a corpus split, a file, a stream); an *iteration*
//! consumes one `Step`, a batch of `B` lanes × `T` time steps. Like Gymnasium, `reset` takes a
//! seed and the same seed gives the same stream, which is what makes runs reproducible and
//! resumable (the trainer replays steps after a restart).

use std::ops::Range;
use std::sync::Arc;

use crate::{GymError, WindowError};

/// Which part of the data an episode is drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training split.
    Train,
    /// The held-out validation split.
    Val,
}

/// The window shape a gym serves: `batch` lanes of `seq` time steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// B: parallel lanes.
    pub batch: usize,
    /// T: time steps per window.
    pub seq: usize,
}

impl Shape {
    /// A [`WindowError::Empty`] unless both sizes are at least 1 (what every gym's `reset`
    /// needs before it can cut windows).
    pub fn check(&self) -> Result<(), GymError> {
        if self.batch == 0 || self.seq == 0 {
            return Err(WindowError::Empty {
                batch: self.batch,
                seq: self.seq,
            }
            .into());
        }
        Ok(())
    }

    /// `batch × seq`, or a [`WindowError::Overflow`] when it does not fit in a `usize`.
    pub fn tokens(&self) -> Result<usize, GymError> {
        self.batch.checked_mul(self.seq).ok_or(
            WindowError::Overflow {
                batch: self.batch,
                seq: self.seq,
            }
            .into(),
        )
    }
}

/// What `reset` reports about the episode it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpisodeInfo {
    /// Human-readable name of the source (file name, "train split", ...).
    pub name: String,
    /// Number of windows (`step` calls) in the episode, when known in advance.
    pub windows: Option<usize>,
    /// Tokens in the episode's source.
    pub tokens: usize,
}

/// One window of training data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Input tokens `[B, T]`, row-major (lane-major).
    pub inputs: Vec<u32>,
    /// Target tokens `[B, T]`: the token following each input.
    pub targets: Vec<u32>,
    /// `[B]`: lanes whose recurrent state must be zeroed before this window (new source).
    pub reset: Vec<bool>,
    /// True on the last window of the episode; the next `step` needs a new `reset`.
    pub episode_done: bool,
}

/// How to treat characters (or values) that the vocabulary does not contain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownPolicy {
    /// Stop with an error naming the character and its position.
    #[default]
    Error,
    /// Drop it silently.
    Skip,
}

/// Tokens ↔ domain values. Saved inside checkpoints (via [`Codec::spec`]) so sampling never
/// needs the corpus again.
pub trait Codec: Send + Sync {
    /// Kind tag stored in checkpoints ("char", "opaque", ...).
    fn kind(&self) -> &str;
    /// V: number of distinct tokens.
    fn vocab_size(&self) -> usize;
    /// Encodes user text (a priming string) into tokens.
    fn encode(&self, text: &str, policy: UnknownPolicy) -> Result<Vec<u32>, GymError>;
    /// Renders tokens for humans (text for text codecs).
    fn render(&self, tokens: &[u32]) -> String;
    /// What goes between the renderings of two runs of tokens that follow each other:
    /// `render(a ++ b) == render(a) + separator() + render(b)` for non-empty `a` and `b`, so
    /// output streamed a few tokens at a time reads like one `render`. Empty (the default)
    /// for text, where tokens are characters; a space for the audio codecs, whose rendering
    /// is whitespace-separated sample values.
    fn separator(&self) -> &str {
        ""
    }
    /// A self-describing JSON value from which [`crate::codec_from_spec`] rebuilds the codec.
    fn spec(&self) -> serde_json::Value;
    /// The audio view of this codec (tokens ↔ sample values at a rate); `None` for non-audio
    /// codecs, which is the default.
    fn audio(&self) -> Option<&dyn AudioCodec> {
        None
    }
}

/// Tokens ↔ audio sample values in [-1, 1] at a fixed sample rate (the `wav-v1` codecs).
pub trait AudioCodec: Send + Sync {
    /// Samples per second of the audio the tokens stand for.
    fn sample_rate(&self) -> u32;
    /// The sample value in [-1, 1] that `token` stands for (the centre of its quantization cell).
    fn sample_of(&self, token: u32) -> f32;
    /// The token whose cell holds `sample` (clamped to [-1, 1]; NaN maps to the cell of 0).
    fn token_of(&self, sample: f32) -> u32;
    /// The `V − 1` boundaries between the tokens' cells in the sample domain, ascending:
    /// boundary `k` divides the cell of token `k` from that of token `k + 1` (where
    /// [`AudioCodec::token_of`] switches from one to the other).
    fn cell_edges(&self) -> Vec<f64>;
}

/// A source of token windows. Implement this to train on your own data.
pub trait Gym: Send {
    /// Versioned id this gym is registered under ("text-v1").
    fn id(&self) -> &str;
    /// The codec shared by every split of this gym.
    fn codec(&self) -> Arc<dyn Codec>;
    /// Starts an episode on `split`; the same `(split, seed, shape)` gives the same windows.
    fn reset(&mut self, split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError>;
    /// The next window. Calling it after `episode_done` without a `reset` is an error.
    fn step(&mut self) -> Result<Step, GymError>;
    /// An independent gym over the same data (sharing what this one loaded, with no episode
    /// under way), so that evaluation runs beside training without disturbing its stream.
    /// `None` (the default) when the gym cannot make one: the trainer then validates on this
    /// gym and replays the training stream afterwards, which costs as many `step` calls as
    /// the training episode has served.
    fn fork(&self) -> Option<Box<dyn Gym>> {
        None
    }
    /// The sources of `split` (files, or parts of files), in order, with their lengths in
    /// tokens, that [`Gym::reset_source`] walks one at a time. Empty (the default) when the
    /// gym cannot serve its sources one by one.
    fn sources(&self, split: Split) -> Vec<(String, usize)> {
        let _ = split;
        Vec::new()
    }
    /// Starts an episode that walks source `index` of [`Gym::sources`]`(split)` whole, for
    /// evaluation: one lane (B = 1) from the source's first token, windows of `seq` steps
    /// with the state carried between them, the last window shorter when `n − 1` is not a
    /// multiple of `seq` (`(n − 1) mod seq` steps). So every token but the first is a target
    /// exactly once; the first window resets the lane. The default refuses.
    fn reset_source(
        &mut self,
        split: Split,
        index: usize,
        seq: usize,
    ) -> Result<EpisodeInfo, GymError> {
        let _ = (split, index, seq);
        Err(GymError::Contract(format!(
            "gym {} cannot serve its sources one by one",
            self.id()
        )))
    }
    /// Serves only lanes `lanes` of each window in the episodes reset from now on (one rank's
    /// share of a data-parallel batch), or every lane again with `None`; returns whether the
    /// gym can. A sharded `step` returns exactly those rows of the window the full `shape`
    /// would have given (same tokens, their reset flags, same `episode_done`), so a gym that
    /// shards reads and decodes only the data its rank trains on. `reset` fails with a
    /// [`GymError::Config`] when `lanes` does not fit in `shape.batch`. Whole-source walks
    /// ([`Gym::reset_source`]) are not affected. The default shards nothing (`false` for
    /// `Some`): the trainer then cuts its rank's rows out of full windows.
    fn serve_lanes(&mut self, lanes: Option<Range<usize>>) -> bool {
        lanes.is_none()
    }
}

/// The lanes of a `batch`-lane window that a gym asked to [`Gym::serve_lanes`] serves (all of
/// them for `None`), or a [`GymError::Config`] naming the range and the batch.
pub fn lanes_of(lanes: &Option<Range<usize>>, batch: usize) -> Result<Range<usize>, GymError> {
    match lanes {
        None => Ok(0..batch),
        Some(r) if r.start < r.end && r.end <= batch => Ok(r.clone()),
        Some(r) => Err(GymError::Config(format!(
            "lanes {}..{} of a window of {batch} lanes: a shard needs at least one lane, all \
             inside the window",
            r.start, r.end
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_check_names_lanes_and_steps() {
        assert!(Shape { batch: 1, seq: 1 }.check().is_ok());
        for (batch, seq) in [(0, 8), (4, 0)] {
            let e = Shape { batch, seq }.check().unwrap_err();
            assert!(
                matches!(e, GymError::Window(WindowError::Empty { batch: b, seq: s }) if (b, s) == (batch, seq)),
                "{e:?}"
            );
            let e = e.to_string();
            assert!(e.contains(&format!("{batch} lanes × {seq} steps")), "{e}");
            assert!(!e.contains("train."), "{e}");
        }
        let huge = Shape {
            batch: usize::MAX,
            seq: 2,
        };
        assert!(matches!(
            huge.tokens(),
            Err(GymError::Window(WindowError::Overflow { .. }))
        ));
    }
}

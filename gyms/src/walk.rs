//! Whole-source episodes for evaluation ([`Gym::reset_source`](crate::Gym::reset_source)):
//! one lane walks one source from its first token, in windows of `seq` steps, the last one
//! shorter, so every token but the first is a target exactly once.

use std::ops::Range;

use crate::tokens::TokenStore;
use crate::{EpisodeInfo, GymError, Step};

/// Where a whole-source walk stands.
#[derive(Clone, Debug)]
pub(crate) struct SourceWalk {
    /// The source's tokens in the gym's store.
    range: Range<usize>,
    seq: usize,
    /// Targets served so far (the next window's first input is `range.start + pos`).
    pos: usize,
}

impl SourceWalk {
    /// A walk over `range` named `name` in windows of `seq` steps; a source needs at least two
    /// tokens (one input, one target).
    pub(crate) fn start(
        name: &str,
        range: Range<usize>,
        seq: usize,
    ) -> Result<(SourceWalk, EpisodeInfo), GymError> {
        if seq == 0 {
            return Err(GymError::Config(
                "a source walk needs windows of at least 1 step".into(),
            ));
        }
        let n = range.len();
        if n < 2 {
            return Err(GymError::Data(format!(
                "{name}: {n} token(s); a source needs at least 2 (an input and its target)"
            )));
        }
        let info = EpisodeInfo {
            name: name.to_string(),
            windows: Some((n - 1).div_ceil(seq)),
            tokens: n,
        };
        Ok((SourceWalk { range, seq, pos: 0 }, info))
    }

    /// The next window (`B = 1`, up to `seq` steps) and whether it was the last.
    pub(crate) fn step(&mut self, tokens: &TokenStore) -> Step {
        let n = self.range.len();
        let steps = self.seq.min(n - 1 - self.pos);
        let (inputs, targets) = tokens.windows(std::iter::once(self.range.start + self.pos), steps);
        let first = self.pos == 0;
        self.pos += steps;
        Step {
            inputs,
            targets,
            reset: vec![first],
            episode_done: self.pos == n - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::text::TextGym;
    use crate::{Gym, Split};

    #[test]
    fn a_source_walk_scores_every_token_but_the_first_once() {
        let mut gym = TextGym::from_text(&"abcdefghij".repeat(3), 0.5).unwrap();
        for split in [Split::Train, Split::Val] {
            let want = gym.tokens(split);
            assert_eq!(
                gym.sources(split),
                vec![(gym.sources(split)[0].0.clone(), 15)]
            );
            for seq in [1, 4, 7, 14, 20] {
                let info = gym.reset_source(split, 0, seq).unwrap();
                assert_eq!(info.windows, Some(14usize.div_ceil(seq)));
                let (mut inputs, mut targets, mut resets) = (vec![], vec![], vec![]);
                loop {
                    let s = gym.step().unwrap();
                    assert!(s.inputs.len() <= seq && s.inputs.len() == s.targets.len());
                    inputs.extend(s.inputs);
                    targets.extend(s.targets);
                    resets.extend(s.reset);
                    if s.episode_done {
                        break;
                    }
                }
                assert_eq!(inputs, want[..14], "seq {seq}");
                assert_eq!(targets, want[1..], "seq {seq}");
                assert!(resets[0] && !resets[1..].iter().any(|&r| r));
                assert!(gym.step().is_err(), "the walk ended");
            }
        }
        assert!(gym.reset_source(Split::Val, 1, 4).is_err());
    }
}

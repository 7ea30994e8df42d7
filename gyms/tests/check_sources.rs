//! `check_gym` walks a gym's sources whole (what `rnngym eval` does) and rejects each way of
//! breaking that part of the contract; the built-in text gym passes.

use std::sync::Arc;

use rnngym_gyms::text::TextGym;
use rnngym_gyms::{check_gym, Codec, EpisodeInfo, Gym, GymError, Shape, Split, Step};

/// One way of breaking whole-source walks.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    /// `reset_source` reports one token more than `sources`.
    MisreportedTokens,
    /// Every window resets the lane.
    ResetEveryWindow,
    /// The second window skips a token.
    Gap,
    /// The walk serves another window after `episode_done`.
    NoEnd,
}

/// The text gym, with its walks broken by `fault`.
struct Walks {
    inner: TextGym,
    fault: Fault,
    walking: bool,
    window: usize,
}

impl Gym for Walks {
    fn id(&self) -> &str {
        "walks-v1"
    }
    fn codec(&self) -> Arc<dyn Codec> {
        self.inner.codec()
    }
    fn reset(&mut self, split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
        self.walking = false;
        self.inner.reset(split, seed, shape)
    }
    fn step(&mut self) -> Result<Step, GymError> {
        if !self.walking {
            return self.inner.step();
        }
        let w = self.window;
        self.window += 1;
        let mut s = match self.inner.step() {
            Err(_) if self.fault == Fault::NoEnd => {
                return Ok(Step {
                    inputs: vec![0],
                    targets: vec![0],
                    reset: vec![false],
                    episode_done: true,
                })
            }
            other => other?,
        };
        match self.fault {
            Fault::ResetEveryWindow => s.reset = vec![true],
            Fault::Gap if w == 1 => s.inputs[0] = (s.inputs[0] + 1) % 5,
            _ => {}
        }
        Ok(s)
    }
    fn sources(&self, split: Split) -> Vec<(String, usize)> {
        self.inner.sources(split)
    }
    fn reset_source(
        &mut self,
        split: Split,
        index: usize,
        seq: usize,
    ) -> Result<EpisodeInfo, GymError> {
        (self.walking, self.window) = (true, 0);
        let mut info = self.inner.reset_source(split, index, seq)?;
        if self.fault == Fault::MisreportedTokens {
            info.tokens += 1;
        }
        Ok(info)
    }
}

fn check(fault: Fault) -> Result<(), String> {
    let inner = TextGym::from_text(&"abcde".repeat(40), 0.25).unwrap();
    let mut gym = Walks {
        inner,
        fault,
        walking: false,
        window: 0,
    };
    check_gym(&mut gym, Shape { batch: 2, seq: 7 })
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn whole_source_walks_are_checked() {
    check(Fault::None).unwrap();
    for (fault, needle) in [
        (Fault::MisreportedTokens, "reset_source reported"),
        (Fault::ResetEveryWindow, "reset is [true]"),
        (Fault::Gap, "do not continue"),
        (Fault::NoEnd, "after the walk's last window"),
    ] {
        let msg = check(fault).expect_err(&format!("{fault:?} passed"));
        assert!(msg.contains(needle), "{fault:?}: {msg}");
        assert!(msg.contains("source 0"), "{fault:?}: {msg}");
    }
}

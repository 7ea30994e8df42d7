//! `check_gym` must accept a correct custom gym and reject each kind of broken one.

use std::ops::Range;
use std::sync::Arc;

use rnngym_gyms::{
    check_gym, lanes_of, Codec, EpisodeInfo, Gym, GymError, OpaqueCodec, Shape, Split, Step,
    UnknownPolicy, WindowError,
};

const V: usize = 11;
const WINDOWS: usize = 4;

/// One way of breaking the gym contract.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    TokenOutOfRange,
    WrongLength,
    WrongResetLength,
    NeverEnds,
    EndsEarly,
    NonDeterministic,
    StepAfterDoneOk,
    FirstResetFalse,
    TargetsNotShifted,
    LaneNotContiguous,
    TinyVocab,
    BadCodecSpec,
    LossyCodec,
    /// Renders whitespace-separated words but keeps the default empty `separator()`.
    GluedCodec,
    ValConfigError,
    /// `fork` gives a gym whose windows differ from the original's.
    ForkDiffers,
    /// Asked to serve some lanes, serves as many lanes from lane 0.
    LanesFromZero,
    /// Clamps a lane range outside the window instead of refusing it.
    LanesUnchecked,
}

/// A char-rnn-layout gym over the stream `f(i) = (7i + seed) mod V`, optionally broken.
struct FakeGym {
    fault: Fault,
    shape: Shape,
    seed: u64,
    next: Option<usize>,
    resets: u64,
    /// What `serve_lanes` asked for, and the lanes of the current episode.
    asked: Option<Range<usize>>,
    lanes: Range<usize>,
}

impl FakeGym {
    fn new(fault: Fault) -> Self {
        FakeGym {
            fault,
            shape: Shape { batch: 1, seq: 1 },
            seed: 0,
            next: None,
            resets: 0,
            asked: None,
            lanes: 0..1,
        }
    }
    fn tok(&self, i: usize) -> u32 {
        let drift = if self.fault == Fault::NonDeterministic {
            self.resets
        } else {
            0
        };
        ((7 * i as u64 + self.seed + drift) % V as u64) as u32
    }
}

/// A codec that breaks `encode(render(t)) == t` or whose spec cannot be rebuilt.
struct BrokenCodec(Fault);

impl Codec for BrokenCodec {
    fn kind(&self) -> &str {
        "broken"
    }
    fn vocab_size(&self) -> usize {
        V
    }
    fn encode(&self, text: &str, policy: UnknownPolicy) -> Result<Vec<u32>, GymError> {
        if self.0 == Fault::GluedCodec {
            return Ok(text
                .split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect());
        }
        let t = OpaqueCodec::new(V).encode(text, policy)?;
        Ok(if self.0 == Fault::LossyCodec {
            t.into_iter().map(|x| x / 2).collect()
        } else {
            t
        })
    }
    fn render(&self, tokens: &[u32]) -> String {
        if self.0 == Fault::GluedCodec {
            let words: Vec<String> = tokens.iter().map(u32::to_string).collect();
            return words.join(" ");
        }
        OpaqueCodec::new(V).render(tokens)
    }
    fn spec(&self) -> serde_json::Value {
        if self.0 == Fault::BadCodecSpec {
            serde_json::json!({"kind": "broken"})
        } else {
            OpaqueCodec::new(V).spec()
        }
    }
}

impl Gym for FakeGym {
    fn id(&self) -> &str {
        "fake-v1"
    }
    fn fork(&self) -> Option<Box<dyn Gym>> {
        match self.fault {
            Fault::None => Some(Box::new(FakeGym::new(Fault::None))),
            // Its stream drifts with every reset, so its first episode is not the original's.
            Fault::ForkDiffers => Some(Box::new(FakeGym::new(Fault::NonDeterministic))),
            _ => None,
        }
    }
    fn codec(&self) -> Arc<dyn Codec> {
        match self.fault {
            Fault::TinyVocab => Arc::new(OpaqueCodec::new(1)),
            Fault::BadCodecSpec | Fault::LossyCodec | Fault::GluedCodec => {
                Arc::new(BrokenCodec(self.fault))
            }
            _ => Arc::new(OpaqueCodec::new(V)),
        }
    }
    fn serve_lanes(&mut self, lanes: Option<Range<usize>>) -> bool {
        self.asked = lanes;
        true
    }
    fn reset(&mut self, split: Split, seed: u64, shape: Shape) -> Result<EpisodeInfo, GymError> {
        if split == Split::Val {
            return Err(match self.fault {
                Fault::ValConfigError => GymError::Config("val: bad".into()),
                _ => GymError::Data("fake gym has no validation data".into()),
            });
        }
        self.lanes = match (self.fault, &self.asked) {
            (Fault::LanesUnchecked, Some(r)) => {
                r.start.min(shape.batch - 1)..r.end.min(shape.batch)
            }
            _ => lanes_of(&self.asked, shape.batch)?,
        };
        if self.fault == Fault::LanesFromZero {
            self.lanes = 0..self.lanes.len();
        }
        self.shape = shape;
        self.seed = seed;
        self.resets += 1;
        self.next = Some(0);
        let windows = if self.fault == Fault::NeverEnds {
            None
        } else {
            Some(WINDOWS)
        };
        Ok(EpisodeInfo {
            name: "fake".into(),
            windows,
            tokens: 100,
        })
    }
    fn step(&mut self) -> Result<Step, GymError> {
        let f = self.fault;
        let w = match self.next {
            Some(w) => w,
            None if f == Fault::StepAfterDoneOk => 0,
            None => return Err(GymError::Contract("no episode".into())),
        };
        let seq = self.shape.seq;
        let batch = self.lanes.len();
        let mut inputs = Vec::new();
        let mut targets = Vec::new();
        for b in self.lanes.clone() {
            let mut base = b * WINDOWS * seq + w * seq;
            if f == Fault::LaneNotContiguous && w > 0 {
                base += 1;
            }
            inputs.extend((0..seq).map(|j| self.tok(base + j)));
            targets.extend((0..seq).map(|j| self.tok(base + j + 1)));
        }
        match f {
            Fault::TokenOutOfRange if w == 2 => inputs[1] = V as u32,
            Fault::WrongLength if w == 1 => {
                targets.pop();
            }
            Fault::TargetsNotShifted => targets[0] = (targets[0] + 1) % V as u32,
            _ => {}
        }
        let n_reset = if f == Fault::WrongResetLength {
            batch + 1
        } else {
            batch
        };
        let first = w == 0 && f != Fault::FirstResetFalse;
        let done = match f {
            Fault::NeverEnds => false,
            Fault::EndsEarly => w == WINDOWS - 2,
            _ => w == WINDOWS - 1,
        };
        self.next = if done { None } else { Some(w + 1) };
        Ok(Step {
            inputs,
            targets,
            reset: vec![first; n_reset],
            episode_done: done,
        })
    }
}

fn check(fault: Fault, shape: Shape) -> Result<rnngym_gyms::CheckReport, GymError> {
    check_gym(&mut FakeGym::new(fault), shape)
}

#[test]
fn correct_custom_gym_passes() {
    for shape in [Shape { batch: 1, seq: 1 }, Shape { batch: 3, seq: 5 }] {
        let report = check(Fault::None, shape).unwrap();
        assert_eq!(report.vocab_size, V);
        assert_eq!(report.train_windows, WINDOWS);
        assert_eq!(report.val_windows, None);
        assert!(
            report.notes[0].contains("fake gym has no validation data"),
            "{report}"
        );
    }
}

#[test]
fn each_broken_gym_is_rejected_with_a_reason() {
    let cases = [
        (Fault::TokenOutOfRange, "outside the vocabulary"),
        (Fault::WrongLength, "targets has 14 tokens"),
        (Fault::WrongResetLength, "reset has 4 flags"),
        (
            Fault::EndsEarly,
            "reported 4 windows but the episode ended after 3",
        ),
        (Fault::NonDeterministic, "not deterministic"),
        (Fault::StepAfterDoneOk, "after episode_done"),
        (Fault::FirstResetFalse, "must set every reset flag"),
        (Fault::TargetsNotShifted, "token following each input"),
        (Fault::LaneNotContiguous, "not contiguous"),
        (Fault::TinyVocab, "vocab_size() is 1"),
        (Fault::BadCodecSpec, "does not rebuild"),
        (Fault::LossyCodec, "encode(render(tokens)) != tokens"),
        (Fault::GluedCodec, "separator"),
        (Fault::ValConfigError, "reset(val)"),
        (
            Fault::ForkDiffers,
            "fork: window 0 of the train split differs",
        ),
        (
            Fault::LanesFromZero,
            "serve_lanes(1..3): window 0 of the train split is not lanes 1..3",
        ),
        (
            Fault::LanesUnchecked,
            "serve_lanes(3..4) on windows of 3 lanes: reset must refuse",
        ),
    ];
    for (fault, needle) in cases {
        match check(fault, Shape { batch: 3, seq: 5 }) {
            Ok(r) => panic!("{fault:?} passed the check: {r}"),
            Err(e) => {
                assert!(matches!(e, GymError::Contract(_)), "{fault:?}: {e:?}");
                let msg = e.to_string();
                assert!(msg.contains(needle), "{fault:?}: {msg:?} lacks {needle:?}");
            }
        }
    }
}

#[test]
fn never_ending_gym_is_rejected() {
    let e = check(Fault::NeverEnds, Shape { batch: 1, seq: 1 }).unwrap_err();
    assert!(matches!(e, GymError::Contract(_)), "{e:?}");
    assert!(
        e.to_string().contains("did not end within 1000000 windows"),
        "{e}"
    );
}

#[test]
fn train_data_errors_pass_through() {
    let mut gym = rnngym_gyms::text::TextGym::from_text("abcdef", 0.0).unwrap();
    let e = check_gym(&mut gym, Shape { batch: 4, seq: 4 }).unwrap_err();
    assert!(
        matches!(e, GymError::Window(WindowError::TooSmall { .. })),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("train split has 6 characters"),
        "{e}"
    );
}

#[test]
fn a_too_small_validation_split_is_a_note() {
    let mut gym = rnngym_gyms::text::TextGym::from_text(&"abcdefghij".repeat(20), 0.05).unwrap();
    let report = check_gym(&mut gym, Shape { batch: 4, seq: 4 }).unwrap();
    assert_eq!(report.val_windows, None);
    assert!(
        report.notes.iter().any(|n| n.contains("4 lanes × 4 steps")),
        "{:?}",
        report.notes
    );
}

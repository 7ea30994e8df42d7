//! `check_gym`: the conformance suite every gym (built-in or custom) must pass before training.
//! Modelled on Gymnasium's `env_checker`: each failed property becomes a [`GymError::Contract`]
//! naming the property, the split and the window.

use std::fmt;

use crate::{Codec, CodecRegistry, EpisodeInfo, Gym, GymError, Shape, Split, Step, WindowError};

/// Episodes with unknown length must end within this many windows.
const MAX_UNKNOWN_WINDOWS: usize = 1_000_000;
/// Windows compared when replaying an episode with the same seed.
const REPLAY_WINDOWS: usize = 50;
/// Windows of a whole-source walk checked at most (the shortest source of each split is walked).
const MAX_WALK_WINDOWS: usize = 10_000;
/// Seed used for the checked episodes.
const SEED: u64 = 0x5eed;

/// What `check_gym` found about a conforming gym.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// V of the gym's codec.
    pub vocab_size: usize,
    /// Windows in one train episode.
    pub train_windows: usize,
    /// Windows in one validation episode, `None` when the gym has no usable validation split.
    pub val_windows: Option<usize>,
    /// Remarks that are not failures (e.g. why there is no validation split).
    pub notes: Vec<String>,
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gym check passed: vocab_size={}, train windows={}",
            self.vocab_size, self.train_windows
        )?;
        match self.val_windows {
            Some(w) => write!(f, ", val windows={w}")?,
            None => write!(f, ", no validation split")?,
        }
        for note in &self.notes {
            write!(f, "\n  note: {note}")?;
        }
        Ok(())
    }
}

/// Runs the conformance suite on `gym` with windows of `shape`. Contract violations come back
/// as [`GymError::Contract`]; a train split that cannot serve `shape` (a
/// `Data`/`Window`/`Config`/`Io` error from `reset`) is passed through unchanged, since the fix is in the data or config.
pub fn check_gym(gym: &mut dyn Gym, shape: Shape) -> Result<CheckReport, GymError> {
    check_gym_with(gym, shape, &CodecRegistry::with_builtins())
}

/// [`check_gym`] for a gym whose codec kind is registered in `codecs` (a custom codec): the
/// codec must rebuild from its spec through that registry, as a checkpoint's will.
pub fn check_gym_with(
    gym: &mut dyn Gym,
    shape: Shape,
    codecs: &CodecRegistry,
) -> Result<CheckReport, GymError> {
    let codec = gym.codec();
    let vocab_size = codec.vocab_size();
    if vocab_size < 2 {
        return Err(contract(format!(
            "codec.vocab_size() is {vocab_size}; a gym needs at least 2 tokens"
        )));
    }
    let mut notes = Vec::new();
    let info = gym.reset(Split::Train, SEED, shape)?;
    let train = check_split(gym, Split::Train, info, shape, codec.as_ref())?;
    let val_windows = match gym.reset(Split::Val, SEED, shape) {
        Ok(info) => Some(check_split(gym, Split::Val, info, shape, codec.as_ref())?.windows),
        Err(e @ (GymError::Data(_) | GymError::Window(WindowError::TooSmall { .. }))) => {
            notes.push(format!("no validation episodes: {e}"));
            None
        }
        Err(e) => {
            return Err(contract(format!(
                "reset(val) must succeed or fail with a Data or Window error, got: {e}"
            )));
        }
    };
    check_codec(codec.as_ref(), &train.first.inputs, codecs)?;
    check_fork(gym, shape)?;
    check_lanes(gym, shape)?;
    check_sources(gym, shape.seq)?;
    Ok(CheckReport {
        vocab_size,
        train_windows: train.windows,
        val_windows,
        notes,
    })
}

/// A gym that forks: the fork serves the same windows as the gym for the same seed, and
/// stepping the two in turn shows they do not share a position.
fn check_fork(gym: &mut dyn Gym, shape: Shape) -> Result<(), GymError> {
    let Some(mut fork) = gym.fork() else {
        return Ok(());
    };
    let info = gym.reset(Split::Train, SEED, shape)?;
    let fork_info = fork.reset(Split::Train, SEED, shape).map_err(|e| {
        contract(format!(
            "fork: reset(train) failed where the gym's succeeded: {e}"
        ))
    })?;
    if fork_info.windows != info.windows {
        return Err(contract(format!(
            "fork: reset(train) reported {:?} windows, the gym {:?}",
            fork_info.windows, info.windows
        )));
    }
    for w in 0..REPLAY_WINDOWS.min(info.windows.unwrap_or(REPLAY_WINDOWS)) {
        let (a, b) = (gym.step()?, fork.step()?);
        if a != b {
            return Err(contract(format!(
                "fork: window {w} of the train split differs from the gym's (stepped in turn: \
                 a fork must not share the gym's position)"
            )));
        }
        if a.episode_done {
            break;
        }
    }
    Ok(())
}

/// A gym that shards ([`Gym::serve_lanes`]) serves, for its last ⌈B/2⌉ lanes, exactly those
/// rows of the full windows of the same seed, and refuses a lane range outside the window.
/// The gym serves every lane again afterwards.
fn check_lanes(gym: &mut dyn Gym, shape: Shape) -> Result<(), GymError> {
    let lanes = shape.batch / 2..shape.batch;
    let info = gym.reset(Split::Train, SEED, shape)?;
    let count = REPLAY_WINDOWS.min(info.windows.unwrap_or(REPLAY_WINDOWS));
    let mut full = Vec::with_capacity(count);
    for _ in 0..count {
        let step = gym.step()?;
        let done = step.episode_done;
        full.push(step);
        if done {
            break;
        }
    }
    if !gym.serve_lanes(Some(lanes.clone())) {
        return Ok(());
    }
    let result = compare_lanes(gym, shape, lanes, &full);
    gym.serve_lanes(None);
    result
}

/// The sharded side of [`check_lanes`]: `gym` serves `lanes`; `full` are the whole windows.
fn compare_lanes(
    gym: &mut dyn Gym,
    shape: Shape,
    lanes: std::ops::Range<usize>,
    full: &[Step],
) -> Result<(), GymError> {
    let (from, to) = (lanes.start, lanes.end);
    gym.reset(Split::Train, SEED, shape).map_err(|e| {
        contract(format!(
            "serve_lanes({from}..{to}): reset(train) failed where the full one succeeded: {e}"
        ))
    })?;
    let t = shape.seq;
    for (w, whole) in full.iter().enumerate() {
        let got = gym.step()?;
        let want = Step {
            inputs: whole.inputs[from * t..to * t].to_vec(),
            targets: whole.targets[from * t..to * t].to_vec(),
            reset: whole.reset[from..to].to_vec(),
            episode_done: whole.episode_done,
        };
        if got != want {
            return Err(contract(format!(
                "serve_lanes({from}..{to}): window {w} of the train split is not lanes \
                 {from}..{to} of the full window"
            )));
        }
    }
    let beyond = shape.batch..shape.batch + 1;
    gym.serve_lanes(Some(beyond.clone()));
    if gym.reset(Split::Train, SEED, shape).is_ok() {
        return Err(contract(format!(
            "serve_lanes({}..{}) on windows of {} lanes: reset must refuse lanes outside the window",
            beyond.start, beyond.end, shape.batch
        )));
    }
    Ok(())
}

/// A gym that lists its sources walks the shortest of each split whole
/// ([`Gym::reset_source`]): one lane, reset on the first window only, windows of at most `seq`
/// steps continuing each other, every token but the first a target once, as many windows as
/// reported, and an error after the last. A source longer than [`MAX_WALK_WINDOWS`] windows is
/// checked on its first windows only.
fn check_sources(gym: &mut dyn Gym, seq: usize) -> Result<(), GymError> {
    for split in [Split::Train, Split::Val] {
        let sources = gym.sources(split);
        let Some((index, (name, n))) = sources.iter().enumerate().min_by_key(|(_, (_, n))| *n)
        else {
            continue;
        };
        let at = format!("{split:?} source {index} ({name})").to_lowercase();
        let info = gym
            .reset_source(split, index, seq)
            .map_err(|e| contract(format!("{at}: reset_source failed: {e}")))?;
        let expected = n.saturating_sub(1).div_ceil(seq);
        if info.tokens != *n || info.windows != Some(expected) {
            return Err(contract(format!(
                "{at}: reset_source reported {} tokens and {:?} windows; sources() says {n} \
                 tokens, which walk in {expected} windows of {seq} steps",
                info.tokens, info.windows
            )));
        }
        let (mut served, mut last) = (0usize, None::<u32>);
        for w in 0..expected.min(MAX_WALK_WINDOWS) {
            let s = gym
                .step()
                .map_err(|e| contract(format!("{at}, window {w}: step() failed: {e}")))?;
            let steps = s.inputs.len();
            let fault = if s.reset != [w == 0] {
                Some(format!("reset is {:?}, expected [{}]", s.reset, w == 0))
            } else if steps == 0 || steps > seq || s.targets.len() != steps {
                Some(format!(
                    "{steps} inputs and {} targets; expected 1..={seq} of each",
                    s.targets.len()
                ))
            } else if last.is_some_and(|l| l != s.inputs[0])
                || (1..steps).any(|t| s.inputs[t] != s.targets[t - 1])
            {
                Some("the windows do not continue each other token by token".into())
            } else if s.episode_done != (w + 1 == expected) {
                Some(format!("episode_done is {} at window {w}", s.episode_done))
            } else {
                None
            };
            if let Some(f) = fault {
                return Err(contract(format!("{at}, window {w}: {f}")));
            }
            served += steps;
            last = s.targets.last().copied();
        }
        if expected <= MAX_WALK_WINDOWS {
            if served != n - 1 {
                return Err(contract(format!(
                    "{at}: the walk served {served} targets; a source of {n} tokens has {}",
                    n - 1
                )));
            }
            if gym.step().is_ok() {
                return Err(contract(format!(
                    "{at}: step() after the walk's last window must be an error, got a window"
                )));
            }
        }
    }
    Ok(())
}

fn contract(msg: String) -> GymError {
    GymError::Contract(msg)
}

/// What one checked episode looked like.
struct SplitSummary {
    windows: usize,
    first: Step,
}

fn check_split(
    gym: &mut dyn Gym,
    split: Split,
    info: EpisodeInfo,
    shape: Shape,
    codec: &dyn Codec,
) -> Result<SplitSummary, GymError> {
    let name = format!("{split:?} split").to_lowercase();
    let cap = info.windows.unwrap_or(MAX_UNKNOWN_WINDOWS);
    if info.windows == Some(0) {
        return Err(contract(format!(
            "{name}: reset() reported windows=Some(0); an episode has at least one window"
        )));
    }
    let mut replay: Vec<Step> = Vec::new();
    let mut prev: Option<Step> = None;
    let mut count = 0usize;
    loop {
        let step = gym.step().map_err(|e| {
            contract(format!(
                "{name}: step() failed at window {count} of the episode: {e}"
            ))
        })?;
        check_step(&step, shape, codec.vocab_size(), prev.as_ref())
            .map_err(|m| contract(format!("{name}, window {count}: {m}")))?;
        count += 1;
        let done = step.episode_done;
        if replay.len() < REPLAY_WINDOWS {
            replay.push(step.clone());
        }
        prev = Some(step);
        if done {
            break;
        }
        if count >= cap {
            return Err(contract(match info.windows {
                Some(w) => format!(
                    "{name}: reset() reported {w} windows but episode_done was still false \
                     after window {}",
                    w - 1
                ),
                None => format!("{name}: the episode did not end within {cap} windows"),
            }));
        }
    }
    if let Some(w) = info.windows {
        if count != w {
            return Err(contract(format!(
                "{name}: reset() reported {w} windows but the episode ended after {count}"
            )));
        }
    }
    if gym.step().is_ok() {
        return Err(contract(format!(
            "{name}: step() after episode_done (without reset) must be an error, got a window"
        )));
    }
    let again = gym.reset(split, SEED, shape).map_err(|e| {
        contract(format!(
            "{name}: a second reset() with the same seed failed: {e}"
        ))
    })?;
    if again != info {
        return Err(contract(format!(
            "{name}: reset() with the same seed reported {again:?}, first time {info:?}"
        )));
    }
    for (i, expected) in replay.iter().enumerate() {
        let got = gym.step().map_err(|e| {
            contract(format!(
                "{name}: replay with the same seed failed at window {i}: {e}"
            ))
        })?;
        if &got != expected {
            return Err(contract(format!(
                "{name}: not deterministic: window {i} differs when replayed with the same seed"
            )));
        }
    }
    let first = replay.swap_remove(0);
    Ok(SplitSummary {
        windows: count,
        first,
    })
}

/// What is wrong with one window; [`check_split`] adds the split and window number.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct StepFault(String);

/// Checks one window's shape, token range, target alignment and lane continuity.
fn check_step(
    step: &Step,
    shape: Shape,
    vocab: usize,
    prev: Option<&Step>,
) -> Result<(), StepFault> {
    let Shape { batch, seq } = shape;
    for (what, len) in [
        ("inputs", step.inputs.len()),
        ("targets", step.targets.len()),
    ] {
        if len != batch * seq {
            return Err(StepFault(format!(
                "{what} has {len} tokens, expected batch × seq = {batch} × {seq} = {}",
                batch * seq
            )));
        }
    }
    if step.reset.len() != batch {
        return Err(StepFault(format!(
            "reset has {} flags, expected batch = {batch}",
            step.reset.len()
        )));
    }
    for (what, tokens) in [("inputs", &step.inputs), ("targets", &step.targets)] {
        if let Some(i) = tokens.iter().position(|&t| t as usize >= vocab) {
            return Err(StepFault(format!(
                "{what}[{i}] (lane {}, t {}) = {} is outside the vocabulary 0..{vocab}",
                i / seq,
                i % seq,
                tokens[i]
            )));
        }
    }
    if prev.is_none() {
        if let Some(b) = step.reset.iter().position(|r| !r) {
            return Err(StepFault(format!(
                "the first window after reset() must set every reset flag; lane {b} is false"
            )));
        }
    }
    for b in 0..batch {
        let lane = b * seq..(b + 1) * seq;
        let (x, y) = (&step.inputs[lane.clone()], &step.targets[lane]);
        if let Some(j) = (1..seq).find(|&j| x[j] != y[j - 1]) {
            return Err(StepFault(format!(
                "lane {b}: targets[t={}] = {} but inputs[t={j}] = {}; targets must be the \
                 token following each input",
                j - 1,
                y[j - 1],
                x[j]
            )));
        }
        if let Some(p) = prev.filter(|_| !step.reset[b]) {
            let (last_target, first_input) = (p.targets[(b + 1) * seq - 1], x[0]);
            if last_target != first_input {
                return Err(StepFault(format!(
                    "lane {b} is not contiguous: reset is false but its first input {first_input} \
                     is not the previous window's last target {last_target}"
                )));
            }
        }
    }
    Ok(())
}

/// Round trips: `encode(render(t)) == t`, rendering in two parts joined by `separator()` is
/// rendering at once (what streamed output relies on), and `spec()` rebuilds an equivalent
/// codec through `codecs`.
fn check_codec(codec: &dyn Codec, tokens: &[u32], codecs: &CodecRegistry) -> Result<(), GymError> {
    let text = codec.render(tokens);
    if tokens.len() >= 2 {
        let (a, b) = tokens.split_at(tokens.len() / 2);
        let joined = format!(
            "{}{}{}",
            codec.render(a),
            codec.separator(),
            codec.render(b)
        );
        if joined != text {
            return Err(contract(format!(
                "codec: render(a) + separator() + render(b) != render(a ++ b) for the first \
                 train window split in two (separator {:?}); streamed output would not read \
                 like one render",
                codec.separator()
            )));
        }
    }
    let back = codec
        .encode(&text, crate::UnknownPolicy::Error)
        .map_err(|e| contract(format!("codec: encode(render(tokens)) failed: {e}")))?;
    if back != tokens {
        return Err(contract(format!(
            "codec: encode(render(tokens)) != tokens for the first train window ({} tokens in, \
             {} out)",
            tokens.len(),
            back.len()
        )));
    }
    let spec = codec.spec();
    let rebuilt = codecs
        .build(&spec)
        .map_err(|e| contract(format!("codec: spec() {spec} does not rebuild: {e}")))?;
    if rebuilt.vocab_size() != codec.vocab_size() {
        return Err(contract(format!(
            "codec: spec() rebuilds a codec with vocab_size {} instead of {}",
            rebuilt.vocab_size(),
            codec.vocab_size()
        )));
    }
    if rebuilt.render(tokens) != text {
        return Err(contract(
            "codec: the codec rebuilt from spec() renders the first train window differently"
                .into(),
        ));
    }
    Ok(())
}

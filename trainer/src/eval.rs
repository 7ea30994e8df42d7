//! Scoring a model on whole sources (`rnngym eval`): one source at a time, walked by the gym
//! ([`Gym::reset_source`]) in one lane from a zero state, in windows of `seq` steps with the
//! state carried between them, through the same [`Model::token_loss`] that validation runs
//! (per token of the data, also for a model predicting excitations). Every token of the source but the first is scored exactly once; the
//! last, shorter window runs in a workspace of its own length that takes over the carried
//! state.

use rnngym_gyms::{Gym, Split, Step};
use rnngym_kernels::Backend;

use rnngym_kernels::Precision;

use crate::generate::Generator;
use crate::model::{Model, Workspace};
use crate::trainer::TrainerError;

/// The model's cost on one source.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceScore {
    /// The source's name (its file).
    pub name: String,
    /// Every token of the source, in order (the first one is context only).
    pub tokens: Vec<u32>,
    /// Summed cross-entropy of the scored tokens (`tokens[1..]`), in nats.
    pub nats: f64,
    /// Windows run.
    pub windows: u64,
}

impl SourceScore {
    /// Tokens scored: all but the first.
    pub fn scored(&self) -> u64 {
        self.tokens.len().saturating_sub(1) as u64
    }
}

/// Scores whole sources with one model, keeping its workspace between them.
pub struct Evaluator<'m, B: Backend> {
    model: &'m Model<B>,
    seq: usize,
    /// `[seq, 1]` workspace of the full windows.
    ws: Workspace<B>,
    /// Scoring token by token through a generator at this precision instead (`w8a16`, `w8a8`,
    /// whose rounding of the inputs no copy of the weights can stand for).
    gen: Option<Generator<'m, B>>,
}

impl<'m, B: Backend> Evaluator<'m, B> {
    /// An evaluator with windows of `seq` steps (the model's `train.seq_len`).
    pub fn new(be: &B, model: &'m Model<B>, seq: usize) -> Result<Self, TrainerError> {
        if seq == 0 {
            return Err(TrainerError::Config(
                "eval: windows need at least 1 step".into(),
            ));
        }
        Ok(Evaluator {
            model,
            seq,
            ws: model.workspace(be, seq, 1)?,
            gen: None,
        })
    }

    /// Scores through a batch-1 [`Generator`] at `precision`, token by token: exactly what
    /// generation at that precision computes (used for `w8a16` and `w8a8`; the others score
    /// the model with its weights rounded, [`Model::round_trip_weights`], which is the same
    /// up to summation order).
    pub fn through_generator(mut self, be: &B, precision: Precision) -> Result<Self, TrainerError> {
        self.gen = Some(Generator::with_precision(be, self.model, precision)?);
        Ok(self)
    }

    /// Scores source `index` of `gym.sources(split)`.
    pub fn score(
        &mut self,
        be: &B,
        gym: &mut dyn Gym,
        split: Split,
        index: usize,
    ) -> Result<SourceScore, TrainerError> {
        let info = gym.reset_source(split, index, self.seq)?;
        let mut tokens = Vec::with_capacity(info.tokens);
        let (mut nats, mut windows) = (0.0f64, 0u64);
        self.ws.reset_state();
        if let Some(g) = &mut self.gen {
            g.reset();
        }
        loop {
            let step = gym.step()?;
            let n = check_walk_step(&step, self.seq)?;
            if windows == 0 {
                tokens.push(step.inputs[0]);
            }
            tokens.extend_from_slice(&step.targets);
            if let Some(g) = &mut self.gen {
                if step.reset[0] {
                    g.reset();
                }
                for (&input, &target) in step.inputs.iter().zip(&step.targets) {
                    g.feed(be, input)?;
                    nats += g.token_nll(be, target)?;
                }
                windows += 1;
                if step.episode_done {
                    break;
                }
                continue;
            }
            let loss = if n == self.seq {
                self.forward(be, None, &step)?
            } else {
                // The short last window: a workspace of its length, the carried state moved in.
                let mut tail = self.model.workspace(be, n, 1)?;
                if !step.reset[0] {
                    tail.continue_from(be, &self.ws, self.model.dims.hidden)?;
                }
                self.forward(be, Some(&mut tail), &step)?
            };
            nats += loss * n as f64;
            windows += 1;
            if step.episode_done {
                break;
            }
        }
        Ok(SourceScore {
            name: info.name,
            tokens,
            nats,
            windows,
        })
    }

    fn forward(
        &mut self,
        be: &B,
        ws: Option<&mut Workspace<B>>,
        step: &Step,
    ) -> Result<f64, TrainerError> {
        let ws = ws.unwrap_or(&mut self.ws);
        Ok(self
            .model
            .token_loss(be, ws, &step.inputs, &step.targets, &step.reset)?)
    }
}

/// The steps of a window of a whole-source walk (one lane, 1..=seq steps).
fn check_walk_step(step: &Step, seq: usize) -> Result<usize, TrainerError> {
    let n = step.inputs.len();
    if n == 0 || n > seq || step.targets.len() != n || step.reset.len() != 1 {
        return Err(TrainerError::Gym(rnngym_gyms::GymError::Contract(format!(
            "a source walk served a window of {n} inputs, {} targets and {} reset flags; \
             expected 1..={seq} inputs, as many targets and 1 flag",
            step.targets.len(),
            step.reset.len()
        ))));
    }
    Ok(n)
}

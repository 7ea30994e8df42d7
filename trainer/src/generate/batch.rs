//! [`BatchGenerator`]: N independent streams in one workspace. Each step is one forward of
//! T = 1 over the N lanes (every layer's input and recurrent projections one GEMM instead of N
//! GEMVs), then one `sample_rows` over the N rows of logits with one uniform per lane.

use rand::Rng;
use rnngym_kernels::{Backend, KernelError, Precision, Rows};

use super::Generator;
use crate::model::{LowpWeights, Mode, Model, Workspace};
use crate::sample::{draw, SampleOptions};

/// Most streams one [`BatchGenerator`] runs (`--num-samples`): far beyond where a wider GEMM
/// still pays, and a bound on what a typo can allocate.
pub const MAX_STREAMS: usize = 4096;

/// Generates N independent streams of tokens from a model at once.
///
/// Every lane starts from the same primed state and diverges by its own uniforms. The batched
/// GEMMs may round differently from the batch-1 path of [`Generator`], so lane i need not be
/// bit-identical to a batch-1 run with the same draws.
pub struct BatchGenerator<'m, B: Backend> {
    model: &'m Model<B>,
    /// `T = 1, B = N` workspace: lane i is stream i.
    ws: Workspace<B>,
    /// The tokens of the last step, one per lane (fed back by the next).
    tokens: Vec<u32>,
    /// One uniform per lane for the next pick.
    uniforms: Vec<f64>,
    /// Each lane's options for the next pick, where they differ (pitch sharpening).
    options: Vec<SampleOptions>,
    /// Never resets a lane: the forward carries every lane's state.
    keep: Vec<bool>,
    /// Host copy of the logits, `[N, V]`, filled only when asked for.
    logits: Vec<f32>,
    primed: bool,
    /// Pitch sharpening strength (see [`Generator::with_pitch_sharpening`]).
    sharpening: f32,
    /// The converted weights when generating below `f32` ([`BatchGenerator::with_precision`]).
    lowp: Option<LowpWeights<B>>,
}

impl<'m, B: Backend> BatchGenerator<'m, B> {
    /// A generator of `lanes` streams (1..=[`MAX_STREAMS`]) with a zero initial state (`f32`
    /// weights).
    pub fn new(be: &B, model: &'m Model<B>, lanes: usize) -> rnngym_kernels::Result<Self> {
        Self::with_precision(be, model, lanes, Precision::F32)
    }

    /// [`BatchGenerator::new`] whose steps multiply by weights stored at `precision` (see
    /// [`Generator::with_precision`]), through [`Backend::qgemv`]; at `f32` only where the
    /// backend prefers it, else through a `t = 1` forward (GEMMs).
    pub fn with_precision(
        be: &B,
        model: &'m Model<B>,
        lanes: usize,
        precision: Precision,
    ) -> rnngym_kernels::Result<Self> {
        if lanes == 0 || lanes > MAX_STREAMS {
            return Err(KernelError::Shape(format!(
                "expected 1 to {MAX_STREAMS} streams, got {lanes}"
            )));
        }
        let (lowp, ws) = super::step_weights(be, model, lanes, precision)?;
        Ok(BatchGenerator {
            model,
            ws,
            tokens: vec![0; lanes],
            uniforms: vec![0.0; lanes],
            options: Vec::with_capacity(lanes),
            keep: vec![false; lanes],
            logits: Vec::new(),
            primed: false,
            sharpening: 0.0,
            lowp,
        })
    }

    /// N, the number of streams.
    pub fn lanes(&self) -> usize {
        self.ws.b
    }

    /// [`Generator::with_pitch_sharpening`], each lane by its own history's voicing.
    pub fn with_pitch_sharpening(mut self, s: f32) -> Self {
        self.sharpening = s.max(0.0);
        self
    }

    /// Primes every lane with the same `prime`: it runs once at batch 1
    /// ([`Generator::prime_with`], `progress` as there) and the resulting state, input
    /// features and next-token logits are copied into all N lanes, so a long prime costs the
    /// same whatever N is.
    pub fn prime_with(
        &mut self,
        be: &B,
        prime: &[u32],
        progress: impl FnMut(usize),
    ) -> rnngym_kernels::Result<()> {
        if prime.is_empty() {
            return Ok(());
        }
        let precision = self.lowp.as_ref().map_or(Precision::F32, |l| l.precision());
        let mut one = Generator::with_precision(be, self.model, precision)?;
        one.prime_with(be, prime, progress)?;
        self.broadcast(be, &one.ws)
    }

    /// Copies lane 0 of the batch-1 workspace `one` (carried state, features, logits row 0)
    /// into every lane.
    fn broadcast(&mut self, be: &B, one: &Workspace<B>) -> rnngym_kernels::Result<()> {
        let n = self.lanes();
        let hidden = self.model.dims.hidden;
        let state: Vec<(Vec<f32>, Vec<f32>)> = (one.read_state(be, hidden)?.into_iter())
            .map(|(h, c)| (h.repeat(n), c.repeat(n)))
            .collect();
        self.ws.write_state(be, &state)?;
        let features = one.read_features();
        if !features.is_empty() {
            self.ws
                .write_features(&vec![features[0].clone(); n])
                .map_err(KernelError::Shape)?;
        }
        let v = self.model.dims.vocab;
        for lane in 0..n {
            be.copy(&one.logits, 0, &mut self.ws.logits, lane * v, v)?;
        }
        self.primed = true;
        Ok(())
    }

    /// Feeds one token per lane (`tokens[i]` to lane i): updates every lane's state and
    /// next-token logits in one forward.
    pub fn feed(&mut self, be: &B, tokens: &[u32]) -> rnngym_kernels::Result<()> {
        let (ws, keep) = (&mut self.ws, &self.keep);
        match &self.lowp {
            Some(l) => self.model.step_lowp(be, ws, tokens, l)?,
            None => {
                self.model.forward(be, ws, tokens, None, keep, Mode::Eval)?;
            }
        }
        self.primed = true;
        Ok(())
    }

    /// Whether the lanes have logits to pick from (a prime or a feed happened).
    pub fn is_primed(&self) -> bool {
        self.primed
    }

    /// The next-token logits of every lane (`[N, V]`), copied from the backend.
    pub fn logits(&mut self, be: &B) -> rnngym_kernels::Result<&[f32]> {
        self.logits
            .resize(self.lanes() * self.model.dims.vocab, 0.0);
        be.read(&self.ws.logits, 0, &mut self.logits)?;
        Ok(&self.logits)
    }

    /// Lane `lane`'s options for its next pick: `opts` with the pitch sharpening of its own
    /// history applied ([`Generator::step_options`]).
    pub fn step_options(&self, opts: &SampleOptions, lane: usize) -> SampleOptions {
        super::sharpened(opts, self.sharpening, self.ws.voicing(lane))
    }

    /// Picks the next token of every lane (lane i's uniform drawn from `rngs[i]`), feeds them
    /// back and returns them, lane i's at index i.
    pub fn next<R: Rng + Send>(
        &mut self,
        be: &B,
        opts: &SampleOptions,
        rngs: &mut [R],
    ) -> rnngym_kernels::Result<&[u32]> {
        let n = self.lanes();
        if rngs.len() != n {
            return Err(KernelError::Shape(format!(
                "{} random streams for {n} lanes",
                rngs.len()
            )));
        }
        let v = self.model.dims.vocab;
        let sharpened = self.sharpening > 0.0 && self.model.features().is_some();
        if sharpened {
            // Each lane's temperature follows its own voicing.
            let (ws, s) = (&self.ws, self.sharpening);
            let lane_options = |lane| super::sharpened(opts, s, ws.voicing(lane));
            self.options.clear();
            self.options.extend((0..n).map(lane_options));
            let each = self.uniforms.iter_mut().zip(&self.options);
            for ((u, o), rng) in each.zip(rngs.iter_mut()) {
                *u = draw(o, rng);
            }
            be.sample_rows_each(
                &self.ws.logits,
                Rows::new(0, n, v),
                &self.options,
                &self.uniforms,
                &mut self.tokens,
            )?;
        } else {
            for (u, rng) in self.uniforms.iter_mut().zip(rngs.iter_mut()) {
                *u = draw(opts, rng);
            }
            let rows = Rows::new(0, n, v);
            be.sample_rows(
                &self.ws.logits,
                rows,
                opts,
                &self.uniforms,
                &mut self.tokens,
            )?;
        }
        if let Some(coding) = self.model.target_coding() {
            // Coded ids (excitations) to tokens, each in its lane's context (see
            // `Generator::next`).
            let contexts = (0..n).map(|lane| self.ws.lane_context(lane));
            let each = self.tokens.iter_mut().zip(rngs.iter_mut());
            let mut lanes: Vec<_> = each.zip(contexts).collect();
            be.for_each_lane(&mut lanes, &|_, ((tok, rng), context)| {
                **tok = coding.decode(*context, **tok, rng.random::<f32>());
            });
        }
        let tokens = std::mem::take(&mut self.tokens);
        let fed = self.feed(be, &tokens);
        self.tokens = tokens;
        fed?;
        Ok(&self.tokens)
    }
}

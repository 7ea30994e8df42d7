//! Stateful generation: one token in, one distribution out, the recurrent state carried, so
//! each token costs O(1) — the window is never re-run.

use rand::Rng;
use rnngym_kernels::{Backend, Precision, Rows};

use crate::model::{is_converted, row_nll, LowpWeights, Mode, Model, Workspace};
use crate::sample::{draw, SampleOptions};

mod batch;

pub use batch::{BatchGenerator, MAX_STREAMS};

/// Largest `V · G` for which the generator keeps a layer-0 input table (64 MB of f32): above
/// it the table costs more memory than the GEMV it saves is worth.
const MAX_TABLE: usize = 1 << 24;

/// Most tokens of a prime run through the model as one window.
pub const PRIME_WINDOW: usize = 256;

/// Generates tokens from a model, batch 1.
pub struct Generator<'m, B: Backend> {
    model: &'m Model<B>,
    ws: Workspace<B>,
    /// `[V, G]` layer-0 input projections ([`Model::input_table`]), when small enough.
    table: Option<B::Buf>,
    /// Host copy of the logits, filled only when asked for ([`Generator::logits`]).
    logits: Vec<f32>,
    primed: bool,
    /// [`Generator::with_pitch_sharpening`]'s strength (0: off).
    sharpening: f32,
    /// The converted weights when generating below `f32` ([`Generator::with_precision`]).
    lowp: Option<LowpWeights<B>>,
    /// [`Generator::token_nll`]'s exponentials and probabilities, kept between tokens.
    nll: (Vec<f64>, Vec<f32>),
}

impl<'m, B: Backend> Generator<'m, B> {
    /// A generator with a zero initial state (`f32` weights).
    pub fn new(be: &B, model: &'m Model<B>) -> rnngym_kernels::Result<Self> {
        Self::with_precision(be, model, Precision::F32)
    }

    /// A generator whose steps multiply by weights stored at `precision` (converted here,
    /// once; see [`LowpWeights`]), through [`Backend::qgemv`]; at `f32` only where the backend
    /// prefers it ([`Backend::f32_steps_through_qgemv`]), else through [`Model::step_token`].
    /// Below `f32` a prime runs token by token at that precision too, so the whole output is
    /// what the converted model makes.
    pub fn with_precision(
        be: &B,
        model: &'m Model<B>,
        precision: Precision,
    ) -> rnngym_kernels::Result<Self> {
        let (lowp, ws) = step_weights(be, model, 1, precision)?;
        let table = match lowp {
            None if table_fits(model) => Some(model.input_table(be)?),
            _ => None,
        };
        Ok(Generator {
            model,
            ws,
            table,
            logits: vec![0.0; model.dims.vocab],
            primed: false,
            sharpening: 0.0,
            lowp,
            nll: Default::default(),
        })
    }

    /// The precision of the weights the steps multiply by.
    pub fn precision(&self) -> Precision {
        self.lowp.as_ref().map_or(Precision::F32, |l| l.precision())
    }

    /// Bytes of parameters one generated token reads ([`bytes_per_token_at`] with this
    /// generator's precision and choice of the input table).
    pub fn bytes_per_token(&self) -> usize {
        match &self.lowp {
            Some(l) => bytes_per_token_at(self.model, l.has_table(), l.precision()),
            None => bytes_per_token(self.model, self.table.is_some()),
        }
    }

    /// Feeds one token: updates the state and the next-token logits.
    pub fn feed(&mut self, be: &B, token: u32) -> rnngym_kernels::Result<()> {
        match &self.lowp {
            Some(l) => self.model.step_lowp(be, &mut self.ws, &[token], l)?,
            None => self
                .model
                .step_token(be, &mut self.ws, token, self.table.as_ref())?,
        }
        self.primed = true;
        Ok(())
    }

    /// Forgets the state and input features: the next token starts from zeros.
    pub fn reset(&mut self) {
        self.ws.reset_state();
        self.primed = false;
    }

    /// The cost in nats of `target` coming next, after the tokens fed so far: what
    /// [`Model::token_loss`] scores per token, from this generator's own logits (so at its
    /// precision, as generation computes them).
    pub fn token_nll(&mut self, be: &B, target: u32) -> rnngym_kernels::Result<f64> {
        let v = self.model.dims.vocab;
        if target as usize >= v {
            return Err(rnngym_kernels::KernelError::Shape(format!(
                "token_nll: target {target} is outside the vocabulary (V = {v})"
            )));
        }
        self.ws.read_logits(be, 0, &mut self.logits)?;
        let (coding, ctx) = (self.model.target_coding(), self.ws.lane_context(0));
        Ok(row_nll(coding, &self.logits, ctx, target, &mut self.nll))
    }

    /// Feeds every token of `prime` in order.
    pub fn prime(&mut self, be: &B, prime: &[u32]) -> rnngym_kernels::Result<()> {
        self.prime_with(be, prime, |_| {})
    }

    /// [`Generator::prime`], calling `progress` with the tokens fed so far after each window.
    /// A long prime runs as windows of up to [`PRIME_WINDOW`] tokens (each layer's input
    /// projection one GEMM instead of a GEMV per token; the recurrence stays one per step),
    /// the state carried into the generator; the last token is
    /// fed alone so that the next-token logits are where [`Generator::pick`] reads them.
    pub fn prime_with(
        &mut self,
        be: &B,
        prime: &[u32],
        mut progress: impl FnMut(usize),
    ) -> rnngym_kernels::Result<()> {
        let Some((&last, head)) = prime.split_last() else {
            return Ok(());
        };
        if self
            .lowp
            .as_ref()
            .is_some_and(|l| l.precision() != Precision::F32)
        {
            for (i, chunk) in prime.chunks(PRIME_WINDOW).enumerate() {
                for &t in chunk {
                    self.feed(be, t)?;
                }
                progress((i * PRIME_WINDOW + chunk.len()).min(prime.len()));
            }
            return Ok(());
        }
        let mut done = 0;
        let mut window: Option<Workspace<B>> = None;
        for chunk in head.chunks(PRIME_WINDOW) {
            let mut ws = match window.take() {
                Some(ws) if ws.t == chunk.len() => ws,
                prev => {
                    let mut ws = self.model.workspace(be, chunk.len(), 1)?;
                    let from = prev.as_ref().unwrap_or(&self.ws);
                    ws.continue_from(be, from, self.model.dims.hidden)?;
                    ws
                }
            };
            self.model
                .forward(be, &mut ws, chunk, None, &[false], Mode::Eval)?;
            done += chunk.len();
            progress(done);
            window = Some(ws);
        }
        if let Some(ws) = window {
            self.ws.continue_from(be, &ws, self.model.dims.hidden)?;
        }
        self.feed(be, last)?;
        progress(prime.len());
        Ok(())
    }

    /// Whether at least one token was fed (so the logits mean something).
    pub fn is_primed(&self) -> bool {
        self.primed
    }

    /// The logits of the next token (`[V]`), valid after a `feed`, copied from the backend.
    pub fn logits(&mut self, be: &B) -> rnngym_kernels::Result<&[f32]> {
        self.ws.read_logits(be, 0, &mut self.logits)?;
        Ok(&self.logits)
    }

    /// Picks a token from the current logits on the backend with the uniform draw `u` (only
    /// the token comes back to the host); the state is left as it is.
    pub fn pick(&self, be: &B, opts: &SampleOptions, u: f64) -> rnngym_kernels::Result<u32> {
        let mut tok = [0u32];
        let v = self.model.dims.vocab;
        be.sample_rows(&self.ws.logits, Rows::new(0, 1, v), opts, &[u], &mut tok)?;
        Ok(tok[0])
    }

    /// Samples periodic stretches colder, as LPCNet does: with the features' pitch
    /// correlation `g` of the history so far, the temperature is divided by
    /// `1 + s · max(0, 1.5 g − 0.5)` (`s` = 1 is LPCNet's rule, which halves it on a perfectly
    /// periodic signal; 0 turns it off). No effect on models without a pitch feature.
    pub fn with_pitch_sharpening(mut self, s: f32) -> Self {
        self.sharpening = s.max(0.0);
        self
    }

    /// The options of the next pick: `opts` with the pitch sharpening applied.
    pub fn step_options(&self, opts: &SampleOptions) -> SampleOptions {
        sharpened(opts, self.sharpening, self.ws.voicing(0))
    }

    /// Picks the next token (its uniform drawn from `rng`, at [`Generator::step_options`])
    /// and feeds it back.
    pub fn next(
        &mut self,
        be: &B,
        opts: &SampleOptions,
        rng: &mut impl Rng,
    ) -> rnngym_kernels::Result<u32> {
        let opts = &self.step_options(opts);
        let mut tok = self.pick(be, opts, draw(opts, rng))?;
        if let Some(coding) = self.model.target_coding() {
            // The pick is a coded id (an excitation): the token is the lane's prediction plus
            // a value drawn within the id's cell.
            tok = coding.decode(self.ws.lane_context(0), tok, rng.random::<f32>());
        }
        self.feed(be, tok)?;
        Ok(tok)
    }
}

/// Bytes of parameters a batch-1 step ([`Model::step_token`]) reads, counted over the
/// model's own layout ([`Model::infos`]): every tensor whole, except that the input comes
/// from one row per channel — of the `[V_in, G]` input table with `table` (which replaces
/// layer 0's input weights), else of the embedding (and then `weight_ih_l0` is read whole).
/// The state, the activations and the logits are not counted: only the parameters, which
/// are what a batch-1 token streams through the cache.
pub fn bytes_per_token<B: Backend>(model: &Model<B>, table: bool) -> usize {
    bytes_per_token_at(model, table, Precision::F32)
}

/// [`bytes_per_token`] when the converted tensors ([`is_converted`]) are stored at
/// `precision` (int8: with one `f32` scale per row); the table, the embedding and the biases
/// stay `f32`.
pub fn bytes_per_token_at<B: Backend>(
    model: &Model<B>,
    table: bool,
    precision: Precision,
) -> usize {
    let d = model.dims;
    let f32s = std::mem::size_of::<f32>();
    (model.infos.iter())
        .map(|p| match p.name.as_str() {
            "embed.weight" if table => d.channels * d.gates() * f32s,
            "embed.weight" => d.channels * d.embed * f32s,
            "rnn.weight_ih_l0" if table => 0,
            name if is_converted(name) => {
                let rows = p.shape.first().copied().unwrap_or(0);
                let scales = if precision == Precision::Int8 {
                    rows * f32s
                } else {
                    0
                };
                p.len() * precision.bytes() + scales
            }
            _ => p.len() * f32s,
        })
        .sum()
}

/// The converted weights a generator of `lanes` streams at `precision` steps with (`None`:
/// the f32 `gemm` path) and its `t = 1` workspace, which gathers its embeddings when the
/// converted weights have no input table.
fn step_weights<B: Backend>(
    be: &B,
    model: &Model<B>,
    lanes: usize,
    precision: Precision,
) -> rnngym_kernels::Result<(Option<LowpWeights<B>>, Workspace<B>)> {
    if precision == Precision::F32 && !be.f32_steps_through_qgemv() {
        return Ok((None, model.workspace(be, 1, lanes)?));
    }
    let lowp = model.lowp_weights(be, precision, table_fits(model))?;
    Ok((Some(lowp), model.workspace_with(be, 1, lanes, false)?))
}

/// Whether the `[V_in, G]` input table fits [`MAX_TABLE`].
fn table_fits<B: Backend>(model: &Model<B>) -> bool {
    let d = model.dims;
    d.inputs.saturating_mul(d.gates()) <= MAX_TABLE
}

/// `opts` with the temperature divided by `1 + s · max(0, 1.5 g − 0.5)` for a history of
/// voicing `g` (see [`Generator::with_pitch_sharpening`]).
fn sharpened(opts: &SampleOptions, s: f32, g: f32) -> SampleOptions {
    let c = 1.0 + s * (1.5 * g - 0.5).max(0.0);
    SampleOptions {
        temperature: opts.temperature / c,
        ..*opts
    }
}

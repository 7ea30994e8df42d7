//! [`Workspace`]: the activations, gradients and carried recurrent state of one window shape,
//! allocated once from its [`WorkspacePlan`]; reading and restoring the carried state; the
//! lane-major → time-major copy of a window's tokens.

use rnngym_gyms::FeatureLane;
use rnngym_kernels::{Backend, KernelError, Rows};

use super::{KResult, Model, ModelDims};
use crate::cell::LayerBufs;
use crate::plan::{to_usize, WorkspacePlan};

/// Activations, gradients and the carried recurrent state for one window shape `[T, B]`.
pub struct Workspace<B: Backend> {
    /// T: time steps.
    pub t: usize,
    /// B: lanes.
    pub b: usize,
    /// `[T·B]` token ids of the window, time-major.
    pub(super) ids: B::IBuf,
    /// `[T·B]` target ids, time-major.
    pub(super) targets: B::IBuf,
    /// `[T·B, E]` gathered embeddings (empty with the embedding table).
    pub(super) x0: B::Buf,
    /// `[T·B, E]` their gradient (empty with the embedding table).
    pub(super) dx0: B::Buf,
    /// Per-layer buffers.
    pub layers: Vec<LayerBufs<B>>,
    /// `[T + 1, B, H]` gradient w.r.t. the hidden states of the layer being back-propagated.
    /// One buffer serves every layer: the top layer's backward consumes it, then its input
    /// gradient is written over it for the layer below (preset L: 13 MB for each layer after the
    /// first).
    pub dhs: B::Buf,
    /// `[T·B, V]` logits of the last forward.
    pub logits: B::Buf,
    /// `[T·B, V]` gradient of the loss w.r.t. the logits (training forwards only).
    pub(super) d_logits: B::Buf,
    /// Slot T of the state buffers holds a state to carry into the next window.
    pub(super) has_state: bool,
    /// Host staging for the time-major ids.
    pub(super) host_ids: Vec<u32>,
    /// Layer 0 works on the `[V, G]` embedding projection table (V < T·B).
    pub(super) embed_table: bool,
    /// The input features' state of each lane (empty without features).
    lanes: Vec<Box<dyn FeatureLane>>,
    /// `[T·B]` time-major: each step's lane context for coding its target
    /// ([`rnngym_gyms::FeatureLane::target_context`]; empty without features).
    pub(super) contexts: Vec<f32>,
    /// Each feature channel's first row in the embedding table.
    bases: Vec<u32>,
    /// Batch-1 steps with the input table and feature channels: the `[G]` sum of the step's C
    /// table rows (made on first use).
    pub(super) table_scratch: Option<B::Buf>,
}

impl<B: Backend> Model<B> {
    /// Allocates a workspace for windows of `t` steps × `b` lanes. Layer 0 projects the V
    /// embedding rows instead of the T·B input rows when that is less work (V < T·B; see
    /// `cell::input_projection`).
    pub fn workspace(&self, be: &B, t: usize, b: usize) -> KResult<Workspace<B>> {
        self.workspace_with(be, t, b, WorkspacePlan::embed_table_pays(&self.dims, t, b))
    }

    /// [`Model::workspace`] with the layer-0 embedding-table path chosen explicitly (tests
    /// compare the two paths).
    pub fn workspace_with(
        &self,
        be: &B,
        t: usize,
        b: usize,
        embed_table: bool,
    ) -> KResult<Workspace<B>> {
        let plan = WorkspacePlan::new(&self.dims, t, b, self.dropout > 0.0, embed_table);
        let layers = (0..self.dims.layers)
            .map(|l| LayerBufs::new(be, &plan.layer(l)))
            .collect::<KResult<Vec<_>>>()?;
        let ids = |n: u128, what: &str| be.zeros_ids(to_usize(n, what)?);
        let zeros = |n: u128, what: &str| be.zeros(to_usize(n, what)?);
        Ok(Workspace {
            embed_table,
            t,
            b,
            ids: ids(plan.ids, "token ids")?,
            targets: ids(plan.targets, "target ids")?,
            x0: zeros(plan.x0, "embeddings")?,
            dx0: zeros(plan.dx0, "embedding gradient")?,
            layers,
            dhs: zeros(plan.dhs, "hidden-state gradient")?,
            logits: zeros(plan.logits, "logits")?,
            d_logits: zeros(plan.d_logits, "logit gradient")?,
            has_state: false,
            host_ids: vec![0; to_usize(plan.ids, "token ids")?],
            lanes: match &self.features {
                Some(f) => (0..b).map(|_| f.lane()).collect(),
                None => Vec::new(),
            },
            contexts: match &self.features {
                Some(_) => vec![0.0; t * b],
                None => Vec::new(),
            },
            table_scratch: None,
            bases: (self.input_blocks().iter().skip(1))
                .map(|&(base, _)| base as u32)
                .collect(),
        })
    }

    /// Moves the final state of the previous window into slot 0 and zeroes reset lanes (every
    /// lane when there is no state to carry), one `fill_rows` per buffer.
    pub(super) fn carry_state(&self, be: &B, ws: &mut Workspace<B>, reset: &[bool]) -> KResult<()> {
        let (t, b, h) = (ws.t, ws.b, self.dims.hidden);
        let carry = ws.has_state;
        // Generation carries every lane every token: nothing to zero, nothing to allocate.
        let zero: Vec<bool> = if carry && !reset.contains(&true) {
            Vec::new()
        } else {
            (0..b)
                .map(|i| !carry || reset.get(i).copied().unwrap_or(false))
                .collect()
        };
        let slot0 = Rows::new(0, b, h);
        for lb in &mut ws.layers {
            if carry {
                be.copy_within(&mut lb.hs, t * b * h, 0, b * h)?;
                if lb.cell.has_cell_state() {
                    be.copy_within(&mut lb.cs, t * b * h, 0, b * h)?;
                }
            }
            if zero.is_empty() {
                continue;
            }
            be.fill_rows(&mut lb.hs, slot0, &zero, 0.0)?;
            if lb.cell.has_cell_state() {
                be.fill_rows(&mut lb.cs, slot0, &zero, 0.0)?;
            }
        }
        Ok(())
    }
}

impl<B: Backend> Workspace<B> {
    /// Forgets the carried state: the next forward starts from zeros.
    pub fn reset_state(&mut self) {
        self.has_state = false;
    }

    /// The carried state per layer: `(h, c)` as `[B, H]` each (`c` empty for GRU / RNN).
    pub fn read_state(&self, be: &B, hidden: usize) -> KResult<Vec<(Vec<f32>, Vec<f32>)>> {
        let n = self.b * hidden;
        let slot = if self.has_state { self.t * n } else { 0 };
        self.layers
            .iter()
            .map(|lb| {
                let mut h = vec![0.0; n];
                be.read(&lb.hs, slot, &mut h)?;
                let mut c = vec![0.0; if lb.cell.has_cell_state() { n } else { 0 }];
                if !c.is_empty() {
                    be.read(&lb.cs, slot, &mut c)?;
                }
                Ok((h, c))
            })
            .collect()
    }

    /// Restores a state saved by [`Workspace::read_state`] (the next forward carries it).
    pub fn write_state(&mut self, be: &B, state: &[(Vec<f32>, Vec<f32>)]) -> KResult<()> {
        let slot = self.t * self.b * state.first().map_or(0, |s| s.0.len() / self.b.max(1));
        for (lb, (h, c)) in self.layers.iter_mut().zip(state) {
            be.write(&mut lb.hs, slot, h)?;
            if !c.is_empty() {
                be.write(&mut lb.cs, slot, c)?;
            }
        }
        self.has_state = true;
        Ok(())
    }

    /// Fills `host_ids` with a lane-major `[B, T]` window's input ids, time-major with the C
    /// channels of a step side by side (`[T, B, C]`): the token, then each feature channel's id
    /// offset past the rows of the channels before it. A lane starts its features afresh
    /// where its recurrent state starts from zeros (no carried state, or `reset`). A one-step
    /// window's lanes go through [`Backend::for_each_lane`] (generation: `be` may share them
    /// with a thread that waits between its products).
    pub(super) fn encode_inputs(
        &mut self,
        be: &B,
        dims: &ModelDims,
        src: &[u32],
        reset: &[bool],
    ) -> KResult<()> {
        let (t, b, c) = (self.t, self.b, dims.channels);
        if c == 1 {
            return to_time_major(src, t, b, dims.vocab, &mut self.host_ids);
        }
        if self.lanes.len() != b {
            return Err(KernelError::Shape(format!(
                "the model has {c} input channels but no input features were set"
            )));
        }
        if src.len() != t * b {
            return Err(KernelError::Shape(format!(
                "window has {} tokens, expected B×T = {b}×{t}",
                src.len()
            )));
        }
        // Checked before any lane moves, so a bad window leaves the features as they were.
        if let Some(i) = src.iter().position(|&tok| tok as usize >= dims.vocab) {
            return Err(KernelError::Shape(format!(
                "token {} at lane {}, step {} is outside the vocabulary (V = {})",
                src[i],
                i / t,
                i % t,
                dims.vocab
            )));
        }
        let fresh = |lane: usize| !self.has_state || reset.get(lane).copied().unwrap_or(false);
        let bases = &self.bases;
        if t == 1 {
            // Each lane's ids and context are rows of its own: the lanes are independent.
            let rows = self.host_ids.chunks_exact_mut(c).zip(&mut self.contexts);
            let mut lanes: Vec<_> = self.lanes.iter_mut().zip(rows).collect();
            be.for_each_lane(&mut lanes, &|lane, (state, (ids, context))| {
                if fresh(lane) {
                    state.reset();
                }
                **context = push_step(state.as_mut(), src[lane], bases, ids);
            });
            return Ok(());
        }
        let mut ids = vec![0; c];
        for (lane, state) in self.lanes.iter_mut().enumerate() {
            if fresh(lane) {
                state.reset();
            }
            for step in 0..t {
                let row = (step * b + lane) * c;
                let context = push_step(state.as_mut(), src[lane * t + step], bases, &mut ids);
                self.host_ids[row..row + c].copy_from_slice(&ids);
                self.contexts[step * b + lane] = context;
            }
        }
        Ok(())
    }

    /// Lane `lane`'s target context now (after its last input; 0 without features).
    pub fn lane_context(&self, lane: usize) -> f32 {
        self.lanes.get(lane).map_or(0.0, |l| l.target_context())
    }

    /// Takes over `other`'s carried state, recurrent and input features (a workspace of
    /// another window length continuing the same lanes).
    pub fn continue_from(&mut self, be: &B, other: &Workspace<B>, hidden: usize) -> KResult<()> {
        self.write_state(be, &other.read_state(be, hidden)?)?;
        self.write_features(&other.read_features())
            .map_err(KernelError::Shape)
    }

    /// How periodic lane `lane`'s recent input is ([`rnngym_gyms::FeatureLane::voicing`]; 0
    /// without features).
    pub fn voicing(&self, lane: usize) -> f32 {
        self.lanes.get(lane).map_or(0.0, |l| l.voicing())
    }

    /// The input features' state of every lane (empty without features), for checkpoints.
    pub fn read_features(&self) -> Vec<Vec<f32>> {
        self.lanes.iter().map(|l| l.save()).collect()
    }

    /// Restores states saved by [`Workspace::read_features`]; a description of what does
    /// not fit otherwise.
    pub fn write_features(&mut self, states: &[Vec<f32>]) -> Result<(), String> {
        if states.len() != self.lanes.len() {
            return Err(format!(
                "{} lanes, expected {}",
                states.len(),
                self.lanes.len()
            ));
        }
        for (lane, (l, s)) in self.lanes.iter_mut().zip(states).enumerate() {
            l.load(s).map_err(|e| format!("lane {lane}: {e}"))?;
        }
        Ok(())
    }

    /// Logits row `r` of the last forward (`[V]`), copied to the host.
    pub fn read_logits(&self, be: &B, row: usize, out: &mut [f32]) -> KResult<()> {
        be.read(&self.logits, row * out.len(), out)
    }
}

/// Lane-major `[B, T]` → time-major `[T, B]`, checking every token is below `vocab`.
pub(super) fn to_time_major(
    src: &[u32],
    t: usize,
    b: usize,
    vocab: usize,
    out: &mut [u32],
) -> KResult<()> {
    if src.len() != t * b {
        return Err(KernelError::Shape(format!(
            "window has {} tokens, expected B×T = {b}×{t}",
            src.len()
        )));
    }
    for lane in 0..b {
        for step in 0..t {
            let tok = src[lane * t + step];
            if tok as usize >= vocab {
                return Err(KernelError::Shape(format!(
                    "token {tok} at lane {lane}, step {step} is outside the vocabulary (V = {vocab})"
                )));
            }
            out[step * b + lane] = tok;
        }
    }
    Ok(())
}

/// Feeds `token` to a lane's features and writes its step's ids into `ids` (`[C]`: the token,
/// then each feature channel's id offset by its `bases` entry); returns the lane's target
/// context after it.
fn push_step(state: &mut dyn FeatureLane, token: u32, bases: &[u32], ids: &mut [u32]) -> f32 {
    ids[0] = token;
    // Zeros first: ids a lane leaves unwritten are its channel's first row, not another
    // step's leftovers.
    ids[1..].fill(0);
    state.push(token, &mut ids[1..]);
    for (id, &base) in ids[1..].iter_mut().zip(bases) {
        *id += base;
    }
    state.target_context()
}

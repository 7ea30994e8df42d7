//! Generation with reduced-precision weights ([`Precision`]): the weight matrices a step
//! multiplies by (`weight_ih_l*`, `weight_hh_l*`, `proj.weight`) converted once, the step run
//! through [`Backend::qgemv`]. The embedding, the biases, the state and every activation stay
//! `f32`, and so does layer 0's input table, computed from the converted `weight_ih_l0`.
//!
//! [`Model::round_trip_weights`] puts the same converted values into a model's `f32`
//! parameters, so `rnngym eval --precision` scores what generation at that precision computes
//! (up to summation order).

use rnngym_kernels::{Backend, CellStep, KernelError, Precision, Recurrence, Rows};

use super::{KResult, Model, ParamInfo, Workspace};
use crate::cell::LayerBufs;

/// Whether generation at reduced precision converts the tensor `name`.
pub fn is_converted(name: &str) -> bool {
    name.starts_with("rnn.weight_ih_l")
        || name.starts_with("rnn.weight_hh_l")
        || name == "proj.weight"
}

/// A model's weight matrices at one precision, for [`Model::step_lowp`].
pub struct LowpWeights<B: Backend> {
    precision: Precision,
    /// `[V_in, G]` layer-0 input projections of the converted `weight_ih_l0`, when it fits
    /// (see [`Model::input_table`]); layer 0 then has no `w_ih`.
    table: Option<B::Buf>,
    /// Whether `table`'s rows already hold layer 0's gate bias (one input channel: a step's
    /// gates are then one gathered row, see [`Model::step_lowp`]).
    table_has_bias: bool,
    w_ih: Vec<Option<B::QBuf>>,
    w_hh: Vec<B::QBuf>,
    /// Per layer, `b_ih + b_hh` (`[G]`) for cells without recurrent gates, summed once here
    /// rather than per token.
    bias: Vec<Option<B::Buf>>,
    proj: B::QBuf,
}

impl<B: Backend> LowpWeights<B> {
    /// The precision of the converted matrices.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Whether layer 0 reads its input from the table.
    pub fn has_table(&self) -> bool {
        self.table.is_some()
    }
}

impl<B: Backend> Model<B> {
    /// Replaces every converted tensor ([`is_converted`]) by its round trip through
    /// `precision` (fake quantization).
    pub fn round_trip_weights(&mut self, be: &B, precision: Precision) -> KResult<()> {
        for p in self.infos.iter().filter(|p| is_converted(&p.name)) {
            round_trip_tensor(be, &mut self.params, p, precision)?;
        }
        Ok(())
    }

    /// The converted matrices; with `table`, layer 0's input comes from a `[V_in, G]` table of
    /// the converted `weight_ih_l0` instead of a product.
    pub fn lowp_weights(
        &self,
        be: &B,
        precision: Precision,
        table: bool,
    ) -> KResult<LowpWeights<B>> {
        let q = |off: usize, rows: usize, cols: usize| {
            be.quantize(&self.params, off, rows, cols, precision)
        };
        let mut table = match (table, precision) {
            (false, _) => None,
            (true, Precision::F32) => Some(self.input_table(be)?),
            (true, _) => {
                // The table of a copy of the parameters whose weight_ih_l0 is rounded.
                let mut params = be.zeros(self.total)?;
                be.copy(&self.params, 0, &mut params, 0, self.total)?;
                let w = self.infos.iter().find(|p| p.name == "rnn.weight_ih_l0");
                if let Some(w) = w {
                    round_trip_tensor(be, &mut params, w, precision)?;
                }
                Some(self.input_table_from(be, &params)?)
            }
        };
        let mut w_ih = Vec::new();
        let mut w_hh = Vec::new();
        let mut bias = Vec::new();
        for (l, p) in self.layers.iter().enumerate() {
            w_ih.push(match (l, &table) {
                (0, Some(_)) => None,
                _ => Some(q(p.w_ih, p.gates, p.input)?),
            });
            w_hh.push(q(p.w_hh, p.gates, p.hidden)?);
            bias.push(if self.dims.cell.has_recurrent_gates() {
                None
            } else {
                let mut sum = be.zeros(p.gates)?;
                let both = Rows::new(p.b_ih, 2, p.gates);
                be.sum_rows(&self.params, both, &mut sum, 0, false)?;
                Some(sum)
            });
        }
        // One channel: each step's layer-0 gates are `bias + table[id]`, so add the bias here,
        // once (the same single f32 addition as adding it per step).
        let table_has_bias = table.is_some() && self.dims.channels == 1;
        if let (Some(t), true) = (&mut table, table_has_bias) {
            let g = self.layers[0].gates;
            let mut b0 = vec![0.0; g];
            match &bias[0] {
                Some(sum) => be.read(sum, 0, &mut b0)?,
                None => be.read(&self.params, self.layers[0].b_ih, &mut b0)?,
            }
            let mut rows = vec![0.0; be.len(t)];
            be.read(t, 0, &mut rows)?;
            for row in rows.chunks_exact_mut(g) {
                row.iter_mut().zip(&b0).for_each(|(v, &b)| *v += b);
            }
            be.write(t, 0, &rows)?;
        }
        Ok(LowpWeights {
            precision,
            table,
            table_has_bias,
            w_ih,
            w_hh,
            bias,
            proj: q(self.proj_off, self.dims.vocab, self.dims.hidden)?,
        })
    }

    /// One step (`t = 1`) of every lane of `ws` with the weights of `lw`: `tokens[b]` in, the
    /// next-token logits of each lane into the workspace, the state carried. The workspace
    /// must gather its embeddings (made with `embed_table = false`) when `lw` has no table.
    pub fn step_lowp(
        &self,
        be: &B,
        ws: &mut Workspace<B>,
        tokens: &[u32],
        lw: &LowpWeights<B>,
    ) -> KResult<()> {
        let (b, d) = (ws.b, self.dims);
        if ws.t != 1 || tokens.len() != b {
            return Err(KernelError::Shape(format!(
                "step_lowp needs a t = 1 workspace and one token per lane, got t={} with {} tokens for {b} lanes",
                ws.t,
                tokens.len()
            )));
        }
        let (c, g) = (d.channels, d.gates());
        // A carried state stays where the last step left it (slot 1) and each layer updates it
        // in place; only the first step takes the zeros `carry_state` puts in slot 0 (no lane
        // is reset: an empty list, nothing to allocate per token).
        if !ws.has_state {
            self.carry_state(be, ws, &[])?;
        }
        ws.encode_inputs(be, &d, tokens, &[])?;
        be.write_ids(&mut ws.ids, &ws.host_ids)?;
        let input = match &lw.table {
            Some(table) if lw.table_has_bias => {
                // One gathered row per lane is its whole layer-0 gate input, bias included.
                be.gather_rows(table, g, &ws.ids, b, &mut ws.layers[0].gates)?;
                Layer0In::Ready
            }
            Some(table) => Layer0In::Channels(table),
            None => {
                be.gather_rows(&self.params, d.embed, &ws.ids, b * c, &mut ws.x0)?;
                Layer0In::Embedded
            }
        };
        self.layers_lowp(be, ws, input, lw)
    }

    /// Every layer's step, then the logits (see [`Model::step_lowp`]), layer 0's gate input
    /// taken from `input`, the state read from slot 1 and updated in place where one is carried
    /// (else read from slot 0).
    fn layers_lowp(
        &self,
        be: &B,
        ws: &mut Workspace<B>,
        input: Layer0In<'_, B::Buf>,
        lw: &LowpWeights<B>,
    ) -> KResult<()> {
        let (b, d) = (ws.b, self.dims);
        let h = d.hidden;
        // Where each layer's previous hidden (and cell) state is.
        let h_prev = if ws.has_state { b * h } else { 0 };
        for (l, p) in self.layers.iter().enumerate() {
            let (below, rest) = ws.layers.split_at_mut(l);
            let lb: &mut LayerBufs<B> = &mut rest[0];
            let g = p.gates;
            // Layer 0's gates may hold their bias and input already.
            let ready = l == 0 && matches!(input, Layer0In::Ready);
            match &lw.bias[l] {
                Some(_) if ready => {}
                Some(bias) => be.broadcast_rows(bias, 0, &mut lb.gates, 0, b, g)?,
                None => {
                    // The two biases stay apart: b_hn sits inside r · (W_hn h + b_hn).
                    if !ready {
                        be.broadcast_rows(&self.params, p.b_ih, &mut lb.gates, 0, b, g)?;
                    }
                    be.broadcast_rows(&self.params, p.b_hh, &mut lb.gh, 0, b, g)?;
                }
            }
            // Above layer 0, a cell whose recurrent product goes into the gates (LSTM, RNN)
            // takes both products in one call (see `Backend::qgemv_pair`).
            let paired = !below.is_empty() && !lb.cell.has_recurrent_gates();
            match (below.last(), &lw.w_ih[l], &input) {
                (None, None, Layer0In::Ready) => {}
                (None, None, Layer0In::Channels(table)) => {
                    // Each lane's C table rows, summed: layer 0's input projection.
                    let c = d.channels;
                    be.gather_sum_rows(table, g, &ws.ids, c, b, &mut lb.gates, true)?;
                }
                (None, Some(w), Layer0In::Embedded) => {
                    be.qgemv(w, b, &ws.x0, 0, &mut lb.gates, 0, true)?
                }
                (Some(prev), Some(w), _) if paired => {
                    let (x, rec) = ((w, &prev.hs, b * h), (&lw.w_hh[l], &lb.hs, h_prev));
                    be.qgemv_pair(x, rec, b, &mut lb.gates, 0, true)?
                }
                (Some(prev), Some(w), _) => {
                    be.qgemv(w, b, &prev.hs, b * h, &mut lb.gates, 0, true)?
                }
                _ => {
                    return Err(KernelError::Shape(
                        "step_lowp: layer 0's input and the converted weights disagree".into(),
                    ))
                }
            }
            if !paired {
                let rec = if lb.cell.has_recurrent_gates() {
                    &mut lb.gh
                } else {
                    &mut lb.gates
                };
                be.qgemv(&lw.w_hh[l], b, &lb.hs, h_prev, rec, 0, true)?;
            }
            let r = Recurrence {
                cell: lb.cell,
                t: 1,
                b,
                h,
                w_hh: p.w_hh,
            };
            // With a carried state prev == next: the cells update it in place (nothing copied).
            let step = CellStep {
                prev: h_prev,
                ..r.step(0)
            };
            be.cell_forward(&step, &mut lb.state(&mut ws.dhs))?;
        }
        ws.has_state = true;
        let top = &ws.layers[d.layers - 1];
        let v = d.vocab;
        be.broadcast_rows(&self.params, self.proj_b_off, &mut ws.logits, 0, b, v)?;
        be.qgemv(&lw.proj, b, &top.hs, b * h, &mut ws.logits, 0, true)
    }
}

/// Where a step's layer-0 gate input comes from (see [`Model::step_lowp`]).
enum Layer0In<'a, Buf> {
    /// Already in the gates, bias included (gathered from a table holding the bias).
    Ready,
    /// The `[V_in, G]` table whose C rows of a lane's step (ids in the workspace) sum to its
    /// projected input, to add to the bias.
    Channels(&'a Buf),
    /// The gathered embeddings in the workspace's `x0`, to multiply by `weight_ih_l0`.
    Embedded,
}

/// Replaces the tensor `p` of `params` by its round trip through `precision`.
fn round_trip_tensor<B: Backend>(
    be: &B,
    params: &mut B::Buf,
    p: &ParamInfo,
    precision: Precision,
) -> KResult<()> {
    let mut host = vec![0.0; p.len()];
    be.read(params, p.off, &mut host)?;
    precision.round_trip(&mut host, p.shape.last().copied().unwrap_or(1));
    be.write(params, p.off, &host)
}

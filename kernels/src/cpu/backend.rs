//! `CpuBackend`: the `Backend` trait on host memory (`Vec<f32>`), checking every operand range
//! before handing exact-size slices to the fast kernels in `gemm`, `cells` and `ops`.

use std::sync::{Arc, OnceLock};

use super::check::{self, shape_err, span, split_src_dst};
use super::spin::Helper;
use super::{cells, gemm, memory, ops, window};
use crate::check_cells;
use crate::{
    AdamStep, Backend, CellDims, Gemm, LayerState, Recurrence, Result, RmsPropStep, SampleOptions,
};

/// The CPU backend: host `Vec` buffers, GEMMs through the `gemm` crate.
#[derive(Clone, Debug)]
pub struct CpuBackend {
    threads: usize,
    /// The hot second thread for batch-1 products, started on first use (clones share it).
    spin: Arc<OnceLock<Option<Helper>>>,
}

impl CpuBackend {
    /// A backend using `threads` threads for large GEMMs; 0 means all available cores.
    pub fn new(threads: usize) -> Self {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        CpuBackend {
            threads,
            spin: Arc::default(),
        }
    }

    /// The hot helper thread, when this backend may use a second thread.
    fn spin(&self) -> Option<&Helper> {
        if self.threads < 2 {
            return None;
        }
        self.spin.get_or_init(Helper::start).as_ref()
    }

    /// Rows for the first thread when a pointwise cell step is worth splitting across two
    /// threads (B·H ≥ 2¹⁵, e.g. preset L's 64×512; below that the join costs more than it
    /// saves), else `None`.
    fn row_split(&self, d: CellDims) -> Option<usize> {
        (self.threads > 1 && d.b >= 2 && d.b * d.h >= 1 << 15).then_some(d.b / 2)
    }

    /// Number of threads large GEMMs may use.
    pub fn threads(&self) -> usize {
        self.threads
    }
}

impl Default for CpuBackend {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Backend for CpuBackend {
    type Buf = Vec<f32>;
    type IBuf = Vec<u32>;

    fn name(&self) -> String {
        format!("cpu ({} threads)", self.threads)
    }

    fn memory_available(&self) -> Option<u64> {
        memory::available_bytes()
    }

    fn zeros(&self, n: usize) -> Result<Vec<f32>> {
        memory::zeroed(n)
    }

    fn upload(&self, data: &[f32]) -> Result<Vec<f32>> {
        let mut v = memory::zeroed(data.len())?;
        v.copy_from_slice(data);
        Ok(v)
    }

    fn write(&self, buf: &mut Vec<f32>, off: usize, data: &[f32]) -> Result<()> {
        span("write", buf.len(), off, data.len())?;
        buf[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn read(&self, buf: &Vec<f32>, off: usize, out: &mut [f32]) -> Result<()> {
        span("read", buf.len(), off, out.len())?;
        out.copy_from_slice(&buf[off..off + out.len()]);
        Ok(())
    }

    fn len(&self, buf: &Vec<f32>) -> usize {
        buf.len()
    }

    fn zeros_ids(&self, n: usize) -> Result<Vec<u32>> {
        memory::zeroed(n)
    }

    fn write_ids(&self, buf: &mut Vec<u32>, ids: &[u32]) -> Result<()> {
        span("write_ids", buf.len(), 0, ids.len())?;
        buf[..ids.len()].copy_from_slice(ids);
        Ok(())
    }

    fn fill(&self, buf: &mut Vec<f32>, off: usize, n: usize, value: f32) -> Result<()> {
        span("fill", buf.len(), off, n)?;
        buf[off..off + n].fill(value);
        Ok(())
    }

    fn copy(
        &self,
        src: &Vec<f32>,
        src_off: usize,
        dst: &mut Vec<f32>,
        dst_off: usize,
        n: usize,
    ) -> Result<()> {
        span("copy src", src.len(), src_off, n)?;
        span("copy dst", dst.len(), dst_off, n)?;
        dst[dst_off..dst_off + n].copy_from_slice(&src[src_off..src_off + n]);
        Ok(())
    }

    fn copy_within(
        &self,
        buf: &mut Vec<f32>,
        src_off: usize,
        dst_off: usize,
        n: usize,
    ) -> Result<()> {
        span("copy_within src", buf.len(), src_off, n)?;
        span("copy_within dst", buf.len(), dst_off, n)?;
        if !check::disjoint(src_off, dst_off, n) {
            return shape_err(format!(
                "copy_within: ranges at {src_off} and {dst_off} of {n} elements overlap"
            ));
        }
        buf.copy_within(src_off..src_off + n, dst_off);
        Ok(())
    }

    fn gemm(&self, g: &Gemm, a: &Vec<f32>, b: &Vec<f32>, c: &mut Vec<f32>) -> Result<()> {
        // Only batch-1 products use the helper: do not start its thread for anything else.
        let spin = if g.m == 1 { self.spin() } else { None };
        gemm::gemm(g, self.threads, spin, a, b, c)
    }

    fn broadcast_rows(
        &self,
        bias: &Vec<f32>,
        bias_off: usize,
        out: &mut Vec<f32>,
        off: usize,
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        ops::broadcast_rows(bias, bias_off, out, off, rows, cols)
    }

    fn sum_rows(
        &self,
        src: &Vec<f32>,
        src_off: usize,
        rows: usize,
        cols: usize,
        dst: &mut Vec<f32>,
        dst_off: usize,
        accumulate: bool,
    ) -> Result<()> {
        ops::sum_rows(src, src_off, rows, cols, dst, dst_off, accumulate)
    }

    fn mul_assign(
        &self,
        a: &mut Vec<f32>,
        a_off: usize,
        b: &Vec<f32>,
        b_off: usize,
        n: usize,
    ) -> Result<()> {
        span("mul_assign a", a.len(), a_off, n)?;
        span("mul_assign b", b.len(), b_off, n)?;
        let b = &b[b_off..b_off + n];
        a[a_off..a_off + n]
            .iter_mut()
            .zip(b)
            .for_each(|(x, &y)| *x *= y);
        Ok(())
    }

    fn scale(&self, buf: &mut Vec<f32>, off: usize, n: usize, s: f32) -> Result<()> {
        span("scale", buf.len(), off, n)?;
        buf[off..off + n].iter_mut().for_each(|x| *x *= s);
        Ok(())
    }

    fn sum_squares(&self, buf: &Vec<f32>, off: usize, n: usize) -> Result<f64> {
        ops::sum_squares(buf, off, n)
    }

    fn gather_rows(
        &self,
        table: &Vec<f32>,
        cols: usize,
        ids: &Vec<u32>,
        ids_n: usize,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        ops::gather_rows(table, cols, ids, ids_n, out)
    }

    fn scatter_add_rows(
        &self,
        src: &Vec<f32>,
        cols: usize,
        ids: &Vec<u32>,
        ids_n: usize,
        d_table: &mut Vec<f32>,
        table_off: usize,
    ) -> Result<()> {
        ops::scatter_add_rows(src, cols, ids, ids_n, d_table, table_off)
    }

    fn lstm_fwd(
        &self,
        d: CellDims,
        gates: &mut Vec<f32>,
        g_off: usize,
        cs: &mut Vec<f32>,
        c_prev_off: usize,
        c_off: usize,
        hs: &mut Vec<f32>,
        h_off: usize,
    ) -> Result<()> {
        let (ng, nh) = check_cells::lstm_fwd(
            d,
            gates.len(),
            g_off,
            cs.len(),
            c_prev_off,
            c_off,
            hs.len(),
            h_off,
        )?;
        // The kernel updates c in place; a separate c_prev is copied in first (B·H floats,
        // negligible next to the GEMM) so one kernel serves both layouts.
        if c_prev_off != c_off {
            cs.copy_within(c_prev_off..c_prev_off + nh, c_off);
        }
        let (g, c, h) = (
            &mut gates[g_off..g_off + ng],
            &mut cs[c_off..c_off + nh],
            &mut hs[h_off..h_off + nh],
        );
        match self.row_split(d) {
            // Rows are independent: each thread takes half of the batch.
            Some(half) => {
                let (g0, g1) = g.split_at_mut(half * 4 * d.h);
                let (c0, c1) = c.split_at_mut(half * d.h);
                let (h0, h1) = h.split_at_mut(half * d.h);
                rayon::join(
                    || cells::lstm_fwd(d.h, g0, c0, h0),
                    || cells::lstm_fwd(d.h, g1, c1, h1),
                );
            }
            None => cells::lstm_fwd(d.h, g, c, h),
        }
        Ok(())
    }

    fn lstm_bwd(
        &self,
        d: CellDims,
        gates: &mut Vec<f32>,
        g_off: usize,
        cs: &Vec<f32>,
        c_prev_off: usize,
        c_off: usize,
        dhs: &Vec<f32>,
        dh_off: usize,
        dc: &mut Vec<f32>,
    ) -> Result<()> {
        let (ng, nh) = check_cells::lstm_bwd(
            d,
            gates.len(),
            g_off,
            cs.len(),
            c_prev_off,
            c_off,
            dhs.len(),
            dh_off,
            dc.len(),
        )?;
        let (g, cp, c, dh, dc) = (
            &mut gates[g_off..g_off + ng],
            &cs[c_prev_off..c_prev_off + nh],
            &cs[c_off..c_off + nh],
            &dhs[dh_off..dh_off + nh],
            &mut dc[..nh],
        );
        match self.row_split(d) {
            Some(half) => {
                let (g0, g1) = g.split_at_mut(half * 4 * d.h);
                let n0 = half * d.h;
                let (dc0, dc1) = dc.split_at_mut(n0);
                rayon::join(
                    || cells::lstm_bwd(d.h, g0, &cp[..n0], &c[..n0], &dh[..n0], dc0),
                    || cells::lstm_bwd(d.h, g1, &cp[n0..], &c[n0..], &dh[n0..], dc1),
                );
            }
            None => cells::lstm_bwd(d.h, g, cp, c, dh, dc),
        }
        Ok(())
    }

    fn gru_fwd(
        &self,
        d: CellDims,
        gx: &mut Vec<f32>,
        gx_off: usize,
        gh: &Vec<f32>,
        gh_off: usize,
        hs: &mut Vec<f32>,
        h_prev_off: usize,
        h_off: usize,
    ) -> Result<()> {
        let (ng, nh) = check_cells::gru_fwd(
            d,
            gx.len(),
            gx_off,
            gh.len(),
            gh_off,
            hs.len(),
            h_prev_off,
            h_off,
        )?;
        // As in lstm_fwd: the kernel updates h in place from h_prev.
        if h_prev_off != h_off {
            hs.copy_within(h_prev_off..h_prev_off + nh, h_off);
        }
        let (gx, gh) = (&mut gx[gx_off..gx_off + ng], &gh[gh_off..gh_off + ng]);
        cells::gru_fwd(d.h, gx, gh, &mut hs[h_off..h_off + nh]);
        Ok(())
    }

    fn gru_bwd(
        &self,
        d: CellDims,
        gx: &mut Vec<f32>,
        gx_off: usize,
        gh: &mut Vec<f32>,
        gh_off: usize,
        hs: &Vec<f32>,
        h_prev_off: usize,
        dhs: &mut Vec<f32>,
        dh_off: usize,
        dh_prev_off: usize,
    ) -> Result<()> {
        let (ng, nh) = check_cells::gru_bwd(
            d,
            gx.len(),
            gx_off,
            gh.len(),
            gh_off,
            hs.len(),
            h_prev_off,
            dhs.len(),
            dh_off,
            dh_prev_off,
        )?;
        let (dh, dh_prev) = split_src_dst(dhs, dh_off, dh_prev_off, nh);
        let (gx, gh) = (&mut gx[gx_off..gx_off + ng], &mut gh[gh_off..gh_off + ng]);
        cells::gru_bwd(d.h, gx, gh, &hs[h_prev_off..h_prev_off + nh], dh, dh_prev);
        Ok(())
    }

    fn recurrent_forward(
        &self,
        r: &Recurrence,
        params: &Vec<f32>,
        s: LayerState<'_, Vec<f32>>,
    ) -> Result<()> {
        window::forward(self, r, params, s)
    }

    fn recurrent_backward(
        &self,
        r: &Recurrence,
        params: &Vec<f32>,
        s: LayerState<'_, Vec<f32>>,
    ) -> Result<()> {
        window::backward(self, r, params, s)
    }

    fn rnn_fwd(
        &self,
        d: CellDims,
        gates: &mut Vec<f32>,
        g_off: usize,
        hs: &mut Vec<f32>,
        h_off: usize,
    ) -> Result<()> {
        let n = check_cells::rnn_fwd(d, gates.len(), g_off, hs.len(), h_off)?;
        cells::rnn_fwd(&mut gates[g_off..g_off + n], &mut hs[h_off..h_off + n]);
        Ok(())
    }

    fn rnn_bwd(
        &self,
        d: CellDims,
        gates: &mut Vec<f32>,
        g_off: usize,
        dhs: &Vec<f32>,
        dh_off: usize,
    ) -> Result<()> {
        let n = check_cells::rnn_bwd(d, gates.len(), g_off, dhs.len(), dh_off)?;
        cells::rnn_bwd(&mut gates[g_off..g_off + n], &dhs[dh_off..dh_off + n]);
        Ok(())
    }

    fn softmax_xent(
        &self,
        logits: &Vec<f32>,
        rows: usize,
        cols: usize,
        targets: &Vec<u32>,
        d_logits: Option<&mut Vec<f32>>,
        grad_scale: f32,
    ) -> Result<f64> {
        ops::softmax_xent(
            logits,
            rows,
            cols,
            targets,
            d_logits.map(|d| d.as_mut_slice()),
            grad_scale,
        )
    }

    fn sample_rows(
        &self,
        logits: &Vec<f32>,
        off: usize,
        rows: usize,
        cols: usize,
        opts: &SampleOptions,
        uniforms: &[f64],
        out: &mut [u32],
    ) -> Result<()> {
        if !crate::sample::check_rows(logits.len(), off, rows, cols, uniforms, out)? {
            return Ok(());
        }
        // The logits are already on the host: pick straight from them, without the copy.
        let rows_data = logits[off..off + rows * cols].chunks_exact(cols);
        for ((row, &u), o) in rows_data.zip(uniforms).zip(out) {
            *o = crate::sample::pick_local(row, opts, u);
        }
        Ok(())
    }

    fn dropout(
        &self,
        x: &mut Vec<f32>,
        x_off: usize,
        mask: &mut Vec<f32>,
        n: usize,
        p: f32,
        seed: u64,
    ) -> Result<()> {
        ops::dropout(x, x_off, mask, n, p, seed)
    }

    fn adam_step(
        &self,
        params: &mut Vec<f32>,
        grads: &Vec<f32>,
        m: &mut Vec<f32>,
        v: &mut Vec<f32>,
        n: usize,
        s: &AdamStep,
    ) -> Result<()> {
        ops::adam_step(params, grads, m, v, n, s)
    }

    fn rmsprop_step(
        &self,
        params: &mut Vec<f32>,
        grads: &Vec<f32>,
        sq: &mut Vec<f32>,
        n: usize,
        s: &RmsPropStep,
    ) -> Result<()> {
        ops::rmsprop_step(params, grads, sq, n, s)
    }
}

//! `CpuBackend`: the `Backend` trait on host memory (`Vec<f32>`), checking every operand range
//! before handing exact-size slices to the fast kernels in `gemm`, `cells` and `ops`.

use std::sync::{Arc, OnceLock};

use super::check::{self, shape_err, span};
use super::lowp::QWeights;
use super::spin::{join_halves, Helper};
use super::{gemm, lowp, memory, ops, step, window};
use crate::operands;
use crate::{
    AdamStep, Backend, CellStep, Gemm, LayerState, Precision, Recurrence, Result, RmsPropStep,
    Rows, SampleOptions,
};

/// Fewest elements of a row copy (`gather_rows`, `broadcast_rows`) split with the hot helper:
/// below about this the hand-off costs more than half the copy.
const SPLIT_MIN: usize = 32 * 1024;

/// Fewest rows of a `sample_rows` split with the hot helper (a pick is a softmax of its row).
const SPLIT_MIN_PICKS: usize = 8;

/// Lanes from which a step's per-lane host work ([`Backend::for_each_lane`]) and picks with
/// options of their own ([`Backend::sample_rows_each`], a few hundred logits each with an
/// `exp` apiece) are shared with the hot helper.
const SPLIT_MIN_LANES: usize = 2;

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

    /// Runs `f(r0, part)` over the rows of `out` (`len` elements each, `r0` the part's first
    /// row): whole, or when `split` in two halves, the second on the hot helper — only if a
    /// generation step already started it (the per-step row copies and picks of many streams
    /// then share the helper's idle time; nothing else wakes it).
    fn row_halves<T: Send>(
        &self,
        out: &mut [T],
        len: usize,
        split: bool,
        f: impl Fn(usize, &mut [T]) + Sync,
    ) {
        let rows = out.len().checked_div(len).unwrap_or(0);
        match self.running_helper() {
            Some(h) if split && rows >= 2 => {
                let mid = rows / 2;
                let (a, b) = out.split_at_mut(mid * len);
                join_halves(Some(h), a, b, |a| f(0, a), |b| f(mid, b));
            }
            _ => f(0, out),
        }
    }

    /// The hot helper thread if it runs already (a batch-1 product started it: generation);
    /// unlike [`CpuBackend::spin`], never starts it.
    pub(crate) fn running_helper(&self) -> Option<&Helper> {
        self.spin.get().and_then(Option::as_ref)
    }

    /// The hot helper thread, when this backend may use a second thread.
    pub(crate) fn spin(&self) -> Option<&Helper> {
        if self.threads < 2 {
            return None;
        }
        self.spin.get_or_init(Helper::start).as_ref()
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
    type QBuf = QWeights;

    fn name(&self) -> String {
        format!("cpu ({} threads)", self.threads)
    }

    fn memory_available(&self) -> Option<u64> {
        memory::available_bytes()
    }

    fn f32_steps_through_qgemv(&self) -> bool {
        true
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
        ops::broadcast_rows(bias, bias_off, out, off, rows, cols, |o, c, f| {
            self.row_halves(o, c, o.len() >= SPLIT_MIN, f)
        })
    }

    fn sum_rows(
        &self,
        src: &Vec<f32>,
        block: Rows,
        dst: &mut Vec<f32>,
        dst_off: usize,
        accumulate: bool,
    ) -> Result<()> {
        ops::sum_rows(src, block, dst, dst_off, accumulate)
    }

    fn mul_assign(
        &self,
        a: &mut Vec<f32>,
        a_off: usize,
        b: &Vec<f32>,
        b_off: usize,
        n: usize,
    ) -> Result<()> {
        operands::mul_assign((a.len(), a_off), (b.len(), b_off), n)?;
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
        ops::gather_rows(table, cols, ids, ids_n, out, |o, c, f| {
            self.row_halves(o, c, o.len() >= SPLIT_MIN, f)
        })
    }

    fn gather_sum_rows(
        &self,
        table: &Vec<f32>,
        cols: usize,
        ids: &Vec<u32>,
        per: usize,
        rows: usize,
        out: &mut Vec<f32>,
        accumulate: bool,
    ) -> Result<()> {
        // Split by the rows read, as a gather of the same rows would be.
        let split = |o: &mut [f32], c, f: &(dyn Fn(usize, &mut [f32]) + Sync)| {
            self.row_halves(o, c, o.len() * per >= SPLIT_MIN, f)
        };
        ops::gather_sum_rows(table, cols, ids, per, rows, out, accumulate, split)
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

    fn cell_forward(&self, c: &CellStep, s: &mut LayerState<'_, Vec<f32>>) -> Result<()> {
        step::forward(self, c, s)
    }

    fn cell_backward(&self, c: &CellStep, s: &mut LayerState<'_, Vec<f32>>) -> Result<()> {
        step::backward(self, c, s)
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
        block: Rows,
        opts: &SampleOptions,
        uniforms: &[f64],
        out: &mut [u32],
    ) -> Result<()> {
        if !crate::sample::check_rows(logits.len(), block, uniforms, out)? {
            return Ok(());
        }
        let Rows { off, rows, cols } = block;
        // The logits are already on the host: pick straight from them, without the copy.
        let logits = &logits[off..off + rows * cols];
        let split = rows >= SPLIT_MIN_PICKS;
        self.row_halves(&mut out[..rows], 1, split, |r0, out| {
            let rows_data = logits[r0 * cols..].chunks_exact(cols);
            for ((row, &u), o) in rows_data.zip(&uniforms[r0..]).zip(out) {
                *o = crate::sample::pick_local(row, opts, u);
            }
        });
        Ok(())
    }

    fn sample_rows_each(
        &self,
        logits: &Vec<f32>,
        block: Rows,
        opts: &[SampleOptions],
        uniforms: &[f64],
        out: &mut [u32],
    ) -> Result<()> {
        if opts.len() != block.rows {
            return shape_err(format!(
                "sample_rows_each: {} options for {} rows",
                opts.len(),
                block.rows
            ));
        }
        if !crate::sample::check_rows(logits.len(), block, uniforms, out)? {
            return Ok(());
        }
        let Rows { off, rows, cols } = block;
        let logits = &logits[off..off + rows * cols];
        self.row_halves(out, 1, rows >= SPLIT_MIN_LANES, |r0, out| {
            let rows_data = logits[r0 * cols..].chunks_exact(cols);
            let each = rows_data.zip(&opts[r0..]).zip(&uniforms[r0..]);
            for (((row, o), &u), t) in each.zip(out) {
                *t = crate::sample::pick_local(row, o, u);
            }
        });
        Ok(())
    }

    fn for_each_lane<T: Send>(&self, items: &mut [T], f: &(dyn Fn(usize, &mut T) + Sync)) {
        self.row_halves(items, 1, items.len() >= SPLIT_MIN_LANES, |r0, part| {
            for (i, item) in part.iter_mut().enumerate() {
                f(r0 + i, item);
            }
        });
    }

    fn quantize(
        &self,
        src: &Vec<f32>,
        off: usize,
        rows: usize,
        cols: usize,
        precision: Precision,
    ) -> Result<QWeights> {
        let n = operands::quantize(src.len(), off, rows, cols)?;
        Ok(QWeights::new(&src[off..off + n], rows, cols, precision))
    }

    fn qgemv(
        &self,
        w: &QWeights,
        m: usize,
        x: &Vec<f32>,
        x_off: usize,
        y: &mut Vec<f32>,
        y_off: usize,
        accumulate: bool,
    ) -> Result<()> {
        let (n, k) = (w.rows(), w.cols());
        operands::qgemv((x.len(), x_off), (y.len(), y_off), m, n, k)?;
        let (x, y) = (&x[x_off..x_off + m * k], &mut y[y_off..y_off + m * n]);
        let spin = self.spin();
        lowp::gemv(w, m, x, y, accumulate, self.threads, spin);
        Ok(())
    }

    fn qgemv_pair(
        &self,
        (wa, xa, xa_off): (&QWeights, &Vec<f32>, usize),
        (wb, xb, xb_off): (&QWeights, &Vec<f32>, usize),
        m: usize,
        y: &mut Vec<f32>,
        y_off: usize,
        accumulate: bool,
    ) -> Result<()> {
        let n = wa.rows();
        if m != 1 || wb.rows() != n {
            self.qgemv(wa, m, xa, xa_off, y, y_off, accumulate)?;
            return self.qgemv(wb, m, xb, xb_off, y, y_off, true);
        }
        operands::qgemv((xa.len(), xa_off), (y.len(), y_off), 1, n, wa.cols())?;
        operands::qgemv((xb.len(), xb_off), (y.len(), y_off), 1, n, wb.cols())?;
        let a = (wa, &xa[xa_off..xa_off + wa.cols()]);
        let b = (wb, &xb[xb_off..xb_off + wb.cols()]);
        let y = &mut y[y_off..y_off + n];
        lowp::gemv_pair(a, b, y, accumulate, self.threads, self.spin());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::reference;
    use rand::{Rng, SeedableRng};

    /// With the hot helper running (as while generating), a step's per-lane work, picks by
    /// options of their own and channel sums take half of the rows to the helper: the results
    /// are those of one thread.
    #[test]
    fn sharing_the_rows_with_the_helper_changes_no_result() {
        let alone = CpuBackend::new(1);
        let shared = CpuBackend::new(2);
        assert!(shared.spin().is_some() && shared.running_helper().is_some());
        let mut r = rand::rngs::StdRng::seed_from_u64(8);
        for lanes in [1usize, 2, 3, 8, 17] {
            let mut items = vec![usize::MAX; lanes];
            shared.for_each_lane(&mut items, &|i, x| *x = 3 * i + 1);
            let want: Vec<usize> = (0..lanes).map(|i| 3 * i + 1).collect();
            assert_eq!(items, want, "for_each_lane over {lanes}");

            let cols = 256;
            let logits: Vec<f32> = (0..lanes * cols)
                .map(|_| r.random_range(-4.0..4.0))
                .collect();
            let opts: Vec<SampleOptions> = (0..lanes)
                .map(|_| SampleOptions {
                    temperature: r.random_range(0.3..1.5),
                    ..SampleOptions::default()
                })
                .collect();
            let uniforms: Vec<f64> = (0..lanes).map(|_| r.random()).collect();
            let picks = |be: &CpuBackend| {
                let mut out = vec![u32::MAX; lanes];
                let block = Rows::new(0, lanes, cols);
                be.sample_rows_each(&logits, block, &opts, &uniforms, &mut out)
                    .unwrap();
                out
            };
            assert_eq!(picks(&shared), picks(&alone), "picks of {lanes}");

            // 1024-wide rows, four channels a lane: past the split threshold from 8 lanes. Values
            // with full mantissas (a range of width 2 gives multiples of 2⁻²², whose sums round
            // alike in any order).
            let (cols, per, vocab) = (1024, 4, 50);
            let mut values =
                |n: usize| -> Vec<f32> { (0..n).map(|_| r.random_range(-1.37..1.37)).collect() };
            let (table, out0) = (values(vocab * cols), values(lanes * cols));
            let ids: Vec<u32> = (0..lanes * per)
                .map(|_| r.random_range(0..vocab as u32))
                .collect();
            for accumulate in [false, true] {
                let mut want = out0.clone();
                reference::gather_sum_rows(&table, cols, &ids, per, lanes, &mut want, accumulate);
                let mut got = out0.clone();
                shared
                    .gather_sum_rows(&table, cols, &ids, per, lanes, &mut got, accumulate)
                    .unwrap();
                assert_eq!(
                    got, want,
                    "gather_sum_rows of {lanes}, accumulate {accumulate}"
                );
            }
        }
    }
}

//! `impl Backend for CudaBackend`: memory operations here, the rest delegated to `blas`,
//! `cells` and `ops`. Every operand range is checked before any device address is formed.

use cudarc::driver::result as drv;

use super::buffers::{CudaBuf, CudaIds, CudaQBuf};
use super::check::{self, shape_err, span};
use super::context::{dev_err, grid, grid2d, launch, CudaBackend};
use super::{blas, cells, embed, lowp, nccl, ops};
use crate::operands;
use crate::{
    AdamStep, Backend, CellStep, DeviceGroup, Gemm, LayerState, Precision, Result, RmsPropStep,
    Rows, SampleOptions,
};

impl CudaBackend {
    /// Device-to-device copy of `n` f32 from address `src` to `dst` on the stream.
    fn copy_raw(&self, src: u64, dst: u64, n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.bind()?;
        // SAFETY: callers checked both ranges against their buffers.
        unsafe { drv::memcpy_dtod_async(dst, src, n * 4, self.stream.cu_stream()) }
            .map_err(dev_err("copy"))
    }
}

impl Backend for CudaBackend {
    type Buf = CudaBuf;
    type IBuf = CudaIds;
    type QBuf = CudaQBuf;

    fn device_groups(&self) -> bool {
        nccl::nccl_available()
    }

    fn device_group_id(&self) -> Result<Vec<u8>> {
        nccl::new_id()
    }

    fn join_device_group(
        &self,
        id: &[u8],
        rank: usize,
        world: usize,
    ) -> Result<Box<dyn DeviceGroup<CudaBuf>>> {
        nccl::join(self, id, rank, world)
    }

    fn name(&self) -> String {
        self.device_name().to_string()
    }

    fn memory_available(&self) -> Option<u64> {
        self.ctx
            .mem_get_info()
            .ok()
            .map(|(free, _total)| free as u64)
    }

    fn zeros(&self, n: usize) -> Result<CudaBuf> {
        let slice = match n {
            0 => None,
            _ => Some(
                self.stream
                    .alloc_zeros::<f32>(n)
                    .map_err(dev_err("alloc"))?,
            ),
        };
        Ok(CudaBuf { slice })
    }

    fn upload(&self, data: &[f32]) -> Result<CudaBuf> {
        let slice = match data.len() {
            0 => None,
            _ => Some(self.stream.clone_htod(data).map_err(dev_err("upload"))?),
        };
        Ok(CudaBuf { slice })
    }

    fn write(&self, buf: &mut CudaBuf, off: usize, data: &[f32]) -> Result<()> {
        span("write", buf.len(), off, data.len())?;
        if data.is_empty() {
            return Ok(());
        }
        self.bind()?;
        let dst = buf.at(&self.stream, off);
        // SAFETY: range checked; a pageable source is staged before the call returns.
        unsafe { drv::memcpy_htod_async(dst, data, self.stream.cu_stream()) }
            .map_err(dev_err("write"))
    }

    fn read(&self, buf: &CudaBuf, off: usize, out: &mut [f32]) -> Result<()> {
        span("read", buf.len(), off, out.len())?;
        if out.is_empty() {
            return Ok(());
        }
        self.bind()?;
        let src = buf.at(&self.stream, off);
        // SAFETY: range checked; the stream is synchronized before `out` is used.
        unsafe { drv::memcpy_dtoh_async(out, src, self.stream.cu_stream()) }
            .map_err(dev_err("read"))?;
        self.synchronize()
    }

    fn len(&self, buf: &CudaBuf) -> usize {
        buf.len()
    }

    fn zeros_ids(&self, n: usize) -> Result<CudaIds> {
        let slice = match n {
            0 => None,
            _ => Some(
                self.stream
                    .alloc_zeros::<u32>(n)
                    .map_err(dev_err("alloc ids"))?,
            ),
        };
        Ok(CudaIds {
            slice,
            host: vec![0; n],
        })
    }

    fn write_ids(&self, buf: &mut CudaIds, ids: &[u32]) -> Result<()> {
        span("write_ids", buf.len(), 0, ids.len())?;
        if ids.is_empty() {
            return Ok(());
        }
        self.bind()?;
        let dst = buf.at(&self.stream);
        // SAFETY: range checked; a pageable source is staged before the call returns.
        unsafe { drv::memcpy_htod_async(dst, ids, self.stream.cu_stream()) }
            .map_err(dev_err("write_ids"))?;
        buf.host[..ids.len()].copy_from_slice(ids);
        Ok(())
    }

    fn fill(&self, buf: &mut CudaBuf, off: usize, n: usize, value: f32) -> Result<()> {
        span("fill", buf.len(), off, n)?;
        if n == 0 {
            return Ok(());
        }
        let p = buf.at(&self.stream, off);
        launch!(self, fill, grid(n), p, n as u64, value)
    }

    fn fill_rows(&self, buf: &mut CudaBuf, block: Rows, select: &[bool], value: f32) -> Result<()> {
        operands::fill_rows(buf.len(), block, select)?;
        let Rows { off, rows, cols } = block;
        if u32::try_from(rows).is_err() {
            return shape_err(format!("fill_rows: {rows} rows exceed u32 row indices"));
        }
        let sel: Vec<u32> = (0..rows as u32).filter(|&r| select[r as usize]).collect();
        if sel.is_empty() || cols == 0 {
            return Ok(());
        }
        if sel.len() == rows {
            return self.fill(buf, off, rows * cols, value);
        }
        let p = buf.at(&self.stream, off);
        // Scratch: the selected rows (u32, two per f64 slot).
        self.with_scratch(sel.len().div_ceil(2), |base| {
            self.bind()?;
            // SAFETY: `base` holds `sel.len()` u32 inside the locked scratch; a pageable
            // source is staged before the call returns.
            unsafe { drv::memcpy_htod_async(base, &sel, self.stream.cu_stream()) }
                .map_err(dev_err("fill_rows rows"))?;
            let (c, n) = (cols as u64, sel.len() as u64);
            launch!(
                self,
                fill_rows,
                grid2d(sel.len(), cols),
                p,
                c,
                base,
                n,
                value
            )
        })
    }

    fn copy(
        &self,
        src: &CudaBuf,
        src_off: usize,
        dst: &mut CudaBuf,
        dst_off: usize,
        n: usize,
    ) -> Result<()> {
        span("copy src", src.len(), src_off, n)?;
        span("copy dst", dst.len(), dst_off, n)?;
        let s = &self.stream;
        self.copy_raw(src.at(s, src_off), dst.at(s, dst_off), n)
    }

    fn copy_within(
        &self,
        buf: &mut CudaBuf,
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
        let s = &self.stream;
        self.copy_raw(buf.at(s, src_off), buf.at(s, dst_off), n)
    }

    fn gemm(&self, g: &Gemm, a: &CudaBuf, b: &CudaBuf, c: &mut CudaBuf) -> Result<()> {
        blas::gemm(self, g, a, b, c)
    }

    fn broadcast_rows(
        &self,
        bias: &CudaBuf,
        bias_off: usize,
        out: &mut CudaBuf,
        off: usize,
        rows: usize,
        cols: usize,
    ) -> Result<()> {
        ops::broadcast_rows(self, bias, bias_off, out, off, rows, cols)
    }

    fn sum_rows(
        &self,
        src: &CudaBuf,
        block: Rows,
        dst: &mut CudaBuf,
        dst_off: usize,
        accumulate: bool,
    ) -> Result<()> {
        ops::sum_rows(self, src, block, dst, dst_off, accumulate)
    }

    fn mul_assign(
        &self,
        a: &mut CudaBuf,
        a_off: usize,
        b: &CudaBuf,
        b_off: usize,
        n: usize,
    ) -> Result<()> {
        ops::mul_assign(self, a, a_off, b, b_off, n)
    }

    fn scale(&self, buf: &mut CudaBuf, off: usize, n: usize, s: f32) -> Result<()> {
        span("scale", buf.len(), off, n)?;
        if n == 0 {
            return Ok(());
        }
        let p = buf.at(&self.stream, off);
        launch!(self, scale, grid(n), p, n as u64, s)
    }

    fn sum_squares(&self, buf: &CudaBuf, off: usize, n: usize) -> Result<f64> {
        ops::sum_squares(self, buf, off, n)
    }

    fn gather_rows(
        &self,
        table: &CudaBuf,
        cols: usize,
        ids: &CudaIds,
        ids_n: usize,
        out: &mut CudaBuf,
    ) -> Result<()> {
        embed::gather_rows(self, table, cols, ids, ids_n, out)
    }

    fn gather_sum_rows(
        &self,
        table: &CudaBuf,
        cols: usize,
        ids: &CudaIds,
        per: usize,
        rows: usize,
        out: &mut CudaBuf,
        accumulate: bool,
    ) -> Result<()> {
        embed::gather_sum_rows(self, table, cols, ids, per, rows, out, accumulate)
    }

    fn scatter_add_rows(
        &self,
        src: &CudaBuf,
        cols: usize,
        ids: &CudaIds,
        ids_n: usize,
        d_table: &mut CudaBuf,
        table_off: usize,
    ) -> Result<()> {
        embed::scatter_add_rows(self, src, cols, ids, ids_n, d_table, table_off)
    }

    fn cell_forward(&self, c: &CellStep, s: &mut LayerState<'_, CudaBuf>) -> Result<()> {
        cells::forward(self, c, s)
    }

    fn cell_backward(&self, c: &CellStep, s: &mut LayerState<'_, CudaBuf>) -> Result<()> {
        cells::backward(self, c, s)
    }

    fn softmax_xent(
        &self,
        logits: &CudaBuf,
        rows: usize,
        cols: usize,
        targets: &CudaIds,
        d_logits: Option<&mut CudaBuf>,
        grad_scale: f32,
    ) -> Result<f64> {
        ops::softmax_xent(self, logits, rows, cols, targets, d_logits, grad_scale)
    }

    fn sample_rows(
        &self,
        logits: &CudaBuf,
        block: Rows,
        opts: &SampleOptions,
        uniforms: &[f64],
        out: &mut [u32],
    ) -> Result<()> {
        ops::sample_rows(self, logits, block, opts, uniforms, out)
    }

    fn quantize(
        &self,
        src: &CudaBuf,
        off: usize,
        rows: usize,
        cols: usize,
        precision: Precision,
    ) -> Result<CudaQBuf> {
        lowp::quantize(self, src, off, rows, cols, precision)
    }

    fn qgemv(
        &self,
        w: &CudaQBuf,
        m: usize,
        x: &CudaBuf,
        x_off: usize,
        y: &mut CudaBuf,
        y_off: usize,
        accumulate: bool,
    ) -> Result<()> {
        lowp::qgemv(self, w, m, x, x_off, y, y_off, accumulate)
    }

    fn dropout(
        &self,
        x: &mut CudaBuf,
        x_off: usize,
        mask: &mut CudaBuf,
        n: usize,
        p: f32,
        seed: u64,
    ) -> Result<()> {
        ops::dropout(self, x, x_off, mask, n, p, seed)
    }

    fn adam_step(
        &self,
        params: &mut CudaBuf,
        grads: &CudaBuf,
        m: &mut CudaBuf,
        v: &mut CudaBuf,
        n: usize,
        s: &AdamStep,
    ) -> Result<()> {
        ops::adam_step(self, params, grads, m, v, n, s)
    }

    fn rmsprop_step(
        &self,
        params: &mut CudaBuf,
        grads: &CudaBuf,
        sq: &mut CudaBuf,
        n: usize,
        s: &RmsPropStep,
    ) -> Result<()> {
        ops::rmsprop_step(self, params, grads, sq, n, s)
    }
}

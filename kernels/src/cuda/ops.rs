//! Non-cell ops on the device: row helpers, reductions, loss, sampling, dropout, optimizers.
//! Each validates its operands exactly like the CPU backend (`cpu/ops.rs`), then launches.

use cudarc::driver::LaunchConfig;

use super::buffers::{CudaBuf, CudaIds};
use super::check::{shape_err, span};
use super::context::{dev_err, grid, grid2d, launch, CudaBackend, THREADS};
use crate::operands;
use crate::{AdamStep, Result, RmsPropStep, Rows, SampleOptions};
use cudarc::driver::result as drv;

/// `sum_rows`: the fewest rows one block of the first pass sums (8 per thread).
const SUM_ROWS_MIN_CHUNK: usize = 64;
/// `sum_rows`: about how many blocks the first pass spreads over (a few per SM).
const SUM_ROWS_BLOCKS: usize = 512;

/// Blocks of the first pass of `sum_squares` (one f64 partial each; a fixed count keeps the
/// summation order, hence the result, deterministic for a given `n`).
const PARTIAL_BLOCKS: usize = 1024;

/// See [`Backend::broadcast_rows`](crate::Backend::broadcast_rows).
pub(crate) fn broadcast_rows(
    be: &CudaBackend,
    bias: &CudaBuf,
    bias_off: usize,
    out: &mut CudaBuf,
    off: usize,
    rows: usize,
    cols: usize,
) -> Result<()> {
    let n = operands::broadcast_rows((bias.len(), bias_off), (out.len(), off), rows, cols)?;
    if n == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (pb, po) = (bias.at(s, bias_off), out.at(s, off));
    let cfg = grid2d(rows, cols);
    launch!(be, broadcast_rows, cfg, pb, po, rows as u64, cols as u64)
}

/// See [`Backend::sum_rows`](crate::Backend::sum_rows).
pub(crate) fn sum_rows(
    be: &CudaBackend,
    src: &CudaBuf,
    block: Rows,
    dst: &mut CudaBuf,
    dst_off: usize,
    accumulate: bool,
) -> Result<()> {
    operands::sum_rows((src.len(), block), (dst.len(), dst_off))?;
    let Rows {
        off: src_off,
        rows,
        cols,
    } = block;
    if cols == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (ps, pd) = (src.at(s, src_off), dst.at(s, dst_off));
    let acc = accumulate as i32;
    let col_blocks = cols.div_ceil(32);
    // Row chunks: at least SUM_ROWS_MIN_CHUNK rows each, and about SUM_ROWS_BLOCKS blocks in
    // all. A function of the shape alone, so the summation order (and result) is fixed.
    let chunks = rows
        .div_ceil(SUM_ROWS_MIN_CHUNK)
        .min((SUM_ROWS_BLOCKS / col_blocks).max(1))
        .max(1);
    let chunk_rows = rows.div_ceil(chunks).max(1);
    let chunks = rows.div_ceil(chunk_rows).max(1);
    let cfg = LaunchConfig {
        grid_dim: (col_blocks as u32, chunks as u32, 1),
        block_dim: (32, 8, 1),
        shared_mem_bytes: 0,
    };
    let (r, c, cr) = (rows as u64, cols as u64, chunk_rows as u64);
    if chunks == 1 {
        return launch!(be, sum_rows_partial, cfg, ps, r, c, cr, 0u64, pd, acc);
    }
    // Scratch: chunks × cols f32 partials (two per f64 slot).
    be.with_scratch((chunks * cols).div_ceil(2), |part| {
        launch!(be, sum_rows_partial, cfg, ps, r, c, cr, part, pd, acc)?;
        let fin = grid(cols);
        launch!(be, sum_rows_final, fin, part, chunks as u64, c, pd, acc)
    })
}

/// See [`Backend::mul_assign`](crate::Backend::mul_assign).
pub(crate) fn mul_assign(
    be: &CudaBackend,
    a: &mut CudaBuf,
    a_off: usize,
    b: &CudaBuf,
    b_off: usize,
    n: usize,
) -> Result<()> {
    operands::mul_assign((a.len(), a_off), (b.len(), b_off), n)?;
    if n == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (pa, pb) = (a.at(s, a_off), b.at(s, b_off));
    launch!(be, mul_assign, grid(n), pa, pb, n as u64)
}

/// Reduces `n` f64 values at device address `xs` into the f64 at `out` on the device and
/// copies that one number back.
fn reduce_to_host(be: &CudaBackend, xs: u64, n: usize, out: u64) -> Result<f64> {
    let cfg = LaunchConfig {
        grid_dim: (1, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    launch!(be, reduce_f64, cfg, xs, n as u64, out)?;
    let mut host = [0.0f64; 1];
    be.bind()?;
    // SAFETY: `out` addresses one f64 inside the scratch buffer the caller holds locked.
    unsafe { cudarc::driver::result::memcpy_dtoh_async(&mut host, out, be.stream.cu_stream()) }
        .map_err(dev_err("reduce copy"))?;
    be.synchronize()?;
    Ok(host[0])
}

/// See [`Backend::sum_squares`](crate::Backend::sum_squares).
pub(crate) fn sum_squares(be: &CudaBackend, buf: &CudaBuf, off: usize, n: usize) -> Result<f64> {
    span("sum_squares", buf.len(), off, n)?;
    if n == 0 {
        return Ok(0.0);
    }
    let blocks = n.div_ceil(THREADS as usize).min(PARTIAL_BLOCKS);
    let cfg = LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    let px = buf.at(&be.stream, off);
    be.with_scratch(blocks + 1, |base| {
        launch!(be, sum_squares_partial, cfg, px, n as u64, base)?;
        reduce_to_host(be, base, blocks, base + (blocks * 8) as u64)
    })
}

/// See [`Backend::softmax_xent`](crate::Backend::softmax_xent). Row losses are summed on the
/// device; one f64 comes back.
pub(crate) fn softmax_xent(
    be: &CudaBackend,
    logits: &CudaBuf,
    rows: usize,
    cols: usize,
    targets: &CudaIds,
    d_logits: Option<&mut CudaBuf>,
    grad_scale: f32,
) -> Result<f64> {
    let d_len = d_logits.as_deref().map(CudaBuf::len);
    operands::softmax_xent(logits.len(), rows, cols, &targets.host, d_len)?;
    if rows == 0 {
        return Ok(0.0);
    }
    let s = &be.stream;
    let warps_per_block = THREADS as usize / 32;
    let cfg = LaunchConfig {
        grid_dim: (rows.div_ceil(warps_per_block).min(1 << 16) as u32, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    let (pl, pt) = (logits.at(s, 0), targets.at(s));
    let pd = d_logits.map_or(0, |d| d.at(s, 0));
    be.with_scratch(rows + 1, |base| {
        launch!(
            be,
            softmax_xent_rows,
            cfg,
            pl,
            rows as u64,
            cols as u64,
            pt,
            pd,
            grad_scale,
            base
        )?;
        reduce_to_host(be, base, rows, base + (rows * 8) as u64)
    })
}

/// See [`Backend::sample_rows`](crate::Backend::sample_rows): one block per row runs the
/// spec's filters on the device; only the uniforms go up and the tokens come back.
pub(crate) fn sample_rows(
    be: &CudaBackend,
    logits: &CudaBuf,
    block: Rows,
    opts: &SampleOptions,
    uniforms: &[f64],
    out: &mut [u32],
) -> Result<()> {
    if !crate::sample::check_rows(logits.len(), block, uniforms, out)? {
        return Ok(());
    }
    let Rows { off, rows, cols } = block;
    if rows > i32::MAX as usize {
        return shape_err(format!("sample_rows: {rows} rows exceed one launch"));
    }
    // One token per thread up to 1024 columns; wider rows loop.
    let threads = cols.next_power_of_two().clamp(32, 1024) as u32;
    let cfg = LaunchConfig {
        grid_dim: (rows as u32, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    };
    let pl = logits.at(&be.stream, off);
    let top_k = u32::try_from(opts.top_k).unwrap_or(u32::MAX);
    let use_top_p = i32::from(opts.top_p < 1.0);
    let top_p = f64::from(opts.top_p.max(0.0));
    let argmax_only = i32::from(!opts.draws());
    let temperature = opts.temperature;
    // Scratch: the uniforms (f64), then the tokens (u32, two per f64 slot).
    be.with_scratch(rows + rows.div_ceil(2), |base| {
        let pu = base;
        let po = base + (rows * 8) as u64;
        be.bind()?;
        // SAFETY: `pu` holds `rows` f64 inside the scratch buffer the closure holds locked; a
        // pageable source is staged before the call returns.
        unsafe { drv::memcpy_htod_async(pu, uniforms, be.stream.cu_stream()) }
            .map_err(dev_err("sample_rows uniforms"))?;
        launch!(
            be,
            sample_rows,
            cfg,
            pl,
            cols as u64,
            temperature,
            top_k,
            top_p,
            use_top_p,
            argmax_only,
            pu,
            po
        )?;
        // SAFETY: `po` holds `rows` u32 the kernel wrote, inside the locked scratch; the
        // stream is synchronized below before `out` is read.
        unsafe { drv::memcpy_dtoh_async(out, po, be.stream.cu_stream()) }
            .map_err(dev_err("sample_rows tokens"))?;
        be.synchronize()
    })
}

/// See [`Backend::dropout`](crate::Backend::dropout): the same counter-based mask as the CPU.
pub(crate) fn dropout(
    be: &CudaBackend,
    x: &mut CudaBuf,
    x_off: usize,
    mask: &mut CudaBuf,
    n: usize,
    p: f32,
    seed: u64,
) -> Result<()> {
    operands::dropout((x.len(), x_off), mask.len(), n, p)?;
    if n == 0 {
        return Ok(());
    }
    let keep = 1.0 / (1.0 - p);
    let s = &be.stream;
    let (px, pm) = (x.at(s, x_off), mask.at(s, 0));
    launch!(be, dropout, grid(n), px, pm, n as u64, p, keep, seed)
}

/// See [`Backend::adam_step`](crate::Backend::adam_step); the scalar factors come from
/// [`AdamStep::factors`], shared with the CPU backend.
pub(crate) fn adam_step(
    be: &CudaBackend,
    params: &mut CudaBuf,
    grads: &CudaBuf,
    m: &mut CudaBuf,
    v: &mut CudaBuf,
    n: usize,
    st: &AdamStep,
) -> Result<()> {
    let f = st.factors(n, [params.len(), grads.len(), m.len(), v.len()])?;
    if n == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (pp, pg, pm, pv) = (params.at(s, 0), grads.at(s, 0), m.at(s, 0), v.at(s, 0));
    launch!(
        be,
        adam_step,
        grid(n),
        pp,
        pg,
        pm,
        pv,
        n as u64,
        st.beta1,
        st.beta2,
        st.eps,
        f.step_size,
        f.inv_bc2_sqrt,
        f.decay
    )
}

/// See [`Backend::rmsprop_step`](crate::Backend::rmsprop_step).
pub(crate) fn rmsprop_step(
    be: &CudaBackend,
    params: &mut CudaBuf,
    grads: &CudaBuf,
    sq: &mut CudaBuf,
    n: usize,
    st: &RmsPropStep,
) -> Result<()> {
    operands::rmsprop(n, [params.len(), grads.len(), sq.len()])?;
    if n == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (pp, pg, ps) = (params.at(s, 0), grads.at(s, 0), sq.at(s, 0));
    launch!(
        be,
        rmsprop_step,
        grid(n),
        pp,
        pg,
        ps,
        n as u64,
        st.lr,
        st.alpha,
        st.eps
    )
}

//! `Backend::quantize` / `qgemv` on the GPU: the weights are converted on the host by the
//! shared spec ([`precision`](crate::precision)), once at load, and uploaded row-major; the
//! products run `kernels/lowp.cu` (one warp per output). `w8a16` and `w8a8` first round each
//! input row on the device (`round_inputs`, into the backend's scratch), then sum exactly in
//! integers (`qgemv_rounded`): the CPU's products bit for bit.

use cudarc::driver::{CudaSlice, LaunchConfig};

use super::buffers::{CudaBuf, CudaQBuf};
use super::context::{dev_err, launch, CudaBackend, THREADS};
use crate::precision::{f32_to_bf16, int8_row};
use crate::{operands, Backend, Precision, Result};

/// Largest grid in x and y the launches use.
const MAX_GRID: usize = 65_535;

/// See [`Backend::quantize`].
pub(crate) fn quantize(
    be: &CudaBackend,
    src: &CudaBuf,
    off: usize,
    rows: usize,
    cols: usize,
    precision: Precision,
) -> Result<CudaQBuf> {
    let n = operands::quantize(src.len(), off, rows, cols)?;
    let mut host = vec![0.0f32; n];
    be.read(src, off, &mut host)?;
    let mut scales = Vec::new();
    let bytes: Vec<u8> = match precision {
        Precision::F32 => host.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Precision::Bf16 => host
            .iter()
            .flat_map(|&x| f32_to_bf16(x).to_le_bytes())
            .collect(),
        Precision::Int8 | Precision::W8a16 | Precision::W8a8 => {
            let mut out = Vec::with_capacity(n);
            for row in host.chunks_exact(cols.max(1)).take(rows) {
                let (q, scale) = int8_row(row);
                scales.push(scale);
                out.extend(q.into_iter().map(|q| q as u8));
            }
            out
        }
    };
    let data: Option<CudaSlice<u8>> = match bytes.len() {
        0 => None,
        _ => Some(be.stream.clone_htod(&bytes).map_err(dev_err("quantize"))?),
    };
    Ok(CudaQBuf {
        precision,
        rows,
        cols,
        data,
        scales: be.upload(&scales)?,
    })
}

/// See [`Backend::qgemv`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn qgemv(
    be: &CudaBackend,
    w: &CudaQBuf,
    m: usize,
    x: &CudaBuf,
    x_off: usize,
    y: &mut CudaBuf,
    y_off: usize,
    accumulate: bool,
) -> Result<()> {
    let (n, k) = (w.rows, w.cols);
    operands::qgemv((x.len(), x_off), (y.len(), y_off), m, n, k)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let warps = (THREADS / 32) as usize;
    let cfg = LaunchConfig {
        grid_dim: (
            n.div_ceil(warps).clamp(1, MAX_GRID) as u32,
            m.clamp(1, MAX_GRID) as u32,
            1,
        ),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    let (pw, ps, px, py) = (w.at(s), w.scales.at(s, 0), x.at(s, x_off), y.at(s, y_off));
    let (n, k, m, acc) = (n as u64, k as u64, m as u64, i32::from(accumulate));
    match w.precision {
        Precision::F32 => launch!(be, qgemv_f32, cfg, pw, 0u64, px, py, n, k, m, acc),
        Precision::Bf16 => launch!(be, qgemv_bf16, cfg, pw, 0u64, px, py, n, k, m, acc),
        Precision::Int8 => launch!(be, qgemv_int8, cfg, pw, ps, px, py, n, k, m, acc),
        Precision::W8a16 | Precision::W8a8 => {
            let top = w
                .precision
                .input_codes()
                .expect("w8a16 and w8a8 round their inputs");
            let (mu, ku) = (m as usize, k as usize);
            // Scratch: the codes (`i32`, m · k) and then the row scales (`f32`, m).
            be.with_scratch((mu * ku + mu).div_ceil(2), |codes| {
                let sx = codes + 4 * m * k;
                let rows = LaunchConfig {
                    grid_dim: (mu.clamp(1, MAX_GRID) as u32, 1, 1),
                    block_dim: (THREADS, 1, 1),
                    shared_mem_bytes: 0,
                };
                launch!(be, round_inputs, rows, px, k, m, top, codes, sx)?;
                launch!(be, qgemv_rounded, cfg, pw, ps, codes, sx, py, n, k, m, acc)
            })
        }
    }
}

//! The embedding ops on the device: `gather_rows` (forward) and the deterministic
//! `scatter_add_rows` (backward). Each validates its operands exactly like the CPU backend
//! (`cpu/ops.rs`), then launches a kernel of `kernels/embed.cu`.

use cudarc::driver::result as drv;

use super::buffers::{CudaBuf, CudaIds};
use super::check::shape_err;
use super::context::{dev_err, grid2d, launch, CudaBackend};
use super::row_lists::RowLists;
use crate::operands;
use crate::Result;

/// See [`Backend::gather_rows`](crate::Backend::gather_rows).
pub(crate) fn gather_rows(
    be: &CudaBackend,
    table: &CudaBuf,
    cols: usize,
    ids: &CudaIds,
    ids_n: usize,
    out: &mut CudaBuf,
) -> Result<()> {
    let (vocab, n) = operands::gather_rows(table.len(), cols, &ids.host, ids_n, out.len())?;
    if n == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (pt, pi, po) = (table.at(s, 0), ids.at(s), out.at(s, 0));
    launch!(
        be,
        gather_rows,
        grid2d(ids_n, cols),
        pt,
        cols as u64,
        vocab as u64,
        pi,
        ids_n as u64,
        po
    )
}

/// See [`Backend::gather_sum_rows`](crate::Backend::gather_sum_rows).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gather_sum_rows(
    be: &CudaBackend,
    table: &CudaBuf,
    cols: usize,
    ids: &CudaIds,
    per: usize,
    rows: usize,
    out: &mut CudaBuf,
    accumulate: bool,
) -> Result<()> {
    let (vocab, n) = operands::gather_sum_rows(table.len(), cols, &ids.host, per, rows, out.len())?;
    if n == 0 {
        return Ok(());
    }
    let s = &be.stream;
    let (pt, pi, po) = (table.at(s, 0), ids.at(s), out.at(s, 0));
    launch!(
        be,
        gather_sum_rows,
        grid2d(rows, cols),
        pt,
        cols as u64,
        vocab as u64,
        pi,
        per as u64,
        rows as u64,
        i32::from(accumulate),
        po
    )
}

/// See [`Backend::scatter_add_rows`](crate::Backend::scatter_add_rows): the rows are grouped
/// by id on the host ([`RowLists`]) and uploaded with the launch, so each (id, column) adds its
/// rows in the CPU's order: deterministic, and bit-identical to the CPU.
pub(crate) fn scatter_add_rows(
    be: &CudaBackend,
    src: &CudaBuf,
    cols: usize,
    ids: &CudaIds,
    ids_n: usize,
    d_table: &mut CudaBuf,
    table_off: usize,
) -> Result<()> {
    let table = (d_table.len(), table_off);
    let (_, n) = operands::scatter_add_rows(src.len(), cols, &ids.host, ids_n, table)?;
    if n == 0 {
        return Ok(());
    }
    if u32::try_from(ids_n).is_err() {
        return shape_err(format!(
            "scatter_add_rows: {ids_n} rows exceed u32 row indices"
        ));
    }
    let lists = RowLists::new(&ids.host[..ids_n]);
    let k = lists.len();
    let packed = lists.packed();
    let s = &be.stream;
    let (ps, pt) = (src.at(s, 0), d_table.at(s, table_off));
    // Scratch: the packed lists (u32, two per f64 slot).
    be.with_scratch(packed.len().div_ceil(2), |base| {
        be.bind()?;
        // SAFETY: `base` holds `packed.len()` u32 inside the scratch the closure holds locked; a
        // pageable source is staged before the call returns.
        unsafe { drv::memcpy_htod_async(base, packed, s.cu_stream()) }
            .map_err(dev_err("scatter_add_rows lists"))?;
        let (pu, pst, prow) = (base, base + 4 * k as u64, base + 4 * (2 * k + 1) as u64);
        let cfg = grid2d(k, cols);
        launch!(
            be,
            scatter_add_rows,
            cfg,
            ps,
            cols as u64,
            pu,
            pst,
            prow,
            k as u64,
            pt
        )
    })
}

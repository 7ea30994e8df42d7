//! Operand checks of the dense ops, shared by every backend so a bad operand gives the same
//! `KernelError::Shape` on the CPU and the GPU and each backend's op is only its loop or its
//! launch. Each takes buffer lengths (and the host copy of token ids) and returns the element
//! counts the op then works on. The cell steps' checks live with [`crate::CellStep`].

use crate::check::{mul, shape_err, span};
use crate::{Result, Rows};

/// `broadcast_rows`: `cols` bias values, `rows × cols` outputs; returns `rows · cols`.
pub(crate) fn broadcast_rows(
    bias: (usize, usize),
    out: (usize, usize),
    rows: usize,
    cols: usize,
) -> Result<usize> {
    span("broadcast_rows bias", bias.0, bias.1, cols)?;
    let n = mul("broadcast_rows", rows, cols)?;
    span("broadcast_rows out", out.0, out.1, n)?;
    Ok(n)
}

/// `sum_rows`: a block of sources in a buffer of `src.0` elements, `cols` destinations at
/// `dst.1` of `dst.0`.
pub(crate) fn sum_rows(src: (usize, Rows), dst: (usize, usize)) -> Result<()> {
    let (len, b) = src;
    span("sum_rows src", len, b.off, mul("sum_rows", b.rows, b.cols)?)?;
    span("sum_rows dst", dst.0, dst.1, b.cols)
}

/// `fill_rows`: a block in a buffer of `len` elements and one flag per row.
pub(crate) fn fill_rows(len: usize, block: Rows, select: &[bool]) -> Result<()> {
    span(
        "fill_rows",
        len,
        block.off,
        mul("fill_rows", block.rows, block.cols)?,
    )?;
    if select.len() != block.rows {
        return shape_err(format!(
            "fill_rows: {} row flags for {} rows",
            select.len(),
            block.rows
        ));
    }
    Ok(())
}

/// `quantize`: a `[rows, cols]` block at `off` of a buffer of `len` elements; returns
/// `rows · cols`.
pub(crate) fn quantize(len: usize, off: usize, rows: usize, cols: usize) -> Result<usize> {
    let n = mul("quantize", rows, cols)?;
    span("quantize src", len, off, n)?;
    Ok(n)
}

/// `qgemv`: `m` input rows of `k` at `x.1` of `x.0` elements, `m` output rows of `n` at `y.1`
/// of `y.0`.
pub(crate) fn qgemv(
    x: (usize, usize),
    y: (usize, usize),
    m: usize,
    n: usize,
    k: usize,
) -> Result<()> {
    span("qgemv x", x.0, x.1, mul("qgemv", m, k)?)?;
    span("qgemv y", y.0, y.1, mul("qgemv", m, n)?)
}

/// `mul_assign`: `n` elements of each side.
pub(crate) fn mul_assign(a: (usize, usize), b: (usize, usize), n: usize) -> Result<()> {
    span("mul_assign a", a.0, a.1, n)?;
    span("mul_assign b", b.0, b.1, n)
}

/// Every id in `ids` must address one of `vocab` table rows.
fn ids_in_range(what: &str, ids: &[u32], vocab: usize) -> Result<()> {
    match ids.iter().find(|&&id| id as usize >= vocab) {
        Some(&bad) => shape_err(format!("{what}: id {bad} >= {vocab} table rows")),
        None => Ok(()),
    }
}

/// `gather_rows` from a table of `table` elements into `out` elements; returns the table's
/// rows and the elements to copy (`ids_n · cols`; 0: nothing to do).
pub(crate) fn gather_rows(
    table: usize,
    cols: usize,
    ids: &[u32],
    ids_n: usize,
    out: usize,
) -> Result<(usize, usize)> {
    let n = mul("gather_rows", ids_n, cols)?;
    span("gather_rows out", out, 0, n)?;
    Ok((gathered("gather_rows", table, cols, ids, ids_n)?, n))
}

/// The first `ids_n` of `ids` as rows of a table of `table` elements, `cols` wide, for the
/// gather `what`: its rows (0 when `cols` is 0: nothing to read).
fn gathered(what: &str, table: usize, cols: usize, ids: &[u32], ids_n: usize) -> Result<usize> {
    span(format_args!("{what} ids"), ids.len(), 0, ids_n)?;
    if cols == 0 {
        return Ok(0);
    }
    let vocab = table / cols;
    ids_in_range(what, &ids[..ids_n], vocab)?;
    Ok(vocab)
}

/// `gather_sum_rows` of `rows` sums of `per` rows each (`cols` wide) from a table of `table`
/// elements into `out` elements; returns the table's rows and the elements written
/// (`rows · cols`; 0: nothing to do).
pub(crate) fn gather_sum_rows(
    table: usize,
    cols: usize,
    ids: &[u32],
    per: usize,
    rows: usize,
    out: usize,
) -> Result<(usize, usize)> {
    let ids_n = mul("gather_sum_rows ids", rows, per)?;
    let n = mul("gather_sum_rows", rows, cols)?;
    span("gather_sum_rows out", out, 0, n)?;
    Ok((gathered("gather_sum_rows", table, cols, ids, ids_n)?, n))
}

/// `scatter_add_rows` of `src` elements into a table at `d_table = (len, off)`; returns the
/// table's rows and the elements to add (`ids_n · cols`; 0: nothing to do).
pub(crate) fn scatter_add_rows(
    src: usize,
    cols: usize,
    ids: &[u32],
    ids_n: usize,
    d_table: (usize, usize),
) -> Result<(usize, usize)> {
    span("scatter_add_rows ids", ids.len(), 0, ids_n)?;
    let n = mul("scatter_add_rows", ids_n, cols)?;
    span("scatter_add_rows src", src, 0, n)?;
    span("scatter_add_rows d_table", d_table.0, d_table.1, 0)?;
    if cols == 0 {
        return Ok((0, 0));
    }
    let vocab = (d_table.0 - d_table.1) / cols;
    ids_in_range("scatter_add_rows", &ids[..ids_n], vocab)?;
    Ok((vocab, n))
}

/// `softmax_xent` over `rows × cols` logits with `targets` (and gradients of `d_logits`
/// elements); returns `rows · cols`.
pub(crate) fn softmax_xent(
    logits: usize,
    rows: usize,
    cols: usize,
    targets: &[u32],
    d_logits: Option<usize>,
) -> Result<usize> {
    let n = mul("softmax_xent", rows, cols)?;
    span("softmax_xent logits", logits, 0, n)?;
    span("softmax_xent targets", targets.len(), 0, rows)?;
    if let Some(d) = d_logits {
        span("softmax_xent d_logits", d, 0, n)?;
    }
    if let Some(&bad) = targets[..rows].iter().find(|&&t| t as usize >= cols) {
        return shape_err(format!("softmax_xent: target {bad} >= {cols} classes"));
    }
    Ok(n)
}

/// `dropout` of `n` elements of `x = (len, off)` with a `mask` of `mask` elements.
pub(crate) fn dropout(x: (usize, usize), mask: usize, n: usize, p: f32) -> Result<()> {
    span("dropout x", x.0, x.1, n)?;
    span("dropout mask", mask, 0, n)?;
    if !(0.0..1.0).contains(&p) {
        return shape_err(format!("dropout: p = {p} is not in [0, 1)"));
    }
    Ok(())
}

/// `rmsprop_step` over `n` parameters: lengths of params, grads and the squared average.
pub(crate) fn rmsprop(n: usize, lens: [usize; 3]) -> Result<()> {
    for (name, len) in ["rmsprop params", "rmsprop grads", "rmsprop sq"]
        .into_iter()
        .zip(lens)
    {
        span(name, len, 0, n)?;
    }
    Ok(())
}

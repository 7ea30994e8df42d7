//! Bounds checks shared by every backend: every operand range is validated up front so the
//! kernels can index freely and a bad offset becomes `KernelError::Shape`, never a panic.

use crate::{KernelError, Result};

/// A `KernelError::Shape` with `msg`.
pub(crate) fn shape_err<T>(msg: String) -> Result<T> {
    Err(KernelError::Shape(msg))
}

/// `off + n` without overflow, as a checked end index.
fn end(what: impl std::fmt::Display, off: usize, n: usize) -> Result<usize> {
    off.checked_add(n).map_or_else(
        || shape_err(format!("{what}: offset {off} + length {n} overflows")),
        Ok,
    )
}

/// Checks that `[off, off + n)` lies inside a buffer of `len` elements.
pub(crate) fn span(what: impl std::fmt::Display, len: usize, off: usize, n: usize) -> Result<()> {
    let e = end(&what, off, n)?;
    if e > len {
        return shape_err(format!(
            "{what}: range [{off}, {e}) exceeds buffer of {len} elements"
        ));
    }
    Ok(())
}

/// `a * b` without overflow.
pub(crate) fn mul(what: &str, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).map_or_else(
        || shape_err(format!("{what}: size {a} x {b} overflows")),
        Ok,
    )
}

/// Checks a row-major `rows × cols` matrix with row stride `ld` at `off` in a buffer of `len`.
pub(crate) fn matrix(
    what: &str,
    len: usize,
    off: usize,
    rows: usize,
    cols: usize,
    ld: usize,
) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    if ld < cols || ld > isize::MAX as usize {
        return shape_err(format!(
            "{what}: leading dimension {ld} is not in [{cols} columns, isize::MAX]"
        ));
    }
    let extent = end(what, mul(what, rows - 1, ld)?, cols)?;
    span(what, len, off, extent)
}

/// Two ranges of `n` elements in one buffer must be identical (elementwise in place) or
/// disjoint: a partial overlap would make the result depend on the iteration order, which
/// differs between devices.
pub(crate) fn same_or_disjoint(what: &str, a_off: usize, b_off: usize, n: usize) -> Result<()> {
    if a_off == b_off || disjoint(a_off, b_off, n) {
        Ok(())
    } else {
        shape_err(format!(
            "{what}: ranges at {a_off} and {b_off} of {n} elements partially overlap"
        ))
    }
}

/// Whether `[a, a + n)` and `[b, b + n)` do not intersect.
pub(crate) fn disjoint(a: usize, b: usize, n: usize) -> bool {
    n == 0 || a.abs_diff(b) >= n
}

/// Splits one buffer into a shared view of `[src, src + n)` and a mutable view of
/// `[dst, dst + n)`; the ranges must be in bounds and disjoint.
pub(crate) fn split_src_dst(
    buf: &mut [f32],
    src: usize,
    dst: usize,
    n: usize,
) -> (&[f32], &mut [f32]) {
    if src < dst {
        let (lo, hi) = buf.split_at_mut(dst);
        (&lo[src..src + n], &mut hi[..n])
    } else {
        let (lo, hi) = buf.split_at_mut(src);
        (&hi[..n], &mut lo[dst..dst + n])
    }
}

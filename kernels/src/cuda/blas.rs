//! Row-major GEMM through cuBLAS (column-major): a row-major `C = op(A)·op(B)` is the
//! column-major `Cᵀ = op(B)ᵀ·op(A)ᵀ`, so the operands are swapped and each keeps its own
//! transpose flag and leading dimension. Offsets become pointer offsets.

use cudarc::cublas::sys::cublasOperation_t;

use super::buffers::CudaBuf;
use super::context::{launch, CudaBackend};
use crate::{Gemm, KernelError, Result};

/// `x` as a cuBLAS `int`, or a shape error.
fn int(what: &str, x: usize) -> Result<i32> {
    i32::try_from(x).map_err(|_| KernelError::Shape(format!("gemm: {what} = {x} exceeds i32")))
}

fn op(trans: bool) -> cublasOperation_t {
    if trans {
        cublasOperation_t::CUBLAS_OP_T
    } else {
        cublasOperation_t::CUBLAS_OP_N
    }
}

/// See [`Backend::gemm`](crate::Backend::gemm).
pub(crate) fn gemm(
    be: &CudaBackend,
    g: &Gemm,
    a: &CudaBuf,
    b: &CudaBuf,
    c: &mut CudaBuf,
) -> Result<()> {
    g.check(a.len(), b.len(), c.len())?;
    if g.m == 0 || g.n == 0 {
        return Ok(());
    }
    let s = &be.stream;
    if g.k == 0 {
        // Empty product: C = beta·C row by row (beta == 0 clears C, even NaN). Rare.
        for r in 0..g.m {
            let row = c.at(s, g.c_off + r * g.ldc);
            let n = g.n as u64;
            if g.beta == 0.0 {
                launch!(be, fill, super::context::grid(g.n), row, n, 0.0f32)?;
            } else {
                launch!(be, scale, super::context::grid(g.n), row, n, g.beta)?;
            }
        }
        return Ok(());
    }
    let (m, n, k) = (int("m", g.m)?, int("n", g.n)?, int("k", g.k)?);
    let (lda, ldb, ldc) = (int("lda", g.lda)?, int("ldb", g.ldb)?, int("ldc", g.ldc)?);
    let (pa, pb, pc) = (a.at(s, g.a_off), b.at(s, g.b_off), c.at(s, g.c_off));
    be.bind()?;
    let blas = be
        .blas
        .lock()
        .map_err(|_| KernelError::Device("cuBLAS lock poisoned".into()))?;
    // SAFETY: check::matrix proved every element reachable through (ptr, ld, rows, cols) is in
    // its buffer; `c` is borrowed mutably so it aliases neither `a` nor `b`.
    unsafe {
        cudarc::cublas::result::sgemm(
            *blas.handle(),
            op(g.trans_b),
            op(g.trans_a),
            n,
            m,
            k,
            &g.alpha,
            pb as *const f32,
            ldb,
            pa as *const f32,
            lda,
            &g.beta,
            pc as *mut f32,
            ldc,
        )
    }
    .map_err(|e| KernelError::Device(format!("cublasSgemm: {e}")))
}

//! CPU backend: the naive reference ("spec") in [`reference`](mod@reference) and the fast path in
//! [`CpuBackend`], which is tested against it.

mod backend;
mod cells;
use crate::check;
mod fastmath;
mod gemm;
mod gemv;
mod lowp;
mod memory;
mod ops;
mod packed;
pub mod reference;
mod simd;
mod spin;
mod step;
mod tuning;
mod window;

pub use backend::CpuBackend;
pub use lowp::QWeights;

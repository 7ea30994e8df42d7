//! Numeric backends for rnngym: the `Backend` trait, the CPU backend (the reference) and,
//! later, the CUDA backend. Model code is written once against [`Backend`].

pub mod backend;
pub mod cell;
mod check;
pub mod cpu;
pub mod cuda;
pub mod hash;
mod operands;
pub mod precision;
pub mod recurrence;
pub mod sample;

pub use backend::{AdamFactors, AdamStep, Backend, DeviceGroup, Gemm, Result, RmsPropStep, Rows};
pub use cell::{Cell, UnknownCell, WindowSizes};
pub use cpu::CpuBackend;
pub use cuda::CudaBackend;
pub use precision::Precision;
pub use recurrence::{CellStep, LayerState, Recurrence, StateLens};
pub use sample::SampleOptions;

/// Errors from numeric backends.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// An operand does not fit its buffer or the shapes disagree.
    #[error("shape error: {0}")]
    Shape(String),
    /// The device is not available (library missing, no GPU, ...).
    #[error("device unavailable: {0}")]
    Unavailable(String),
    /// The device reported an error.
    #[error("device error: {0}")]
    Device(String),
}

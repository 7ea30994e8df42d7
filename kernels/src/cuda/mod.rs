//! CUDA backend: [`CudaBackend`] implements [`Backend`](crate::Backend) with cuBLAS GEMMs and
//! fused NVRTC kernels (`kernels/*.cu`). The libraries are loaded at run time (cudarc
//! `dynamic-loading`), so this module always builds; [`CudaBackend::new`] probes them first and
//! returns [`KernelError::Unavailable`](crate::KernelError::Unavailable) instead of panicking.

mod backend;
mod blas;
mod buffers;
mod cells;
// The bounds checks are shared so both devices reject the same operands.
use crate::check;
mod context;
mod cubin_cache;
mod embed;
mod info;
mod lowp;
mod modules;
mod nccl;
mod ops;
mod probe;
mod row_lists;

pub use buffers::{CudaBuf, CudaIds, CudaQBuf};
pub use context::CudaBackend;
pub use cubin_cache::{cache_key, default_dir as default_cache_dir, CubinCache, CubinOrigin};
pub use info::{loaded_library_files, CudaInfo};
pub use modules::{
    compile_cubin, compile_options, compile_ptx, nvrtc_version, KernelSource, NVRTC_TEST_ARCHS,
    SOURCES,
};
pub use nccl::nccl_available;
pub use probe::{device_count, libraries, nvrtc_available};
pub use row_lists::RowLists;

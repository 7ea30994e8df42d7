//! The `.cu` kernel sources (compiled into the binary with `include_str!`), NVRTC compilation
//! with the project's options, and a per-process cache of the compiled PTX per architecture.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::nvrtc::{CompileOptions, Ptx};

use crate::{KernelError, Result};

/// One `.cu` file and the kernels the backend loads from it.
#[derive(Clone, Copy, Debug)]
pub struct KernelSource {
    /// File name under `kernels/src/cuda/kernels/`.
    pub file: &'static str,
    /// The CUDA C++ source.
    pub src: &'static str,
    /// `extern "C"` kernel names the backend looks up.
    pub kernels: &'static [&'static str],
}

/// The one table of kernels: each `.cu` file with the `extern "C"` functions the backend
/// loads from it, under the field name the launches use (`be.k.<field>`). Defines
/// [`SOURCES`] and the `Kernels` struct with its loader, so a kernel is named once.
macro_rules! kernel_table {
    ($($file:literal => { $($field:ident: $name:literal),* $(,)? }),* $(,)?) => {
        /// Every kernel source of the backend.
        pub const SOURCES: &[KernelSource] = &[$(
            KernelSource {
                file: $file,
                src: include_str!(concat!("kernels/", $file)),
                kernels: &[$($name),*],
            }
        ),*];

        /// Every kernel function, looked up once by name.
        pub(crate) struct Kernels {
            $($(pub(crate) $field: cudarc::driver::CudaFunction,)*)*
        }

        impl Kernels {
            /// Looks every kernel up with `take(name)`.
            pub(crate) fn load(
                mut take: impl FnMut(&'static str) -> Result<cudarc::driver::CudaFunction>,
            ) -> Result<Self> {
                Ok(Kernels { $($($field: take($name)?,)*)* })
            }
        }
    };
}

kernel_table! {
    "elementwise.cu" => {
        fill: "fill_f32",
        scale: "scale_f32",
        mul_assign: "mul_assign_f32",
        broadcast_rows: "broadcast_rows_f32",
        sum_rows: "sum_rows_f32",
    },
    "reduce.cu" => {
        sum_squares_partial: "sum_squares_partial",
        reduce_f64: "reduce_f64",
    },
    "cells.cu" => {
        lstm_fwd: "lstm_fwd",
        lstm_bwd: "lstm_bwd",
        gru_fwd: "gru_fwd",
        gru_bwd: "gru_bwd",
        rnn_fwd: "rnn_fwd",
        rnn_bwd: "rnn_bwd",
    },
    "embed.cu" => {
        gather_rows: "gather_rows",
        scatter_add_rows: "scatter_add_rows",
    },
    "loss.cu" => { softmax_xent_rows: "softmax_xent_rows" },
    "optim.cu" => {
        adam_step: "adam_step",
        rmsprop_step: "rmsprop_step",
    },
    "dropout.cu" => { dropout: "dropout_f32" },
    "sample.cu" => { sample_rows: "sample_rows" },
}

/// Architectures the NVRTC test compiles every source for (A100-class and H100-class).
pub const NVRTC_TEST_ARCHS: &[&str] = &["sm_80", "sm_90"];

/// Compiles one source for `arch` (e.g. `"sm_90"`) with the backend's options.
///
/// `--fmad=false` keeps the pointwise arithmetic rounding like the CPU backend (the kernels are
/// memory-bound, so contraction would buy nothing); no headers are needed.
pub fn compile_ptx(src: &KernelSource, arch: &str) -> Result<Ptx> {
    if !super::probe::nvrtc_available() {
        return Err(KernelError::Unavailable(
            "libnvrtc (CUDA 13 NVRTC) not found: add its folder to LD_LIBRARY_PATH".into(),
        ));
    }
    let opts = CompileOptions {
        fmad: Some(false),
        options: vec![format!("--gpu-architecture={arch}")],
        name: Some(src.file.into()),
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(src.src, opts).map_err(|e| {
        let detail = match &e {
            cudarc::nvrtc::CompileError::CompileError { log, .. } => {
                log.to_string_lossy().into_owned()
            }
            other => format!("{other}"),
        };
        KernelError::Device(format!("NVRTC failed on {} for {arch}: {detail}", src.file))
    })
}

/// The PTX of every entry of [`SOURCES`] for `arch`, compiled once per process.
pub(crate) fn cached_ptx(arch: &str) -> Result<Arc<Vec<Ptx>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Vec<Ptx>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache
        .lock()
        .map_err(|_| KernelError::Device("NVRTC cache lock poisoned".into()))?;
    if let Some(p) = map.get(arch) {
        return Ok(p.clone());
    }
    let ptx = SOURCES
        .iter()
        .map(|s| compile_ptx(s, arch))
        .collect::<Result<Vec<_>>>()?;
    let ptx = Arc::new(ptx);
    map.insert(arch.to_string(), ptx.clone());
    Ok(ptx)
}

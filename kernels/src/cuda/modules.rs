//! The `.cu` kernel sources (compiled into the binary with `include_str!`) and their NVRTC
//! compilation with the project's options, to machine code (CUBIN) for one `sm_XY` or to PTX.
//! `cubin_cache.rs` keeps the CUBINs on disk between processes.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use cudarc::nvrtc::{result as nvrtc, sys, Ptx};

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
        fill_rows: "fill_rows_f32",
        sum_rows_partial: "sum_rows_partial_f32",
        sum_rows_final: "sum_rows_final_f32",
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
        gather_sum_rows: "gather_sum_rows",
        scatter_add_rows: "scatter_add_rows",
    },
    "loss.cu" => { softmax_xent_rows: "softmax_xent_rows" },
    "lowp.cu" => {
        qgemv_f32: "qgemv_f32",
        qgemv_bf16: "qgemv_bf16",
        qgemv_int8: "qgemv_int8",
        round_inputs: "round_inputs",
        qgemv_rounded: "qgemv_rounded",
    },
    "optim.cu" => {
        adam_step: "adam_step",
        rmsprop_step: "rmsprop_step",
    },
    "dropout.cu" => { dropout: "dropout_f32" },
    "sample.cu" => { sample_rows: "sample_rows" },
}

/// Architectures the NVRTC test compiles every source for (A100-class and H100-class).
pub const NVRTC_TEST_ARCHS: &[&str] = &["sm_80", "sm_90"];

/// The NVRTC options every source is compiled with for `arch` (e.g. `"sm_90"`); part of the
/// CUBIN cache key.
///
/// `--fmad=false` keeps the pointwise arithmetic rounding like the CPU backend (the kernels are
/// memory-bound, so contraction would buy nothing); no headers are needed. A real architecture
/// (`sm_XY`, not `compute_XY`) makes NVRTC emit machine code as well as PTX.
pub fn compile_options(arch: &str) -> Vec<String> {
    vec!["--fmad=false".into(), format!("--gpu-architecture={arch}")]
}

/// The NVRTC version that loaded in this process, `(major, minor)`.
pub fn nvrtc_version() -> Result<(i32, i32)> {
    static V: OnceLock<std::result::Result<(i32, i32), String>> = OnceLock::new();
    V.get_or_init(|| {
        require_nvrtc().map_err(|e| match e {
            KernelError::Unavailable(m) | KernelError::Device(m) | KernelError::Shape(m) => m,
        })?;
        let (mut major, mut minor) = (0, 0);
        // SAFETY: NVRTC is loaded (checked above); the call only writes the two ints.
        unsafe { sys::nvrtcVersion(&mut major, &mut minor) }
            .result()
            .map_err(|e| format!("nvrtcVersion: {e}"))?;
        Ok((major, minor))
    })
    .clone()
    .map_err(KernelError::Unavailable)
}

/// Compiles one source to machine code (a CUBIN) for `arch` (`"sm_90"`) with
/// [`compile_options`]. No GPU is needed.
pub fn compile_cubin(src: &KernelSource, arch: &str) -> Result<Vec<u8>> {
    let prog = Program::compile(src, arch)?;
    let mut size = 0usize;
    // SAFETY: `prog` is a compiled program; the buffer is as long as NVRTC says.
    unsafe {
        sys::nvrtcGetCUBINSize(prog.prog, &mut size)
            .result()
            .map_err(prog.err("size"))?;
        let mut cubin = vec![0u8; size];
        sys::nvrtcGetCUBIN(prog.prog, cubin.as_mut_ptr().cast::<c_char>())
            .result()
            .map_err(prog.err("CUBIN"))?;
        Ok(cubin)
    }
}

/// Compiles one source to PTX for `arch` with [`compile_options`]: the fallback when a CUBIN
/// does not load, and what the NVRTC test reads kernel names from.
pub fn compile_ptx(src: &KernelSource, arch: &str) -> Result<Ptx> {
    let prog = Program::compile(src, arch)?;
    // SAFETY: `prog` is a compiled program.
    let text = unsafe { nvrtc::get_ptx(prog.prog) }.map_err(prog.err("PTX"))?;
    Ok(Ptx::from_src(c_text(&text)))
}

fn require_nvrtc() -> Result<()> {
    if super::probe::nvrtc_available() {
        Ok(())
    } else {
        Err(KernelError::Unavailable(
            "libnvrtc (CUDA 13 NVRTC) not found: add its folder to LD_LIBRARY_PATH".into(),
        ))
    }
}

/// A NUL-terminated C buffer as text (lossy).
fn c_text(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One compiled NVRTC program; destroyed on drop. The source and name strings must outlive
/// it (NVRTC may keep pointers to them), so they live here too.
struct Program {
    prog: sys::nvrtcProgram,
    file: &'static str,
    arch: String,
    _src: CString,
    _name: CString,
}

impl Program {
    fn compile(src: &KernelSource, arch: &str) -> Result<Self> {
        require_nvrtc()?;
        let fail = |detail: String| {
            KernelError::Device(format!("NVRTC failed on {} for {arch}: {detail}", src.file))
        };
        let text = CString::new(src.src).map_err(|_| fail("NUL byte in the source".into()))?;
        let name = CString::new(src.file).map_err(|_| fail("NUL byte in the name".into()))?;
        let prog =
            nvrtc::create_program(&text, Some(name.as_c_str())).map_err(|e| fail(e.to_string()))?;
        let p = Program {
            prog,
            file: src.file,
            arch: arch.to_string(),
            _src: text,
            _name: name,
        };
        // SAFETY: `prog` was just created and is destroyed only by Drop.
        if let Err(e) = unsafe { nvrtc::compile_program(p.prog, &compile_options(arch)) } {
            // SAFETY: as above; the log explains the failure.
            let log = unsafe { nvrtc::get_program_log(p.prog) }
                .map(|l| c_text(&l))
                .unwrap_or_default();
            return Err(fail(format!("{e}: {}", log.trim())));
        }
        Ok(p)
    }

    /// Maps an NVRTC error while reading `what` out of the compiled program.
    fn err(&self, what: &'static str) -> impl Fn(nvrtc::NvrtcError) -> KernelError + '_ {
        move |e| {
            KernelError::Device(format!(
                "NVRTC {what} of {} for {}: {e}",
                self.file, self.arch
            ))
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: created by create_program and destroyed only here; a failure leaks at worst.
        let _ = unsafe { nvrtc::destroy_program(self.prog) };
    }
}

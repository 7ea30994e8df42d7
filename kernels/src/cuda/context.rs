//! [`CudaBackend`]: the CUDA context, one stream, the cuBLAS handle and the loaded kernels.
//!
//! Everything runs in order on one stream with cudarc's per-buffer event tracking turned off
//! (one stream needs no cross-stream events, and it keeps the stream capturable as a CUDA
//! graph). Host reads synchronize the stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cudarc::cublas::CudaBlas;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, LaunchConfig,
};
use cudarc::nvrtc::Ptx;

use super::cubin_cache::process_cubins;
use super::info::{self, CudaInfo};
use super::modules::{self, Kernels, SOURCES};
use super::probe;
use crate::{KernelError, Result};

/// Threads per block of the 1-D elementwise kernels.
pub(crate) const THREADS: u32 = 256;
/// Grid-size cap: the kernels are grid-stride loops, so more blocks than this buy nothing.
const MAX_BLOCKS: usize = 1 << 16;

/// The CUDA backend: device buffers, cuBLAS GEMMs and fused NVRTC kernels on one stream.
pub struct CudaBackend {
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) blas: Mutex<CudaBlas>,
    pub(crate) k: Kernels,
    /// f64 scratch for device-side reductions (grown on demand).
    scratch: Mutex<Option<CudaSlice<f64>>>,
    name: String,
    info: CudaInfo,
}

/// A `KernelError::Device` naming the failed operation.
pub(crate) fn dev_err(what: &str) -> impl Fn(cudarc::driver::DriverError) -> KernelError + '_ {
    move |e| KernelError::Device(format!("{what}: {e}"))
}

/// A 1-D launch covering `n` elements with [`THREADS`]-thread blocks.
pub(crate) fn grid(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(THREADS as usize).clamp(1, MAX_BLOCKS);
    LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Grid rows cap (CUDA's y limit); the 2-D kernels stride over rows, so more rows are fine.
const MAX_GRID_Y: usize = 65_535;

/// A 2-D launch over a `rows × cols` block: x covers columns (coalesced), y rows. Blocks are
/// `(bx, THREADS / bx)` with `bx` the column count rounded up to a power of two in
/// `[32, THREADS]`, so narrow rows still fill a block. The kernels stride over both dimensions
/// (`FOR_ROWS` / `FOR_COLS` in the `.cu` files) and never divide to find a row.
pub(crate) fn grid2d(rows: usize, cols: usize) -> LaunchConfig {
    let bx = cols.next_power_of_two().clamp(32, THREADS as usize);
    let by = THREADS as usize / bx;
    LaunchConfig {
        grid_dim: (
            cols.div_ceil(bx).clamp(1, MAX_BLOCKS) as u32,
            rows.div_ceil(by).clamp(1, MAX_GRID_Y) as u32,
            1,
        ),
        block_dim: (bx as u32, by as u32, 1),
        shared_mem_bytes: 0,
    }
}

/// Launches `$f` on `$be`'s stream with `$cfg` and the arguments (all `DeviceRepr` values:
/// device addresses as `u64`, sizes as `u64`, scalars). Evaluates to `Result<()>`.
macro_rules! launch {
    ($be:expr, $f:ident, $cfg:expr, $($arg:expr),+ $(,)?) => {{
        use cudarc::driver::PushKernelArg;
        // SAFETY: every caller checked its operand ranges against the buffer lengths first, and
        // the argument list matches the kernel's signature in kernels/*.cu.
        unsafe {
            $be.stream
                .launch_builder(&$be.k.$f)
                $(.arg(&$arg))+
                .launch($cfg)
        }
        .map(|_| ())
        .map_err($crate::cuda::context::dev_err(stringify!($f)))
    }};
}
pub(crate) use launch;

impl CudaBackend {
    /// Opens GPU `ordinal`: probes the libraries, creates the context, stream and cuBLAS handle,
    /// and loads the kernels as machine code (CUBIN) for the device's `sm_XY`, from the disk
    /// cache or compiled by NVRTC (see [`CubinCache`](super::CubinCache)); PTX only when a CUBIN
    /// does not load. Logs the versions that loaded (see [`CudaBackend::info`]).
    ///
    /// Never panics when CUDA is missing: returns `KernelError::Unavailable` with the reason
    /// when there is no GPU to use (no driver or libraries, no device), and
    /// `KernelError::Device` when a visible GPU fails (a driver too old, a context or kernel
    /// that does not load), which `device = "auto"` reports as a warning.
    pub fn new(ordinal: usize) -> Result<Self> {
        probe::libraries()?;
        // A driver too old for a symbol cudarc binds would panic inside cudarc: report it.
        std::panic::catch_unwind(|| Self::open(ordinal)).unwrap_or_else(|_| {
            Err(KernelError::Device(format!(
                "cuda:{ordinal}: the CUDA driver library failed to load a required function (driver older than CUDA 13?)"
            )))
        })
    }

    fn open(ordinal: usize) -> Result<Self> {
        let count = CudaContext::device_count().map_err(|e| {
            KernelError::Unavailable(format!("the CUDA driver did not initialise: {e}"))
        })?;
        if ordinal >= count.max(0) as usize {
            return Err(KernelError::Unavailable(format!(
                "cuda:{ordinal} requested but {count} CUDA device(s) are visible"
            )));
        }
        let ctx = CudaContext::new(ordinal)
            .map_err(|e| KernelError::Device(format!("cuda:{ordinal}: creating a context: {e}")))?;
        // SAFETY: one stream only (see the module docs); set before any buffer is allocated.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().map_err(dev_err("new_stream"))?;
        let blas = CudaBlas::new(stream.clone())
            .map_err(|e| KernelError::Device(format!("cuBLAS init: {e}")))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(dev_err("compute_capability"))?;
        let arch = format!("sm_{major}{minor}");
        let (mut funcs, kernels) = load_kernels(&ctx, &arch)?;
        let mut take = |name: &str| {
            funcs
                .remove(name)
                .ok_or_else(|| KernelError::Device(format!("kernel {name} not in any source")))
        };
        let k = Kernels::load(&mut take)?;
        let dev = ctx.name().unwrap_or_else(|_| "unknown device".into());
        let info = CudaInfo {
            device: dev.clone(),
            arch: arch.clone(),
            driver: info::driver_version(),
            nvrtc: modules::nvrtc_version()
                .map(|(a, b)| format!("{a}.{b}"))
                .unwrap_or_else(|e| format!("? ({e})")),
            cublas: info::cublas_version(*blas.handle()),
            kernels,
            library_files: info::loaded_library_files(),
        };
        log::info!("cuda:{ordinal} {info}");
        log::debug!("CUDA library files: {}", info.library_files.join(", "));
        Ok(CudaBackend {
            name: format!("cuda:{ordinal} {dev} ({arch})"),
            ctx,
            stream,
            blas: Mutex::new(blas),
            k,
            scratch: Mutex::new(None),
            info,
        })
    }

    /// Waits until every queued operation has finished (for timing and before host reads).
    pub fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(dev_err("synchronize"))
    }

    /// What loaded: driver, NVRTC and cuBLAS versions, library files, CUBIN or PTX.
    pub fn info(&self) -> &CudaInfo {
        &self.info
    }

    /// The backend's name for logs.
    pub(crate) fn device_name(&self) -> &str {
        &self.name
    }

    /// Binds the context to the calling thread (cheap when already bound).
    pub(crate) fn bind(&self) -> Result<()> {
        self.ctx.bind_to_thread().map_err(dev_err("bind context"))
    }

    /// Runs `f` with the device address of an f64 scratch buffer of at least `n` elements
    /// (grown on demand, locked for the duration).
    pub(crate) fn with_scratch<R>(&self, n: usize, f: impl FnOnce(u64) -> Result<R>) -> Result<R> {
        let mut g = self
            .scratch
            .lock()
            .map_err(|_| KernelError::Device("scratch lock poisoned".into()))?;
        let buf = match g.take() {
            Some(s) if s.len() >= n => s,
            _ => {
                let cap = n.max(1024).next_power_of_two();
                self.stream
                    .alloc_zeros::<f64>(cap)
                    .map_err(dev_err("scratch alloc"))?
            }
        };
        let base = buf.device_ptr(&self.stream).0;
        let r = f(base);
        *g = Some(buf);
        r
    }
}

/// Loads every source into `ctx` for `arch`: each CUBIN as a binary module, which loads on
/// any driver of the NVRTC's major version, unlike PTX newer than the driver
/// (`CUDA_ERROR_UNSUPPORTED_PTX_VERSION`). A CUBIN that fails to load falls back to PTX with a
/// warning naming the error, and so do the sources after it. Returns the kernels by name and a
/// description of how they loaded.
fn load_kernels(
    ctx: &Arc<CudaContext>,
    arch: &str,
) -> Result<(HashMap<&'static str, CudaFunction>, String)> {
    let cubins = process_cubins(arch)?;
    let mut fallback: Option<String> = None;
    let mut funcs = HashMap::new();
    for (src, cubin) in SOURCES.iter().zip(&cubins.images) {
        let module = match &fallback {
            None => match ctx.load_module(Ptx::from_binary(cubin.clone())) {
                Ok(m) => m,
                Err(e) => {
                    let why = format!("loading the CUBIN of {} for {arch} failed: {e}", src.file);
                    log::warn!("{why}; falling back to PTX (JIT-compiled by the driver)");
                    fallback = Some(why);
                    load_ptx(ctx, src, arch)?
                }
            },
            Some(_) => load_ptx(ctx, src, arch)?,
        };
        for &name in src.kernels {
            let f = module
                .load_function(name)
                .map_err(|e| KernelError::Device(format!("kernel {name} in {}: {e}", src.file)))?;
            funcs.insert(name, f);
        }
    }
    let how = match fallback {
        Some(why) => format!("PTX ({why})"),
        None => {
            let from = match &cubins.dir {
                Some(d) => format!(
                    "{} of {} from the cache {}",
                    cubins.from_cache,
                    SOURCES.len(),
                    d.display()
                ),
                None => "no cache folder".into(),
            };
            format!("CUBIN ({from}; {:.2} s)", cubins.seconds)
        }
    };
    Ok((funcs, how))
}

fn load_ptx(
    ctx: &Arc<CudaContext>,
    src: &modules::KernelSource,
    arch: &str,
) -> Result<Arc<CudaModule>> {
    let ptx = modules::compile_ptx(src, arch)?;
    ctx.load_module(ptx)
        .map_err(|e| KernelError::Device(format!("loading {} as PTX for {arch}: {e}", src.file)))
}

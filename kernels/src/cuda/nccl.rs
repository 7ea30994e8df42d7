//! NCCL for data-parallel training on GPUs: rank 0 creates a unique id, the job passes it to
//! every rank over MPI, and each rank joins a communicator on its own GPU's stream, so the
//! gradient all-reduce runs device to device (NVLink, InfiniBand, or PCIe through the host's
//! network) with no copy into host memory. `libnccl.so.2` is loaded at run time like the rest
//! of CUDA; without it the job sums through the host instead.

use std::sync::{Mutex, OnceLock};

use cudarc::nccl::safe::{Comm, Id, ReduceOp};

use super::buffers::CudaBuf;
use super::context::CudaBackend;
use crate::{DeviceGroup, KernelError, Result};

/// The length of NCCL's unique id (`NCCL_UNIQUE_ID_BYTES`).
const ID_BYTES: usize = 128;

/// Whether `libnccl.so.2` can be loaded (probed once per process; no GPU needed).
pub fn nccl_available() -> bool {
    static P: OnceLock<bool> = OnceLock::new();
    // SAFETY: the probe only tries to dlopen the library under its usual names.
    *P.get_or_init(|| unsafe { cudarc::nccl::sys::is_culib_present() })
}

/// An NCCL call's failure as a [`KernelError::Device`] naming it.
fn nccl_err(what: &str) -> impl Fn(cudarc::nccl::result::NcclError) -> KernelError + '_ {
    move |e| KernelError::Device(format!("NCCL {what}: {:?}", e.0))
}

/// Runs `f`, turning a panic inside cudarc (a symbol this libnccl lacks) into an error.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(KernelError::Device(format!(
            "NCCL {what}: the library lacks a function rnngym needs (NCCL older than 2.10?)"
        )))
    })
}

/// The error of an NCCL entry point called without the library.
fn missing() -> KernelError {
    KernelError::Unavailable(
        "NCCL not found (libnccl.so.2; install it or add its folder to LD_LIBRARY_PATH)".into(),
    )
}

/// A new unique id.
pub(crate) fn new_id() -> Result<Vec<u8>> {
    if !nccl_available() {
        return Err(missing());
    }
    guarded("ncclGetUniqueId", || {
        let id = Id::new().map_err(nccl_err("ncclGetUniqueId"))?;
        Ok(id.internal().iter().map(|&c| c as u8).collect())
    })
}

/// Joins the communicator `id` as `rank` of `world` on `be`'s GPU and stream.
pub(crate) fn join(
    be: &CudaBackend,
    id: &[u8],
    rank: usize,
    world: usize,
) -> Result<Box<dyn DeviceGroup<CudaBuf>>> {
    if !nccl_available() {
        return Err(missing());
    }
    let Ok(bytes) = <[u8; ID_BYTES]>::try_from(id) else {
        return Err(KernelError::Shape(format!(
            "an NCCL unique id has {ID_BYTES} bytes, got {}",
            id.len()
        )));
    };
    if rank >= world {
        return Err(KernelError::Shape(format!(
            "rank {rank} of a group of {world}"
        )));
    }
    guarded("ncclCommInitRank", || {
        // NCCL opens the communicator on the calling thread's current device.
        be.ctx
            .bind_to_thread()
            .map_err(|e| KernelError::Device(format!("binding the CUDA context: {e}")))?;
        let id = Id::uninit(bytes.map(|b| b as std::ffi::c_char));
        let comm = Comm::from_rank(be.stream.clone(), rank, world, id)
            .map_err(nccl_err("ncclCommInitRank"))?;
        Ok(Box::new(Nccl(Mutex::new(Owned(comm)))) as Box<dyn DeviceGroup<CudaBuf>>)
    })
}

/// The communicator, owned by one process and used by one thread at a time.
struct Owned(Comm);

// SAFETY: an NCCL communicator may be used from any thread as long as calls on it do not
// overlap; the mutex in `Nccl` serialises them.
unsafe impl Send for Owned {}

/// An NCCL communicator as a [`DeviceGroup`].
struct Nccl(Mutex<Owned>);

impl DeviceGroup<CudaBuf> for Nccl {
    fn all_reduce_mean(&self, buf: &mut CudaBuf, n: usize) -> Result<()> {
        let len = buf.slice.as_ref().map_or(0, |s| s.len());
        if n > len {
            return Err(KernelError::Shape(format!(
                "all-reduce of {n} elements in a buffer of {len}"
            )));
        }
        let Some(slice) = buf.slice.as_mut().filter(|_| n > 0) else {
            return Ok(());
        };
        let comm = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut view = slice.slice_mut(0..n);
        guarded("ncclAllReduce", || {
            comm.0
                .all_reduce_in_place(&mut view, &ReduceOp::Avg)
                .map_err(nccl_err("ncclAllReduce"))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;

    #[test]
    fn nccl_is_probed_without_panicking() {
        let present = nccl_available();
        eprintln!("libnccl present: {present}");
        match new_id() {
            Ok(id) => assert!(present && id.len() == ID_BYTES, "{} bytes", id.len()),
            Err(e) => {
                assert!(!present, "{e}");
                assert!(e.to_string().contains("libnccl.so.2"), "{e}");
            }
        }
    }

    /// A group of one rank on GPU 0: the mean over one process is the buffer itself, and bad
    /// operands are errors. Skips, saying why, without a GPU or NCCL.
    #[test]
    fn a_one_rank_group_averages_to_the_buffer_itself() {
        let be = match CudaBackend::new(0) {
            Ok(be) => be,
            Err(e) => {
                eprintln!("skipping the NCCL group test: no usable GPU ({e})");
                return;
            }
        };
        if !be.device_groups() {
            eprintln!("skipping the NCCL group test: libnccl.so.2 not found");
            return;
        }
        let id = be.device_group_id().unwrap();
        let group = be.join_device_group(&id, 0, 1).unwrap();
        let data: Vec<f32> = (0..1000).map(|i| i as f32 * 0.25 - 7.0).collect();
        let mut buf = be.upload(&data).unwrap();
        group.all_reduce_mean(&mut buf, 900).unwrap();
        let mut out = vec![0.0; 1000];
        be.read(&buf, 0, &mut out).unwrap();
        assert_eq!(out, data);
        assert!(group.all_reduce_mean(&mut buf, 1001).is_err());
        assert!(be.join_device_group(&id[..10], 0, 1).is_err());
    }
}

//! Device buffers: [`CudaBuf`] (`f32`) and [`CudaIds`] (`u32` token ids). An empty buffer holds
//! no allocation (CUDA refuses zero-byte allocations). Token ids keep a host mirror so ids are
//! validated on the host exactly as the CPU backend does, without a device round trip.

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};

/// A device buffer of `f32`.
#[derive(Debug)]
pub struct CudaBuf {
    pub(crate) slice: Option<CudaSlice<f32>>,
}

/// A `[rows, cols]` weight matrix at reduced precision on the device, row-major in its
/// format (see [`precision`](crate::precision)): `f32`, bf16 bits or int8 codes with one
/// `f32` scale per row.
#[derive(Debug)]
pub struct CudaQBuf {
    pub(crate) precision: crate::Precision,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    /// The stored values' bytes.
    pub(crate) data: Option<CudaSlice<u8>>,
    /// int8: the row scales; empty otherwise.
    pub(crate) scales: CudaBuf,
}

impl CudaQBuf {
    /// Device address of the first stored value.
    pub(crate) fn at(&self, stream: &CudaStream) -> u64 {
        addr(&self.data, stream, 0)
    }
}

/// A device buffer of `u32` token ids with a host mirror of its contents.
#[derive(Debug)]
pub struct CudaIds {
    pub(crate) slice: Option<CudaSlice<u32>>,
    pub(crate) host: Vec<u32>,
}

/// Raw device address of element `off` of `slice` (0 for an empty buffer).
///
/// The backend runs everything on one stream with cudarc's event tracking disabled, so the
/// address can be used in any later launch on that stream.
fn addr<T>(slice: &Option<CudaSlice<T>>, stream: &CudaStream, off: usize) -> u64 {
    match slice {
        Some(s) => {
            let (p, _sync) = s.device_ptr(stream);
            p + (off * std::mem::size_of::<T>()) as u64
        }
        None => 0,
    }
}

impl CudaBuf {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.slice.as_ref().map_or(0, |s| s.len())
    }

    /// Whether the buffer has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Device address of element `off` (bounds are checked by the caller).
    pub(crate) fn at(&self, stream: &CudaStream, off: usize) -> u64 {
        addr(&self.slice, stream, off)
    }
}

impl CudaIds {
    /// Number of ids the buffer holds.
    pub fn len(&self) -> usize {
        self.host.len()
    }

    /// Whether the buffer has no ids.
    pub fn is_empty(&self) -> bool {
        self.host.is_empty()
    }

    /// Device address of the first id.
    pub(crate) fn at(&self, stream: &CudaStream) -> u64 {
        addr(&self.slice, stream, 0)
    }
}

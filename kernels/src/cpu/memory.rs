//! Host memory for the CPU backend: allocation that reports failure instead of aborting, and
//! how much memory the system can still hand out.

use crate::{KernelError, Result};

/// A zero-filled `Vec` of `n` elements, or `KernelError::Device` when the allocator refuses
/// (`vec![0; n]` would abort the whole process instead).
pub(crate) fn zeroed<T: Copy + Default>(n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        let gib = n as f64 * std::mem::size_of::<T>() as f64 / f64::from(1u32 << 30);
        KernelError::Device(format!(
            "cannot allocate {n} elements ({gib:.1} GiB) of host memory"
        ))
    })?;
    v.resize(n, T::default());
    Ok(v)
}

/// Bytes the system can still give out without swapping (Linux `MemAvailable`); None where
/// that is unknown.
pub(crate) fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut parts = line.split_whitespace().skip(1);
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mem_available() {
        let text = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(parse_mem_available(text), Some(20_000_000 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: x kB\n"), None);
        if cfg!(target_os = "linux") {
            assert!(available_bytes().is_some_and(|b| b > 0));
        }
    }

    #[test]
    fn zeroed_allocates_zeros_and_refuses_the_impossible() {
        assert_eq!(zeroed::<f32>(3).unwrap(), vec![0.0; 3]);
        assert!(zeroed::<u32>(0).unwrap().is_empty());
        let e = zeroed::<f32>(usize::MAX / 2).unwrap_err().to_string();
        assert!(e.contains("cannot allocate"), "{e}");
    }
}

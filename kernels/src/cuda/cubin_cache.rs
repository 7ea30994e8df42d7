//! The on-disk cache of compiled kernels: one CUBIN per (source, compile options, NVRTC
//! version, architecture), so a process loads machine code instead of paying NVRTC for every
//! source each time it opens the GPU (every `rnngym sample` did). A missing, unreadable or
//! corrupt entry is recompiled and rewritten, never an error; entries are written to a temporary
//! file and renamed into place, so a reader sees a whole entry or none.
//!
//! Entry: `rnngym-cubin 1\n`, the key (32 hex digits), the CUBIN's length and FNV-1a 64
//! checksum (one line each), then the CUBIN itself (an ELF image).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::modules::{compile_cubin, compile_options, nvrtc_version, KernelSource, SOURCES};
use crate::{KernelError, Result};

const MAGIC: &[u8] = b"rnngym-cubin 1\n";

/// Where a CUBIN came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CubinOrigin {
    /// Read from a valid cache entry.
    Cache,
    /// Compiled by NVRTC in this call (and written to the cache when it has a folder).
    Compiled,
}

/// A folder of cached CUBINs (or none: always compile).
#[derive(Clone, Debug)]
pub struct CubinCache {
    dir: Option<PathBuf>,
}

impl CubinCache {
    /// A cache in `dir`; `None` compiles every time and writes nothing.
    pub fn new(dir: Option<PathBuf>) -> Self {
        CubinCache { dir }
    }

    /// The cache in [`default_dir`].
    pub fn from_env() -> Self {
        Self::new(default_dir())
    }

    /// The cache folder, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The entry file of `src` for `arch` with the NVRTC that loaded in this process.
    pub fn entry_path(&self, src: &KernelSource, arch: &str) -> Result<Option<PathBuf>> {
        let key = cache_key(src, &compile_options(arch), nvrtc_version()?, arch);
        Ok(self
            .dir
            .as_ref()
            .map(|d| d.join(entry_name(src, arch, key))))
    }

    /// The CUBIN of `src` for `arch`: from a valid entry, else compiled and stored. Only a
    /// compile failure (or NVRTC missing) is an error.
    pub fn load_or_compile(
        &self,
        src: &KernelSource,
        arch: &str,
    ) -> Result<(Vec<u8>, CubinOrigin)> {
        let key = cache_key(src, &compile_options(arch), nvrtc_version()?, arch);
        let path = self
            .dir
            .as_ref()
            .map(|d| d.join(entry_name(src, arch, key)));
        if let Some(cubin) = path.as_deref().and_then(|p| read_entry(p, key)) {
            return Ok((cubin, CubinOrigin::Cache));
        }
        let cubin = compile_cubin(src, arch)?;
        if let Some(p) = &path {
            if let Err(e) = write_entry(p, key, &cubin) {
                warn_unwritable(p, &e);
            }
        }
        Ok((cubin, CubinOrigin::Compiled))
    }
}

/// The default cache folder: `$RNNGYM_CACHE_DIR`, else `$XDG_CACHE_HOME/rnngym/cubin`, else
/// `~/.cache/rnngym/cubin`; `None` when none is set.
pub fn default_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("RNNGYM_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("rnngym/cubin")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/rnngym/cubin")))
}

/// The cache key: FNV-1a 128 over the source's name and text, the compile options, the NVRTC
/// version and the architecture, each length-prefixed so no two inputs run together.
pub fn cache_key(src: &KernelSource, options: &[String], nvrtc: (i32, i32), arch: &str) -> u128 {
    let version = format!("{}.{}", nvrtc.0, nvrtc.1);
    let opts = options.join("\n");
    let parts: [&[u8]; 5] = [
        src.file.as_bytes(),
        src.src.as_bytes(),
        opts.as_bytes(),
        version.as_bytes(),
        arch.as_bytes(),
    ];
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for part in parts {
        for &b in (part.len() as u64).to_le_bytes().iter().chain(part) {
            h ^= u128::from(b);
            h = h.wrapping_mul(0x0000000001000000000000000000013B);
        }
    }
    h
}

fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn entry_name(src: &KernelSource, arch: &str, key: u128) -> String {
    let stem = src.file.trim_end_matches(".cu");
    format!("{stem}-{arch}-{key:032x}.cubin")
}

fn encode(key: u128, cubin: &[u8]) -> Vec<u8> {
    let head = format!("{key:032x}\n{}\n{:016x}\n", cubin.len(), fnv1a64(cubin));
    [MAGIC, head.as_bytes(), cubin].concat()
}

/// The CUBIN of an entry, or `None` when anything about it is off (wrong key, truncated,
/// checksum mismatch, not an ELF image).
fn decode(bytes: &[u8], key: u128) -> Option<Vec<u8>> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let mut lines = rest.splitn(4, |&b| b == b'\n');
    let mut field = || std::str::from_utf8(lines.next()?).ok().map(str::to_owned);
    let (k, len, sum) = (field()?, field()?, field()?);
    let body = lines.next()?;
    let ok = u128::from_str_radix(&k, 16).ok()? == key
        && len.parse::<usize>().ok()? == body.len()
        && u64::from_str_radix(&sum, 16).ok()? == fnv1a64(body)
        && body.starts_with(b"\x7fELF");
    ok.then(|| body.to_vec())
}

fn read_entry(path: &Path, key: u128) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    let cubin = decode(&bytes, key);
    if cubin.is_none() {
        log::info!(
            "CUBIN cache entry {} is invalid; recompiling",
            path.display()
        );
    }
    cubin
}

/// Writes an entry through a temporary file in the same folder and a rename.
fn write_entry(path: &Path, key: u128, cubin: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
    let done = std::fs::write(&tmp, encode(key, cubin)).and_then(|()| std::fs::rename(&tmp, path));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

/// One warning per process: a cache that cannot be written costs every run a recompile.
fn warn_unwritable(path: &Path, e: &std::io::Error) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!(
            "cannot write the CUBIN cache entry {} ({e}); kernels are recompiled in every process (set RNNGYM_CACHE_DIR)",
            path.display()
        );
    }
}

/// Every source's CUBIN for one architecture, as this process got them.
pub(crate) struct Cubins {
    /// One per entry of [`SOURCES`], in order.
    pub(crate) images: Vec<Vec<u8>>,
    /// How many came from the disk cache.
    pub(crate) from_cache: usize,
    /// Seconds spent reading and compiling.
    pub(crate) seconds: f64,
    /// The cache folder used, if any.
    pub(crate) dir: Option<PathBuf>,
}

/// The CUBINs of [`SOURCES`] for `arch`, from the default cache, once per process.
pub(crate) fn process_cubins(arch: &str) -> Result<Arc<Cubins>> {
    static MEMO: OnceLock<Mutex<HashMap<String, Arc<Cubins>>>> = OnceLock::new();
    let mut map = MEMO
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| KernelError::Device("CUBIN cache lock poisoned".into()))?;
    if let Some(c) = map.get(arch) {
        return Ok(c.clone());
    }
    let cache = CubinCache::from_env();
    let start = Instant::now();
    let mut images = Vec::with_capacity(SOURCES.len());
    let mut from_cache = 0;
    for src in SOURCES {
        let (cubin, origin) = cache.load_or_compile(src, arch)?;
        from_cache += usize::from(origin == CubinOrigin::Cache);
        images.push(cubin);
    }
    let c = Arc::new(Cubins {
        images,
        from_cache,
        seconds: start.elapsed().as_secs_f64(),
        dir: cache.dir,
    });
    map.insert(arch.to_string(), c.clone());
    Ok(c)
}

//! The CUBIN disk cache (`kernels/src/cuda/cubin_cache.rs`): an entry is reused while its key
//! (source, options, NVRTC version, architecture) is unchanged, a changed key gets its own
//! entry, and a corrupt, truncated or unreadable entry (or an unusable folder) is recompiled,
//! never an error. Needs NVRTC only (no GPU); skips like `cuda_nvrtc` without it.

mod common;
use std::path::{Path, PathBuf};

use common::nvrtc_or_skip;
use rnngym_kernels::cuda::{
    cache_key, compile_options, default_cache_dir, nvrtc_version, CubinCache, CubinOrigin,
    KernelSource, SOURCES,
};

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("rnngym-cubin-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The smallest source, to keep the compiles short.
fn small_source() -> &'static KernelSource {
    SOURCES.iter().min_by_key(|s| s.src.len()).unwrap()
}

fn get(cache: &CubinCache, src: &KernelSource, arch: &str) -> (Vec<u8>, CubinOrigin) {
    cache.load_or_compile(src, arch).unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn an_entry_is_reused_until_its_key_changes() {
    if !nvrtc_or_skip("an_entry_is_reused_until_its_key_changes") {
        return;
    }
    let dir = TempDir::new("reuse");
    let cache = CubinCache::new(Some(dir.0.clone()));
    let src = small_source();
    let (first, o1) = get(&cache, src, "sm_80");
    assert_eq!(o1, CubinOrigin::Compiled);
    let path = cache.entry_path(src, "sm_80").unwrap().unwrap();
    assert!(path.is_file(), "entry written at {}", path.display());
    let (again, o2) = get(&cache, src, "sm_80");
    assert_eq!((o2, &again), (CubinOrigin::Cache, &first));

    // Another architecture is another entry.
    let (other, o3) = get(&cache, src, "sm_90");
    assert_eq!(o3, CubinOrigin::Compiled);
    assert_ne!(other, first);
    assert_eq!(get(&cache, src, "sm_90").1, CubinOrigin::Cache);

    // An edited source (same file name) is another entry; the original one stays valid.
    let edited = KernelSource {
        src: Box::leak(format!("{}\n// edited\n", src.src).into_boxed_str()),
        ..*src
    };
    assert_ne!(cache.entry_path(&edited, "sm_80").unwrap().unwrap(), path);
    assert_eq!(get(&cache, &edited, "sm_80").1, CubinOrigin::Compiled);
    assert_eq!(get(&cache, &edited, "sm_80").1, CubinOrigin::Cache);
    assert_eq!(get(&cache, src, "sm_80"), (first, CubinOrigin::Cache));

    // Three entries, no temporary files left behind.
    let names = entries(&dir.0);
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".cubin")), "{names:?}");
}

#[test]
fn the_key_covers_source_options_nvrtc_and_arch() {
    let src = small_source();
    let opts = compile_options("sm_90");
    let base = cache_key(src, &opts, (13, 0), "sm_90");
    let edited = KernelSource {
        src: Box::leak(format!("{} ", src.src).into_boxed_str()),
        ..*src
    };
    let renamed = KernelSource {
        file: "other.cu",
        ..*src
    };
    let mut more_opts = opts.clone();
    more_opts.push("--ftz=true".into());
    for (what, key) in [
        ("source", cache_key(&edited, &opts, (13, 0), "sm_90")),
        ("file name", cache_key(&renamed, &opts, (13, 0), "sm_90")),
        ("options", cache_key(src, &more_opts, (13, 0), "sm_90")),
        ("NVRTC minor", cache_key(src, &opts, (13, 2), "sm_90")),
        ("NVRTC major", cache_key(src, &opts, (14, 0), "sm_90")),
        ("arch", cache_key(src, &opts, (13, 0), "sm_80")),
    ] {
        assert_ne!(key, base, "changing the {what} must change the key");
    }
    assert_eq!(cache_key(src, &opts, (13, 0), "sm_90"), base, "stable");
}

#[test]
fn a_bad_entry_is_recompiled_not_an_error() {
    if !nvrtc_or_skip("a_bad_entry_is_recompiled_not_an_error") {
        return;
    }
    let dir = TempDir::new("bad");
    let cache = CubinCache::new(Some(dir.0.clone()));
    let src = small_source();
    let (good, _) = get(&cache, src, "sm_90");
    let path = cache.entry_path(src, "sm_90").unwrap().unwrap();
    let whole = std::fs::read(&path).unwrap();
    let mut flipped = whole.clone();
    *flipped.last_mut().unwrap() ^= 0x40;
    let damage: [(&str, Vec<u8>); 4] = [
        ("a flipped byte", flipped),
        ("a truncated entry", whole[..whole.len() / 2].to_vec()),
        ("an empty file", Vec::new()),
        ("a bare CUBIN without the header", good.clone()),
    ];
    for (what, bytes) in damage {
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(
            get(&cache, src, "sm_90"),
            (good.clone(), CubinOrigin::Compiled),
            "{what}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), whole, "{what}: rewritten");
        assert_eq!(get(&cache, src, "sm_90").1, CubinOrigin::Cache, "{what}");
    }

    // An unreadable entry (a folder in its place) and a folder that cannot be created: the
    // CUBIN still comes back, compiled.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir_all(path.join("x")).unwrap();
    assert_eq!(
        get(&cache, src, "sm_90"),
        (good.clone(), CubinOrigin::Compiled)
    );
    let blocked = dir.0.join("not-a-dir");
    std::fs::write(&blocked, b"a file").unwrap();
    let under_file = CubinCache::new(Some(blocked.join("cubin")));
    assert_eq!(
        get(&under_file, src, "sm_90"),
        (good.clone(), CubinOrigin::Compiled)
    );
    let none = CubinCache::new(None);
    assert_eq!(none.entry_path(src, "sm_90").unwrap(), None);
    assert_eq!(get(&none, src, "sm_90"), (good, CubinOrigin::Compiled));
}

#[test]
fn the_default_folder_follows_the_environment() {
    // The only test here that reads or sets these variables.
    let saved: Vec<_> = ["RNNGYM_CACHE_DIR", "XDG_CACHE_HOME", "HOME"]
        .map(|k| (k, std::env::var_os(k)))
        .into();
    std::env::set_var("RNNGYM_CACHE_DIR", "/tmp/rnngym-own");
    std::env::set_var("XDG_CACHE_HOME", "/tmp/xdg");
    std::env::set_var("HOME", "/tmp/home");
    assert_eq!(default_cache_dir(), Some(PathBuf::from("/tmp/rnngym-own")));
    std::env::set_var("RNNGYM_CACHE_DIR", "");
    assert_eq!(
        default_cache_dir(),
        Some(PathBuf::from("/tmp/xdg/rnngym/cubin"))
    );
    std::env::remove_var("XDG_CACHE_HOME");
    assert_eq!(
        default_cache_dir(),
        Some(PathBuf::from("/tmp/home/.cache/rnngym/cubin"))
    );
    std::env::remove_var("HOME");
    std::env::remove_var("RNNGYM_CACHE_DIR");
    assert_eq!(default_cache_dir(), None);
    for (k, v) in saved {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
}

#[test]
fn the_nvrtc_version_is_reported() {
    if !nvrtc_or_skip("the_nvrtc_version_is_reported") {
        return;
    }
    let (major, minor) = nvrtc_version().unwrap();
    assert!(major >= 13 && minor >= 0, "NVRTC {major}.{minor}");
}

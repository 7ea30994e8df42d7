//! What relative paths in a config are relative to. One rule for every path-valued key
//! (`gym.path`, `checkpoint.dir`, and the gym options that name files, such as
//! `gym.options.cache_dir`): a path written in a config file resolves against that file's
//! folder, so a config and its data can move together; a path given on the command line
//! (`--set`) resolves against the current directory, as every shell path does.
//!
//! File paths of the `[gym]` section are resolved by the gym against [`GymSpec::base_dir`]
//! (the file's folder); `--set` ones are made absolute here, so that join leaves them be.
//! `checkpoint.dir` is not the gym's: it is joined to the file's folder here.

use std::path::{Component, Path, PathBuf};

use rnngym_gyms::GymSpec;

use super::Config;

/// The file's folder, as relative paths join it (`.` for a file in the current directory).
pub(super) fn folder_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Resolves the relative paths a config file wrote against `folder`, the file's folder.
pub(super) fn resolve_from_file(cfg: &mut Config, folder: &Path) {
    cfg.gym.base_dir = folder.to_path_buf();
    let dir = &mut cfg.checkpoint.dir;
    if is_relative(dir) && folder != Path::new(".") {
        *dir = join(folder, Path::new(&*dir)).display().to_string();
    }
}

/// `folder/rel`, with each leading `..` of `rel` taking back a last folder component that is
/// a real directory (not a symbolic link, through which `..` would lead elsewhere), so that
/// `configs` + `../runs/x` reads `runs/x` in messages rather than `configs/../runs/x`.
fn join(folder: &Path, rel: &Path) -> PathBuf {
    let mut base = folder.to_path_buf();
    let mut rest = rel.components().peekable();
    while rest.peek() == Some(&Component::ParentDir) {
        let last_is_dir = matches!(base.components().next_back(), Some(Component::Normal(_)))
            && std::fs::symlink_metadata(&base).is_ok_and(|m| m.is_dir());
        if !last_is_dir {
            break;
        }
        base.pop();
        rest.next();
    }
    let joined = base.join(rest.collect::<PathBuf>());
    if joined.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        joined
    }
}

/// Makes the relative `[gym]` paths that the override of `key` (`gym.path`, or a table
/// above a path such as `gym` or `gym.options`) set absolute against the current directory.
/// `checkpoint.dir` needs nothing: the process already resolves it there.
pub(super) fn resolve_from_command_line(cfg: &mut Config, key: &str) {
    let key: Vec<&str> = key.split('.').map(str::trim).collect();
    // Whether the override set `path` (given as its parts below `gym`).
    let sets = |path: &[&str]| {
        let full: Vec<&str> = ["gym"].iter().chain(path).copied().collect();
        full.starts_with(&key)
    };
    if sets(&["path"]) {
        if let Some(p) = cfg.gym.path.as_mut() {
            absolutize(p);
        }
    }
    for name in GymSpec::PATH_OPTIONS {
        if sets(&["options", name]) {
            if let Some(toml::Value::String(p)) = cfg.gym.options.get_mut(name) {
                absolutize(p);
            }
        }
    }
}

/// Whether `p` is a relative path to resolve: an empty one stays empty, for validation or
/// the gym to refuse (joined, it would name the folder).
fn is_relative(p: &str) -> bool {
    !p.trim().is_empty() && Path::new(p).is_relative()
}

/// `p` against the current directory, when relative (kept as is if that cannot be known).
fn absolutize(p: &mut String) {
    if is_relative(p) {
        if let Ok(abs) = std::path::absolute(&*p) {
            *p = abs.display().to_string();
        }
    }
}

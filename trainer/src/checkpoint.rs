//! Checkpoint storage: named F32 tensors in a safetensors file plus versioned JSON metadata in
//! its `__metadata__` map (`format`, `format_version`, `meta`). Writes are atomic; reads check
//! everything and fail with a message naming the file. Layout: docs/FORMATS.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::fsutil::atomic_write;

/// Version of the checkpoint layout written by this build; newer files are refused.
pub const FORMAT_VERSION: u32 = 1;
/// Value of the `format` metadata key that marks a file as an rnngym checkpoint.
pub const FORMAT_TAG: &str = "rnngym";

/// A host tensor read from a checkpoint: row-major `data` of `shape`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values; `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

/// Why a checkpoint could not be saved or loaded; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read (missing, permissions).
    #[error("cannot read checkpoint {}: {error}", path.display())]
    Read {
        /// The checkpoint file.
        path: PathBuf,
        /// The I/O error (its text is in the message, so it is not also a `source()`).
        error: std::io::Error,
    },
    /// The file (or its directory) could not be written.
    #[error("cannot write checkpoint {}: {error}", path.display())]
    Write {
        /// The checkpoint file.
        path: PathBuf,
        /// The I/O error (its text is in the message, so it is not also a `source()`).
        error: std::io::Error,
    },
    /// The bytes are not a well-formed safetensors file.
    #[error(
        "{} is not a valid rnngym checkpoint ({reason}); it may be truncated or corrupted",
        path.display()
    )]
    Corrupt {
        /// The checkpoint file.
        path: PathBuf,
        /// What the parser found.
        reason: String,
    },
    /// A safetensors file without the rnngym format tag.
    #[error(
        "{} is a safetensors file but not an rnngym checkpoint (no format = \"{FORMAT_TAG}\" tag)",
        path.display()
    )]
    NotRnngym {
        /// The file.
        path: PathBuf,
    },
    /// Written by a newer build with a layout this one does not know.
    #[error(
        "{} was written by a newer rnngym (format version {found}, this build reads up to {FORMAT_VERSION}); upgrade rnngym",
        path.display()
    )]
    TooNew {
        /// The checkpoint file.
        path: PathBuf,
        /// Its format version.
        found: u32,
    },
    /// The metadata is present but unusable.
    #[error("{}: invalid checkpoint metadata: {reason}", path.display())]
    Metadata {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The tensors handed to `save` are inconsistent (a bug in the caller, not in the file).
    #[error("cannot save checkpoint {}: {reason}", path.display())]
    Invalid {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Writes `tensors` (name, shape, row-major data) and `meta` to `path` atomically.
pub fn save(
    path: &Path,
    meta: &serde_json::Value,
    tensors: &[(&str, &[usize], &[f32])],
) -> Result<(), CheckpointError> {
    let invalid = |reason: String| CheckpointError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let mut names = BTreeSet::new();
    let mut bytes = Vec::with_capacity(tensors.len());
    for &(name, shape, data) in tensors {
        if name == "__metadata__" || !names.insert(name) {
            return Err(invalid(format!(
                "duplicate or reserved tensor name {name:?}"
            )));
        }
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if n != Some(data.len()) {
            return Err(invalid(format!(
                "tensor {name:?} has shape {shape:?} but {} values",
                data.len()
            )));
        }
        // safetensors stores little-endian regardless of the host.
        bytes.push(
            data.iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<Vec<u8>>(),
        );
    }
    let mut views = Vec::with_capacity(tensors.len());
    for (&(name, shape, _), b) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, shape.to_vec(), b)
            .map_err(|e| invalid(format!("tensor {name:?}: {e}")))?;
        views.push((name, view));
    }
    let meta_text = meta.to_string();
    let mut by_name: Vec<(&str, &[u8])> = tensors
        .iter()
        .zip(&bytes)
        .map(|(&(name, _, _), b)| (name, b.as_slice()))
        .collect();
    by_name.sort_by_key(|&(name, _)| name);
    let info = HashMap::from([
        ("format".to_string(), FORMAT_TAG.to_string()),
        ("format_version".to_string(), FORMAT_VERSION.to_string()),
        ("checksum".to_string(), checksum(&meta_text, by_name)),
        ("meta".to_string(), meta_text),
    ]);
    let buf = safetensors::serialize(views, Some(info)).map_err(|e| invalid(e.to_string()))?;
    let write_err = |error| CheckpointError::Write {
        path: path.to_path_buf(),
        error,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    atomic_write(path, &buf).map_err(write_err)
}

/// [`save`] of tensors held by name, as [`load`] returns them (to write back an edited one).
pub fn save_map(
    path: &Path,
    meta: &serde_json::Value,
    tensors: &BTreeMap<String, Tensor>,
) -> Result<(), CheckpointError> {
    let views: Vec<(&str, &[usize], &[f32])> = tensors
        .iter()
        .map(|(n, t)| (n.as_str(), t.shape.as_slice(), t.data.as_slice()))
        .collect();
    save(path, meta, &views)
}

/// Metadata and tensors by name, as read from a checkpoint.
pub type Contents = (serde_json::Value, BTreeMap<String, Tensor>);

/// Reads a checkpoint written by [`save`]: its metadata and tensors by name.
pub fn load(path: &Path) -> Result<Contents, CheckpointError> {
    let buf = std::fs::read(path).map_err(|error| CheckpointError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    load_bytes(&buf, path)
}

/// [`load`] on a checkpoint already in memory; `path` only names it in errors. The
/// `checkpoint_load` fuzz target and its regression tests drive this.
pub fn load_bytes(buf: &[u8], path: &Path) -> Result<Contents, CheckpointError> {
    let p = || path.to_path_buf();
    let corrupt = |reason: String| CheckpointError::Corrupt { path: p(), reason };
    // The safetensors parser checks the declared header length and every tensor's offsets
    // against the buffer length, so a bad file cannot trigger a big allocation.
    let (_, header) = SafeTensors::read_metadata(buf).map_err(|e| corrupt(e.to_string()))?;
    let info = header.metadata().as_ref();
    let get = |k: &str| info.and_then(|m| m.get(k));
    if get("format").map(String::as_str) != Some(FORMAT_TAG) {
        return Err(CheckpointError::NotRnngym { path: p() });
    }
    let version_text = get("format_version").ok_or_else(|| corrupt("no format_version".into()))?;
    let version: u32 = version_text
        .parse()
        .map_err(|_| corrupt(format!("format_version {version_text:?} is not a number")))?;
    if version > FORMAT_VERSION {
        return Err(CheckpointError::TooNew {
            path: p(),
            found: version,
        });
    }
    let meta_text = get("meta").ok_or_else(|| CheckpointError::Metadata {
        path: p(),
        reason: "no \"meta\" entry".into(),
    })?;
    let meta: serde_json::Value =
        serde_json::from_str(meta_text).map_err(|e| CheckpointError::Metadata {
            path: p(),
            reason: e.to_string(),
        })?;

    let st = SafeTensors::deserialize(buf).map_err(|e| corrupt(e.to_string()))?;
    // Files from before checksums have none: they load as before.
    if let Some(want) = get("checksum") {
        let mut tensors = st.tensors();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let found = checksum(
            meta_text,
            tensors.iter().map(|(n, v)| (n.as_str(), v.data())),
        );
        if &found != want {
            return Err(corrupt(format!(
                "checksum {found} does not match the {want} it was written with: the file was \
                 damaged after it was saved"
            )));
        }
    }
    let mut out = BTreeMap::new();
    for (name, view) in st.iter() {
        if view.dtype() != Dtype::F32 {
            return Err(CheckpointError::Metadata {
                path: p(),
                reason: format!("tensor {name:?} has dtype {}, expected F32", view.dtype()),
            });
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let shape = view.shape().to_vec();
        out.insert(name.to_string(), Tensor { shape, data });
    }
    Ok((meta, out))
}

/// CRC-32 of the metadata text and every tensor's bytes in name order, as 8 hex digits.
fn checksum<'a>(meta: &str, tensors: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut h = crc32fast::Hasher::new();
    h.update(meta.as_bytes());
    for (name, data) in tensors {
        h.update(name.as_bytes());
        h.update(data);
    }
    format!("{:08x}", h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample_tensors() -> Vec<(&'static str, Vec<usize>, Vec<f32>)> {
        vec![
            (
                "embed.weight",
                vec![3, 2],
                vec![1.0, -2.5, 0.0, -0.0, f32::MIN_POSITIVE, 1e30],
            ),
            (
                "cell.0.w_ih",
                vec![4],
                vec![f32::INFINITY, f32::NEG_INFINITY, 3.25, 7.0],
            ),
            ("scalar", vec![], vec![42.0]),
            ("empty", vec![0, 5], vec![]),
            ("nan", vec![1], vec![f32::from_bits(0x7fc0_1234)]),
        ]
    }

    fn write_sample(path: &Path) -> serde_json::Value {
        let meta =
            json!({"iteration": 1200, "config": "[model]\nhidden = 8\n", "vocab": ["a", "é"]});
        let t = sample_tensors();
        let refs: Vec<(&str, &[usize], &[f32])> = t
            .iter()
            .map(|(n, s, d)| (*n, s.as_slice(), d.as_slice()))
            .collect();
        save(path, &meta, &refs).unwrap();
        meta
    }

    /// Writes a raw safetensors file with arbitrary metadata, for the refusal tests.
    fn write_raw(path: &Path, info: &[(&str, &str)], dtype: Dtype) {
        let data = [0u8; 16];
        let view = TensorView::new(dtype, vec![2], &data[..dtype.bitsize() / 4]).unwrap();
        let info: HashMap<String, String> = info
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let buf = safetensors::serialize([("w", view)], Some(info)).unwrap();
        std::fs::write(path, buf).unwrap();
    }

    fn load_err(path: &Path) -> String {
        let e = load(path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        e
    }

    #[test]
    fn a_flipped_data_byte_is_caught_by_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        write_sample(&path);
        let mut bytes = std::fs::read(&path).unwrap();
        // The last byte is tensor data (the header comes first): the file still parses.
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let e = load_err(&path);
        assert!(e.contains("checksum") && e.contains("damaged"), "{e}");
        // The same byte flipped back loads again.
        bytes[last] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        load(&path).unwrap();
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ckpt.safetensors");
        let meta = write_sample(&path);
        let (meta2, tensors) = load(&path).unwrap();
        assert_eq!(meta2, meta);
        let expected = sample_tensors();
        assert_eq!(tensors.len(), expected.len());
        for (name, shape, data) in expected {
            let t = &tensors[name];
            assert_eq!(t.shape, shape, "{name}");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&t.data), bits(&data), "{name}");
        }
        // Nothing but the checkpoint is left in the directory (no temp files).
        let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
        // Overwriting an existing checkpoint works and leaves no temp files either.
        write_sample(&path);
        let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn save_refuses_inconsistent_tensors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.safetensors");
        let shape = [2usize, 2];
        let data = [1.0f32; 3];
        assert!(save(&path, &json!({}), &[("w", &shape, &data)]).is_err());
        let ok = [1.0f32; 4];
        assert!(save(&path, &json!({}), &[("w", &shape, &ok), ("w", &shape, &ok)]).is_err());
        let huge = [usize::MAX, 2];
        assert!(save(&path, &json!({}), &[("w", &huge, &ok)]).is_err());
        assert!(!path.exists());
    }

    #[test]
    fn truncated_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        write_sample(&path);
        let full = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.safetensors");
        for len in [
            0,
            1,
            7,
            8,
            9,
            20,
            full.len() / 2,
            full.len() - 4,
            full.len() - 1,
        ] {
            std::fs::write(&cut, &full[..len]).unwrap();
            let e = load_err(&cut);
            assert!(e.contains("truncated or corrupted"), "{len}: {e}");
        }
    }

    #[test]
    fn random_and_flipped_bytes_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.safetensors");
        let mut rng = crate::sample::seeded_rng(Some(3));
        for len in [8usize, 100, 5000] {
            let bytes: Vec<u8> = (0..len).map(|_| rand::Rng::random(&mut rng)).collect();
            std::fs::write(&path, &bytes).unwrap();
            load_err(&path);
        }
        // A header length claiming more than the file holds.
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        std::fs::write(&path, &huge).unwrap();
        load_err(&path);

        write_sample(&path);
        let good = std::fs::read(&path).unwrap();
        let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
        for i in 0..8 + header_len {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] ^= mask;
                std::fs::write(&path, &bad).unwrap();
                // Some flips (inside a string) still parse; the rest must be clean errors.
                if load(&path).is_err() {
                    load_err(&path);
                }
            }
        }
    }

    #[test]
    fn refuses_newer_foreign_and_malformed_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");

        write_raw(
            &path,
            &[
                ("format", "rnngym"),
                ("format_version", "2"),
                ("meta", "{}"),
            ],
            Dtype::F32,
        );
        let e = load_err(&path);
        assert!(e.ends_with(
            "was written by a newer rnngym (format version 2, this build reads up to 1); upgrade rnngym"
        ), "{e}");

        write_raw(
            &path,
            &[("format_version", "1"), ("meta", "{}")],
            Dtype::F32,
        );
        assert!(load_err(&path).contains("not an rnngym checkpoint"));

        write_raw(&path, &[("format", "rnngym"), ("meta", "{}")], Dtype::F32);
        assert!(load_err(&path).contains("format_version"));

        write_raw(
            &path,
            &[
                ("format", "rnngym"),
                ("format_version", "x"),
                ("meta", "{}"),
            ],
            Dtype::F32,
        );
        assert!(load_err(&path).contains("format_version"));

        write_raw(
            &path,
            &[
                ("format", "rnngym"),
                ("format_version", "1"),
                ("meta", "{oops"),
            ],
            Dtype::F32,
        );
        assert!(load_err(&path).contains("metadata"));

        write_raw(
            &path,
            &[
                ("format", "rnngym"),
                ("format_version", "1"),
                ("meta", "{}"),
            ],
            Dtype::F64,
        );
        assert!(load_err(&path).contains("F64"));

        // Sanity: the same raw writer with good metadata loads.
        write_raw(
            &path,
            &[
                ("format", "rnngym"),
                ("format_version", "1"),
                ("meta", "{}"),
            ],
            Dtype::F32,
        );
        let (meta, t) = load(&path).unwrap();
        assert_eq!(meta, json!({}));
        assert_eq!(t["w"].data, vec![0.0, 0.0]);

        let missing = dir.path().join("nope.safetensors");
        assert!(load_err(&missing).contains("cannot read"));
    }
}

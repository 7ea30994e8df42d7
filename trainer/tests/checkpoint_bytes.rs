//! Loading checkpoints from bytes: a good one loads like the file does, and a saved config
//! edited to describe a huge model is refused before anything that size is allocated.

use std::path::Path;

use rnngym_gyms::text::TextGym;
use rnngym_gyms::GymSpec;
use rnngym_kernels::CpuBackend;
use rnngym_trainer::{checkpoint, state, CheckpointKind, Config, Trainer};

fn trained_checkpoint(dir: &Path) -> std::path::PathBuf {
    let mut c = Config {
        gym: GymSpec::new("text-v1"),
        ..Default::default()
    };
    c.gym.val_fraction = 0.0;
    c.model.hidden = 8;
    c.model.embed = Some(4);
    c.train.batch = 2;
    c.train.seq_len = 4;
    c.train.val_every = 0;
    c.checkpoint.dir = dir.display().to_string();
    let gym = TextGym::from_text(&"hello world ".repeat(20), 0.0).unwrap();
    let mut t = Trainer::new(CpuBackend::new(1), c, Box::new(gym)).unwrap();
    t.train(2).unwrap();
    t.save(CheckpointKind::Latest).unwrap()
}

/// Rewrites `src` with its saved config passed through `edit` (tensors unchanged).
fn with_edited_config(src: &Path, dst: &Path, edit: impl Fn(&mut Config)) {
    let (mut meta, tensors) = checkpoint::load(src).unwrap();
    let mut cfg = Config::from_toml_str(meta["config"].as_str().unwrap(), "saved").unwrap();
    edit(&mut cfg);
    meta["config"] = cfg.to_toml_string().into();
    checkpoint::save_map(dst, &meta, &tensors).unwrap();
}

#[test]
fn bytes_load_like_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = trained_checkpoint(dir.path());
    let be = CpuBackend::new(1);
    let bytes = std::fs::read(&path).unwrap();
    let (from_bytes, a) = state::load_model_bytes(&be, &bytes, &path).unwrap();
    let (from_file, b) = state::load_model(&be, &path).unwrap();
    assert_eq!(from_bytes.dims, from_file.dims);
    assert_eq!(a.tensors, b.tensors);
    assert_eq!(
        from_bytes.total as u128,
        rnngym_trainer::budget::param_count(&from_bytes.dims)
    );
}

#[test]
fn an_edited_config_asking_for_a_huge_model_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let path = trained_checkpoint(dir.path());
    let huge = dir.path().join("huge.safetensors");
    // 4 layers of 1024 LSTM units: about 2^25 parameters, 134 MB of f32 from a 5 KB file.
    // Under the supported maximum (budget::MAX_PARAMS) and the memory check, so only the
    // file's size gives it away.
    with_edited_config(&path, &huge, |c| {
        c.model.hidden = 1024;
        c.model.layers = 4;
    });
    let e = match state::load_model(&CpuBackend::new(1), &huge) {
        Ok(_) => panic!("a 134 MB model was built from a tiny file"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("huge.safetensors") && e.contains("corrupted or was edited"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");

    // A small change that still fits in the file's values is caught by the shape check.
    let wrong = dir.path().join("wrong.safetensors");
    with_edited_config(&path, &wrong, |c| c.model.hidden = 4);
    let e = state::load_model(&CpuBackend::new(1), &wrong)
        .err()
        .unwrap();
    assert!(e.to_string().contains("has shape"), "{e}");
}

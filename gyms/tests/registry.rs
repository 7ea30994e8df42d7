//! Registry tests: built-ins, custom ids, versioning and duplicate rules.

use rnngym_gyms::text::TextGym;
use rnngym_gyms::{Gym, GymError, GymRegistry, GymSpec};

fn text_ctor(spec: &GymSpec) -> Result<Box<dyn Gym>, GymError> {
    TextGym::from_spec_boxed(spec)
}

#[test]
fn make_text_v1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.txt"), "hello world").unwrap();
    let mut spec = GymSpec::new("text-v1");
    spec.path = Some("t.txt".into());
    spec.base_dir = dir.path().to_path_buf();
    let reg = GymRegistry::default();
    let builtins: &[&str] = if cfg!(unix) {
        &["process-v1", "text-v1", "wav-v1"]
    } else {
        &["text-v1", "wav-v1"]
    };
    assert_eq!(reg.ids(), builtins);
    let gym = reg.make(&spec).unwrap();
    assert_eq!(gym.id(), "text-v1");
    assert_eq!(gym.codec().vocab_size(), 8);
}

#[test]
fn unknown_id_lists_registered_ids() {
    let mut reg = GymRegistry::with_builtins();
    reg.register("mine-v2", text_ctor).unwrap();
    let msg = match reg.make(&GymSpec::new("wav-v9")) {
        Ok(_) => panic!("unknown id accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        msg.contains("wav-v9") && msg.contains("mine-v2, ") && msg.contains("text-v1, wav-v1"),
        "{msg}"
    );
}

#[test]
fn ids_must_be_versioned_and_new() {
    let mut reg = GymRegistry::empty();
    for bad in ["text", "text-v", "-v1", "text-vx", "text-1"] {
        let msg = reg.register(bad, text_ctor).unwrap_err().to_string();
        assert!(msg.contains("versioned"), "{bad}: {msg}");
    }
    reg.register("text-v1", text_ctor).unwrap();
    let msg = reg.register("text-v1", text_ctor).unwrap_err().to_string();
    assert!(msg.contains("already registered"), "{msg}");
}

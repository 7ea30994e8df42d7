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

/// A gym type for the builder: the text gym under another id.
struct Mine;

impl rnngym_gyms::NamedGym for Mine {
    const ID: &'static str = "mine-v1";
    fn from_spec(spec: &GymSpec) -> Result<Box<dyn Gym>, GymError> {
        text_ctor(spec)
    }
}

/// A codec kind of a user's own: the char codec saved under another kind.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Letters {
    letters: String,
}

impl rnngym_gyms::CodecSpec for Letters {
    const KIND: &'static str = "letters";
    fn build(self) -> Result<std::sync::Arc<dyn rnngym_gyms::Codec>, GymError> {
        Ok(std::sync::Arc::new(rnngym_gyms::CharCodec::from_text(
            &self.letters,
        )))
    }
}

#[test]
fn the_builder_adds_gyms_and_codec_kinds() {
    let reg = GymRegistry::with_builtins()
        .with::<Mine>()
        .with_codec::<Letters>();
    assert!(reg.ids().contains(&"mine-v1".to_string()));
    let spec = rnngym_gyms::codecs::tagged(&Letters {
        letters: "cab".into(),
    });
    assert_eq!(
        spec,
        serde_json::json!({"kind": "letters", "letters": "cab"})
    );
    let codec = reg.codecs().build(&spec).unwrap();
    assert_eq!(codec.render(&[0, 1, 2]), "abc");
    // Without the registration the kind is unknown, and the message says how to register it.
    let msg = GymRegistry::with_builtins()
        .codecs()
        .build(&spec)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("unknown kind \"letters\"") && msg.contains("with_codec"),
        "{msg}"
    );
    // A wrong field is named.
    let bad = serde_json::json!({"kind": "letters", "letter": "ab"});
    let msg = reg.codecs().build(&bad).err().unwrap().to_string();
    assert!(
        msg.contains("kind \"letters\"") && msg.contains("letter"),
        "{msg}"
    );
    // Kinds are unique, built-in ones included.
    let mut codecs = rnngym_gyms::CodecRegistry::with_builtins();
    codecs.register::<Letters>().unwrap();
    assert!(codecs.register::<Letters>().is_err());
    assert_eq!(
        codecs.kinds(),
        vec!["char", "letters", "linear", "mulaw", "opaque"]
    );
}

#[test]
#[should_panic(expected = "already registered")]
fn the_builder_refuses_a_duplicate_id() {
    let _ = GymRegistry::with_builtins().with::<Mine>().with::<Mine>();
}

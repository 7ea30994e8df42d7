//! Codec tests: char vocabulary, encode errors and policies, opaque format, spec round trips.

use rnngym_gyms::{codec_from_spec, CharCodec, Codec, GymError, OpaqueCodec, UnknownPolicy};
use serde_json::json;

#[test]
fn char_vocab_is_sorted_distinct_chars_not_bytes() {
    let c = CharCodec::from_text("bé😀a☃béa");
    assert_eq!(c.chars(), &['a', 'b', 'é', '☃', '😀']);
    assert_eq!(c.vocab_size(), 5);
    assert_eq!(c.token_of('é'), Some(2));
    assert_eq!(c.token_of('z'), None);
    assert_eq!(c.char_of(4), Some('😀'));
    assert_eq!(c.char_of(5), None);
    assert_eq!(c.kind(), "char");
    let from_iter = CharCodec::from_chars("😀☃éba".chars());
    assert_eq!(from_iter, c);
}

#[test]
fn char_encode_render_round_trip() {
    let text = "café ☃ 😀\nnaïve";
    let c = CharCodec::from_text(text);
    let tokens = c.encode(text, UnknownPolicy::Error).unwrap();
    assert_eq!(tokens.len(), text.chars().count());
    assert_eq!(c.render(&tokens), text);
}

#[test]
fn char_encode_unknown_error_names_char_and_position() {
    let c = CharCodec::from_text("ab\n");
    let err = c.encode("ab\naé", UnknownPolicy::Error).unwrap_err();
    assert!(
        matches!(&err, GymError::NotInVocabulary { value, position: 4, .. } if value == "é"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("'é'"), "{msg}");
    assert!(msg.contains("position 4"), "{msg}");
    assert!(msg.contains("line 2, column 2"), "{msg}");
    // How to skip is the caller's flag or key; the codec only names the character.
    assert!(
        !msg.contains("--set") && !msg.contains("sample.unknown"),
        "{msg}"
    );

    let msg = c
        .encode("a\u{7}", UnknownPolicy::Error)
        .unwrap_err()
        .to_string();
    assert!(msg.contains(r"'\u{7}'"), "{msg}");
}

#[test]
fn char_encode_skip_drops_unknown() {
    let c = CharCodec::from_text("ab");
    let tokens = c.encode("aéb😀a", UnknownPolicy::Skip).unwrap();
    assert_eq!(tokens, vec![0, 1, 0]);
}

#[test]
fn char_spec_round_trips() {
    let c = CharCodec::from_text("hello, wörld 😀");
    let spec = c.spec();
    assert_eq!(spec["kind"], "char");
    assert_eq!(spec["vocab"], json!(c.chars().iter().collect::<String>()));
    let back = codec_from_spec(&spec).unwrap();
    assert_eq!(back.kind(), "char");
    assert_eq!(back.vocab_size(), c.vocab_size());
    let tokens: Vec<u32> = (0..c.vocab_size() as u32).collect();
    assert_eq!(back.render(&tokens), c.render(&tokens));
}

#[test]
fn opaque_render_and_encode() {
    let c = OpaqueCodec::new(20);
    assert_eq!(c.render(&[17, 0, 3]), "⟨17⟩⟨0⟩⟨3⟩");
    assert_eq!(
        c.encode("⟨17⟩⟨0⟩⟨3⟩", UnknownPolicy::Error).unwrap(),
        vec![17, 0, 3]
    );
    assert_eq!(
        c.encode("", UnknownPolicy::Error).unwrap(),
        Vec::<u32>::new()
    );
    for bad in ["17", "⟨a⟩", "⟨1", "⟨⟩", "⟨1⟩ ", " ⟨1⟩", "⟨1⟩x", "⟨-1⟩"] {
        assert!(
            c.encode(bad, UnknownPolicy::Error).is_err(),
            "{bad:?} should fail"
        );
        assert!(
            c.encode(bad, UnknownPolicy::Skip).is_err(),
            "{bad:?} should fail (skip)"
        );
    }
    let err = c
        .encode("⟨1⟩⟨20⟩", UnknownPolicy::Error)
        .unwrap_err()
        .to_string();
    assert!(err.contains("⟨20⟩"), "{err}");
    assert_eq!(
        c.encode("⟨1⟩⟨20⟩⟨99999999999999999999999⟩⟨2⟩", UnknownPolicy::Skip)
            .unwrap(),
        vec![1, 2]
    );
}

#[test]
fn opaque_spec_round_trips() {
    let c = OpaqueCodec::new(256);
    assert_eq!(c.spec(), json!({"kind": "opaque", "vocab_size": 256}));
    let back = codec_from_spec(&c.spec()).unwrap();
    assert_eq!(back.kind(), "opaque");
    assert_eq!(back.vocab_size(), 256);
    assert_eq!(back.render(&[255, 1]), c.render(&[255, 1]));
}

#[test]
fn codec_from_spec_rejects_malformed_specs() {
    let cases = [
        (json!(null), "JSON object"),
        (json!([1, 2]), "JSON object"),
        (json!({}), "missing 'kind'"),
        (json!({"kind": 3}), "'kind' must be a string"),
        (json!({"kind": "wav"}), "unknown kind \"wav\""),
        (json!({"kind": "char"}), "missing field `vocab`"),
        (
            json!({"kind": "char", "vocab": 5}),
            "'vocab': invalid type: integer `5`, expected a string",
        ),
        (
            json!({"kind": "char", "vocab": "ab", "extra": 1}),
            "unknown field `extra`",
        ),
        (json!({"kind": "char", "vocab": ""}), "empty"),
        (json!({"kind": "char", "vocab": "ba"}), "sorted"),
        (json!({"kind": "char", "vocab": "aab"}), "sorted"),
        (json!({"kind": "opaque"}), "vocab_size"),
        (json!({"kind": "opaque", "vocab_size": -1}), "vocab_size"),
        (json!({"kind": "opaque", "vocab_size": "9"}), "vocab_size"),
        (json!({"kind": "opaque", "vocab_size": 0}), "vocab_size"),
        (json!({"kind": "opaque", "vocab_size": 1.5}), "vocab_size"),
        (
            json!({"kind": "opaque", "vocab_size": 1u64 << 40}),
            "vocab_size",
        ),
    ];
    for (spec, needle) in cases {
        match codec_from_spec(&spec) {
            Ok(_) => panic!("{spec} should be rejected"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(needle), "{spec}: {msg:?} lacks {needle:?}");
                assert!(msg.starts_with("codec spec:"), "{msg}");
            }
        }
    }
}

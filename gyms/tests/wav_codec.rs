//! Property tests of the audio codecs: decode∘encode is exact up to the quantization step,
//! encode∘decode is the identity, and the spec rebuilds the codec.

use proptest::prelude::*;
use rnngym_gyms::wav::{Quantizer, SampleCodec};
use rnngym_gyms::{codec_from_spec, AudioCodec, Codec, UnknownPolicy};

fn quantizer() -> impl Strategy<Value = Quantizer> {
    prop_oneof![Just(Quantizer::MuLaw), Just(Quantizer::Linear)]
}

proptest! {
    #[test]
    fn decode_of_encode_is_within_half_a_step(q in quantizer(), levels in 2u32..=4096, x in -1.0f32..=1.0) {
        let c = SampleCodec::new(q, levels, 16000).unwrap();
        let t = c.token_of(x);
        prop_assert!(t < levels);
        let back = c.sample_of(t);
        // On the companded axis the levels are 2/(L-1) apart: the error is at most half of it.
        let err = (c.compand(f64::from(back)) - c.compand(f64::from(x))).abs();
        prop_assert!(err <= 1.0 / f64::from(levels - 1) + 1e-6, "x={x} t={t} back={back} err={err}");
    }

    #[test]
    fn encode_of_decode_is_identity(q in quantizer(), levels in 2u32..=65536, t in 0u32..65536) {
        let c = SampleCodec::new(q, levels, 8000).unwrap();
        let t = t % levels;
        prop_assert_eq!(c.token_of(c.sample_of(t)), t);
    }

    #[test]
    fn render_encode_round_trip(levels in 2u32..=1024, tokens in prop::collection::vec(0u32..1024, 0..50)) {
        let c = SampleCodec::new(Quantizer::MuLaw, levels, 16000).unwrap();
        let tokens: Vec<u32> = tokens.into_iter().map(|t| t % levels).collect();
        let text = c.render(&tokens);
        prop_assert_eq!(c.encode(&text, UnknownPolicy::Error).unwrap(), tokens);
    }
}

#[test]
fn every_mu_law_256_token_round_trips() {
    let c = SampleCodec::mu_law(16000);
    for t in 0..256 {
        assert_eq!(c.token_of(c.sample_of(t)), t);
    }
    assert_eq!(c.token_of(-1.0), 0);
    assert_eq!(c.token_of(1.0), 255);
    assert_eq!(c.token_of(f32::NAN), c.token_of(0.0));
    assert!(c.sample_of(128).abs() < 1e-3 && c.sample_of(127).abs() < 1e-3);
}

#[test]
fn spec_rebuilds_with_rate_and_levels() {
    for q in [Quantizer::MuLaw, Quantizer::Linear] {
        let c = SampleCodec::new(q, 300, 22050).unwrap();
        let r = codec_from_spec(&c.spec()).unwrap();
        assert_eq!(r.kind(), c.kind());
        let a = r.audio().expect("audio codec");
        assert_eq!((r.vocab_size(), a.sample_rate()), (300, 22050));
        assert_eq!(a.sample_of(17), c.sample_of(17));
    }
    let bad = serde_json::json!({"kind": "mulaw", "levels": 1, "sample_rate": 16000});
    assert!(codec_from_spec(&bad).is_err());
    let bad = serde_json::json!({"kind": "linear", "levels": 256});
    assert!(codec_from_spec(&bad)
        .err()
        .unwrap()
        .to_string()
        .contains("sample_rate"));
}

#[test]
fn text_codecs_have_no_audio_view() {
    let c = rnngym_gyms::CharCodec::from_text("ab");
    assert!(c.audio().is_none());
}

#[test]
fn bad_sample_text_is_an_error_or_skipped() {
    let c = SampleCodec::mu_law(16000);
    assert!(c.encode("0.5 nope", UnknownPolicy::Error).is_err());
    assert!(c.encode("2.0", UnknownPolicy::Error).is_err());
    assert_eq!(
        c.encode("0.5 nope 2.0", UnknownPolicy::Skip).unwrap().len(),
        1
    );
}

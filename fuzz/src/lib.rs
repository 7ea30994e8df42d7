//! The bodies of the fuzz targets, shared with the regression tests (`tests/fuzz_regressions.rs`
//! includes this file), so a saved crash input replays exactly what the fuzzer ran. Each calls
//! the library's public entry on bytes and panics only when a property the library promises
//! is broken; errors are fine.

use std::collections::HashMap;
use std::path::Path;

use safetensors::SafeTensors;

use rnngym_gyms::wav::{mono_from_bytes, WavOptions};
use rnngym_gyms::{text::TextOptions, AudioCodec, Codec};
use rnngym_kernels::CpuBackend;
use rnngym_trainer::{state, Config};

/// `wav-v1` decoding: decode, mix down or pick channel 1, resample, quantize.
pub fn wav_decode(data: &[u8]) {
    let codec = WavOptions::default()
        .codec()
        .expect("default WAV options are valid");
    for (channel, rate) in [(None, 16_000), (Some(1), 8_000)] {
        if let Ok(samples) = mono_from_bytes(data, channel, rate) {
            for &x in &samples {
                assert!(x.is_finite(), "decoded a non-finite sample");
                let t = codec.token_of(x);
                assert!((t as usize) < codec.vocab_size());
            }
        }
    }
}

/// Config parsing: the text as a config file, then each of its lines as a `--set` override.
/// A config that validates must render to TOML that parses back to the same config, since
/// that text is what checkpoints store.
pub fn config_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut cfg) = Config::from_toml_str(text, "fuzz.toml") else {
        for line in text.lines().take(8) {
            let mut c = Config::default();
            if c.apply_override(line).is_ok() {
                let _ = c.validate();
            }
        }
        return;
    };
    round_trip(&cfg);
    let _ = TextOptions::from_table(&cfg.gym.options, Path::new("."));
    let _ = WavOptions::from_table(&cfg.gym.options, Path::new("."));
    for line in text.lines().take(8) {
        if cfg.apply_override(line).is_ok() && cfg.validate().is_ok() {
            round_trip(&cfg);
        }
    }
}

fn round_trip(cfg: &Config) {
    let saved = cfg.to_toml_string();
    let back = Config::from_toml_str(&saved, "saved")
        .unwrap_or_else(|e| panic!("a valid config did not survive saving: {e}\n{saved}"));
    assert_eq!(back.to_toml_string(), saved, "saving is not stable");
}

/// A real checkpoint (`seeds/checkpoint_load/lstm-text.safetensors`) whose metadata JSON is
/// replaced by the input: reaches the saved config, codec and model sizes far more often than
/// mutating whole files, whose header lengths and offsets must stay consistent.
pub fn checkpoint_meta(data: &[u8]) {
    const BASE: &[u8] = include_bytes!("../seeds/checkpoint_load/lstm-text.safetensors");
    let Ok(meta) = std::str::from_utf8(data) else {
        return;
    };
    let st = SafeTensors::deserialize(BASE).expect("the base checkpoint parses");
    let tensors: Vec<_> = st.tensors();
    let info = HashMap::from([
        ("format".to_string(), "rnngym".to_string()),
        ("format_version".to_string(), "1".to_string()),
        ("meta".to_string(), meta.to_string()),
    ]);
    let bytes = safetensors::serialize(tensors, Some(info)).expect("re-serializing works");
    checkpoint_load(&bytes);
}

/// Checkpoint loading through building the model it describes (what `sample` does).
pub fn checkpoint_load(data: &[u8]) {
    let be = CpuBackend::new(1);
    let path = Path::new("fuzz.safetensors");
    if let Ok((model, loaded)) = state::load_model_bytes(&be, data, path) {
        assert_eq!(model.dims.vocab, loaded.codec.vocab_size());
    }
}

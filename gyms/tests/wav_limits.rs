//! Limits that keep a corrupt WAV header from exhausting memory (found by the `wav_decode`
//! fuzz target): absurd sample rates and extreme upsampling ratios are errors.

use rnngym_gyms::wav::{decode_wav, mono_from_bytes, resample, WavError};

/// A 16-bit mono PCM WAV claiming `rate` Hz, holding `frames` samples.
fn wav(rate: u32, frames: usize) -> Vec<u8> {
    let data = frames * 2;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&rate.wrapping_mul(2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data as u32).to_le_bytes());
    b.extend((0..frames).flat_map(|i| ((i as i16).wrapping_mul(97)).to_le_bytes()));
    b
}

#[test]
fn absurd_header_rates_are_refused() {
    let e = decode_wav(&wav(4_160_757_568, 100)).unwrap_err();
    assert!(matches!(e, WavError::Malformed(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("4160757568 Hz") && e.contains("768000"), "{e}");
    let ok = decode_wav(&wav(768_000, 100)).unwrap();
    assert_eq!(ok.sample_rate, 768_000);
}

#[test]
fn extreme_upsampling_is_refused() {
    // 100 Hz → 16 kHz would turn every input sample into 160.
    let e = mono_from_bytes(&wav(100, 1000), None, 16_000).unwrap_err();
    assert!(matches!(e, WavError::Resample(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("upsampling"), "{e}");
    let x = vec![0.25f32; 800];
    assert_eq!(resample(&x, 8_000, 384_000).unwrap().len(), 800 * 48);
    assert!(resample(&x, 1_000, 384_000).is_err());
    // Downsampling from the highest accepted rate works.
    let y = mono_from_bytes(&wav(768_000, 7680), None, 16_000).unwrap();
    assert_eq!(y.len(), 160);
}

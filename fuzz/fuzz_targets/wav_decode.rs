//! The WAV path of `wav-v1` on arbitrary bytes: decode, mix down (or pick a channel),
//! resample to 16 kHz, quantize. Any input must give samples or an error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rnngym_fuzz::wav_decode(data);
});

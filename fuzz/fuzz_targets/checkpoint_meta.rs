//! A real checkpoint with arbitrary metadata JSON (saved config, codec, vocabulary, counters):
//! loading it and building its model must give an error, never a panic or a huge allocation.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rnngym_fuzz::checkpoint_meta(data);
});

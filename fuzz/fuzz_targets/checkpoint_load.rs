//! Checkpoint loading on arbitrary bytes, through building the model it describes: an error,
//! never a panic or an allocation driven by a length or size field.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rnngym_fuzz::checkpoint_load(data);
});

//! Config parsing on arbitrary text: the TOML, every override line, validation, and the
//! round trip through the TOML saved in checkpoints.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rnngym_fuzz::config_parse(data);
});

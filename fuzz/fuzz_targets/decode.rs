#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| klaxon_fuzz::check_decode(data));

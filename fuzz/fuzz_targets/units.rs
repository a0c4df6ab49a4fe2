#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| leakhound_fuzz_targets::units(data));

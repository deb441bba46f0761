//! libFuzzer entry for `strata_fuzz_targets::request_dispatch` (see that crate for what it exercises).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strata_fuzz_targets::request_dispatch(data));

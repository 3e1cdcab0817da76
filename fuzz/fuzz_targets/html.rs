//! Fuzz target `html`: see `feedwatch::harness::html` for what it exercises and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| feedwatch::harness::html(data));

//! Fuzz target `query`: see `feedwatch::harness::query` for what it exercises and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| feedwatch::harness::query(data));

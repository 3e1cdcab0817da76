//! Fuzz target `feed`: see `feedwatch::harness::feed` for what it exercises and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| feedwatch::harness::feed(data));

//! Fuzz target `config`: see `feedwatch::harness::config` for what it exercises and checks.
#![no_main]

use std::sync::LazyLock;

/// One empty folder for the whole run: includes and secret files resolve there (and find
/// nothing), and creating a folder per input would dominate the time.
static EMPTY_DIR: LazyLock<tempfile::TempDir> =
    LazyLock::new(|| tempfile::tempdir().expect("a temporary folder"));

libfuzzer_sys::fuzz_target!(|data: &[u8]| feedwatch::harness::config(data, EMPTY_DIR.path()));

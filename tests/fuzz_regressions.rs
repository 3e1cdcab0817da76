//! Replays every input in `tests/fuzz_regressions/TARGET/` through the entry point of that fuzz
//! target (`feedwatch::harness`): inputs that crashed a target once (and a few hand-made
//! hostile ones) must never crash again. Runs on the stable toolchain, without the fuzzer.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use feedwatch::harness;

/// Runs `run` on every file of `tests/fuzz_regressions/{target}/` and returns the names of
/// those it panicked on. Fails if the folder holds no input (a renamed folder would silently
/// test nothing).
fn replay(target: &str, run: impl Fn(&[u8])) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
        .iter()
        .filter_map(|f| {
            let data = std::fs::read(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
            catch_unwind(AssertUnwindSafe(|| run(&data)))
                .is_err()
                .then(|| format!("{target}/{}", f.display()))
        })
        .collect()
}

#[test]
fn saved_fuzz_inputs_no_longer_crash_any_target() {
    let empty = tempfile::tempdir().expect("tempdir");
    let mut crashed = replay("feed", harness::feed);
    crashed.extend(replay("html", harness::html));
    crashed.extend(replay("query", harness::query));
    crashed.extend(replay("config", |d| harness::config(d, empty.path())));
    assert!(crashed.is_empty(), "crashed on: {crashed:#?}");
}

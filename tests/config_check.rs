//! What `feedwatch check` prints for broken (and a few good) config files, pinned as golden
//! files: `tests/fixtures/config_check/CASE.toml` is checked with the environment in
//! `CASE.env` (if any), and the exit status, stdout and stderr must equal `CASE.out`.
//!
//! The goldens were captured from the hand-written config walk before it became serde types,
//! so a diff here is a change users see. After a deliberate change of wording, rewrite them
//! with `UPDATE_GOLDEN=1 cargo test --test config_check` and review the diff.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a single `check` may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config_check")
}

/// `KEY=VALUE` lines of `CASE.env`.
fn env_of(case: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(case.with_extension("env"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Makes the fixtures' secret files readable by their owner only, as an operator keeps them: a
/// checkout gives them whatever its umask says, and `check` warns about secret files that
/// others can read (that warning is pinned in `tests/store_faults.rs`).
fn private_secrets() {
    use std::os::unix::fs::PermissionsExt;
    for name in ["password", "webhook-secret"] {
        let path = fixtures().join("secrets").join(name);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("chmod 600 {}: {e}", path.display()));
    }
}

/// Runs `feedwatch --config CASE.toml check` in the fixture folder with only the case's
/// environment, and renders what it did; the fixture folder's absolute path reads `$DIR`.
fn check(case: &Path) -> String {
    private_secrets();
    let dir = fixtures();
    let name = case
        .file_name()
        .and_then(|n| n.to_str())
        .expect("utf-8 name");
    let mut child = Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .args(["--config", name, "check"])
        .current_dir(&dir)
        .env_clear()
        .envs(env_of(case))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("feedwatch starts");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("{name}: check did not finish within {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    let dir = dir.to_str().expect("utf-8 path");
    let text = |b: &[u8]| String::from_utf8_lossy(b).replace(dir, "$DIR");
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status
            .code()
            .map_or_else(|| "signal".to_string(), |c| c.to_string()),
        text(&out.stdout),
        text(&out.stderr)
    )
}

#[test]
fn check_output_for_each_config_case_matches_its_golden_file() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixture folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "found the cases: {cases:?}");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let got = check(case);
        let golden = case.with_extension("out");
        if update {
            std::fs::write(&golden, &got).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "== {}\n-- want:\n{want}\n-- got:\n{got}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_ten_mistakes_case_reports_exactly_ten_problems() {
    let out = check(&fixtures().join("ten_mistakes.toml"));
    assert!(out.starts_with("exit: 78\n"), "{out}");
    assert!(out.contains("10 problems in ten_mistakes.toml"), "{out}");
}

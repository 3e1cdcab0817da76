//! The shipped service and package: `systemd/feedwatch.service` passes `systemd-analyze verify`
//! without a single warning and `systemd-analyze security` rates it OK (exposure ≤ 2.0), and the
//! unit, the cargo-deb metadata and the packaged example config agree with each other and with
//! the code's defaults.
//!
//! The two `systemd-analyze` checks need the tool (and the programs the unit runs besides
//! feedwatch, e.g. `/bin/kill`). Where they are missing the checks print a notice and skip, so
//! `cargo test` passes on any machine; with `FEEDWATCH_REQUIRE_TOOLS=1` (set by `.ci/run`) they
//! fail instead, so CI cannot go green without checking the unit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use feedwatch::config::{Config, DEFAULT_CONFIG_PATH, DEFAULT_DB_PATH};

/// Highest acceptable `systemd-analyze security` exposure; 2.0 is the top of its "OK" band.
const MAX_EXPOSURE: f64 = 2.0;
/// The same limit in the units of `--threshold` (tenths).
const THRESHOLD: &str = "--threshold=20";
/// Where the package installs the binary; the unit's ExecStart must run exactly this.
const INSTALLED_BINARY: &str = "/usr/bin/feedwatch";
/// Set to `1`, a missing tool fails the checks that need it instead of skipping them.
const REQUIRE_TOOLS: &str = "FEEDWATCH_REQUIRE_TOOLS";
/// How Debian and Ubuntu get `systemd-analyze` and `/bin/kill` (what `.ci/run` installs).
const INSTALL_HINT: &str = "apt-get install -y --no-install-recommends systemd procps";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn unit_text() -> String {
    read("systemd/feedwatch.service")
}

/// Values of `key=` lines in the unit, in order.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

/// The unit with ExecStart's binary replaced by the one cargo just built, because `verify`
/// fails when the binary does not exist (and CI has no /usr/bin/feedwatch). Written as
/// `feedwatch.service`, since systemd takes the unit name from the file name.
fn unit_for_test(dir: &Path) -> PathBuf {
    let unit = unit_text();
    let exec = format!("ExecStart={INSTALLED_BINARY} ");
    assert!(
        unit.contains(&exec),
        "the unit must start {INSTALLED_BINARY}, where the package installs it"
    );
    let rewritten = unit.replace(
        &exec,
        &format!("ExecStart={} ", env!("CARGO_BIN_EXE_feedwatch")),
    );
    let path = dir.join("feedwatch.service");
    std::fs::write(&path, rewritten).expect("write the test copy of the unit");
    path
}

/// What `systemd-analyze verify` needs besides itself: the absolute programs of the unit's
/// Exec lines other than ExecStart (which [`unit_for_test`] points at the built binary).
fn programs_the_unit_runs(unit: &str) -> Vec<String> {
    unit.lines()
        .filter(|l| l.starts_with("Exec") && !l.starts_with("ExecStart="))
        .filter_map(|l| l.split_once('=')?.1.split_whitespace().next())
        // Prefixes such as `-` (ignore failure) are not part of the path (systemd.service(5)).
        .map(|program| {
            program
                .trim_start_matches(['-', '@', '+', '!', ':'])
                .to_string()
        })
        .filter(|program| program.starts_with('/'))
        .collect()
}

/// Whether the tools for the `systemd-analyze` checks are here. If not: fails when
/// [`REQUIRE_TOOLS`] is `1`, else prints a notice naming `test` and returns false (skip).
fn tools_present(test: &str) -> bool {
    let mut missing = Vec::new();
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        missing.push("systemd-analyze".to_string());
    }
    missing.extend(
        programs_the_unit_runs(&unit_text())
            .into_iter()
            .filter(|program| !Path::new(program).is_file()),
    );
    if missing.is_empty() {
        return true;
    }
    let missing = missing.join(", ");
    assert!(
        std::env::var_os(REQUIRE_TOOLS).is_none_or(|v| v != "1"),
        "{test}: {missing} missing, so the shipped unit cannot be checked ({REQUIRE_TOOLS}=1); \
         install with `{INSTALL_HINT}` (Debian/Ubuntu)"
    );
    // Straight to stderr, not eprintln!: the test harness would swallow that for a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {missing} missing (install with `{INSTALL_HINT}`; \
         {REQUIRE_TOOLS}=1 makes this a failure)"
    );
    false
}

/// `systemd-analyze ARGS UNIT` on a test copy of the unit, or None (skip) when
/// [`tools_present`] says so for `test`.
fn systemd_analyze(test: &str, args: &[&str]) -> Option<Output> {
    if !tools_present(test) {
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new("systemd-analyze")
        .args(args)
        .arg(unit_for_test(dir.path()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run systemd-analyze: {e}"));
    Some(out)
}

#[test]
fn unit_passes_systemd_analyze_verify_without_warnings() {
    let Some(out) = systemd_analyze(
        "unit_passes_systemd_analyze_verify_without_warnings",
        &["verify"],
    ) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    // verify exits 0 on unknown keys and values and only warns on stderr, so any output fails.
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {}\nstdout:\n{}\nstderr:\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
    );
}

#[test]
fn unit_sandbox_exposure_is_ok() {
    let Some(out) = systemd_analyze(
        "unit_sandbox_exposure_is_ok",
        &["security", "--offline=true", THRESHOLD],
    ) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = format!(
        "{}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // "→ Overall exposure level for feedwatch.service: 1.2 OK 🙂"
    let score: f64 = stdout
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for feedwatch.service:"))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in the output: {report}"));
    assert!(
        score <= MAX_EXPOSURE,
        "exposure {score} > {MAX_EXPOSURE}: {report}"
    );
    assert!(out.status.success(), "{THRESHOLD} failed: {report}");
}

#[test]
fn unit_agrees_with_the_code_defaults() {
    let unit = unit_text();
    let single = |key: &str| {
        let values = unit_values(&unit, key);
        assert_eq!(values.len(), 1, "{key}= must appear once: {values:?}");
        values[0].clone()
    };
    assert_eq!(single("Type"), "notify");
    assert_eq!(single("NotifyAccess"), "main");
    assert_eq!(
        single("ExecStart"),
        format!("{INSTALLED_BINARY} --config {DEFAULT_CONFIG_PATH} run")
    );
    // EX_CONFIG: a bad config is not fixed by restarting; a lost database is the operator's
    // call (a restart would alert again on the backlog).
    assert_eq!(
        single("RestartPreventExitStatus"),
        format!(
            "{} {}",
            feedwatch::app::EXIT_CONFIG,
            feedwatch::app::EXIT_DATABASE_LOST
        )
    );
    assert_eq!(
        single("Environment"),
        format!("FEEDWATCH_STORAGE__PATH={DEFAULT_DB_PATH}")
    );
    let state_dir = Path::new(DEFAULT_DB_PATH)
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .expect("the default database lives in a named directory");
    assert_eq!(single("StateDirectory"), state_dir);
}

#[test]
fn packaged_example_config_is_valid_and_uses_the_state_directory() {
    let path = repo("packaging/feedwatch.toml");
    let config = Config::load_with_env(&path, &[]).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(config.storage.path, Path::new(DEFAULT_DB_PATH));
    assert!(
        config.notifiers.contains_key("console"),
        "the packaged config should alert somewhere without setup"
    );
}

#[test]
fn deb_metadata_installs_what_the_unit_runs() {
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).expect("Cargo.toml is TOML");
    let meta = manifest["package"]["metadata"]["deb"]
        .as_table()
        .expect("[package.metadata.deb] in Cargo.toml");
    let assets = meta["assets"].as_array().expect("assets array");
    let mut dests = Vec::new();
    for asset in assets {
        let fields: Vec<&str> = asset
            .as_array()
            .expect("[source, dest, mode]")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let [source, dest, mode] = fields[..] else {
            panic!("asset {asset} is not [source, dest, mode]");
        };
        if !source.starts_with("target/release/") {
            assert!(repo(source).is_file(), "asset source {source} is missing");
        }
        assert!(
            u32::from_str_radix(mode, 8).is_ok(),
            "mode {mode:?} of {source}"
        );
        dests.push(format!("/{dest}"));
    }
    assert!(dests.iter().any(|d| d == INSTALLED_BINARY), "{dests:?}");
    assert!(dests.iter().any(|d| d == DEFAULT_CONFIG_PATH), "{dests:?}");
    let conf_files: Vec<&str> = meta["conf-files"]
        .as_array()
        .expect("conf-files array")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(conf_files, [DEFAULT_CONFIG_PATH]);

    // systemd-units installs `<unit-scripts>/<package>.service`: the file these tests check.
    let units = meta["systemd-units"]
        .as_table()
        .expect("systemd-units table");
    let unit_dir = units["unit-scripts"].as_str().expect("unit-scripts");
    assert!(repo(unit_dir).join("feedwatch.service").is_file());
    let scripts = meta["maintainer-scripts"]
        .as_str()
        .expect("maintainer-scripts");
    assert!(repo(scripts).is_dir(), "{scripts} must exist for cargo-deb");
}

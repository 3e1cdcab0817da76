//! The database and secrets as files, against the real binary: a state folder deleted or a
//! database replaced under the running daemon stops it with a clear error; a read-only database
//! is a start-up error; the files feedwatch creates are private, and secret files that other
//! users can read are warned about.
//!
//! The read-only cases need a read-only database that root cannot write either (the tests may
//! run as root, which file modes do not stop): an unprivileged user (`setpriv`, when the tests
//! run as root) and a read-only bind mount in a user namespace (`unshare`, util-linux). Where
//! the tool is missing the case prints a notice and skips, unless `FEEDWATCH_REQUIRE_TOOLS=1`,
//! which makes it fail; where the kernel does not permit it (user namespaces switched off) the
//! case skips with a notice either way, since installing nothing would change that.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{Daemon, FeedServer, Route, Run, eventually_within, feedwatch};

/// Set to `1`, a missing tool fails the cases that need it instead of skipping them.
const REQUIRE_TOOLS: &str = "FEEDWATCH_REQUIRE_TOOLS";
/// The user the unprivileged case runs as (`nobody` on Debian and most distributions).
const NOBODY: u32 = 65534;
/// Longest wait for the daemon to notice a lost database and exit: the daemon checks every
/// 5 s; the rest is slack for a loaded machine.
const EXIT_WITHIN: Duration = Duration::from_secs(30);

/// A feed server with one feed, and a config in `dir` watching it with the database at
/// `state/fw.db`; `extra` is appended to the config.
async fn setup(dir: &Path, extra: &str) -> (FeedServer, PathBuf) {
    let feeds = FeedServer::start().await;
    feeds.set(
        "/rss",
        Route::rss(
            "<rss version=\"2.0\"><channel><title>T</title>\
             <item><guid>1</guid><title>Kabulov</title></item></channel></rss>",
            "\"1\"",
        ),
    );
    let cfg = dir.join("feedwatch.toml");
    let text = format!(
        "[storage]\npath = \"state/fw.db\"\n[poll]\ninterval = \"1s\"\nmin_interval = \"1s\"\n\
         [[feed]]\nurl = \"{}\"\nname = \"F\"\n[notify.out]\ntype = \"stdout\"\n{extra}",
        feeds.url("/rss")
    );
    std::fs::write(&cfg, text).expect("write config");
    (feeds, cfg)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_deleted_or_replaced_under_the_daemon_stops_it_with_an_error() {
    for replaced in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_feeds, cfg) = setup(dir.path(), "").await;
        let mut daemon = Daemon::start(&cfg, &dir.path().join("log"));
        eventually_within(30, "the daemon polled", || {
            daemon.log_text().contains("polled feed=F")
        })
        .await;
        let state = dir.path().join("state");
        if replaced {
            // A backup restored over the open file.
            let copy = dir.path().join("backup.db");
            std::fs::copy(state.join("fw.db"), &copy).expect("copy");
            std::fs::rename(&copy, state.join("fw.db")).expect("replace");
        } else {
            std::fs::remove_dir_all(&state).expect("rm -r the state folder");
        }
        let status = tokio::time::timeout(EXIT_WITHIN, daemon.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "replaced: {replaced}: the daemon carried on without its database:\n{}",
                    daemon.log_text()
                )
            })
            .expect("wait");
        let log = daemon.log_text();
        assert_eq!(
            status.code(),
            Some(i32::from(feedwatch::app::EXIT_DATABASE_LOST)),
            "replaced: {replaced}:\n{log}"
        );
        assert!(
            log.contains("fw.db was deleted or replaced while feedwatch had it open; stopping"),
            "{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_stops_the_daemon_at_start_up_with_74() {
    let (dir, _feeds, cfg) = with_database().await;
    let db = dir.path().join("state/fw.db");
    // The header overwritten (as by a stray write or a failing disk): not a database now.
    let mut bytes = std::fs::read(&db).expect("read");
    assert!(bytes.len() > 100, "a database was written");
    bytes[..100].fill(b'#');
    std::fs::write(&db, &bytes).expect("damage");
    refused_with_74(&cfg, "the file is damaged, and restarting will not mend it").await;
    // The file is left as it was, for the operator to rescue.
    assert_eq!(std::fs::read(&db).expect("read"), bytes);
}

/// Runs the daemon on `cfg`, which must refuse its database at start-up with 74 (the unit does
/// not restart it every few seconds: a restart would fail the same way), naming the file and
/// saying `why`.
async fn refused_with_74(cfg: &Path, why: &str) {
    let run = tokio::time::timeout(EXIT_WITHIN, feedwatch(&["--config", s(cfg), "run"]))
        .await
        .expect("the daemon ran on its database");
    assert_eq!(
        run.code,
        Some(i32::from(feedwatch::app::EXIT_DATABASE_LOST)),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains("fw.db") && run.stderr.contains(why),
        "{}",
        run.stderr
    );
}

/// A database truncated to nothing after use is refused (opening it would start afresh and
/// alert on the backlog again) with 74 too, not 1, on which the unit would restart it forever.
#[tokio::test]
async fn an_emptied_database_stops_the_daemon_at_start_up_with_74() {
    let (dir, _feeds, cfg) = with_database().await;
    let db = dir.path().join("state/fw.db");
    for sidecar in ["fw.db-wal", "fw.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join("state").join(sidecar));
    }
    std::fs::write(&db, b"").expect("truncate");
    refused_with_74(&cfg, "it was truncated").await;
    assert_eq!(std::fs::read(&db).expect("read"), b"", "left as it was");
}

/// Whether `program args…` runs and succeeds here, for `case`. If not, prints a notice (the
/// case skips); a missing program panics instead under [`REQUIRE_TOOLS`].
fn usable(case: &str, program: &str, args: &[&str]) -> bool {
    let problem = match std::process::Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => return true,
        Ok(out) => format!(
            "`{program}` is not permitted here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => {
            assert!(
                std::env::var(REQUIRE_TOOLS).as_deref() != Ok("1"),
                "{case}: `{program}` is missing ({e}), and {REQUIRE_TOOLS}=1"
            );
            format!("`{program}` is missing ({e})")
        }
    };
    eprintln!("notice: skipping {case}: {problem}");
    false
}

/// Runs `wrapper…` with the feedwatch binary and `args` appended (the wrapper runs it), bounded.
/// `None`: still running after 20 s (then killed).
async fn run_wrapped(wrapper: &[&str], args: &[&str]) -> Option<Run> {
    let (program, wrapper_args) = wrapper.split_first().expect("a wrapper program");
    let child = tokio::process::Command::new(program)
        .args(wrapper_args)
        .arg(env!("CARGO_BIN_EXE_feedwatch"))
        .args(args)
        .env_remove("FEEDWATCH_CONFIG")
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), child)
        .await
        .ok()?
        .expect("the wrapper ran");
    Some(Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// A config in a fresh folder whose database exists (made by one `once`), in a state folder
/// and a config file every user can reach.
async fn with_database() -> (tempfile::TempDir, FeedServer, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (feeds, cfg) = setup(dir.path(), "").await;
    let once = feedwatch(&["--config", s(&cfg), "once"]).await;
    assert_eq!(once.code, Some(0), "{once:#?}");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (dir, feeds, cfg)
}

/// Asserts that `run` (None: still running) is a start-up failure that says the database is
/// read-only.
fn refused_as_read_only(case: &str, run: Option<Run>) {
    let run = run.unwrap_or_else(|| panic!("{case}: the daemon started on a read-only database"));
    assert_eq!(run.code, Some(1), "{case}: {run:#?}");
    assert!(
        run.stderr
            .contains("fw.db is read-only: feedwatch must be able to write it"),
        "{case}: {}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_file_is_a_start_up_error() {
    let case = "a read-only database file";
    let (dir, _feeds, cfg) = with_database().await;
    let state = dir.path().join("state");
    let db = state.join("fw.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    // SAFETY: geteuid(2) takes no argument and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let id = NOBODY.to_string();
    // Root writes whatever the mode says: run as an unprivileged owner of the folder.
    let as_nobody = ["setpriv", "--reuid", &id, "--regid", &id, "--clear-groups"];
    let wrapper: &[&str] = if root {
        if !usable(case, "setpriv", &[&as_nobody[1..], &["true"]].concat()) {
            return;
        }
        for path in [state.clone(), db.clone(), state.join("fw.db.lock")] {
            std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).expect("chown");
        }
        &as_nobody
    } else {
        &["env"]
    };
    refused_as_read_only(
        case,
        run_wrapped(wrapper, &["--config", s(&cfg), "run"]).await,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_on_a_read_only_filesystem_is_a_start_up_error() {
    let case = "a database on a read-only filesystem";
    let (dir, _feeds, cfg) = with_database().await;
    let state = dir.path().join("state");
    // A private mount namespace (as an unprivileged user namespace's root) in which the state
    // folder is bind-mounted read-only over itself; feedwatch runs inside it.
    let mount = format!("mount --bind -o ro '{0}' '{0}'", s(&state));
    if !usable(case, "unshare", &["-rm", "sh", "-c", &mount]) {
        return;
    }
    let script = format!("{mount} && exec \"$0\" \"$@\"");
    let wrapper = ["unshare", "-rm", "sh", "-c", &script];
    refused_as_read_only(
        case,
        run_wrapped(&wrapper, &["--config", s(&cfg), "run"]).await,
    );
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    meta.permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_state_folder_and_database_are_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_feeds, cfg) = setup(dir.path(), "").await;
    let once = feedwatch(&["--config", s(&cfg), "once"]).await;
    assert_eq!(once.code, Some(0), "{once:#?}");
    for (file, want) in [
        ("state", 0o700),
        ("state/fw.db", 0o600),
        ("state/fw.db.lock", 0o600),
    ] {
        let got = mode(&dir.path().join(file));
        assert_eq!(got, want, "{file}: {got:o}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_warns_about_secret_files_other_users_can_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let notifiers = "[notify.mail]\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:25\"\n\
        username = \"u\"\npassword_file = \"password\"\nfrom = \"fw@localhost\"\n\
        to = [\"a@example.org\"]\n\
        [notify.hook]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\nsecret_file = \"hmac\"\n";
    let (_feeds, cfg) = setup(dir.path(), notifiers).await;
    for (file, mode) in [("password", 0o600), ("hmac", 0o644)] {
        let path = dir.path().join(file);
        std::fs::write(&path, "s3cret\n").expect("write secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let check = feedwatch(&["--config", s(&cfg), "check"]).await;
    assert_eq!(check.code, Some(0), "a warning, not an error: {check:#?}");
    let warnings: Vec<&str> = check
        .stderr
        .lines()
        .filter(|l| l.contains("readable by other users"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", check.stderr);
    assert!(
        warnings[0].contains("notify.hook.secret_file") && warnings[0].contains("hmac"),
        "{}",
        warnings[0]
    );
}

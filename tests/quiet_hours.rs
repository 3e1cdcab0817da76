//! Quiet hours, weekly digests and `feedwatch alerts flush` against a real SMTP server on
//! loopback: alerts held during quiet hours stay in the outbox (across a restart) and go out
//! as one digest, by the command itself when no daemon runs, or by the running daemon within
//! seconds of the command. When held alerts go out by themselves (at the end of the quiet
//! hours) is pinned with an injected clock in the unit tests of `config::schedule` and
//! `outbox`, not by waiting for a wall-clock time here.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use feedwatch::domain::AlertStatus::{Pending, Sent};
use support::in_process::{InProcess, promptly_polled_path, wait_for};
use support::{FeedServer, Route, SmtpServer, feedwatch, kabulov_feed};

/// `[poll] interval` of every test config.
const POLL_INTERVAL: Duration = Duration::from_secs(3);
/// Longest wait for anything the daemon does here (generous: the machine may be loaded).
const WAIT: Duration = Duration::from_secs(30);

/// Quiet hours in UTC that hold now: from an hour ago to two hours from now.
fn quiet_now() -> String {
    let now = chrono::Utc::now();
    let at = |d: chrono::Duration| (now + d).format("%H:%M").to_string();
    format!(
        "{}-{}",
        at(chrono::Duration::hours(-1)),
        at(chrono::Duration::hours(2))
    )
}

/// A config polling `feed_url` with the rule `kabulov` and the email notifiers `night`
/// (`quiet_hours = quiet`, UTC) and `weekly` (a weekly digest), both to the SMTP server on
/// `smtp_port`.
fn config(feed_url: &str, smtp_port: u16, quiet: &str) -> (tempfile::TempDir, PathBuf) {
    let notifier = |name: &str, extra: &str| {
        format!(
            "[notify.{name}]\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:{smtp_port}\"\n\
             from = \"feedwatch <fw@localhost>\"\nto = [\"{name}@example.org\"]\n\
             timeout = \"5s\"\ntimezone = \"UTC\"\n{extra}\n"
        )
    };
    let text = format!(
        "[storage]\npath = \"fw.db\"\n\n[poll]\ninterval = \"{}s\"\nmin_interval = \"1s\"\n\
         timeout = \"5s\"\n\n[[feed]]\nurl = \"{feed_url}\"\nname = \"News\"\n\n\
         [[rule]]\nname = \"kabulov\"\nquery = '\"Moscow format\" OR Kabulov'\n\n{}{}",
        POLL_INTERVAL.as_secs(),
        notifier("night", &format!("quiet_hours = \"{quiet}\"")),
        notifier("weekly", "digest = \"weekly mon 08:00\""),
    );
    support::config_dir(&text)
}

/// Runs `feedwatch alerts flush [NOTIFIER]` and checks its exit status.
async fn flush(cfg: &str, notifier: Option<&str>, code: i32) -> support::Run {
    let mut args = vec!["--config", cfg, "alerts", "flush"];
    args.extend(notifier);
    let run = feedwatch(&args).await;
    assert_eq!(run.code, Some(code), "{run:#?}");
    run
}

/// The recipients of the mails received so far, in order.
fn recipients(smtp: &SmtpServer) -> Vec<String> {
    smtp.mails()
        .iter()
        .map(|m| m.header("To").unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_and_weekly_alerts_wait_until_flushed_then_go_out_as_one_digest_each() {
    let feeds = FeedServer::start().await;
    feeds.set("/f", Route::rss(kabulov_feed(3, "q"), "\"1\""));
    let smtp = SmtpServer::start();
    let quiet = quiet_now();
    let (_dir, cfg) = config(&feeds.url("/f"), smtp.port, &quiet);
    let cfg = cfg.to_str().expect("utf-8");

    let run = feedwatch(&["--config", cfg, "once"]).await;
    assert_eq!(
        run.code,
        Some(0),
        "held alerts are not undelivered: {run:#?}"
    );
    assert!(smtp.mails().is_empty(), "nothing sent in quiet hours");
    let list = feedwatch(&["--config", cfg, "alerts"]).await;
    assert_eq!(
        list.stdout.matches("held by quiet hours").count(),
        3,
        "{list:#?}"
    );
    assert_eq!(
        list.stdout
            .matches("waiting for digest weekly mon 08:00")
            .count(),
        3,
        "{list:#?}"
    );

    let typo = flush(cfg, Some("nigth"), 1).await;
    assert!(
        typo.stderr.contains(
            "no notifier named \"nigth\" (did you mean \"night\"? configured: night, weekly)"
        ),
        "{typo:#?}"
    );

    let night = flush(cfg, Some("night"), 0).await;
    assert_eq!(
        night.stdout,
        format!("night: 3 alerts flushed (quiet hours {quiet}: 3); sent\n"),
        "{night:#?}"
    );
    assert_eq!(recipients(&smtp), ["night@example.org"], "one digest");
    let mail = &smtp.mails()[0];
    assert_eq!(mail.subject(), "[feedwatch] digest: 3 items for kabulov");
    for i in 0..3 {
        assert!(mail.text().contains(&format!("q story {i:02}")));
    }

    let all = flush(cfg, None, 0).await;
    assert_eq!(
        all.stdout,
        "weekly: 3 alerts flushed (digest weekly mon 08:00: 3); sent\n"
    );
    assert_eq!(
        recipients(&smtp),
        ["night@example.org", "weekly@example.org"]
    );

    let again = flush(cfg, None, 0).await;
    assert_eq!(again.stdout, "no digests waiting\n");
    assert_eq!(smtp.mails().len(), 2, "nothing sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_quiet_hours_keeps_the_held_alerts_and_the_daemon_sends_a_flush() {
    let feeds = FeedServer::start().await;
    let path = promptly_polled_path(&feeds, POLL_INTERVAL, Duration::from_millis(250));
    feeds.set(&path, Route::rss(kabulov_feed(3, "r"), "\"1\""));
    let smtp = SmtpServer::start();
    let quiet = quiet_now();
    let (_dir, cfg) = config(&feeds.url(&path), smtp.port, &quiet);

    let daemon = InProcess::start(&cfg).await;
    wait_for(
        "the poll holds three alerts per notifier",
        WAIT,
        async || daemon.alerts().await.len() == 6,
    )
    .await;
    daemon.stop().await;

    let mut daemon = InProcess::start(&cfg).await;
    daemon.ready(1).await;
    let rows = daemon.alerts().await;
    let held: Vec<_> = rows.iter().filter(|r| r.notifier == "night").collect();
    assert_eq!(held.len(), 3, "{rows:#?}");
    assert!(
        held.iter()
            .all(|r| r.status == Pending && r.digest.as_deref() == Some(&format!("quiet {quiet}"))),
        "{held:#?}"
    );
    assert!(smtp.mails().is_empty(), "nothing sent in quiet hours");

    let cfg = cfg.to_str().expect("utf-8");
    let handed = flush(cfg, Some("night"), 0).await;
    assert!(
        handed.stdout.ends_with(
            "the running daemon holds the delivery lock: it sends them within seconds\n"
        ),
        "{handed:#?}"
    );
    wait_for("the daemon sends the flushed digest", WAIT, async || {
        let rows = daemon.alerts().await;
        rows.iter()
            .filter(|r| r.notifier == "night")
            .all(|r| r.status == Sent)
    })
    .await;
    let rows = daemon
        .stop()
        .await
        .list_alerts(None, 100)
        .await
        .expect("rows");
    assert!(
        rows.iter()
            .filter(|r| r.notifier == "weekly")
            .all(|r| r.status == Pending),
        "the other notifier's digest still waits: {rows:#?}"
    );
    assert_eq!(recipients(&smtp), ["night@example.org"], "one digest, once");
}

//! The daemon as its operator reads it: what the log says at which level (an unchanged feed,
//! a feed that starts failing and recovers, a reload and what it changed, a refused reload),
//! the metrics endpoint's series and their help, and a metrics port already taken. The real
//! binary against a real feed server; the hourly reminder of a failing feed is the pure
//! `wiring::failure_note`, tested beside it.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{
    Daemon, FeedServer, Route, SmtpServer, eventually_within, feedwatch, free_port, kabulov_feed,
    send_signal,
};

/// `[poll]` of every config here: a second between polls.
const POLL: &str = "[poll]\ninterval = \"1s\"\nmin_interval = \"1s\"\ntimeout = \"5s\"\n";

fn write_config(path: &Path, metrics: u16, feeds: &[(&str, String)], rules: &[(&str, &str)]) {
    let mut text = format!(
        "[storage]\npath = \"fw.db\"\n{POLL}[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n\
         [notify.console]\ntype = \"stdout\"\n"
    );
    for (name, url) in feeds {
        text.push_str(&format!("[[feed]]\nurl = \"{url}\"\nname = \"{name}\"\n"));
    }
    for (name, query) in rules {
        text.push_str(&format!("[[rule]]\nname = \"{name}\"\nquery = '{query}'\n"));
    }
    std::fs::write(path, text).expect("write config");
}

/// The log lines (level first, as the text format writes them) that contain `needle`.
fn lines_with(log: &str, needle: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(needle))
        .map(|l| l.trim_start().to_string())
        .collect()
}

async fn scrape(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let resp = tokio::time::timeout(Duration::from_secs(10), reqwest::get(url))
        .await
        .expect("scrape within 10 s")
        .expect("metrics endpoint answers");
    resp.text().await.expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_metrics_say_each_change_once_and_follow_reloads() {
    let feeds = FeedServer::start().await;
    feeds.set("/ok", Route::rss(kabulov_feed(1, "ok"), "\"ok1\""));
    feeds.set("/bad", Route::status(503));
    let metrics = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("feedwatch.toml");
    let ok = ("steady", feeds.url("/ok"));
    let bad = ("flaky", feeds.url("/bad"));
    write_config(
        &cfg,
        metrics,
        &[ok.clone(), bad.clone()],
        &[("k", "Kabulov")],
    );
    let daemon = Daemon::start(&cfg, &dir.path().join("daemon.log"));

    // An unchanged feed and a failing one, polled a few times each.
    // Wait for the log lines too, not only the requests: the daemon writes a poll's line
    // after the farm has answered it.
    eventually_within(30, "304s and repeated failures, logged", || {
        let log = daemon.log_text();
        feeds.seen("/ok").len() >= 3
            && feeds.seen("/bad").len() >= 3
            && !lines_with(&log, "not modified").is_empty()
            && lines_with(&log, "feed=flaky").len() >= 3
    })
    .await;
    let log = daemon.log_text();
    let unchanged = lines_with(&log, "not modified");
    assert!(!unchanged.is_empty(), "{log}");
    assert!(
        unchanged.iter().all(|l| l.starts_with("DEBUG")),
        "{unchanged:#?}"
    );
    let failures = lines_with(&log, "feed=flaky");
    let warned: Vec<&String> = failures.iter().filter(|l| l.starts_with("WARN")).collect();
    assert_eq!(
        warned.len(),
        1,
        "one WARN when it starts failing: {failures:#?}"
    );
    assert!(warned[0].contains("poll failed"), "{warned:?}");
    assert!(failures.len() >= 3, "{failures:#?}");

    // Per-feed gauges, the failing count, and help for every series.
    let body = scrape(metrics).await;
    for needle in [
        "feedwatch_feeds_failing 1",
        "feedwatch_feed_consecutive_failures{feed=\"flaky\"}",
        "feedwatch_feed_consecutive_failures{feed=\"steady\"} 0",
        "feedwatch_feed_last_success_timestamp_seconds{feed=\"steady\"} 1",
    ] {
        assert!(body.contains(needle), "/metrics lacks {needle}:\n{body}");
    }
    assert!(
        !body.contains("feedwatch_feed_last_success_timestamp_seconds{feed=\"flaky\"}"),
        "never succeeded, so no time:\n{body}"
    );
    let series: std::collections::BTreeSet<&str> = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap_or(l))
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name)
        })
        .collect();
    assert!(series.len() >= 8, "{series:?}");
    for name in series {
        for kind in ["HELP", "TYPE"] {
            assert!(
                body.contains(&format!("# {kind} {name} ")),
                "{name} has no # {kind}:\n{body}"
            );
        }
    }

    // The failing feed recovers: one INFO.
    feeds.set("/bad", Route::rss(kabulov_feed(0, "bad"), "\"bad1\""));
    eventually_within(30, "the recovery", || {
        !lines_with(&daemon.log_text(), "feed recovered").is_empty()
    })
    .await;
    let recovered = lines_with(&daemon.log_text(), "feed recovered");
    assert_eq!(recovered.len(), 1, "{recovered:#?}");
    assert!(recovered[0].starts_with("INFO") && recovered[0].contains("feed=flaky"));

    // A reload with changes: the log line lists them, and the gauges forget the removed feed.
    feeds.set("/bad", Route::status(503));
    eventually_within(30, "failing again", || {
        scrape_blocking(metrics).contains("feedwatch_feeds_failing 1")
    })
    .await;
    let fresh = ("fresh", feeds.url("/fresh"));
    feeds.set("/fresh", Route::rss(kabulov_feed(0, "f"), "\"f1\""));
    write_config(
        &cfg,
        metrics,
        &[ok.clone(), fresh],
        &[("k", "Kabulov OR Taliban"), ("iran", "Iran")],
    );
    send_signal(daemon.pid(), libc::SIGHUP);
    eventually_within(30, "the reload", || {
        !lines_with(&daemon.log_text(), "config reloaded").is_empty()
    })
    .await;
    let reloaded = lines_with(&daemon.log_text(), "config reloaded");
    assert!(
        reloaded[0].contains(
            "feeds added: fresh; feeds removed: flaky; rules added: iran; rules changed: k"
        ),
        "{reloaded:#?}"
    );
    let body = scrape(metrics).await;
    assert!(body.contains("feedwatch_feeds_failing 0"), "{body}");
    assert!(!body.contains("feed=\"flaky\""), "{body}");

    // A refused reload: one line per problem, none holding a line break.
    std::fs::write(
        &cfg,
        "[poll]\ninterval = \"sometimes\"\n[[feed]]\nurl = \"not a url\"\n",
    )
    .expect("write broken config");
    send_signal(daemon.pid(), libc::SIGHUP);
    eventually_within(30, "the refusal", || {
        lines_with(&daemon.log_text(), "config problem").len() >= 2
    })
    .await;
    let log = daemon.log_text();
    let problems = lines_with(&log, "config problem");
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("poll.interval"), "{problems:#?}");
    assert!(problems[1].contains("feed[0].url"), "{problems:#?}");
    let errors = lines_with(&log, "ERROR");
    assert!(
        errors.iter().all(|l| !l.contains("\\n")),
        "a literal \\n in an error line: {errors:#?}"
    );
    assert_eq!(daemon.terminate().await, Some(0));
}

/// [`scrape`] for a synchronous condition: a blocking request on its own thread.
fn scrape_blocking(port: u16) -> String {
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("request");
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        body
    })
    .join()
    .expect("scrape thread")
}

#[tokio::test]
async fn a_metrics_port_already_in_use_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let feeds = FeedServer::start().await;
    feeds.set("/ok", Route::rss(kabulov_feed(1, "ok"), "\"ok1\""));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("feedwatch.toml");
    write_config(&cfg, port, &[("steady", feeds.url("/ok"))], &[]);
    let run = feedwatch(&["--config", cfg.to_str().expect("utf-8"), "run"]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.contains(&format!(
            "cannot start the metrics endpoint ([metrics] listen): cannot listen on 127.0.0.1:{port}"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(feeds.requests(), 0, "nothing polled before the refusal");
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_health_alerts_go_only_to_health_notify_in_their_own_words() {
    let feeds = FeedServer::start().await;
    feeds.set("/down", Route::status(500));
    let (ops, analyst) = (SmtpServer::start(), SmtpServer::start());
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("feedwatch.toml");
    let mail = |name: &str, smtp: &SmtpServer| {
        format!(
            "[notify.{name}]\ntype = \"email\"\nsmtp = \"{}\"\nfrom = \"fw@localhost\"\nto = [\"{name}@example.org\"]\n",
            smtp.url()
        )
    };
    std::fs::write(
        &cfg,
        format!(
            "[storage]\npath = \"fw.db\"\n\
             [poll]\ntimeout = \"5s\"\nhealth_alert_after = \"0s\"\nhealth_notify = [\"ops\"]\n\
             [[feed]]\nurl = \"{}\"\nname = \"Down\"\n\
             [[rule]]\nname = \"k\"\nquery = 'Kabulov'\n{}{}",
            feeds.url("/down"),
            mail("ops", &ops),
            mail("analyst", &analyst)
        ),
    )
    .expect("write config");
    let once = feedwatch(&["--config", cfg.to_str().expect("utf-8"), "once"]).await;
    assert_eq!(once.code, Some(1), "the feed failed: {once:#?}");
    let got = ops.mails();
    assert_eq!(got.len(), 1, "{once:#?}");
    assert!(analyst.mails().is_empty(), "not a health_notify notifier");
    let subject = got[0].subject();
    assert!(
        subject.contains("Feed Down has been failing since"),
        "{subject}"
    );
    let text = got[0].text();
    for needle in [
        "Feed:  Down <http://",
        "Last error: fetch failed",
        "feedwatch feeds",
    ] {
        assert!(text.contains(needle), "{needle:?} in:\n{text}");
    }
    for absent in ["Published:", "Rule:", "(no date"] {
        assert!(!text.contains(absent), "{absent:?} in:\n{text}");
    }
}

//! The daemon as systemd sees it: the sd_notify protocol on a real NOTIFY_SOCKET (READY,
//! STATUS, WATCHDOG, RELOADING, STOPPING), live reload on SIGHUP (a new rule and feed take
//! effect; a broken config is refused and the daemon carries on), and /metrics + /healthz.

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use support::{FeedServer, Route, SmtpServer, eventually_within, free_port, send_signal};

fn rss(items: &[(&str, &str)]) -> String {
    let now = chrono::Utc::now().to_rfc2822();
    let items: String = items
        .iter()
        .map(|(guid, title)| {
            format!(
                "<item><guid>{guid}</guid><title>{title}</title><pubDate>{now}</pubDate></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>{items}</channel></rss>"
    )
}

fn config(smtp: u16, metrics: u16, feeds: &[String], rules: &[(&str, &str)]) -> String {
    let mut s = format!(
        "[storage]\npath = \"fw.db\"\n[poll]\ninterval = \"1s\"\nmin_interval = \"1s\"\ntimeout = \"5s\"\n\
         [metrics]\nlisten = \"127.0.0.1:{metrics}\"\n\
         [notify.mail]\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:{smtp}\"\nfrom = \"fw@localhost\"\nto = [\"a@example.org\"]\n"
    );
    for (i, url) in feeds.iter().enumerate() {
        s.push_str(&format!("[[feed]]\nurl = \"{url}\"\nname = \"feed{i}\"\n"));
    }
    for (name, query) in rules {
        s.push_str(&format!("[[rule]]\nname = \"{name}\"\nquery = '{query}'\n"));
    }
    s
}

/// Reads notifications until a line starting with `want` arrives (bounded).
fn read_until(sock: &UnixDatagram, want: &str, seen: &mut Vec<String>) {
    let mut buf = [0u8; 4096];
    for _ in 0..200 {
        if seen.iter().any(|m| m.lines().any(|l| l.starts_with(want))) {
            return;
        }
        match sock.recv(&mut buf) {
            Ok(n) => seen.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e) => panic!("no {want:?} on the notify socket ({e}); got {seen:?}"),
        }
    }
    panic!("no {want:?} after 200 messages: {seen:?}");
}

async fn http_get(port: u16, path: &str) -> (u16, String) {
    let resp = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .expect("metrics endpoint answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_protocol_reload_and_metrics() {
    let feeds = FeedServer::start().await;
    feeds.set("/one", Route::rss(rss(&[("1", "Kabulov speaks")]), "\"1\""));
    let smtp = SmtpServer::start();
    let metrics = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("feedwatch.toml");
    std::fs::write(
        &cfg,
        config(
            smtp.port,
            metrics,
            &[feeds.url("/one")],
            &[("kabulov", "Kabulov")],
        ),
    )
    .expect("write config");

    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let log = dir.path().join("daemon.log");
    let err = std::fs::File::create(&log).expect("log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_feedwatch"))
        .args(["--config", cfg.to_str().expect("utf-8"), "run"])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "1000000")
        .env_remove("WATCHDOG_PID")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .expect("daemon starts");
    let pid = child.id().expect("pid");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    // READY once the config is loaded and the database open, then a status and pings.
    let mut seen = Vec::new();
    read_until(&sock, "READY=1", &mut seen);
    read_until(&sock, "WATCHDOG=1", &mut seen);
    read_until(&sock, "STATUS=watching 1 feeds with 1 rules", &mut seen);
    eventually_within(20, "the first alert", || smtp.mails().len() == 1).await;

    // Health and metrics.
    let (status, body) = http_get(metrics, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    // The test server counts a mail before feedwatch has its 250 and marks the alert sent:
    // scrape until the outbox shows it (bounded).
    let mut body = String::new();
    for _ in 0..100 {
        let (status, b) = http_get(metrics, "/metrics").await;
        assert_eq!(status, 200);
        body = b;
        if body.contains("feedwatch_alerts{state=\"sent\"} 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for needle in [
        "feedwatch_polls_total{outcome=\"ok\"}",
        "feedwatch_items_ingested_total",
        "feedwatch_rule_matches_total{rule=\"kabulov\"}",
        "feedwatch_deliveries_total{notifier=\"mail\",result=\"sent\"}",
        "feedwatch_alerts{state=\"sent\"} 1",
        "feedwatch_queue_depth 0",
        "feedwatch_poll_duration_seconds_bucket",
    ] {
        assert!(body.contains(needle), "/metrics lacks {needle}:\n{body}");
    }

    // Add a feed and a rule, reload: the new feed is polled and its item alerts.
    feeds.set(
        "/two",
        Route::rss(rss(&[("a", "Taliban delegation arrives")]), "\"a\""),
    );
    std::fs::write(
        &cfg,
        config(
            smtp.port,
            metrics,
            &[feeds.url("/one"), feeds.url("/two")],
            &[("kabulov", "Kabulov"), ("taliban", "Taliban")],
        ),
    )
    .expect("write config");
    seen.clear();
    send_signal(pid, libc::SIGHUP);
    read_until(&sock, "RELOADING=1", &mut seen);
    read_until(&sock, "READY=1", &mut seen);
    eventually_within(20, "the new rule's alert from the new feed", || {
        smtp.mails()
            .iter()
            .any(|m| m.subject() == "[feedwatch] taliban: Taliban delegation arrives")
    })
    .await;

    // A broken config is refused; the daemon keeps running the last good one.
    std::fs::write(&cfg, "[poll]\ninterval = \"sometimes\"\n").expect("write broken config");
    send_signal(pid, libc::SIGHUP);
    for _ in 0..400 {
        if log_text()
            .contains("reload failed: the new config is invalid; still running the old one")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        log_text().contains("reload failed: the new config is invalid; still running the old one"),
        "the refusal is logged:\n{}",
        log_text()
    );
    assert!(log_text().contains("poll.interval"), "{}", log_text());
    feeds.set(
        "/two",
        Route::rss(
            rss(&[
                ("a", "Taliban delegation arrives"),
                ("b", "Taliban talks resume"),
            ]),
            "\"b\"",
        ),
    );
    eventually_within(20, "alerts still flow after the refused reload", || {
        smtp.mails()
            .iter()
            .any(|m| m.subject() == "[feedwatch] taliban: Taliban talks resume")
    })
    .await;
    assert_eq!(smtp.mails().len(), 3, "nothing resent across reloads");

    // SIGTERM: STOPPING, then a clean exit.
    seen.clear();
    send_signal(pid, libc::SIGTERM);
    read_until(&sock, "STOPPING=1", &mut seen);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits within 20 s")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "{}", log_text());
    let _ = Path::new(&log);
}

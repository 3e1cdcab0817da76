//! Alerts that always arrive: the outbox against a real SMTP server and a real webhook
//! receiver on loopback, including outages, refusals, Retry-After, a SIGKILL mid-batch and a
//! digest that spans a restart.
//!
//! The daemon runs in the test process (`support::in_process`) and the tests wait on the
//! outbox's rows, so each returns as soon as what it pins has happened; a stopped daemon sends
//! nothing more, so counts taken after `InProcess::stop` are final. The SIGKILL test runs the
//! real binary: a crash is a process's.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use feedwatch::domain::AlertStatus::{Pending, Retry, Sent};
use feedwatch::store::AlertRow;
use hmac::{KeyInit, Mac};
use support::in_process::{InProcess, promptly_polled_path, wait_for};
use support::{
    Daemon, FeedServer, Route, SmtpServer, WebhookReceiver, eventually_within, feedwatch,
    free_port, kabulov_feed,
};

/// `[poll] interval` of every test config.
const POLL_INTERVAL: Duration = Duration::from_secs(3);
/// Longest wait for anything the daemon does here (generous: the machine may be loaded).
const WAIT: Duration = Duration::from_secs(30);

struct Setup {
    dir: tempfile::TempDir,
    cfg: PathBuf,
}

impl Setup {
    fn new(feed_url: &str, notifier: &str, extra: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "[storage]\npath = \"fw.db\"\n\n[poll]\ninterval = \"{}s\"\nmin_interval = \"1s\"\ntimeout = \"5s\"\n\n\
             [delivery]\nretry_base = \"1s\"\nretry_cap = \"2s\"\n\n\
             [[feed]]\nurl = \"{feed_url}\"\nname = \"News\"\n\n\
             [[rule]]\nname = \"kabulov\"\nquery = '\"Moscow format\" OR Kabulov'\n{extra}\n\n{notifier}\n",
            POLL_INTERVAL.as_secs()
        );
        let cfg = dir.path().join("feedwatch.toml");
        std::fs::write(&cfg, text).expect("write config");
        Setup { dir, cfg }
    }

    fn cfg(&self) -> &str {
        self.cfg.to_str().expect("utf-8")
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `feedwatch once` on this config and checks that it exits with `code`.
    async fn once(&self, code: i32, why: &str) -> support::Run {
        let run = feedwatch(&["--config", self.cfg(), "once"]).await;
        assert_eq!(run.code, Some(code), "{why}: {run:#?}");
        run
    }
}

/// Serves `body` (with an ETag) on a path that a freshly started daemon polls within a
/// quarter of a second, and returns its URL.
fn serve_promptly(feeds: &FeedServer, body: String) -> String {
    let path = promptly_polled_path(feeds, POLL_INTERVAL, Duration::from_millis(250));
    feeds.set(&path, Route::rss(body, "\"1\""));
    feeds.url(&path)
}

/// Whether the outbox holds exactly `n` alerts, all sent.
fn all_sent(rows: &[AlertRow], n: usize) -> bool {
    rows.len() == n && rows.iter().all(|r| r.status == Sent)
}

fn email(smtp_port: u16) -> String {
    format!(
        "[notify.mail]\ntype = \"email\"\nsmtp = \"smtp://127.0.0.1:{smtp_port}\"\n\
         from = \"feedwatch <fw@localhost>\"\nto = [\"analyst@example.org\", \"Second <second@example.org>\"]\ntimeout = \"5s\"\n"
    )
}

fn webhook(url: &str, secret_file: Option<&Path>) -> String {
    let secret = secret_file
        .map(|p| format!("secret_file = \"{}\"\n", p.display()))
        .unwrap_or_default();
    format!(
        "[notify.hook]\ntype = \"webhook\"\nurl = \"{url}\"\nheaders = {{ Authorization = \"Bearer t0ken\" }}\n{secret}timeout = \"5s\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_has_both_parts_headers_and_highlighted_matches() {
    let feeds = FeedServer::start().await;
    feeds.set("/f", Route::rss(kabulov_feed(1, "a"), "\"1\""));
    let smtp = SmtpServer::start();
    let s = Setup::new(&feeds.url("/f"), &email(smtp.port), "");
    let run = feedwatch(&["--config", s.cfg(), "once"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.from, "fw@localhost");
    assert_eq!(m.to, vec!["analyst@example.org", "second@example.org"]);
    assert_eq!(m.subject(), "[feedwatch] kabulov: a story 00");
    assert_eq!(
        m.header("From").as_deref(),
        Some("feedwatch <fw@localhost>")
    );
    assert!(m.header("Date").is_some());
    let id = m.header("Message-ID").expect("Message-ID");
    assert!(id.ends_with("@feedwatch.invalid>"), "{id}");

    let parsed = m.parsed();
    assert_eq!(parsed.ctype.mimetype, "multipart/alternative");
    let part = |t: &str| {
        parsed
            .subparts
            .iter()
            .find(|p| p.ctype.mimetype == t)
            .unwrap_or_else(|| panic!("no {t} part"))
            .get_body()
            .expect("decodable")
    };
    let text = part("text/plain");
    let html = part("text/html");
    for body in [&text, &html] {
        for needle in ["a story 00", "News", "kabulov"] {
            assert!(body.contains(needle), "{needle:?} missing in:\n{body}");
        }
    }
    assert!(text.contains("http://news.test/a/0"), "{text}");
    // Every matched term is highlighted in the snippet, not only the first.
    assert!(
        text.contains("*Kabulov*") && text.contains("*Moscow format*"),
        "{text}"
    );
    assert!(
        html.contains("<b>Kabulov</b>") && html.contains("<b>Moscow format</b>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"http:&#x2f;&#x2f;news.test&#x2f;a&#x2f;0\">a story 00</a>"),
        "{html}"
    );
    // Feed HTML is text to us: the <b>0</b> from the feed is not markup in the email.
    assert!(!html.contains("<b>0</b>"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_outage_queues_alerts_and_delivers_each_exactly_once_in_order() {
    let feeds = FeedServer::start().await;
    let url = serve_promptly(&feeds, kabulov_feed(5, "o"));
    let port = free_port();
    let s = Setup::new(&url, &email(port), "");
    let daemon = InProcess::start(&s.cfg).await;
    wait_for("a failed delivery scheduled again", WAIT, async || {
        daemon.alerts().await.iter().any(|r| r.status == Retry)
    })
    .await;
    let queued = daemon.alerts().await;
    assert_eq!(
        queued.len(),
        5,
        "the outage queues every alert: {queued:#?}"
    );
    assert!(queued.iter().all(|r| r.status != Sent), "{queued:#?}");
    // The server comes back on the same port.
    let smtp = SmtpServer::start_on_port(port);
    wait_for("all five alerts delivered", WAIT, async || {
        all_sent(&daemon.alerts().await, 5)
    })
    .await;
    daemon.stop().await;
    let subjects: Vec<String> = smtp.mails().iter().map(|m| m.subject()).collect();
    // Items were stored in feed order (newest first), so that is delivery order.
    let want: Vec<String> = (0..5)
        .map(|i| format!("[feedwatch] kabulov: o story {i:02}"))
        .collect();
    assert_eq!(subjects, want);
}

fn verify_signature(secret: &str, hook: &support::Hook) {
    let ts = hook.headers["x-feedwatch-timestamp"]
        .to_str()
        .expect("ascii");
    let sig = hook.headers["x-feedwatch-signature"]
        .to_str()
        .expect("ascii");
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("any key length");
    mac.update(format!("{ts}.{}", hook.body).as_bytes());
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        sig,
        format!("sha256={want}"),
        "signature over timestamp.body"
    );
    let age = chrono::Utc::now().timestamp() - ts.parse::<i64>().expect("unix seconds");
    assert!((0..120).contains(&age), "fresh timestamp ({age} s)");
}

/// `once` delivers every alert that is due, not only the first batch the outbox claims at a
/// time (500): it exited 1 with one alert left over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_delivers_more_alerts_than_one_batch() {
    const ITEMS: usize = 501;
    let feeds = FeedServer::start().await;
    feeds.set("/f", Route::rss(kabulov_feed(ITEMS, "b"), "\"1\""));
    let hooks = WebhookReceiver::start().await;
    // Each item its own story: their near-identical texts would otherwise fold into one alert.
    let notifier = format!(
        "[stories]\nwindow = \"0s\"\n\n{}",
        webhook(&hooks.url(), None)
    );
    let s = Setup::new(&feeds.url("/f"), &notifier, "");

    let first = feedwatch(&["--config", s.cfg(), "once"]).await;
    assert_eq!(first.code, Some(0), "{first:#?}");
    let ids: std::collections::BTreeSet<String> = (hooks.hooks().iter())
        .map(|h| {
            h.headers["idempotency-key"]
                .to_str()
                .expect("ascii")
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), ITEMS, "every alert once");
    let second = feedwatch(&["--config", s.cfg(), "once"]).await;
    assert_eq!(second.code, Some(0), "{second:#?}");
    assert_eq!(hooks.hooks().len(), ITEMS, "nothing sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_is_signed_retried_after_500_and_delivered_once() {
    let feeds = FeedServer::start().await;
    feeds.set("/f", Route::rss(kabulov_feed(1, "w"), "\"1\""));
    let hooks = WebhookReceiver::start().await;
    hooks.answer(500, &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cr3t\n").expect("write");
    let s = Setup::new(&feeds.url("/f"), &webhook(&hooks.url(), Some(&secret)), "");

    let first = feedwatch(&["--config", s.cfg(), "once"]).await;
    assert_eq!(
        first.code,
        Some(1),
        "500 leaves the alert queued: {first:#?}"
    );
    let second = feedwatch(&["--config", s.cfg(), "once"]).await;
    assert_eq!(second.code, Some(0), "{second:#?}");
    let third = feedwatch(&["--config", s.cfg(), "once"]).await;
    assert_eq!(third.code, Some(0), "{third:#?}");

    let got = hooks.hooks();
    assert_eq!(
        got.iter().map(|h| h.status).collect::<Vec<_>>(),
        vec![500, 200]
    );
    let key0 = got[0].headers["idempotency-key"].to_str().expect("ascii");
    let key1 = got[1].headers["idempotency-key"].to_str().expect("ascii");
    assert_eq!(key0, key1, "a retry carries the same idempotency key");
    for h in &got {
        verify_signature("s3cr3t", h);
        assert_eq!(h.headers["authorization"], "Bearer t0ken");
        assert_eq!(h.headers["content-type"], "application/json");
    }
    let v: serde_json::Value = serde_json::from_str(&got[1].body).expect("JSON body");
    assert_eq!(v["version"], 2);
    assert_eq!(v["id"], key1);
    assert_eq!(v["rule"], "kabulov");
    assert_eq!(v["feed"]["name"], "News");
    assert_eq!(v["feed"]["url"], feeds.url("/f"));
    assert_eq!(v["item"]["title"], "w story 00");
    assert_eq!(v["item"]["link"], "http://news.test/w/0");
    assert!(
        v["item"]["published"]
            .as_str()
            .is_some_and(|p| p.contains('T'))
    );
    assert!(
        v["item"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("Zamir Kabulov"))
    );
    let matched: Vec<&str> = v["matched"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert_eq!(matched, vec!["Moscow format", "Kabulov"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_400_is_dead_at_once_and_can_be_requeued() {
    let feeds = FeedServer::start().await;
    feeds.set("/f", Route::rss(kabulov_feed(1, "d"), "\"1\""));
    let hooks = WebhookReceiver::start().await;
    hooks.answer(400, &[]);
    let s = Setup::new(&feeds.url("/f"), &webhook(&hooks.url(), None), "");
    let run = feedwatch(&["--config", s.cfg(), "once"]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("giving up (dead)"), "{}", run.stderr);
    // Dead is final: another run does not try again.
    feedwatch(&["--config", s.cfg(), "once"]).await;
    assert_eq!(hooks.hooks().len(), 1);

    let list = feedwatch(&["--config", s.cfg(), "alerts", "--status", "dead", "--json"]).await;
    assert_eq!(list.code, Some(0), "{list:#?}");
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).expect("JSON");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["status"], "dead");
    assert_eq!(rows[0]["attempts"], 1);
    assert!(
        rows[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP 400"))
    );
    let id = rows[0]["id"].as_i64().expect("id").to_string();

    let retry = feedwatch(&["--config", s.cfg(), "alerts", "retry", &id]).await;
    assert_eq!(retry.code, Some(0), "{retry:#?}");
    let run = feedwatch(&["--config", s.cfg(), "once"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(hooks.hooks().len(), 2, "requeued and delivered");
    let sent = feedwatch(&["--config", s.cfg(), "alerts", "--status", "sent", "--json"]).await;
    let rows: serde_json::Value = serde_json::from_str(&sent.stdout).expect("JSON");
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_429_retry_after_is_honoured_by_the_daemon() {
    let feeds = FeedServer::start().await;
    let url = serve_promptly(&feeds, kabulov_feed(1, "r"));
    let hooks = WebhookReceiver::start().await;
    hooks.answer(429, &[("Retry-After", "4")]);
    let s = Setup::new(&url, &webhook(&hooks.url(), None), "");
    let daemon = InProcess::start(&s.cfg).await;
    wait_for("the alert delivered by the retry", WAIT, async || {
        all_sent(&daemon.alerts().await, 1)
    })
    .await;
    daemon.stop().await;
    let got = hooks.hooks();
    assert_eq!(
        got.iter().map(|h| h.status).collect::<Vec<_>>(),
        vec![429, 200]
    );
    let waited = got[1].at - got[0].at;
    // retry_base is 1 s and the cap 2 s: only Retry-After explains a wait of 4 s or more.
    assert!(
        waited >= Duration::from_millis(3500),
        "waited only {waited:?}"
    );
}

/// `once` skips feedwatch's own back-off (the user asked for delivery now) but not the
/// server's: a receiver that answered `429 Retry-After: 3600` was posted to again by the next
/// `once` a second later. Retry-After in seconds and as an HTTP date; only the operator's
/// `alerts retry ID` overrides the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_never_sends_before_the_servers_retry_after() {
    let in_an_hour = chrono::Utc::now() + chrono::TimeDelta::hours(1);
    let date = in_an_hour.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    for (status, retry_after) in [(429, "3600"), (503, date.as_str())] {
        let case = format!("{status} Retry-After: {retry_after}");
        let feeds = FeedServer::start().await;
        feeds.set("/f", Route::rss(kabulov_feed(1, "h"), "\"1\""));
        let hooks = WebhookReceiver::start().await;
        hooks.answer(status, &[("retry-after", retry_after)]);
        let s = Setup::new(&feeds.url("/f"), &webhook(&hooks.url(), None), "");

        s.once(1, &format!("{case}: the alert stays queued")).await;
        assert_eq!(hooks.hooks().len(), 1, "{case}");
        let second = s.once(1, &format!("{case}: still undelivered")).await;
        assert_eq!(
            hooks.hooks().len(),
            1,
            "{case}: no request before the server's time"
        );
        let said = "wait for the server's Retry-After";
        assert!(second.stderr.contains(said), "{case}: {}", second.stderr);
        let list = feedwatch(&["--config", s.cfg(), "alerts"]).await;
        assert!(
            list.stdout.contains("as the server asked"),
            "{case}: {list:#?}"
        );
        let json = feedwatch(&["--config", s.cfg(), "alerts", "--json"]).await;
        let rows: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
        let (id, not_before) = (rows[0]["id"].as_i64(), rows[0]["not_before"].as_i64());
        let asked = chrono::Utc::now().timestamp() + 3500;
        assert!(not_before.is_some_and(|t| t > asked), "{case}: {rows}");

        let id = id.expect("id").to_string();
        let retry = feedwatch(&["--config", s.cfg(), "alerts", "retry", &id]).await;
        assert_eq!(retry.code, Some(0), "{case}: {retry:#?}");
        s.once(0, &format!("{case}: sent on the operator's order"))
            .await;
        let statuses: Vec<u16> = hooks.hooks().iter().map(|h| h.status).collect();
        assert_eq!(
            statuses,
            vec![status, 200],
            "{case}: sent when the operator asked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_batch_loses_no_alert() {
    const N: usize = 12;
    let feeds = FeedServer::start().await;
    let url = serve_promptly(&feeds, kabulov_feed(N, "k"));
    let smtp = SmtpServer::start();
    // Slow enough that the kill lands mid-batch: nine more messages (2.7 s) after the third.
    smtp.delay_each_message(Duration::from_millis(300));
    let s = Setup::new(&url, &email(smtp.port), "");
    let daemon = Daemon::start(&s.cfg, &s.log("daemon1.log"));
    eventually_within(30, "a few alerts arrive", || smtp.mails().len() >= 3).await;
    daemon.kill().await;
    let before_restart = smtp.mails().len();
    assert!(
        before_restart < N,
        "the kill landed mid-batch ({before_restart} of {N})"
    );

    let daemon = Daemon::start(&s.cfg, &s.log("daemon2.log"));
    let unique = || {
        smtp.mails()
            .iter()
            .filter_map(|m| m.header("Message-ID"))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    eventually_within(60, "every alert arrives after the restart", || {
        unique() >= N
    })
    .await;
    // SIGTERM lets the delivery pass finish, so once the process has exited no message is on
    // its way: the count below is final.
    assert_eq!(daemon.terminate().await, Some(0));
    let rows = feedwatch::store::Store::open(&s.path().join("fw.db"))
        .await
        .expect("open the database")
        .list_alerts(None, 100)
        .await
        .expect("list alerts");
    assert!(all_sent(&rows, N), "every alert is marked sent: {rows:#?}");

    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for m in smtp.mails() {
        *per_id
            .entry(m.header("Message-ID").expect("id"))
            .or_default() += 1;
    }
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    println!(
        "crash safety: {N} alerts, {} received before SIGKILL, {} messages in total, {} unique, {duplicates} duplicate(s)",
        before_restart,
        per_id.values().sum::<usize>(),
        per_id.len()
    );
    assert_eq!(per_id.len(), N, "no alert lost");
    // Only the message in flight when the process died can arrive twice.
    assert!(duplicates <= 1, "{duplicates} duplicates: {per_id:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_collects_alerts_across_a_restart() {
    let feeds = FeedServer::start().await;
    let url = serve_promptly(&feeds, kabulov_feed(3, "g"));
    let smtp = SmtpServer::start();
    // Due 6 s after the poll: the first daemon is long stopped by then.
    let notifier = format!("{}digest = \"6s\"\n", email(smtp.port));
    let s = Setup::new(&url, &notifier, "");
    let daemon = InProcess::start(&s.cfg).await;
    wait_for("the poll queues three digest alerts", WAIT, async || {
        daemon.alerts().await.len() == 3
    })
    .await;
    let queued = daemon.alerts().await;
    daemon.stop().await;
    assert!(
        queued
            .iter()
            .all(|r| r.status == Pending && r.digest.as_deref() == Some("6s")),
        "{queued:#?}"
    );
    assert!(
        smtp.mails().is_empty(),
        "nothing sent before the digest is due"
    );

    let daemon = InProcess::start(&s.cfg).await;
    wait_for("the digest delivered", WAIT, async || {
        all_sent(&daemon.alerts().await, 3)
    })
    .await;
    daemon.stop().await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "one digest, not one mail per alert");
    assert_eq!(
        mails[0].subject(),
        "[feedwatch] digest: 3 items for kabulov"
    );
    let text = mails[0].text();
    for i in 0..3 {
        assert!(text.contains(&format!("g story {i:02}")), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_guard_folds_alerts_beyond_max_per_hour_into_a_digest() {
    let feeds = FeedServer::start().await;
    feeds.set("/f", Route::rss(kabulov_feed(5, "x"), "\"1\""));
    let smtp = SmtpServer::start();
    let s = Setup::new(&feeds.url("/f"), &email(smtp.port), "max_per_hour = 2");
    let run = feedwatch(&["--config", s.cfg(), "once"]).await;
    assert_eq!(
        run.code,
        Some(0),
        "waiting for a digest is not a failure: {run:#?}"
    );
    assert_eq!(smtp.mails().len(), 2, "two single alerts, the rest folded");
    let pending = feedwatch(&[
        "--config",
        s.cfg(),
        "alerts",
        "--status",
        "pending",
        "--json",
    ])
    .await;
    let rows: serde_json::Value = serde_json::from_str(&pending.stdout).expect("JSON");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["digest"] == "1h"), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_reports_the_server_answer_and_failures() {
    let smtp = SmtpServer::start();
    let s = Setup::new("http://127.0.0.1:9/unused", &email(smtp.port), "");
    let ok = feedwatch(&["--config", s.cfg(), "send-test", "mail"]).await;
    assert_eq!(ok.code, Some(0), "{ok:#?}");
    assert!(
        ok.stdout
            .contains("mail: delivered; the server answered: 250"),
        "{}",
        ok.stdout
    );
    assert_eq!(smtp.mails().len(), 1);

    smtp.answer_rcpt_with(550);
    let refused = feedwatch(&["--config", s.cfg(), "send-test", "mail"]).await;
    assert_eq!(refused.code, Some(1), "{refused:#?}");
    assert!(
        refused
            .stdout
            .contains("NOT delivered: permanent delivery failure"),
        "{}",
        refused.stdout
    );

    let down = Setup::new("http://127.0.0.1:9/unused", &email(free_port()), "");
    let run = feedwatch(&["--config", down.cfg(), "send-test", "mail"]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stdout.contains("hint: nothing listens there"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_beside_a_running_daemon_does_not_send_twice() {
    let feeds = FeedServer::start().await;
    let url = serve_promptly(&feeds, kabulov_feed(1, "l"));
    let smtp = SmtpServer::start();
    // The daemon is mid-delivery (the server takes 3 s to accept) when `once` runs.
    smtp.delay_each_message(Duration::from_secs(3));
    let s = Setup::new(&url, &email(smtp.port), "");
    let daemon = InProcess::start(&s.cfg).await;
    wait_for("the daemon queues the alert", WAIT, async || {
        daemon.alerts().await.len() == 1
    })
    .await;
    let once = feedwatch(&["--config", s.cfg(), "once"]).await;
    assert_eq!(once.code, Some(0), "{once:#?}");
    assert!(
        once.stderr.contains("holds this database's delivery lock"),
        "{}",
        once.stderr
    );
    wait_for("the daemon's delivery", WAIT, async || {
        all_sent(&daemon.alerts().await, 1)
    })
    .await;
    daemon.stop().await;
    assert_eq!(smtp.mails().len(), 1, "sent once, by the daemon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_redirect_is_not_taken_for_delivery() {
    let hooks = WebhookReceiver::start().await;
    hooks.answer(301, &[("Location", "/moved")]);
    let s = Setup::new(
        "http://127.0.0.1:9/unused",
        &webhook(&hooks.url(), None),
        "",
    );
    let run = feedwatch(&["--config", s.cfg(), "send-test", "hook"]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stdout.contains("NOT delivered"), "{}", run.stdout);
    // The new location is shown like the webhook URL: its path is the secret.
    let shown = format!("redirect to http://{}/***", hooks.addr);
    assert!(run.stdout.contains(&shown), "{}", run.stdout);
    assert!(!run.stdout.contains("/moved"), "{}", run.stdout);
    let got = hooks.hooks();
    assert_eq!(got.len(), 1, "no bodyless GET to the new location");
}

//! Delivery never stalls and never leaks a password: every SMTP and webhook exchange is bounded
//! by the notifier's `timeout` (a server that accepts and never greets, an HTTP port spoken to
//! as SMTP, a server that stops answering mid-conversation, a webhook receiver that never
//! answers), and a login never goes out in clear unless `?tls=none` says so. The servers are
//! real listeners on 127.0.0.1; the SMTP peer here is scripted so it can go silent at any step
//! and offer AUTH without STARTTLS, which no well-behaved test server does.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{FeedServer, Route, Run, feedwatch};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The notifiers' `timeout` in these tests.
const TIMEOUT: &str = "2s";
/// How long a run that meets a silent server may take: the 2 s timeout, plus process start-up
/// and a loaded machine. Before the fix these runs hung for minutes.
const BOUND: Duration = Duration::from_secs(10);
/// How long a silent peer holds a connection open without a word (longer than any run here).
const HOLD: Duration = Duration::from_secs(60);

/// Where the scripted SMTP peer stops answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    /// Never: a willing server.
    Never,
    /// Right after accepting the connection: not even a greeting.
    BeforeGreeting,
    /// At the first command starting with this word (`"MAIL"`, `"AUTH"`, …).
    At(&'static str),
}

/// A scripted SMTP server on 127.0.0.1 that offers `AUTH PLAIN LOGIN` and never STARTTLS (a
/// server without TLS, or one whose STARTTLS an attacker stripped), records every command line
/// it reads, and stalls as told on its first `stalled` connections.
struct SmtpPeer {
    port: u16,
    commands: Arc<Mutex<Vec<String>>>,
}

impl SmtpPeer {
    async fn start(stall: Stall, stalled: usize) -> SmtpPeer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let commands: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = commands.clone();
        tokio::spawn(async move {
            for n in 0.. {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let stall = if n < stalled { stall } else { Stall::Never };
                tokio::spawn(converse(stream, stall, log.clone()));
            }
        });
        SmtpPeer { port, commands }
    }

    /// Did a command line starting with `word` arrive?
    fn saw(&self, word: &str) -> bool {
        self.commands
            .lock()
            .expect("lock")
            .iter()
            .any(|c| c.starts_with(word))
    }

    fn url(&self, query: &str) -> String {
        format!("smtp://127.0.0.1:{}{query}", self.port)
    }
}

/// One connection of [`SmtpPeer`].
async fn converse(stream: tokio::net::TcpStream, stall: Stall, log: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = stream.into_split();
    if stall == Stall::BeforeGreeting {
        // Keep the connection open, say nothing.
        tokio::time::sleep(HOLD).await;
        return;
    }
    if write.write_all(b"220 peer.test ESMTP\r\n").await.is_err() {
        return;
    }
    let mut lines = BufReader::new(read).lines();
    let mut in_body = false;
    while let Ok(Some(line)) = lines.next_line().await {
        if in_body {
            if line == "." {
                in_body = false;
                let _ = write.write_all(b"250 2.0.0 queued\r\n").await;
            }
            continue;
        }
        log.lock().expect("lock").push(line.clone());
        let word = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        if matches!(stall, Stall::At(w) if w == word) {
            tokio::time::sleep(HOLD).await;
            return;
        }
        let reply: &[u8] = match word.as_str() {
            "EHLO" => b"250-peer.test\r\n250 AUTH PLAIN LOGIN\r\n",
            "AUTH" => b"235 2.7.0 accepted\r\n",
            "DATA" => b"354 go on\r\n",
            "QUIT" => b"221 bye\r\n",
            _ => b"250 ok\r\n",
        };
        in_body = word == "DATA";
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// A config file in `dir` with one notifier `[notify.out]` (its body given) and, with a feed
/// URL, one feed and one rule that matches its items.
fn config(dir: &Path, notifier: &str, feed: Option<&str>) -> PathBuf {
    let watch = feed
        .map(|url| {
            format!(
                "[[feed]]\nurl = \"{url}\"\nname = \"News\"\n\n\
                 [[rule]]\nname = \"kabulov\"\nquery = 'Kabulov'\nnotify = [\"out\"]\n\n"
            )
        })
        .unwrap_or_default();
    let path = dir.join("feedwatch.toml");
    std::fs::write(
        &path,
        format!("[storage]\npath = \"fw.db\"\n\n{watch}[notify.out]\n{notifier}timeout = \"{TIMEOUT}\"\n"),
    )
    .expect("write config");
    path
}

fn email(smtp: &str) -> String {
    format!(
        "type = \"email\"\nsmtp = \"{smtp}\"\nfrom = \"fw@localhost\"\nto = [\"a@example.org\"]\n"
    )
}

/// An email notifier that logs in as `fw` with the password `s3cret` (from a file in `dir`).
fn email_with_login(dir: &Path, smtp: &str) -> String {
    std::fs::write(dir.join("pw"), "s3cret\n").expect("write password");
    format!("{}username = \"fw\"\npassword_file = \"pw\"\n", email(smtp))
}

/// `feedwatch ARGS…` with `--config cfg`, and how long it took.
async fn timed(cfg: &Path, args: &[&str]) -> (Run, Duration) {
    let cfg = cfg.to_str().expect("utf-8");
    let start = Instant::now();
    let run = feedwatch(&[&["--config", cfg], args].concat()).await;
    (run, start.elapsed())
}

/// `send-test out` fails within [`BOUND`], says it got no answer within the timeout, and
/// returns its output.
async fn send_test_times_out(cfg: &Path) -> String {
    let (run, took) = timed(cfg, &["send-test", "out"]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(took < BOUND, "send-test took {took:?}: {run:#?}");
    assert!(run.stdout.contains("out: NOT delivered"), "{}", run.stdout);
    run.stdout
}

/// [`send_test_times_out`] for an email notifier to `smtp`.
async fn send_test_to_smtp_times_out(smtp: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    send_test_times_out(&config(dir.path(), &email(smtp), None)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_gives_up_on_a_server_that_never_greets() {
    let silent = SmtpPeer::start(Stall::BeforeGreeting, usize::MAX).await;
    let url = silent.url("?tls=none");
    let out = send_test_to_smtp_times_out(&url).await;
    assert!(
        out.contains(&format!("no answer from {url} within 2s")),
        "{out}"
    );
    assert!(out.contains("greeting"), "names the step: {out}");
    assert!(out.contains("hint: "), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_gives_up_on_an_http_port_spoken_to_as_smtp() {
    let http = FeedServer::start().await;
    let out = send_test_to_smtp_times_out(&format!("smtp://{}?tls=none", http.addr)).await;
    assert!(out.contains("within 2s"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_gives_up_on_a_server_that_stops_answering_mid_conversation() {
    let peer = SmtpPeer::start(Stall::At("MAIL"), usize::MAX).await;
    let out = send_test_to_smtp_times_out(&peer.url("?tls=none")).await;
    assert!(out.contains("within 2s"), "{out}");
    assert!(out.contains("MAIL"), "names the step: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_leaves_the_alert_queued_for_retry_when_the_server_never_greets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let feeds = FeedServer::start().await;
    feeds.set(
        "/news.xml",
        // Dated now: on a feed's first poll only recent items alert.
        Route::feed(format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>News</title>\
             <item><guid>k-1</guid><title>Kabulov speaks</title><link>http://news.test/1</link>\
             <pubDate>{}</pubDate></item></channel></rss>",
            chrono::Utc::now().to_rfc2822()
        )),
    );
    let silent = SmtpPeer::start(Stall::BeforeGreeting, usize::MAX).await;
    let cfg = config(
        dir.path(),
        &email(&silent.url("?tls=none")),
        Some(&feeds.url("/news.xml")),
    );
    let (run, took) = timed(&cfg, &["once"]).await;
    assert_eq!(run.code, Some(1), "an alert is still queued: {run:#?}");
    assert!(took < BOUND, "once took {took:?}: {run:#?}");

    let (list, _) = timed(&cfg, &["alerts", "--json"]).await;
    let alerts: serde_json::Value = serde_json::from_str(&list.stdout).expect("alerts JSON");
    let alert = &alerts[0];
    assert_eq!(alert["status"], "retry", "{alerts:#}");
    let error = alert["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("no answer from") && error.contains("within 2s"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_gives_up_on_a_webhook_receiver_that_never_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let silent = SmtpPeer::start(Stall::BeforeGreeting, usize::MAX).await;
    let hook = format!(
        "type = \"webhook\"\nurl = \"http://127.0.0.1:{}/hook\"\n",
        silent.port
    );
    let out = send_test_times_out(&config(dir.path(), &hook, None)).await;
    assert!(out.contains("timed out"), "{out}");
}

/// A notifier that met a server which stopped answering opens a fresh connection for the
/// next message rather than reusing the stalled one (lettre's pool used to park it and then
/// wait on it without bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_connection_does_not_block_the_next_send() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The first connection stops answering at DATA; every later one is willing.
    let peer = SmtpPeer::start(Stall::At("DATA"), 1).await;
    let cfg = config(dir.path(), &email(&peer.url("?tls=none")), None);
    let config = feedwatch::config::Config::load(&cfg).expect("config");
    let notifier = feedwatch::notify::Notifier::from_config(&config.notifiers["out"], "test")
        .expect("notifier");
    let alert = sample_alert();
    let first = tokio::time::timeout(BOUND, notifier.send(&alert, 0))
        .await
        .expect("the first send ends within the bound");
    let e = first.expect_err("the stalled server times out");
    assert!(e.is_transient(), "{e:?}");
    assert_eq!(e.kind(), feedwatch::notify::FailureKind::Timeout);
    let second = tokio::time::timeout(BOUND, notifier.send(&alert, 0))
        .await
        .expect("the second send ends within the bound");
    assert!(second.is_ok(), "{second:?}");
}

fn sample_alert() -> feedwatch::domain::Alert {
    feedwatch::domain::Alert {
        id: 1,
        uid: "deadline-test".into(),
        notifier: "out".into(),
        attempts: 0,
        created_at: 0,
        digest: None,
        payload: feedwatch::domain::AlertPayload {
            rule: "kabulov".into(),
            query: "Kabulov".into(),
            matched: vec!["Kabulov".into()],
            feed_name: "News".into(),
            feed_url: "http://news.test/feed".into(),
            title: "Kabulov speaks".into(),
            link: None,
            published: None,
            snippet: "Kabulov said".into(),
            ..Default::default()
        },
    }
}

/// A willing [`SmtpPeer`] at `smtp://…{query}`, a notifier that logs in to it, and what
/// `check` says about that config (it must accept it).
async fn login_to_peer(query: &str) -> (tempfile::TempDir, SmtpPeer, PathBuf, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let peer = SmtpPeer::start(Stall::Never, 0).await;
    let notifier = email_with_login(dir.path(), &peer.url(query));
    let cfg = config(dir.path(), &notifier, None);
    let (check, _) = timed(&cfg, &["check"]).await;
    assert_eq!(check.code, Some(0), "{check:#?}");
    (dir, peer, cfg, check.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_is_never_sent_in_clear_to_a_server_without_starttls() {
    let (_dir, peer, cfg, check) = login_to_peer("").await;
    assert!(
        check.contains("?tls=required") && check.contains("never sent in clear"),
        "check says STARTTLS is required for the login: {check}"
    );

    let (run, took) = timed(&cfg, &["send-test", "out"]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(took < BOUND, "{took:?}");
    assert!(run.stdout.contains("STARTTLS"), "{}", run.stdout);
    assert!(!peer.saw("AUTH"), "the password went out in clear");
    assert!(!peer.saw("MAIL"), "nothing was sent in clear");
    assert!(
        run.stdout.contains("hint: ") && run.stdout.contains("?tls=none"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("s3cret") && !check.contains("s3cret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_in_clear_needs_tls_none_and_check_warns_about_it() {
    let (_dir, peer, cfg, check) = login_to_peer("?tls=none").await;
    let warning = check.lines().find(|l| l.contains("warning: "));
    assert!(
        warning.is_some_and(|w| w.contains("notify.out") && w.contains("in clear")),
        "a warning line: {check}"
    );

    let (run, _) = timed(&cfg, &["send-test", "out"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(peer.saw("AUTH"), "the user asked for it");
}

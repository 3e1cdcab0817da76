//! End to end on real parts: the feedwatch binary polls a real HTTP server on loopback, stores
//! into a real SQLite file and mails a real SMTP server.

mod support;

use std::path::{Path, PathBuf};

use support::{FeedServer, Route, SmtpServer, arg, feedwatch, free_port, read_fixture};

const SEED_TITLE: &str = "Russia Invites Taliban for Afghan Talks";

/// Writes a config watching `feeds` (name, url) with the seed rule, mailing `smtp`.
fn write_config(dir: &Path, feeds: &[(&str, String)], smtp: &str, extra: &str) -> PathBuf {
    let mut text = String::from(
        "[storage]\npath = \"feedwatch.db\"\n\n[poll]\ntimeout = \"5s\"\n# fixtures are from 2021\nbacklog = \"100000d\"\n\n",
    );
    for (name, url) in feeds {
        text.push_str(&format!(
            "[[feed]]\nurl = \"{url}\"\nname = \"{name}\"\ntags = [\"russia\"]\n\n"
        ));
    }
    text.push_str(&format!(
        "[[rule]]\nname = \"moscow-format\"\nquery = '\"Moscow format\" OR Kabulov'\nfeeds = [\"tag:russia\"]\nnotify = [\"analyst\"]\n\n\
         [notify.analyst]\ntype = \"email\"\nsmtp = \"{smtp}\"\nfrom = \"feedwatch <feedwatch@localhost>\"\nto = [\"analyst@example.org\"]\ntimeout = \"5s\"\n{extra}"
    ));
    support::write_config(dir, &text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_story_alerts_once_by_email_and_second_poll_sends_nothing() {
    let feeds = FeedServer::start().await;
    feeds.set(
        "/rss/news",
        Route::rss(read_fixture("moscow_times_seed.xml"), "\"v1\""),
    );
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &[("The Moscow Times", feeds.url("/rss/news"))],
        &smtp.url(),
        "",
    );

    let first = feedwatch(&["--config", arg(&cfg), "once"]).await;
    assert_eq!(first.code, Some(0), "{first:#?}");
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "exactly the seed story alerts: {mails:#?}");
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["analyst@example.org".to_string()]);
    assert_eq!(
        mail.subject(),
        format!("[feedwatch] moscow-format: {SEED_TITLE}")
    );
    let message_id = mail.header("Message-ID").expect("Message-ID");
    assert!(
        message_id.starts_with('<') && message_id.ends_with("@feedwatch.invalid>"),
        "{message_id}"
    );
    let body = mail.text();
    for needle in [
        SEED_TITLE,
        "https://www.themoscowtimes.com/2021/10/07/russia-invites-taliban-for-afghan-talks-a75242",
        "The Moscow Times",
        "Published: 2021-10-07 06:46 UTC",
        "Rule:      moscow-format",
        "Moscow format",
        "Kabulov",
    ] {
        assert!(body.contains(needle), "body lacks {needle:?}:\n{body}");
    }
    let matched = body
        .lines()
        .find(|l| l.starts_with("Matched:"))
        .unwrap_or_else(|| panic!("no Matched line:\n{body}"));
    assert!(
        matched.contains("Moscow format") && matched.contains("Kabulov"),
        "both the broken-up phrase and the name matched: {matched}"
    );
    assert!(
        dir.path().join("feedwatch.db").exists(),
        "a real SQLite file"
    );

    // Second poll: the server answers 304 to the validators; nothing new is sent.
    let second = feedwatch(&["--config", arg(&cfg), "once"]).await;
    assert_eq!(second.code, Some(0), "{second:#?}");
    assert_eq!(smtp.mails().len(), 1, "no second alert");
    let seen = feeds.seen("/rss/news");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].headers["if-none-match"], "\"v1\"");
    assert_eq!(
        seen[1].headers["if-modified-since"],
        "Thu, 07 Oct 2021 10:00:00 GMT"
    );
    assert_eq!(seen[1].status, 304);
    let ua = seen[0].headers["user-agent"].to_str().expect("ascii");
    assert!(ua.starts_with("feedwatch/"), "{ua}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_modified_keeps_validators_and_a_changed_feed_alerts_only_new_items() {
    let feeds = FeedServer::start().await;
    let seed = String::from_utf8(read_fixture("moscow_times_seed.xml")).expect("utf-8");
    feeds.set("/rss", Route::rss(seed.clone(), "\"v1\""));
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &[("MT", feeds.url("/rss"))], &smtp.url(), "");

    assert_eq!(
        feedwatch(&["--config", arg(&cfg), "once"]).await.code,
        Some(0)
    );
    // Two 304s in a row: validators must survive the first one to be sent again.
    for _ in 0..2 {
        assert_eq!(
            feedwatch(&["--config", arg(&cfg), "once"]).await.code,
            Some(0)
        );
    }
    let seen = feeds.seen("/rss");
    assert_eq!(
        seen.iter().map(|s| s.status).collect::<Vec<_>>(),
        vec![200, 304, 304]
    );
    assert_eq!(seen[2].headers["if-none-match"], "\"v1\"");
    assert_eq!(smtp.mails().len(), 1);

    // The feed gains one matching story.
    let updated = seed.replacen(
        "<item>",
        "<item><title>Kabulov: Talks Went Well</title><guid>a75300</guid>\
         <pubDate>Fri, 22 Oct 2021 10:00:00 +0300</pubDate><description>Envoy Zamir Kabulov said the talks went well.</description></item>\n<item>",
        1,
    );
    feeds.set("/rss", Route::rss(updated, "\"v2\""));
    assert_eq!(
        feedwatch(&["--config", arg(&cfg), "once"]).await.code,
        Some(0)
    );
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert_eq!(
        mails[1].subject(),
        "[feedwatch] moscow-format: Kabulov: Talks Went Well"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_feed_is_reported_and_other_feeds_still_alert() {
    let feeds = FeedServer::start().await;
    feeds.set(
        "/broken.xml",
        Route::rss(read_fixture("malformed_truncated.xml"), "\"b\""),
    );
    feeds.set(
        "/good.xml",
        Route::rss(read_fixture("moscow_times_seed.xml"), "\"g\""),
    );
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &[
            ("Broken", feeds.url("/broken.xml")),
            ("Missing", feeds.url("/gone.xml")),
            ("Good", feeds.url("/good.xml")),
        ],
        &smtp.url(),
        "",
    );
    let run = feedwatch(&["--config", arg(&cfg), "once"]).await;
    assert_eq!(
        run.code,
        Some(1),
        "a failed feed makes `once` exit 1: {run:#?}"
    );
    let broken_line = run
        .stderr
        .lines()
        .find(|l| l.contains("poll failed") && l.contains("/broken.xml"))
        .unwrap_or_else(|| panic!("the broken feed is named:\n{}", run.stderr));
    assert!(broken_line.contains("cannot parse feed"), "{broken_line}");
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("/gone.xml") && l.contains("HTTP 404")),
        "{}",
        run.stderr
    );
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(
        mails[0].subject(),
        format!("[feedwatch] moscow-format: {SEED_TITLE}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_without_guids_does_not_realert_on_the_next_poll() {
    let feeds = FeedServer::start().await;
    // No validators: the server sends the full body every time.
    feeds.set(
        "/noguid.xml",
        Route {
            etag: None,
            last_modified: None,
            ..Route::rss(read_fixture("no_guid.xml"), "")
        },
    );
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &[("NoGuid", feeds.url("/noguid.xml"))],
        &smtp.url(),
        "",
    );
    for _ in 0..3 {
        let run = feedwatch(&["--config", arg(&cfg), "once"]).await;
        assert_eq!(run.code, Some(0), "{run:#?}");
    }
    assert_eq!(
        feeds
            .seen("/noguid.xml")
            .iter()
            .map(|s| s.status)
            .collect::<Vec<_>>(),
        vec![200, 200, 200]
    );
    let mut subjects: Vec<String> = smtp.mails().iter().map(|m| m.subject()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec![
            "[feedwatch] moscow-format: Brief: Kabulov comments".to_string(),
            "[feedwatch] moscow-format: Kabulov meets delegation".to_string(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_queue_while_smtp_is_down_and_arrive_exactly_once_when_it_returns() {
    let feeds = FeedServer::start().await;
    feeds.set(
        "/rss",
        Route::rss(read_fixture("moscow_times_seed.xml"), "\"v1\""),
    );
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &[("MT", feeds.url("/rss"))],
        &format!("smtp://127.0.0.1:{port}"),
        "",
    );
    let down = feedwatch(&["--config", arg(&cfg), "once"]).await;
    assert_eq!(
        down.code,
        Some(1),
        "undelivered alert makes `once` exit 1: {down:#?}"
    );
    assert!(
        down.stderr.contains("will retry"),
        "the failure is logged: {}",
        down.stderr
    );

    let smtp = SmtpServer::start_on_port(port);
    let up = feedwatch(&["--config", arg(&cfg), "once"]).await;
    assert_eq!(up.code, Some(0), "{up:#?}");
    assert_eq!(smtp.mails().len(), 1);
    let again = feedwatch(&["--config", arg(&cfg), "once"]).await;
    assert_eq!(again.code, Some(0), "{again:#?}");
    assert_eq!(smtp.mails().len(), 1, "delivered exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_poll_alerts_only_within_backlog_and_never_on_undated_items() {
    let now = chrono::Utc::now();
    let item = |guid: &str, title: &str, date: Option<chrono::DateTime<chrono::Utc>>| {
        let date = date
            .map(|d| format!("<pubDate>{}</pubDate>", d.to_rfc2822()))
            .unwrap_or_default();
        format!("<item><guid>{guid}</guid><title>{title}</title>{date}</item>")
    };
    let body = |items: &[String]| {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>{}</channel></rss>",
            items.concat()
        )
    };
    let first = vec![
        item("1", "Kabulov fresh", Some(now - chrono::Duration::hours(1))),
        item(
            "2",
            "Kabulov stale",
            Some(now - chrono::Duration::hours(48)),
        ),
        item("3", "Kabulov undated", None),
    ];
    let feeds = FeedServer::start().await;
    feeds.set("/rss", Route::rss(body(&first), "\"1\""));
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &[("F", feeds.url("/rss"))], &smtp.url(), "");
    let text = std::fs::read_to_string(&cfg)
        .expect("read")
        .replace("backlog = \"100000d\"", "backlog = \"24h\"");
    std::fs::write(&cfg, text).expect("write");

    assert_eq!(
        feedwatch(&["--config", arg(&cfg), "once"]).await.code,
        Some(0)
    );
    let subjects: Vec<String> = smtp.mails().iter().map(|m| m.subject()).collect();
    assert_eq!(
        subjects,
        vec!["[feedwatch] moscow-format: Kabulov fresh".to_string()]
    );

    // After the first poll every new item alerts, dated or not.
    let mut second = first.clone();
    second.push(item("4", "Kabulov later undated", None));
    feeds.set("/rss", Route::rss(body(&second), "\"2\""));
    assert_eq!(
        feedwatch(&["--config", arg(&cfg), "once"]).await.code,
        Some(0)
    );
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2);
    assert_eq!(
        mails[1].subject(),
        "[feedwatch] moscow-format: Kabulov later undated"
    );
}

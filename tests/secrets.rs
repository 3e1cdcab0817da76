//! Secrets in URLs never reach a log line, a command's output or a stored error: feed URLs
//! with `user:pass@` and token query values, webhook URLs (whose path is the Slack or Discord
//! credential), a per-feed API key, an HMAC key and an SMTP password are planted in a config
//! that polls real servers on loopback and fails to deliver, and every place feedwatch shows
//! something is searched for them: logs at debug level in both formats, every command that
//! prints URLs or errors, alerts printed by the stdout notifier, and the stored errors.

mod support;

use std::path::Path;

use feedwatch::store::Store;
use support::{FeedServer, Route, Run, WebhookReceiver, config_dir, feedwatch, free_port};

/// Every secret the config holds; none may appear in anything shown.
const SECRETS: &[&str] = &[
    "feedpass-5ecret",
    "feedtoken-5ecret",
    "apikey-5ecret",
    "movetoken-5ecret",
    "downpass-5ecret",
    "downtoken-5ecret",
    "hook500-5ecret",
    "hookdown-5ecret",
    "hmac-5ecret",
    "smtppass-5ecret",
];

/// Every place a secret showed, so one run of the test lists them all.
#[derive(Default)]
struct Leaks(Vec<String>);

impl Leaks {
    /// Notes each secret that `text` (what `what` showed) contains.
    fn search(&mut self, what: &str, text: &str) {
        for secret in SECRETS.iter().filter(|s| text.contains(*s)) {
            self.0.push(format!("{what} shows {secret:?}"));
        }
    }

    /// Fails listing every leak found.
    fn assert_none(self, everything: &str) {
        assert!(self.0.is_empty(), "{:#?}\n\n{everything}", self.0);
    }
}

/// Stdout and stderr of a run, for one search.
fn shown(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

/// An RSS document with one item that the config's rule matches, dated now (so the first
/// poll alerts on it).
fn matching_rss(guid: &str) -> String {
    let now = chrono::Utc::now().to_rfc2822();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>\
         <item><guid>{guid}</guid><title>Kabulov speaks</title><link>http://news.test/{guid}</link>\
         <pubDate>{now}</pubDate></item></channel></rss>"
    )
}

fn write_secret(dir: &Path, name: &str, secret: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, secret).expect("write secret file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_appear_in_no_log_output_or_stored_error() {
    let feeds = FeedServer::start().await;
    feeds.set("/private.xml", Route::rss(matching_rss("p"), "\"p\""));
    feeds.set(
        "/moving.xml",
        Route::redirect(301, "/moved.xml?token=movetoken-5ecret"),
    );
    feeds.set("/moved.xml", Route::rss(matching_rss("m"), "\"m\""));
    let slack = WebhookReceiver::start().await;
    for _ in 0..20 {
        slack.answer(500, &[]);
    }
    let (down_feed, down_hook, down_smtp) = (free_port(), free_port(), free_port());
    let (dir, cfg) = config_dir(&format!(
        "[storage]\npath = \"fw.db\"\n[poll]\ntimeout = \"5s\"\n\n\
             [[feed]]\nname = \"Private\"\n\
             url = \"http://feeduser:feedpass-5ecret@{feeds}/private.xml?token=feedtoken-5ecret&format=rss\"\n\
             headers = {{ \"X-Api-Key\" = \"apikey-5ecret\" }}\n\n\
             [[feed]]\nname = \"Moving\"\nurl = \"http://{feeds}/moving.xml?token=movetoken-5ecret\"\n\n\
             [[feed]]\nname = \"Down\"\n\
             url = \"http://downuser:downpass-5ecret@127.0.0.1:{down_feed}/down.xml?token=downtoken-5ecret\"\n\n\
             [[rule]]\nname = \"kabulov\"\nquery = 'Kabulov'\n\n\
             [notify.slack]\ntype = \"webhook\"\nformat = \"slack\"\nsecret_file = \"hmac.key\"\n\
             url = \"http://{slack}/services/T000/B000/hook500-5ecret\"\n\n\
             [notify.discord]\ntype = \"webhook\"\nformat = \"discord\"\ntimeout = \"5s\"\n\
             url = \"http://127.0.0.1:{down_hook}/api/webhooks/123/hookdown-5ecret\"\n\n\
             [notify.console]\ntype = \"stdout\"\n\n\
             [notify.mail]\ntype = \"email\"\nsmtp = \"smtps://127.0.0.1:{down_smtp}\"\ntimeout = \"5s\"\n\
             username = \"fw\"\npassword_file = \"smtp.pass\"\nfrom = \"fw@localhost\"\nto = [\"a@example.org\"]\n",
        feeds = feeds.addr,
        slack = slack.addr,
    ));
    write_secret(dir.path(), "hmac.key", "hmac-5ecret");
    write_secret(dir.path(), "smtp.pass", "smtppass-5ecret");
    let cfg = cfg.to_str().expect("utf-8");

    let mut leaks = Leaks::default();
    let mut everything = String::new();
    let mut search = |what: &str, text: &str| {
        leaks.search(what, text);
        everything.push_str(&format!("--- {what}\n{text}\n"));
    };
    let check = feedwatch(&["--config", cfg, "check"]).await;
    assert_eq!(check.code, Some(0), "{check:#?}");
    search("check", &shown(&check));

    // Two rounds: the first moves a feed and fails deliveries, the second polls the moved
    // feed at its new address and retries nothing yet; every log level and both formats.
    let text = feedwatch(&["--config", cfg, "--log-level", "debug", "once"]).await;
    assert_eq!(
        text.code,
        Some(1),
        "a feed and deliveries failed: {text:#?}"
    );
    search("once (debug, text logs)", &shown(&text));
    let json = feedwatch(&[
        "--config",
        cfg,
        "--log-level",
        "debug",
        "--log-format",
        "json",
        "once",
    ])
    .await;
    assert_eq!(json.code, Some(1), "{json:#?}");
    search("once (debug, json logs)", &shown(&json));

    for args in [
        &["alerts"][..],
        &["alerts", "--json"],
        &["feeds"],
        &["feeds", "--json"],
        &["send-test", "discord"],
        &["send-test", "slack"],
        &["send-test", "mail"],
    ] {
        let run = feedwatch(&[&["--config", cfg][..], args].concat()).await;
        assert!(matches!(run.code, Some(0 | 1)), "{args:?}: {run:#?}");
        search(&format!("{args:?}"), &shown(&run));
    }

    // What is stored for `alerts` and `feeds` to show, read from the database itself.
    let store = Store::open(&dir.path().join("fw.db"))
        .await
        .expect("open db");
    let alerts = store.list_alerts(None, 100).await.expect("alerts");
    let errors: Vec<&str> = alerts
        .iter()
        .filter_map(|a| a.last_error.as_deref())
        .collect();
    let failed: std::collections::BTreeSet<&str> = (alerts.iter())
        .filter(|a| a.last_error.is_some())
        .map(|a| a.notifier.as_str())
        .collect();
    assert_eq!(
        failed.len(),
        3,
        "every notifier failed and said why: {alerts:#?}"
    );
    let rows = store.feeds_overview().await.expect("feeds");
    let feed_errors: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.last_error.as_deref())
        .collect();
    assert_eq!(feed_errors.len(), 1, "the feed nothing serves: {rows:#?}");
    for error in errors.iter().chain(&feed_errors) {
        search("a stored last_error", error);
    }
    assert!(
        rows.iter().any(|r| r
            .moved_to
            .as_deref()
            .is_some_and(|m| m.contains("movetoken-5ecret"))),
        "the moved URL is stored whole (it is polled), only shown redacted: {rows:#?}"
    );
    assert!(!slack.hooks().is_empty(), "the 500 receiver was asked");
    leaks.assert_none(&everything);
    // Not vacuous: the URLs were logged, in their display form.
    assert!(
        text.stderr.contains("/private.xml?token=***&format=***"),
        "{}",
        text.stderr
    );
}

#[tokio::test]
async fn config_errors_do_not_echo_secrets_in_urls() {
    let (_dir, cfg) = config_dir(
        "[storage]\npath = \"fw.db\"\n\
         [poll]\nproxy = \"ftp://proxyuser:feedpass-5ecret@proxy.example.org\"\n\n\
         [[feed]]\nurl = \"http//feeduser:feedpass-5ecret@example.org/f?token=feedtoken-5ecret\"\n\n\
         [[feed]]\nurl = \"ftp://example.org/f?token=downtoken-5ecret\"\n\n\
         [[feed]]\nurl = \"https://example.org/rss?token=movetoken-5ecret\"\n\n\
         [[feed]]\nname = \"twin\"\nurl = \"https://example.org/rss?token=movetoken-5ecret\"\n\n\
         [[rule]]\nname = \"r\"\nquery = 'x'\nfeeds = [\"https://example.org/other?token=apikey-5ecret\"]\n\n\
         [notify.slack]\ntype = \"webhook\"\nurl = \"https//hooks.slack.com/services/T0/B0/hook500-5ecret\"\n\n\
         [notify.discord]\ntype = \"webhook\"\nurl = \"ftp://discord.example.org/api/webhooks/1/hookdown-5ecret\"\n\n\
         [notify.mail]\ntype = \"email\"\nsmtp = \"smtp://fw:smtppass-5ecret@\"\nfrom = \"fw@localhost\"\nto = [\"a@example.org\"]\n",
    );
    let run = feedwatch(&["--config", cfg.to_str().expect("utf-8"), "check"]).await;
    assert_eq!(run.code, Some(78), "{run:#?}");
    // Not vacuous: each bad value was reported.
    for key in [
        "poll.proxy",
        "feed[0].url",
        "feed[1].url",
        "feed[3].url: duplicate",
        "rule[0].feeds[0]",
        "notify.slack.url",
        "notify.discord.url",
        "notify.mail.smtp",
    ] {
        assert!(
            run.stderr.contains(key),
            "{key} not reported: {}",
            run.stderr
        );
    }
    let mut leaks = Leaks::default();
    leaks.search("check of a bad config", &shown(&run));
    leaks.assert_none(&run.stderr);
}

/// `parse URL` and `test-rule --url URL` show a URL they cannot fetch masked, as everything
/// else does: the URL may be a configured feed's, token included.
#[tokio::test]
async fn commands_given_a_url_do_not_echo_its_secrets() {
    let port = free_port();
    let url = format!("http://feeduser:feedpass-5ecret@127.0.0.1:{port}/f?token=feedtoken-5ecret");
    let runs = [
        ("parse", feedwatch(&["parse", &url]).await),
        (
            "test-rule",
            feedwatch(&["test-rule", "Kabulov", "--url", &url]).await,
        ),
    ];
    let mut leaks = Leaks::default();
    for (what, run) in &runs {
        assert_ne!(run.code, Some(0), "nothing listens there: {run:#?}");
        // Not vacuous: the URL is named, masked.
        let masked = format!("http://***@127.0.0.1:{port}/f?token=***");
        assert!(run.stderr.contains(&masked), "{what}: {}", run.stderr);
        leaks.search(what, &shown(run));
    }
    leaks.assert_none(&format!("{runs:#?}"));
}

use std::path::Path;

use super::check::load;
use super::*;
use crate::domain::Grouping;

const GOOD: &str = r#"
[storage]
path = "data/feedwatch.db"

[poll]
interval = "15m"
timeout = "20s"
max_body = "15MiB"
backlog = "24h"

[[feed]]
url = "https://www.themoscowtimes.com/rss/news"
name = "The Moscow Times"
interval = "5m"
tags = ["russia"]

[[feed]]
url = "https://example.org/feed.xml"

[[rule]]
name = "moscow-format"
query = '"Moscow format" OR Kabulov'
feeds = ["tag:russia"]
notify = ["analyst"]

[[rule]]
name = "everything"
query = 'Taliban'
enabled = false

[notify.analyst]
type = "email"
smtp = "smtp://127.0.0.1:2525"
from = "feedwatch <feedwatch@localhost>"
to = ["analyst@example.org"]

[notify.console]
type = "stdout"
"#;

fn ok(text: &str) -> Config {
    match load(text, Path::new("/etc/feedwatch"), &[]) {
        Ok(c) => c,
        Err(p) => panic!("unexpected problems: {p:#?}"),
    }
}

fn problems(text: &str) -> Vec<Problem> {
    match load(text, Path::new("/etc/feedwatch"), &[]) {
        Ok(_) => panic!("config was accepted"),
        Err(p) => p,
    }
}

#[test]
fn full_example_loads_with_defaults_and_selectors() {
    let c = ok(GOOD);
    assert_eq!(
        c.storage.path,
        Path::new("/etc/feedwatch/data/feedwatch.db")
    );
    assert_eq!(c.poll.max_body, 15 * 1024 * 1024);
    assert_eq!(c.feeds[0].interval, Duration::from_secs(300));
    assert_eq!(c.feeds[1].interval, Duration::from_secs(900));
    assert_eq!(c.feeds[1].name, "example.org");
    assert_eq!(c.rules[0].feeds, vec![0]);
    assert_eq!(c.rules[0].notify, vec!["analyst".to_string()]);
    assert_eq!(c.rules[1].feeds, vec![0, 1], "no feeds key: every feed");
    assert_eq!(
        c.rules[1].notify,
        vec!["analyst".to_string(), "console".to_string()]
    );
    assert!(!c.rules[1].enabled);
    let NotifierKind::Email(e) = &c.notifiers["analyst"].kind else {
        panic!("email notifier expected");
    };
    assert_eq!(
        (e.host.as_str(), e.port, e.tls),
        ("127.0.0.1", 2525, SmtpTls::Opportunistic)
    );
}

#[test]
fn empty_file_gives_defaults() {
    let c = ok("");
    assert_eq!(c.storage.path, Path::new(DEFAULT_DB_PATH));
    assert_eq!(c.poll.interval, DEFAULT_INTERVAL);
    assert!(c.feeds.is_empty());
}

#[test]
fn a_bad_timezone_or_group_is_reported_with_key_line_and_a_suggestion() {
    let text = GOOD.replace(
        "[notify.console]\ntype = \"stdout\"",
        "[notify.console]\ntype = \"stdout\"\ntimezone = \"Europe/Moskow\"\ngroup = \"feed\"",
    );
    let p = problems(&text);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["notify.console.timezone", "notify.console.group"],
        "{p:#?}"
    );
    let at = text
        .lines()
        .position(|l| l.starts_with("timezone"))
        .expect("timezone line");
    assert_eq!(p[0].line, Some(at + 1));
    assert!(
        p[0].message
            .contains(r#"unknown time zone "Europe/Moskow" (did you mean "Europe/Moscow"?)"#),
        "{}",
        p[0].message
    );
    assert!(
        p[1].message.contains(r#"expected "story" or "rule""#),
        "{}",
        p[1].message
    );
}

#[test]
fn the_default_timezone_is_the_machines() {
    let env = |tz: &str| vec![("TZ".to_string(), tz.to_string())];
    let cases = [
        ("Europe/Moscow", chrono_tz::Europe::Moscow),
        (":Asia/Kabul", chrono_tz::Asia::Kabul),
        (
            "/usr/share/zoneinfo/America/New_York",
            chrono_tz::America::New_York,
        ),
        ("UTC", chrono_tz::Tz::UTC),
    ];
    for (tz, want) in cases {
        let c = load(GOOD, Path::new("/etc/feedwatch"), &env(tz)).expect("valid");
        assert_eq!(c.notifiers["console"].timezone, want, "TZ={tz}");
    }
}

#[test]
fn three_mistakes_are_all_reported_with_key_and_line() {
    let text = GOOD
        .replace("interval = \"5m\"", "interval = \"5 parsecs\"")
        .replace(
            "url = \"https://example.org/feed.xml\"",
            "url = \"htp:/broken\"",
        )
        .replace(
            "[notify.console]\ntype = \"stdout\"",
            "[notify.console]\ntype = \"stdout\"\ncolour = \"red\"",
        );
    let p = problems(&text);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["feed[0].interval", "feed[1].url", "notify.console.colour"],
        "{p:#?}"
    );
    assert_eq!(p[0].line, Some(14));
    assert!(
        p[0].message.contains("invalid duration"),
        "{}",
        p[0].message
    );
    assert_eq!(p[1].line, Some(18));
    assert!(p[2].message.starts_with("unknown key"), "{}", p[2].message);
    assert!(p[2].line.is_some());
}

#[test]
fn references_to_missing_feeds_and_notifiers_are_errors() {
    let text = GOOD
        .replace(
            "feeds = [\"tag:russia\"]",
            "feeds = [\"tag:nowhere\", \"The Moscow Times\"]",
        )
        .replace("notify = [\"analyst\"]", "notify = [\"analysts\"]");
    let p = problems(&text);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["rule[0].feeds[0]", "rule[0].notify[0]"],
        "{p:#?}"
    );
    assert!(
        p[1].message.contains("analyst, console"),
        "{}",
        p[1].message
    );
}

#[test]
fn misspelt_key_gets_a_suggestion() {
    let p = problems("[poll]\nintervall = \"5m\"\n");
    assert_eq!(p[0].key, "poll.intervall");
    assert_eq!(p[0].line, Some(2));
    assert!(
        p[0].message.contains("did you mean `interval`"),
        "{}",
        p[0].message
    );
}

#[test]
fn bad_query_is_reported_with_the_rule_key() {
    let text = GOOD.replace("query = 'Taliban'", "query = '(Taliban'");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].key, "rule[1].query");
    assert!(p[0].message.contains("invalid query"), "{}", p[0].message);
}

#[test]
fn syntax_error_names_the_line() {
    let p = problems("[poll]\ninterval = \"5m\"\ntimeout = \n");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].line, Some(3), "{p:#?}");
    assert!(p[0].message.contains("TOML syntax error"));
}

#[test]
fn wrong_types_and_values_are_reported() {
    let p = problems(
        "[poll]\nmax_body = \"lots\"\nconcurrency = 0\n[[feed]]\nurl = 42\n[[feed]]\nname = \"x\"\n",
    );
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "poll.max_body",
            "poll.concurrency",
            "feed[0].url",
            "feed[1]"
        ],
        "{p:#?}"
    );
    assert!(p[3].message.contains("missing required key `url`"));
}

#[test]
fn environment_overrides_file_values() {
    let env = vec![
        ("FEEDWATCH_POLL__INTERVAL".to_string(), "1h".to_string()),
        (
            "FEEDWATCH_STORAGE__PATH".to_string(),
            "/tmp/x.db".to_string(),
        ),
        // Not overrides: program settings without a section separator.
        (
            "FEEDWATCH_CONFIG".to_string(),
            "/somewhere.toml".to_string(),
        ),
    ];
    let c = load(GOOD, Path::new("/etc/feedwatch"), &env).expect("loads");
    assert_eq!(c.poll.interval, Duration::from_secs(3600));
    assert_eq!(c.storage.path, Path::new("/tmp/x.db"));
    let env = vec![("FEEDWATCH_POLL__TIMEOUT".to_string(), "soon".to_string())];
    let p = load(GOOD, Path::new("/"), &env).expect_err("rejected");
    assert_eq!(p[0].key, "poll.timeout");
}

#[test]
fn smtp_urls() {
    let cases = [
        (
            "smtp://mail.example.org",
            Ok(("mail.example.org", 25, SmtpTls::Opportunistic)),
        ),
        (
            "smtp://mail:587?tls=required",
            Ok(("mail", 587, SmtpTls::Required)),
        ),
        (
            "smtp://127.0.0.1:2525?tls=none",
            Ok(("127.0.0.1", 2525, SmtpTls::None)),
        ),
        ("smtps://mail", Ok(("mail", 465, SmtpTls::Wrapper))),
        ("smtp://[::1]:25", Ok(("::1", 25, SmtpTls::Opportunistic))),
        ("http://mail", Err("unsupported scheme")),
        ("smtp://u:p@mail", Err("credentials")),
        ("smtp://mail?tls=maybe", Err("unknown tls")),
    ];
    for (url, want) in cases {
        let got = check::parse_smtp_url(url);
        match (got, want) {
            (Ok((h, p, t)), Ok((wh, wp, wt))) => {
                assert_eq!((h.as_str(), p, t), (wh, wp, wt), "{url}")
            }
            (Err(e), Err(w)) => assert!(e.contains(w), "{url}: {e}"),
            (got, want) => panic!("{url}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn password_file_is_read_and_never_debug_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pw"), "s3cret\n").expect("write");
    let text = GOOD.replace(
        "to = [\"analyst@example.org\"]",
        "to = [\"analyst@example.org\"]\nusername = \"fw\"\npassword_file = \"pw\"",
    );
    let c = load(&text, dir.path(), &[]).expect("loads");
    let NotifierKind::Email(e) = &c.notifiers["analyst"].kind else {
        panic!("email");
    };
    assert_eq!(e.password.as_ref().map(Secret::expose), Some("s3cret"));
    assert!(!format!("{c:?}").contains("s3cret"));
    let missing = text.replace("password_file = \"pw\"", "password_file = \"nope\"");
    let p = load(&missing, dir.path(), &[]).expect_err("missing file");
    assert_eq!(p[0].key, "notify.analyst.password_file");
}

/// A `ca_file` is read as the TLS client will read it: a file without a certificate, or with a
/// PEM block that is not one, is a config error, not a failed handshake at the first send.
#[test]
fn a_ca_file_must_hold_readable_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config_check/secrets/ca.pem");
    std::fs::copy(&ca, dir.path().join("ca.pem")).expect("copy");
    let garbled =
        "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    std::fs::write(dir.path().join("garbled.pem"), garbled).expect("write");
    std::fs::write(dir.path().join("text.pem"), "not a certificate\n").expect("write");
    let with = |file: &str| {
        GOOD.replace(
            "to = [\"analyst@example.org\"]",
            &format!("to = [\"analyst@example.org\"]\nca_file = \"{file}\""),
        )
    };
    let c = load(&with("ca.pem"), dir.path(), &[]).expect("a real CA loads");
    let NotifierKind::Email(e) = &c.notifiers["analyst"].kind else {
        panic!("email");
    };
    assert!(e.ca_pem.is_some());
    for (file, says) in [
        ("garbled.pem", "holds a certificate that cannot be read"),
        ("text.pem", "holds no PEM certificate"),
    ] {
        let p = load(&with(file), dir.path(), &[]).expect_err(file);
        assert_eq!(p[0].key, "notify.analyst.ca_file", "{p:?}");
        assert!(p[0].message.contains(says), "{file}: {}", p[0].message);
    }
}

#[test]
fn included_files_add_rules_and_feeds_and_report_problems_with_their_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules.d")).expect("mkdir");
    std::fs::write(
        dir.path().join("rules.d/10-taliban.toml"),
        "[[rule]]\nname = \"taliban\"\nquery = 'Taliban -football'\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("rules.d/20-feeds.toml"),
        "[[feed]]\nurl = \"https://example.net/rss\"\nname = \"Net\"\ntags = [\"russia\"]\n",
    )
    .expect("write");
    let main = format!("include = [\"rules.d/*.toml\"]\n{GOOD}");
    let c = load(&main, dir.path(), &[]).expect("loads");
    let names: Vec<&str> = c.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["moscow-format", "everything", "taliban"]);
    assert_eq!(c.feeds.len(), 3);
    assert_eq!(
        c.rules[0].feeds,
        vec![0, 2],
        "tag:russia picks up the included feed"
    );

    // A broken rule in an included file: reported with the file, its line and its own index.
    std::fs::write(
        dir.path().join("rules.d/30-bad.toml"),
        "# comment\n[[rule]]\nname = \"bad\"\nquery = '(unclosed'\n",
    )
    .expect("write");
    let p = load(&main, dir.path(), &[]).expect_err("rejected");
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(
        p[0].file.as_deref(),
        Some(dir.path().join("rules.d/30-bad.toml").as_path())
    );
    assert_eq!(p[0].key, "rule[0].query");
    assert_eq!(p[0].line, Some(4));
    assert!(
        p[0].to_string()
            .contains("30-bad.toml: line 4: rule[0].query: invalid query"),
        "{}",
        p[0]
    );

    // Only rules and feeds belong in included files.
    std::fs::write(
        dir.path().join("rules.d/30-bad.toml"),
        "[poll]\ninterval = \"1m\"\n",
    )
    .expect("write");
    let p = load(&main, dir.path(), &[]).expect_err("rejected");
    assert!(
        p[0].message.contains("not allowed in an included file"),
        "{p:#?}"
    );
}

#[test]
fn secrets_can_come_from_systemd_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("smtp-password"), "from-systemd").expect("write");
    let text = GOOD.replace(
        "to = [\"analyst@example.org\"]",
        "to = [\"analyst@example.org\"]\nusername = \"fw\"\npassword_file = \"$CREDENTIALS_DIRECTORY/smtp-password\"",
    );
    let env = vec![(
        "CREDENTIALS_DIRECTORY".to_string(),
        dir.path().to_str().expect("utf-8").to_string(),
    )];
    let c = load(&text, Path::new("/etc/feedwatch"), &env).expect("loads");
    let NotifierKind::Email(e) = &c.notifiers["analyst"].kind else {
        panic!("email");
    };
    assert_eq!(
        e.password.as_ref().map(Secret::expose),
        Some("from-systemd")
    );
    let p = load(&text, Path::new("/etc/feedwatch"), &[]).expect_err("not under systemd");
    assert!(p[0].message.contains("CREDENTIALS_DIRECTORY"), "{p:#?}");
}

#[test]
fn absurd_durations_and_zero_send_timeouts_are_config_errors() {
    let p = problems("[poll]\nbacklog = \"1000000y\"\ninterval = \"1000000y\"\n");
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, vec!["poll.backlog", "poll.interval"], "{p:#?}");
    assert!(p[0].message.contains("at most 1000 years"));
    let text = GOOD.replace(
        "to = [\"analyst@example.org\"]",
        "to = [\"analyst@example.org\"]\ntimeout = \"0s\"",
    );
    let p = problems(&text);
    assert_eq!(p[0].key, "notify.analyst.timeout", "{p:#?}");
}

#[test]
fn schema_keys_come_from_the_types_in_the_documented_order() {
    // The same lists (and order) the hand-written walk had: "expected one of" messages and the
    // README check depend on them.
    let want: Vec<(&str, &[&str])> = vec![
        (
            "",
            &[
                "storage", "poll", "feed", "rule", "notify", "delivery", "include", "metrics",
                "matching", "stories",
            ],
        ),
        ("storage", &["path", "keep"]),
        (
            "poll",
            &[
                "interval",
                "timeout",
                "max_body",
                "backlog",
                "concurrency",
                "user_agent",
                "min_interval",
                "per_host",
                "health_alert_after",
                "health_notify",
                "proxy",
            ],
        ),
        ("delivery", &["retry_base", "retry_cap", "give_up_after"]),
        (
            "feed",
            &[
                "url",
                "name",
                "interval",
                "tags",
                "headers",
                "user_agent",
                "fetch_article",
                "article_selector",
                "max_articles",
                "allow_private",
            ],
        ),
        (
            "rule",
            &[
                "name",
                "query",
                "feeds",
                "notify",
                "enabled",
                "digest",
                "max_per_hour",
                "languages",
                "transliterate",
            ],
        ),
        (
            "notify.email",
            &[
                "type",
                "smtp",
                "username",
                "password_file",
                "from",
                "to",
                "timeout",
                "password_env",
                "subject",
                "timezone",
                "group",
                "digest",
                "quiet_hours",
                "ca_file",
            ],
        ),
        (
            "notify.webhook",
            &[
                "type",
                "url",
                "headers",
                "secret_file",
                "format",
                "timeout",
                "timezone",
                "group",
                "digest",
                "quiet_hours",
                "ca_file",
            ],
        ),
        (
            "notify.stdout",
            &["type", "timezone", "group", "digest", "quiet_hours"],
        ),
        ("metrics", &["listen"]),
        ("matching", &["languages", "transliterate"]),
        ("stories", &["window", "similarity"]),
    ];
    assert_eq!(schema_keys(), want);
}

#[test]
fn every_key_is_read_into_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("secret"), "hmac-key\n").expect("write");
    let text = r#"
[storage]
keep = "90d"

[poll]
min_interval = "2m"
per_host = 3
health_alert_after = "6h"
health_notify = ["mail"]
proxy = "socks5://127.0.0.1:1080"
concurrency = 8
user_agent = "fw-test/1"

[[feed]]
url = "https://example.org/rss"
headers = { "X-Api-Key" = " k ", Accept-Language = "ru" }
user_agent = "custom-agent/2"

[[rule]]
name = "r"
query = "Kabulov"
digest = "daily 08:00"
max_per_hour = 20

[notify.mail]
type = "email"
smtp = "smtp://127.0.0.1:2525"
from = "feedwatch@localhost"
to = "a@example.org"
timeout = "45s"
subject = "{feed}: {title}"
digest = "1h"
timezone = "Europe/Moscow"
group = "rule"

[notify.hook]
type = "webhook"
url = "https://hooks.example.org/x"
format = "slack"
headers = { Authorization = "Bearer t" }
secret_file = "secret"
timeout = "10s"
quiet_hours = "22:00-07:00"

[delivery]
retry_base = "10s"
retry_cap = "30m"
give_up_after = "1d"

[metrics]
listen = "127.0.0.1:9187"

[stories]
window = "12h"
similarity = 0.9
"#;
    let c = match load(text, dir.path(), &[]) {
        Ok(c) => c,
        Err(p) => panic!("unexpected problems: {p:#?}"),
    };
    let hours = |h: u64| Duration::from_secs(h * 3600);
    assert_eq!(c.storage.keep, Some(hours(90 * 24)));
    assert_eq!(c.poll.min_interval, Duration::from_secs(120));
    assert_eq!((c.poll.per_host, c.poll.concurrency), (3, 8));
    assert_eq!(c.poll.health_alert_after, hours(6));
    assert_eq!(c.poll.health_notify, Some(vec!["mail".to_string()]));
    assert_eq!(
        c.poll.proxy.as_ref().map(Url::as_str),
        Some("socks5://127.0.0.1:1080")
    );
    assert_eq!(c.poll.user_agent, "fw-test/1");
    let feed = &c.feeds[0];
    assert_eq!(feed.headers["x-api-key"], "k", "values are trimmed");
    assert_eq!(feed.headers["accept-language"], "ru");
    assert!(feed.headers["x-api-key"].is_sensitive());
    assert_eq!(
        feed.user_agent.as_ref().map(|v| v.as_bytes()),
        Some(&b"custom-agent/2"[..])
    );
    assert!(
        !format!("{c:?}").contains("Bearer t"),
        "header values hidden"
    );
    let rule = &c.rules[0];
    assert_eq!(
        rule.digest,
        Some(DigestSchedule::DailyAt { hour: 8, minute: 0 })
    );
    assert_eq!(rule.max_per_hour, Some(20));
    let NotifierKind::Email(e) = &c.notifiers["mail"].kind else {
        panic!("email");
    };
    assert_eq!(e.timeout, Duration::from_secs(45));
    assert_eq!(
        e.subject,
        SubjectTemplate::parse("{feed}: {title}").expect("template")
    );
    assert_eq!(e.to.len(), 1, "a single address is a list of one");
    assert_eq!(
        c.notifiers["mail"].digest,
        Some(DigestSchedule::Every(hours(1)))
    );
    assert_eq!(c.notifiers["mail"].timezone, chrono_tz::Europe::Moscow);
    assert_eq!(c.notifiers["mail"].group, Grouping::Rule);
    assert_eq!(c.notifiers["hook"].group, Grouping::Story, "the default");
    assert_eq!(c.notifiers["mail"].quiet_hours, None, "the default");
    assert_eq!(
        c.notifiers["hook"].quiet_hours,
        Some(QuietHours::parse("22:00-07:00").expect("valid"))
    );
    let NotifierKind::Webhook(w) = &c.notifiers["hook"].kind else {
        panic!("webhook");
    };
    assert_eq!(w.format, WebhookFormat::Slack);
    assert_eq!(w.headers["authorization"], "Bearer t");
    assert_eq!(w.secret.as_ref().map(Secret::expose), Some("hmac-key"));
    assert_eq!(w.timeout, Duration::from_secs(10));
    assert_eq!(
        c.delivery,
        Delivery {
            retry_base: Duration::from_secs(10),
            retry_cap: Duration::from_secs(1800),
            give_up_after: hours(24),
        }
    );
    assert_eq!(
        c.metrics.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:9187")
    );
    assert_eq!(
        c.stories,
        Stories {
            window: hours(12),
            similarity: 0.9
        }
    );
    let bad = problems("[stories]\nsimilarity = 1.5\n");
    assert_eq!(bad[0].key, "stories.similarity", "{bad:#?}");
}

#[test]
fn environment_overrides_reach_notifier_tables_and_are_lowercased() {
    let env = vec![
        (
            "FEEDWATCH_NOTIFY__CONSOLE__DIGEST".to_string(),
            "2h".to_string(),
        ),
        ("FEEDWATCH_Poll__Per_Host".to_string(), "5".to_string()),
        ("FEEDWATCH_RULE__NAME".to_string(), "x".to_string()),
    ];
    let p = load(GOOD, Path::new("/etc/feedwatch"), &env).expect_err("rule replaced");
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].message
            .contains("expected an array of tables ([[rule]])"),
        "{p:#?}"
    );
    let c = load(GOOD, Path::new("/etc/feedwatch"), &env[..2]).expect("loads");
    assert_eq!(
        c.notifiers["console"].digest,
        Some(DigestSchedule::Every(Duration::from_secs(7200)))
    );
    assert_eq!(c.poll.per_host, 5);
}

#[test]
fn a_feed_user_agent_that_http_cannot_carry_is_refused_at_load() {
    let text = GOOD.replace(
        "tags = [\"russia\"]",
        "tags = [\"russia\"]\nuser_agent = \"agent\\u0001\"",
    );
    let p = problems(&text);
    assert_eq!(p[0].key, "feed[0].user_agent", "{p:#?}");
    assert!(p[0].message.contains("control characters"), "{p:#?}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Whatever the file holds, loading reports problems instead of panicking.
    #[test]
    fn loading_never_panics(text in "(\\[\\[?(feed|rule|poll|notify\\.x)\\]\\]?\n|[a-z_]{1,12} = (\"[a-z0-9 :/.{}]{0,12}\"|[0-9]{1,4}|true|\\[\"x\", 1\\]|\\{ a = 1 \\})\n){0,12}") {
        let _ = load(&text, Path::new("/nonexistent"), &[]);
    }
}

#[test]
fn a_key_placeholder_in_a_value_is_reported_as_written() {
    let text = GOOD.replace(
        "to = [\"analyst@example.org\"]",
        "to = [\"analyst@example.org\"]\nsubject = \"{key}\"",
    );
    let p = problems(&text);
    assert!(p[0].message.contains("placeholder {key}"), "{p:#?}");
}

#[test]
fn feeds_without_names_get_unique_readable_names() {
    // (case, feeds as `url` or `url|name`, the names they get)
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "one feed per host keeps the host",
            &["https://example.org/rss", "https://lenta.ru/rss"],
            &["example.org", "lenta.ru"],
        ),
        (
            "feeds of one host get their paths",
            &[
                "https://example.org/world/rss",
                "https://example.org/tech/rss/",
                "https://lenta.ru/rss",
            ],
            &["example.org/world/rss", "example.org/tech/rss", "lenta.ru"],
        ),
        (
            "a port tells two sites on one host apart",
            &["http://127.0.0.1:8080/rss", "http://127.0.0.1:8081/rss"],
            &["127.0.0.1:8080/rss", "127.0.0.1:8081/rss"],
        ),
        (
            "query values stay hidden and numbers break the tie",
            &[
                "https://example.org/rss?token=abc",
                "https://example.org/rss?token=xyz",
                "http://example.org/rss?token=abc",
            ],
            &[
                "example.org/rss?token=*** (1)",
                "example.org/rss?token=*** (2)",
                "example.org/rss?token=*** (3)",
            ],
        ),
        (
            "an explicit name is never taken by a default",
            &["https://example.org/rss", "https://other.org/a|example.org"],
            &["example.org/rss", "example.org"],
        ),
    ];
    for (case, feeds, names) in cases {
        let mut text = String::new();
        for f in *feeds {
            let (url, name) = f.split_once('|').unwrap_or((f, ""));
            text.push_str(&format!("[[feed]]\nurl = \"{url}\"\n"));
            if !name.is_empty() {
                text.push_str(&format!("name = \"{name}\"\n"));
            }
        }
        let got: Vec<String> = ok(&text).feeds.into_iter().map(|f| f.name).collect();
        assert_eq!(&got, names, "{case}");
    }
}

#[test]
fn explicit_duplicate_feed_names_stay_an_error() {
    let p = problems(
        "[[feed]]\nurl = \"https://a.org/rss\"\nname = \"News\"\n\
         [[feed]]\nurl = \"https://b.org/rss\"\nname = \"News\"\n",
    );
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].message.contains("duplicate feed name \"News\""),
        "{p:#?}"
    );
}

#[test]
fn tags_select_whatever_their_case() {
    let mut text = String::new();
    for (host, tag) in [("a.org", "Russia"), ("b.org", "РОССИЯ"), ("c.org", "news")] {
        text.push_str(&format!(
            "[[feed]]\nurl = \"https://{host}/rss\"\ntags = [\"{tag}\"]\n"
        ));
    }
    text.push_str(
        "[[rule]]\nname = \"r\"\nquery = \"Kabulov\"\nfeeds = [\"tag:russia\", \"tag:россия\"]\n\
         [notify.console]\ntype = \"stdout\"\n",
    );
    assert_eq!(ok(&text).rules[0].feeds, [0, 1]);
}

#[test]
fn problems_from_the_environment_are_listed_in_the_order_of_the_schema() {
    let env = [
        ("FEEDWATCH_DELIVERY__RETRY_BASE", "0s"),
        ("FEEDWATCH_NOTIFY__PAGER__TYPE", "pagerduty"),
        ("FEEDWATCH_NOTIFY__BARE__SMTP", "smtp://127.0.0.1"),
        ("FEEDWATCH_POLL__TIMEOUT", "soon"),
        ("FEEDWATCH_POLL__INTERVALL", "5m"),
    ];
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let p = load("", Path::new("/etc/feedwatch"), &env).expect_err("rejected");
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "poll.intervall",
            "poll.timeout",
            "notify.bare",
            "notify.pager.type",
            "delivery.retry_base"
        ],
        "{p:#?}"
    );
}

#[test]
fn matching_defaults_apply_to_every_rule_and_a_rule_overrides_them() {
    let text = GOOD.replace(
        "[notify.console]",
        "[matching]\nlanguages = [\"ru\", \"en\"]\ntransliterate = true\n\n[notify.console]",
    );
    let text = text.replace(
        "query = 'Taliban'",
        "query = 'Taliban'\nlanguages = [\"en\"]\ntransliterate = false",
    );
    let c = ok(&text);
    let all = crate::rules::MatchOptions {
        en: true,
        ru: true,
        transliterate: true,
    };
    assert_eq!(c.rules[0].query.options(), all);
    let en_only = crate::rules::MatchOptions {
        en: true,
        ..Default::default()
    };
    assert_eq!(c.rules[1].query.options(), en_only);
    // No [matching] and no rule keys: exact, as before the options existed.
    assert_eq!(ok(GOOD).rules[0].query.options(), Default::default());
}

#[test]
fn an_unknown_language_is_reported_at_its_key() {
    let text = GOOD.replace(
        "query = 'Taliban'",
        "query = 'Taliban'\nlanguages = [\"ru\", \"de\"]",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].key.starts_with("rule[1].languages"), "{p:#?}");
    assert!(
        p[0].message
            .contains("unknown language \"de\" (known: en, ru)"),
        "{p:#?}"
    );
}

#[test]
fn health_notify_names_configured_notifiers() {
    let p = problems(
        "[poll]\nhealth_notify = [\"console\", \"nobody\"]\n[notify.console]\ntype = \"stdout\"\n",
    );
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].key, "poll.health_notify[1]");
    assert!(
        p[0].message
            .contains("no notifier named \"nobody\" (configured: console)"),
        "{p:#?}"
    );
}

//! Everyday use of the real binary, as a user at a shell meets it: listings piped into `head`,
//! times that say their zone, feeds of one site without invented names, OPML imports with bad
//! entries, and tags spelt in any case.

mod support;

use std::process::Stdio;

use support::{FeedServer, Route, config_dir, feedwatch, feedwatch_with, kabulov_feed};

/// A world with one polled feed of three matching items, its alerts printed by a stdout
/// notifier: every listing command then has something to print.
struct Polled {
    dir: tempfile::TempDir,
    cfg: String,
    _feeds: FeedServer,
    /// Standard error of the `once` run, logged as JSON.
    once_log: String,
}

impl Polled {
    async fn new() -> Polled {
        let feeds = FeedServer::start().await;
        feeds.set("/rss", Route::rss(kabulov_feed(3, "k"), "\"v1\""));
        let (dir, cfg) = config_dir(&format!(
            "[storage]\npath = \"fw.db\"\n[poll]\ntimeout = \"5s\"\n\
             [[feed]]\nurl = \"{}\"\nname = \"News\"\ntags = [\"Russia\"]\n\
             [[rule]]\nname = \"kabulov\"\nquery = 'Kabulov'\nfeeds = [\"tag:russia\"]\n\
             [notify.console]\ntype = \"stdout\"\n",
            feeds.url("/rss")
        ));
        let cfg = cfg.to_str().expect("utf-8").to_string();
        let once = feedwatch(&["--config", &cfg, "--log-format", "json", "once"]).await;
        assert_eq!(once.code, Some(0), "{once:#?}");
        Polled {
            dir,
            cfg,
            _feeds: feeds,
            once_log: once.stderr,
        }
    }
}

#[tokio::test]
async fn listings_end_quietly_when_the_reader_has_gone() {
    let world = Polled::new().await;
    let opml = world.dir.path().join("subs.opml");
    std::fs::write(
        &opml,
        r#"<opml version="2.0"><body><outline text="A" xmlUrl="http://127.0.0.1:9/a.xml"/></body></opml>"#,
    )
    .expect("write opml");
    let feed_file = world.dir.path().join("feed.xml");
    std::fs::write(&feed_file, kabulov_feed(2, "f")).expect("write feed");
    let cfg = world.cfg.as_str();
    let cases: &[(&str, &[&str])] = &[
        ("feeds", &["feeds"]),
        ("feeds --json", &["feeds", "--json"]),
        ("alerts", &["alerts"]),
        ("alerts --json", &["alerts", "--json"]),
        ("check", &["check"]),
        ("rules", &["rules"]),
        ("rules --json", &["rules", "--json"]),
        ("parse", &["parse", feed_file.to_str().expect("utf-8")]),
        ("backtest", &["backtest", "kabulov"]),
        ("backtest --json", &["backtest", "kabulov", "--json"]),
        ("export-opml", &["export-opml"]),
        (
            "import-opml",
            &["import-opml", opml.to_str().expect("utf-8")],
        ),
        (
            "test-rule",
            &[
                "test-rule",
                "Kabulov",
                "--file",
                feed_file.to_str().expect("utf-8"),
            ],
        ),
        ("completions", &["completions", "bash"]),
        ("man", &["man"]),
    ];
    for (name, args) in cases {
        // The read end is closed before the command starts, so its first write meets EPIPE
        // (what `| head -1` does to the writes after the first line), every time.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut all = vec!["--config", cfg];
        all.extend_from_slice(args);
        let run = feedwatch_with(&all, &[], Some(Stdio::from(writer))).await;
        assert_eq!(run.code, Some(0), "{name}: {run:#?}");
        assert!(
            !run.stderr.contains("panicked") && !run.stderr.contains("Broken pipe"),
            "{name}: {}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn feeds_and_alerts_show_times_with_their_zone() {
    let world = Polled::new().await;
    // A POSIX TZ string needs no zone database: three hours east of UTC, as Moscow.
    let tz = [("TZ", "MSK-3")];
    let feeds = feedwatch_with(&["--config", &world.cfg, "feeds"], &tz, None).await;
    assert_eq!(feeds.code, Some(0), "{feeds:#?}");
    for label in ["last success: ", "next poll:    "] {
        let line = feeds
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label.trim_end()))
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{}", feeds.stdout));
        assert!(line.ends_with(" +03:00"), "{line}");
    }
    let alerts = feedwatch_with(&["--config", &world.cfg, "alerts"], &tz, None).await;
    assert_eq!(alerts.code, Some(0), "{alerts:#?}");
    let sent: Vec<&str> = alerts
        .stdout
        .lines()
        .filter(|l| l.contains("[sent "))
        .collect();
    assert_eq!(sent.len(), 3, "{}", alerts.stdout);
    assert!(
        sent.iter().all(|l| l.ends_with(" +03:00]")),
        "{}",
        alerts.stdout
    );
}

#[tokio::test]
async fn json_logs_carry_full_timestamps_with_their_zone() {
    let world = Polled::new().await;
    let polled: serde_json::Value = world
        .once_log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "polled")
        .unwrap_or_else(|| panic!("no \"polled\" line in:\n{}", world.once_log));
    for key in ["timestamp", "next_poll"] {
        let text = polled[key].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "{key} = {text:?} is not RFC 3339 in {polled}"
        );
    }
}

/// A config of unnamed feeds on `feeds`' paths, mailing matches of `Kabulov` to stdout.
fn unnamed_feeds_config(feeds: &FeedServer, paths: &[&str]) -> String {
    let mut text = String::from(
        "[storage]\npath = \"fw.db\"\n[poll]\ntimeout = \"5s\"\n\
         [[rule]]\nname = \"kabulov\"\nquery = 'Kabulov'\n[notify.console]\ntype = \"stdout\"\n",
    );
    for p in paths {
        text.push_str(&format!("[[feed]]\nurl = \"{}\"\n", feeds.url(p)));
    }
    text
}

#[tokio::test]
async fn a_second_feed_of_one_site_needs_no_name_and_the_first_keeps_its_state() {
    let feeds = FeedServer::start().await;
    feeds.set("/world/rss", Route::rss(kabulov_feed(3, "w"), "\"w1\""));
    feeds.set("/tech/rss", Route::rss(kabulov_feed(0, "t"), "\"t1\""));
    let (dir, cfg) = config_dir(&unnamed_feeds_config(&feeds, &["/world/rss"]));
    let cfg = cfg.to_str().expect("utf-8");
    let first = feedwatch(&["--config", cfg, "once"]).await;
    assert_eq!(first.code, Some(0), "{first:#?}");
    let alerts_before = alert_count(cfg).await;
    assert_eq!(alerts_before, 3);

    // The same site's second feed, also without a name: accepted, and both are named by path.
    std::fs::write(
        dir.path().join("feedwatch.toml"),
        unnamed_feeds_config(&feeds, &["/world/rss", "/tech/rss"]),
    )
    .expect("rewrite config");
    let check = feedwatch(&["--config", cfg, "check"]).await;
    assert_eq!(check.code, Some(0), "{check:#?}");
    let host = feeds.addr.to_string();
    for name in [format!("{host}/world/rss"), format!("{host}/tech/rss")] {
        assert!(
            check.stdout.contains(&format!("  - {name} <")),
            "{name} in:\n{}",
            check.stdout
        );
    }
    // The renamed feed is the same feed to the database: its state is shown under the new
    // name, and polling again alerts nothing twice.
    let listing = feedwatch(&["--config", cfg, "feeds"]).await;
    let world = listing
        .stdout
        .split(&format!("{host}/world/rss  <"))
        .nth(1)
        .unwrap_or_else(|| panic!("no world feed in:\n{}", listing.stdout));
    let world = world.split("\n1").next().unwrap_or(world);
    assert!(
        world.contains("last success:") && !world.starts_with("never polled"),
        "{}",
        listing.stdout
    );
    let second = feedwatch(&["--config", cfg, "once"]).await;
    assert_eq!(second.code, Some(0), "{second:#?}");
    assert_eq!(alert_count(cfg).await, alerts_before);
}

/// How many alerts the outbox holds.
async fn alert_count(cfg: &str) -> usize {
    let list = feedwatch(&["--config", cfg, "alerts", "--json"]).await;
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).expect("JSON");
    rows.as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn import_opml_skips_invalid_entries_and_tags_match_in_any_case() {
    let (dir, cfg) = config_dir(
        "include = [\"feeds.d/*.toml\"]\n[storage]\npath = \"fw.db\"\n\
         [[rule]]\nname = \"russia\"\nquery = 'Kabulov'\nfeeds = [\"tag:russia\"]\n\
         [notify.console]\ntype = \"stdout\"\n",
    );
    let opml = dir.path().join("subs.opml");
    std::fs::write(
        &opml,
        r#"<opml version="2.0"><body>
  <outline text="Russia">
    <outline text="Good" xmlUrl="https://example.org/rss"/>
    <outline text="Broken" xmlUrl="not a url"/>
    <outline text="Gopher" xmlUrl="gopher://example.org/1"/>
    <outline text="Same site" xmlUrl="https://example.org/other"/>
  </outline>
</body></opml>"#,
    )
    .expect("write opml");
    let cfg = cfg.to_str().expect("utf-8");
    let out = dir.path().join("feeds.d/imported.toml");
    let import = feedwatch(&[
        "--config",
        cfg,
        "import-opml",
        opml.to_str().expect("utf-8"),
        "-o",
        out.to_str().expect("utf-8"),
    ])
    .await;
    assert_eq!(import.code, Some(0), "{import:#?}");
    for needle in [
        "skipped the entry \"Broken\": invalid URL",
        "skipped the entry \"Gopher\": gopher://example.org/1 is not an http:// or https:// URL",
        "wrote 2 feed(s)",
        "2 invalid skipped",
    ] {
        assert!(
            import.stderr.contains(needle),
            "{needle:?} in:\n{}",
            import.stderr
        );
    }
    let written = std::fs::read_to_string(&out).expect("imported file");
    assert!(
        !written.contains("not a url") && !written.contains("gopher"),
        "{written}"
    );
    // The include is valid, and `tag:russia` selects the feeds of the folder "Russia".
    let check = feedwatch(&["--config", cfg, "check"]).await;
    assert_eq!(check.code, Some(0), "{check:#?}");
    assert!(check.stdout.contains("→ 2 feed(s)"), "{}", check.stdout);
}

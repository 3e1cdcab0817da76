//! Feed identity and health against a real HTTP server: GUID changes, permanent redirects,
//! 410 Gone, feed-health alerts and recovery, a restart that resumes the schedule, the
//! `feeds` listing, and OPML in and out.
//!
//! Where the daemon would make a test wait for its clock, the test takes the clock instead:
//! the health test polls on an injected wall clock, the restart test runs the restarted
//! daemon under paused tokio time (nothing but timers is awaited there).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use feedwatch::config::Config;
use feedwatch::domain::FeedId;
use feedwatch::wiring::Parts;
use support::in_process::{ClockHold, InProcess, promptly_polled_path, wait_for};
use support::{FeedServer, Route, SmtpServer, feedwatch, fixture};

/// An RSS document of (GUID, link, title) items published now; an empty GUID leaves the
/// `<guid>` out.
fn rss(items: &[(&str, &str, &str)]) -> String {
    let now = chrono::Utc::now().to_rfc2822();
    let items: String = items
        .iter()
        .map(|(guid, link, title)| {
            let guid = if guid.is_empty() {
                String::new()
            } else {
                format!("<guid isPermaLink=\"false\">{guid}</guid>")
            };
            format!(
                "<item>{guid}<link>{link}</link>\
                 <title>{title}</title><pubDate>{now}</pubDate></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Test feed</title>{items}</channel></rss>"
    )
}

fn write_config(dir: &Path, feed_url: &str, smtp: &str, poll_extra: &str) -> PathBuf {
    let path = dir.join("feedwatch.toml");
    std::fs::write(
        &path,
        format!(
            "[storage]\npath = \"fw.db\"\n[poll]\ntimeout = \"5s\"\n{poll_extra}\n\
             [[feed]]\nurl = \"{feed_url}\"\nname = \"F\"\n\
             [[rule]]\nname = \"kabulov\"\nquery = 'Kabulov'\n\
             [notify.mail]\ntype = \"email\"\nsmtp = \"{smtp}\"\nfrom = \"fw@localhost\"\nto = [\"a@example.org\"]\n"
        ),
    )
    .expect("write config");
    path
}

/// A feed server answering `/rss` as told, an SMTP server, and a config that watches the one
/// and mails the other (`poll_extra` goes into `[poll]`).
struct World {
    feeds: FeedServer,
    smtp: SmtpServer,
    cfg: PathBuf,
    /// Holds the config and the database; removed on drop.
    dir: tempfile::TempDir,
}

impl World {
    async fn start(rss_route: Route, poll_extra: &str) -> World {
        let feeds = FeedServer::start().await;
        feeds.set("/rss", rss_route);
        let smtp = SmtpServer::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = write_config(dir.path(), &feeds.url("/rss"), &smtp.url(), poll_extra);
        World {
            feeds,
            smtp,
            cfg,
            dir,
        }
    }
}

impl World {
    /// [`World::start`] serving `entries` (see [`rss`]) with ETag `"1"`, after one `once` has
    /// stored them.
    async fn polled_once(entries: &[(&str, &str, &str)]) -> World {
        let world = World::start(Route::rss(rss(entries), "\"1\""), "").await;
        once_ok(&world.cfg).await;
        world
    }

    /// Serves `entries` from now on, with ETag `etag`, and runs `once`.
    async fn poll(&self, entries: &[(&str, &str, &str)], etag: &str) {
        self.feeds
            .set("/rss", Route::rss(rss(entries), &format!("\"{etag}\"")));
        once_ok(&self.cfg).await;
    }

    /// The subjects of the mails received so far, sorted.
    fn sorted_subjects(&self) -> Vec<String> {
        let mut subjects: Vec<String> = self.smtp.mails().iter().map(|m| m.subject()).collect();
        subjects.sort();
        subjects
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

/// `feedwatch once`, which must succeed.
async fn once_ok(cfg: &Path) {
    let run = feedwatch(&["--config", s(cfg), "once"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
}

async fn feeds_json(cfg: &Path) -> serde_json::Value {
    let run = feedwatch(&["--config", s(cfg), "feeds", "--json"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    serde_json::from_str(&run.stdout).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_changes_all_its_guids_but_keeps_its_links_does_not_realert() {
    let v1 = rss(&[
        ("cms1-1", "http://news.test/a", "Kabulov one"),
        ("cms1-2", "http://news.test/b", "Kabulov two"),
    ]);
    let World {
        feeds,
        smtp,
        cfg,
        dir: _dir,
    } = World::start(Route::rss(v1, "\"1\""), "").await;
    once_ok(&cfg).await;
    assert_eq!(smtp.mails().len(), 2);

    // CMS migration: every GUID changes, the links stay (one with a tracking parameter now).
    let v2 = rss(&[
        ("cms2-a", "http://news.test/a?utm_source=rss", "Kabulov one"),
        ("cms2-b", "http://news.test/b", "Kabulov two"),
        ("cms2-c", "http://news.test/c", "Kabulov three"),
    ]);
    feeds.set("/rss", Route::rss(v2, "\"2\""));
    once_ok(&cfg).await;
    let subjects: Vec<String> = smtp.mails().iter().map(|m| m.subject()).collect();
    assert_eq!(
        subjects.len(),
        3,
        "only the genuinely new story alerts: {subjects:?}"
    );
    assert_eq!(subjects[2], "[feedwatch] kabulov: Kabulov three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_repeats_one_guid_is_keyed_by_link() {
    let body = rss(&[
        ("same", "http://news.test/1", "Kabulov first"),
        ("same", "http://news.test/2", "Kabulov second"),
    ]);
    let World {
        feeds: _feeds,
        smtp,
        cfg,
        dir: _dir,
    } = World::start(Route::rss(body, "\"1\""), "").await;
    once_ok(&cfg).await;
    assert_eq!(smtp.mails().len(), 2, "both stories, not one");
    once_ok(&cfg).await;
    assert_eq!(smtp.mails().len(), 2, "and neither again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_redirect_moves_the_feed_and_410_stops_it() {
    let feeds = FeedServer::start().await;
    feeds.set("/old", Route::redirect(301, "/new"));
    feeds.set(
        "/new",
        Route::rss(
            rss(&[("1", "http://news.test/1", "Kabulov moved")]),
            "\"n\"",
        ),
    );
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &feeds.url("/old"), &smtp.url(), "");
    let first = feedwatch(&["--config", s(&cfg), "once"]).await;
    assert_eq!(first.code, Some(0), "{first:#?}");
    assert!(
        first.stderr.contains("feed moved permanently"),
        "{}",
        first.stderr
    );
    assert_eq!(smtp.mails().len(), 1);
    let v = feeds_json(&cfg).await;
    assert_eq!(v[0]["state"]["moved_to"], feeds.url("/new"));

    let second = feedwatch(&["--config", s(&cfg), "once"]).await;
    assert_eq!(second.code, Some(0));
    assert_eq!(
        feeds.seen("/old").len(),
        1,
        "the old address is not asked again"
    );
    assert_eq!(feeds.seen("/new").len(), 2);
    assert!(
        !second.stderr.contains("feed moved permanently"),
        "logged once"
    );

    // The feed is withdrawn.
    feeds.set("/new", Route::status(410));
    let gone = feedwatch(&["--config", s(&cfg), "once"]).await;
    assert_eq!(gone.code, Some(1));
    assert!(gone.stderr.contains("gone (410)"), "{}", gone.stderr);
    let again = feedwatch(&["--config", s(&cfg), "once"]).await;
    assert_eq!(
        again.code,
        Some(1),
        "a gone feed keeps `once` unhappy until the config changes"
    );
    assert_eq!(feeds.seen("/new").len(), 3, "but it is not requested again");
    let listing = feedwatch(&["--config", s(&cfg), "feeds"]).await;
    assert!(listing.stdout.contains("GONE (410"), "{}", listing.stdout);
}

/// The daemon would take half a minute over this (the back-off polls at 0, 1, 3, 7, 15 and
/// 31 s), so the test runs the daemon's parts on an injected clock instead: each poll happens
/// at the time the scheduling policy returned for it, against the real feed server, database
/// and SMTP server, and each is followed by a delivery pass, as the daemon's dispatcher does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_failing_too_long_raises_one_health_alert_and_one_on_recovery() {
    let World {
        feeds,
        smtp,
        cfg,
        dir: _dir,
    } = World::start(
        Route::status(500),
        "interval = \"1s\"\nmin_interval = \"1s\"\nhealth_alert_after = \"2s\"",
    )
    .await;
    let parts = Parts::build(Config::load(&cfg).expect("config"))
        .await
        .expect("components");
    let feed = FeedId::from_url(&feeds.parsed_url("/rss"));
    let alerts = async || {
        let rows = parts.store.list_alerts(None, 100).await;
        rows.expect("alerts").len()
    };
    // On a whole second, so that the first two polls (0 and about 1 s) are under the 2 s
    // threshold whatever the jitter, and the third (about 3 s) is over it.
    let mut now = Utc::now().with_nanosecond(0).expect("a valid time");
    // One poll at `now` and a delivery pass; moves `now` to the next poll the policy chose.
    let poll_at = async |now: &mut DateTime<Utc>| {
        let polled = parts.engine.poll(0, *now).await;
        parts
            .outbox
            .deliver_due(now.timestamp())
            .await
            .expect("delivery pass");
        *now = polled.next_poll.expect("polled again");
        polled.result.is_ok()
    };

    for _ in 0..2 {
        assert!(!poll_at(&mut now).await, "the server answers 500");
    }
    assert_eq!(alerts().await, 0, "failing, but not for 2 s yet");
    assert!(!poll_at(&mut now).await);
    assert_eq!(smtp.mails().len(), 1, "the health alert");
    let subject = smtp.mails()[0].subject();
    assert!(
        subject.starts_with("[feedwatch] feed-health: Feed F has been failing since"),
        "{subject}"
    );
    assert!(
        smtp.mails()[0].text().contains("HTTP 500"),
        "{}",
        smtp.mails()[0].text()
    );
    // Two more failures: still one alert.
    for _ in 0..2 {
        assert!(!poll_at(&mut now).await);
    }
    assert_eq!(feeds.seen("/rss").len(), 5);
    assert_eq!(alerts().await, 1, "one alert per outage, not per failure");
    assert_eq!(smtp.mails().len(), 1);

    feeds.set(
        "/rss",
        Route::rss(rss(&[("1", "http://news.test/1", "Back")]), "\"1\""),
    );
    assert!(poll_at(&mut now).await, "the feed is back");
    assert_eq!(smtp.mails().len(), 2, "the recovery notice");
    assert_eq!(
        smtp.mails()[1].subject(),
        "[feedwatch] feed-health: Feed F has recovered"
    );
    let state = parts.store.feed_state(&feed).await.expect("feed state");
    assert_eq!(state.consecutive_failures, 0);
}

/// The restart runs under paused tokio time, on a runtime of its own, with the clock held
/// still but for one explicit step: the daemon starts at a standstill (however long its
/// database takes), then half an hour of its time passes at once. A poll it made early would
/// be on the server and in the database.
#[test]
fn a_restart_resumes_the_schedule_instead_of_polling_at_once() {
    let real = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let hour = Duration::from_secs(3600);
    let (feeds, path, dir) = real.block_on(async {
        let feeds = FeedServer::start().await;
        let path = promptly_polled_path(&feeds, hour, Duration::from_millis(250));
        feeds.set(
            &path,
            Route::rss(rss(&[("1", "http://news.test/1", "Quiet news")]), "\"1\""),
        );
        (feeds, path, tempfile::tempdir().expect("tempdir"))
    });
    let url = feeds.parsed_url(&path);
    // The feed does not match the rule: no mail is ever sent to this (closed) port.
    let cfg = write_config(
        dir.path(),
        url.as_str(),
        "smtp://127.0.0.1:9",
        "interval = \"1h\"",
    );

    let stored = real.block_on(async {
        let daemon = InProcess::start(&cfg).await;
        wait_for("the first poll", Duration::from_secs(30), async || {
            daemon.feed_state(&url).await.next_poll_at.is_some()
        })
        .await;
        daemon.stop().await;
        let state = stored_state(&cfg, &url).await;
        let next = state.next_poll_at.expect("next poll stored");
        let ahead = next - Utc::now().timestamp();
        assert!(
            (3000..=4000).contains(&ahead),
            "next poll about an hour out: {ahead} s"
        );
        state
    });
    assert_eq!(feeds.seen(&path).len(), 1);

    let paused = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("paused runtime");
    paused.block_on(async {
        let clock = ClockHold::new();
        let mut daemon = InProcess::start(&cfg).await;
        daemon.ready(1).await;
        clock.advance(hour / 2).await;
        daemon.stop().await;
    });
    let after = real.block_on(stored_state(&cfg, &url));
    // Any poll, whatever came of it, is recorded on the feed's row: it is as the first run
    // left it.
    assert_eq!(after, stored, "the restart did not poll early");
    assert_eq!(feeds.seen(&path).len(), 1, "the restart did not poll early");
}

/// The stored state of the feed at `url`, read from the database of the config at `cfg`.
async fn stored_state(cfg: &Path, url: &url::Url) -> feedwatch::store::FeedState {
    let config = Config::load(cfg).expect("config");
    let store = feedwatch::store::Store::open(&config.storage.path)
        .await
        .expect("database");
    store
        .feed_state(&FeedId::from_url(url))
        .await
        .expect("feed state")
}

#[tokio::test]
async fn opml_import_export_completions_and_man() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("feedwatch.toml");
    std::fs::write(
        &cfg,
        "include = [\"feeds.d/*.toml\"]\n[storage]\npath = \"fw.db\"\n\
         [[feed]]\nurl = \"https://www.themoscowtimes.com/rss/news\"\nname = \"The Moscow Times\"\n",
    )
    .expect("write");
    let opml = fixture("opml_nested_categories.opml");
    let printed = feedwatch(&["--config", s(&cfg), "import-opml", s(&opml)]).await;
    assert_eq!(printed.code, Some(0), "{printed:#?}");
    assert!(printed.stdout.contains("[[feed]]"), "{}", printed.stdout);
    let out = dir.path().join("feeds.d/imported.toml");
    let wrote = feedwatch(&["--config", s(&cfg), "import-opml", s(&opml), "-o", s(&out)]).await;
    assert_eq!(wrote.code, Some(0), "{wrote:#?}");
    // The hint names the file as `include` reads it: relative to the config's folder.
    assert!(
        wrote
            .stderr
            .contains("include it with include = [\"feeds.d/imported.toml\"]"),
        "{}",
        wrote.stderr
    );
    let check = feedwatch(&["--config", s(&cfg), "check"]).await;
    assert_eq!(
        check.code,
        Some(0),
        "the imported feeds are a valid include: {check:#?}"
    );
    let imported: usize = printed.stdout.matches("[[feed]]").count();
    assert!(
        check.stdout.contains(&format!("feeds: {}", imported + 1)),
        "{}",
        check.stdout
    );

    let export = feedwatch(&["--config", s(&cfg), "export-opml"]).await;
    assert_eq!(export.code, Some(0));
    let feeds = feedwatch::opml::parse_opml(&export.stdout).expect("exported OPML parses");
    assert_eq!(feeds.len(), imported + 1);
    assert!(
        feeds
            .iter()
            .any(|f| f.url == "https://www.themoscowtimes.com/rss/news")
    );

    // Importing again adds nothing: everything is configured already.
    let again = feedwatch(&["--config", s(&cfg), "import-opml", s(&opml)]).await;
    assert!(!again.stdout.contains("[[feed]]"), "{}", again.stdout);

    // A config that does not load cannot say what is configured already: the import says so
    // (with the config's problems) instead of silently offering every feed again.
    let text = std::fs::read_to_string(&cfg).expect("read");
    std::fs::write(&cfg, format!("{text}\n[poll]\ninterval = \"often\"\n")).expect("write");
    let broken = feedwatch(&["--config", s(&cfg), "import-opml", s(&opml)]).await;
    assert_eq!(broken.code, Some(0), "{broken:#?}");
    for needle in ["poll.interval", "may be imported again"] {
        assert!(
            broken.stderr.contains(needle),
            "{needle}: {}",
            broken.stderr
        );
    }

    let bash = feedwatch(&["completions", "bash"]).await;
    assert_eq!(bash.code, Some(0));
    assert!(bash.stdout.contains("_feedwatch()") && bash.stdout.contains("send-test"));
    let man = feedwatch(&["man"]).await;
    assert_eq!(man.code, Some(0));
    assert!(man.stdout.contains(".TH feedwatch") && man.stdout.contains("backtest"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_that_share_a_page_each_alert() {
    let page = "http://news.test/live";
    let world = World::polled_once(&[("1", page, "Kabulov arrives")]).await;
    // A live blog: new entries, same page.
    let more = [
        ("1", page, "Kabulov arrives"),
        ("2", page, "Kabulov speaks"),
        ("3", page, "Kabulov leaves"),
    ];
    world.poll(&more, "2").await;
    assert_eq!(
        world.sorted_subjects(),
        vec![
            "[feedwatch] kabulov: Kabulov arrives",
            "[feedwatch] kabulov: Kabulov leaves",
            "[feedwatch] kabulov: Kabulov speaks",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_failing_in_the_same_second_each_raise_their_own_health_alert() {
    let smtp = SmtpServer::start();
    let dead = support::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("feedwatch.toml");
    let mut text = format!(
        "[storage]\npath = \"fw.db\"\n[poll]\ntimeout = \"2s\"\nhealth_alert_after = \"0s\"\n\
         [notify.mail]\ntype = \"email\"\nsmtp = \"{}\"\nfrom = \"fw@localhost\"\nto = [\"a@example.org\"]\n",
        smtp.url()
    );
    for name in ["A", "B", "C"] {
        text.push_str(&format!(
            "[[feed]]\nurl = \"http://127.0.0.1:{dead}/{name}\"\nname = \"{name}\"\n"
        ));
    }
    std::fs::write(&cfg, text).expect("write");
    let run = feedwatch(&["--config", s(&cfg), "once"]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    let mut subjects: Vec<String> = smtp.mails().iter().map(|m| m.subject()).collect();
    subjects.sort();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    for (s, name) in subjects.iter().zip(["A", "B", "C"]) {
        assert!(
            s.starts_with(&format!(
                "[feedwatch] feed-health: Feed {name} has been failing"
            )),
            "{s}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_entries_without_guid_sharing_one_link_each_alert() {
    let page = "http://status.test/";
    let world = World::polled_once(&[("", page, "Kabulov: all fine")]).await;
    // A new entry above the old one, then a page that shows only the latest entry.
    let down = [
        ("", page, "Kabulov: database down"),
        ("", page, "Kabulov: all fine"),
    ];
    world.poll(&down, "2").await;
    world
        .poll(&[("", page, "Kabulov: login broken")], "3")
        .await;
    world
        .poll(&[("", page, "Kabulov: login broken")], "4")
        .await;
    assert_eq!(
        world.sorted_subjects(),
        vec![
            "[feedwatch] kabulov: Kabulov: all fine",
            "[feedwatch] kabulov: Kabulov: database down",
            "[feedwatch] kabulov: Kabulov: login broken",
        ],
        "each entry once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_item_does_not_silence_later_items_with_its_link() {
    let page = "http://news.test/live";
    let world = World::start(
        Route::rss(rss(&[("a", page, "Kabulov arrives")]), "\"1\""),
        "",
    )
    .await;
    let text = std::fs::read_to_string(&world.cfg).expect("read config");
    let keep = text.replace("path = \"fw.db\"", "path = \"fw.db\"\nkeep = \"1d\"");
    std::fs::write(&world.cfg, keep).expect("write config");
    once_ok(&world.cfg).await;
    assert_eq!(world.smtp.mails().len(), 1);
    // Two days pass: the next run prunes the item.
    let db = rusqlite::Connection::open(world.dir.path().join("fw.db")).expect("open database");
    db.execute(
        "UPDATE items SET first_seen_at = first_seen_at - 2 * 86400",
        [],
    )
    .expect("age the item");
    once_ok(&world.cfg).await;
    let pruned: i64 = db
        .query_row("SELECT pruned FROM items", [], |r| r.get(0))
        .expect("read");
    assert_eq!(pruned, 1, "the item was pruned");
    let next = [
        ("b", page, "Kabulov leaves"),
        ("a", page, "Kabulov arrives"),
    ];
    world.poll(&next, "2").await;
    assert_eq!(
        world.sorted_subjects(),
        vec![
            "[feedwatch] kabulov: Kabulov arrives",
            "[feedwatch] kabulov: Kabulov leaves",
        ],
        "the new item alerts; the pruned one stays silent"
    );
}

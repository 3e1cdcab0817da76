//! Stopping or reloading the daemon with a poll in flight, against a feed server on loopback
//! that answers late. A stop (what SIGTERM does) gives the poll the shutdown grace: answered
//! within it, the poll is recorded like any other (items, alerts, validators, next poll time);
//! still waiting when the grace ends, it is abandoned, records nothing, and the stop stays
//! bounded. A reload always lets it finish. The daemon runs in the test process
//! ([`InProcess`]) on a real database.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use feedwatch::outbox::SHUTDOWN_GRACE;
use feedwatch::store::Store;
use support::in_process::{InProcess, promptly_polled_path, wait_for};
use support::{FeedServer, Route, kabulov_feed};
use url::Url;

/// The feeds' interval: no second poll happens during a test.
const INTERVAL: Duration = Duration::from_secs(3600);
/// A server answer that comes well within the grace, even with a loaded machine's delays.
const WITHIN_GRACE: Duration = Duration::from_millis(1500);
/// A server answer that comes long after the grace (and before the `[poll] timeout` below).
const AFTER_GRACE: Duration = Duration::from_secs(40);
/// How long a stop may take at most here: the daemon's bound (the grace plus a moment to
/// wind down) with room for a loaded machine.
const STOP_BOUND: Duration = Duration::from_secs(9);

/// The feed and the daemon polling it, its request already on the server.
struct Polling {
    feeds: FeedServer,
    path: String,
    url: Url,
    daemon: InProcess,
    /// Holds the database and config; removed at the end of the test.
    _dir: tempfile::TempDir,
}

/// Starts a daemon watching one feed (two items that match the rule) that the server answers
/// `answer_after` a request, and waits until the first request has arrived.
async fn polling(answer_after: Duration) -> Polling {
    let feeds = FeedServer::start().await;
    let path = promptly_polled_path(&feeds, INTERVAL, Duration::from_millis(250));
    feeds.set(
        &path,
        Route::rss(kabulov_feed(2, "s"), "\"s\"").after(answer_after),
    );
    let url = feeds.parsed_url(&path);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), &url);
    let daemon = InProcess::start(&cfg).await;
    wait_for(
        "the feed is requested",
        Duration::from_secs(30),
        async || !feeds.seen(&path).is_empty(),
    )
    .await;
    Polling {
        feeds,
        path,
        url,
        daemon,
        _dir: dir,
    }
}

/// Writes a config in `dir` watching `url` for `Kabulov`, alerting a `stdout` notifier.
fn write_config(dir: &Path, url: &Url) -> PathBuf {
    let text = format!(
        "[storage]\npath = \"fw.db\"\n\n[poll]\ninterval = \"{}s\"\ntimeout = \"60s\"\n\n\
         [[feed]]\nurl = \"{url}\"\nname = \"F\"\n\n\
         [[rule]]\nname = \"kabulov\"\nquery = 'Kabulov'\n\n[notify.out]\ntype = \"stdout\"\n",
        INTERVAL.as_secs()
    );
    let path = dir.join("feedwatch.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// What the database holds about the feed at `url`: (items, alerts, ETag, polled at, next
/// poll at).
async fn recorded(
    store: &Store,
    url: &Url,
) -> (usize, usize, Option<String>, Option<i64>, Option<i64>) {
    let state = store
        .feed_state(&feedwatch::domain::FeedId::from_url(url))
        .await
        .expect("feed state");
    let items = store.items_since(0).await.expect("items").len();
    let alerts = store.list_alerts(None, 100).await.expect("alerts").len();
    (
        items,
        alerts,
        state.etag,
        state.last_polled_at,
        state.next_poll_at,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_answered_within_the_grace_is_recorded_at_shutdown() {
    let p = polling(WITHIN_GRACE).await;
    let store = p.daemon.stop().await;
    let (items, alerts, etag, polled_at, next_poll_at) = recorded(&store, &p.url).await;
    assert_eq!(
        (items, alerts),
        (2, 2),
        "the poll in flight stored its items and queued its alerts"
    );
    assert_eq!(etag.as_deref(), Some("\"s\""), "its validators are stored");
    assert!(polled_at.is_some(), "the poll is recorded");
    assert!(next_poll_at.is_some(), "its next poll time is stored");
    assert_eq!(p.feeds.seen(&p.path).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_still_waiting_when_the_grace_ends_is_abandoned_and_the_stop_is_bounded() {
    let p = polling(AFTER_GRACE).await;
    let started = Instant::now();
    let store = p.daemon.stop().await;
    let took = started.elapsed();
    eprintln!("stopped in {took:?} with a poll waiting {AFTER_GRACE:?} for its answer");
    assert!(took < STOP_BOUND, "stop took {took:?}");
    assert!(
        took >= SHUTDOWN_GRACE,
        "the poll in flight was given the grace: stopped after {took:?}"
    );
    assert_eq!(
        recorded(&store, &p.url).await,
        (0, 0, None, None, None),
        "an abandoned poll records nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_lets_a_poll_in_flight_finish_and_records_it() {
    let mut p = polling(WITHIN_GRACE).await;
    p.daemon.ready(1).await;
    p.daemon.reload();
    // Ready again once the old generation's polls have finished and the new one runs.
    p.daemon.ready(2).await;
    let (items, alerts, etag, polled_at, _) = recorded(&p.daemon.store, &p.url).await;
    assert_eq!((items, alerts), (2, 2));
    assert_eq!(etag.as_deref(), Some("\"s\""));
    assert!(polled_at.is_some());
    p.daemon.stop().await;
}

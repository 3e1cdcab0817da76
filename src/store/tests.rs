use super::*;
use crate::domain::FeedId;
use crate::domain::fixtures::{alert, item};

impl<'a> Ingest<'a> {
    /// The one builder for test batches (here and in the outbox tests): `items` and their
    /// `alerts` at `now`, with no feed title, no validators and no feed alerts. Set other
    /// fields with `Ingest { title: …, ..Ingest::batch(…) }`.
    pub(crate) fn batch(items: &'a [Item], alerts: &'a [NewAlert], now: i64) -> Self {
        Ingest {
            title: None,
            etag: None,
            last_modified: None,
            items,
            alerts,
            feed_alerts: &[],
            now,
        }
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("sub/feedwatch.db")).expect("open");
    (dir, store)
}

#[test]
fn ingest_dedupes_items_and_queues_alerts_once() {
    let (_dir, store) = open();
    let feed = FeedId::from_stored("http://f/".into());
    let st = store.feed_state(&feed).expect("state");
    assert_eq!(st.first_polled_at, None);
    let items = vec![item("a"), item("b")];
    let alerts = vec![alert(0, "mail"), alert(1, "mail"), alert(1, "hook")];
    let batch = Ingest {
        title: Some("F"),
        etag: Some("\"e1\""),
        ..Ingest::batch(&items, &alerts, 100)
    };
    let r = store.ingest(st.id, feed.as_str(), &batch).expect("ingest");
    assert_eq!(
        r,
        IngestReport {
            items: 2,
            alerts: 3
        }
    );
    // The same batch again: nothing new, nothing queued twice.
    let r = store.ingest(st.id, feed.as_str(), &batch).expect("ingest");
    assert_eq!(r, IngestReport::default());
    let st = store.feed_state(&feed).expect("state");
    assert_eq!(st.first_polled_at, Some(100));
    assert_eq!(st.etag.as_deref(), Some("\"e1\""));
    let mut moved = item("c");
    moved.link = Some("http://example.org/b#frag".into()); // new GUID, same story as "b"
    moved.title = "title b".into();
    let mut same_page = item("e");
    same_page.link = Some("http://example.org/b".into()); // same page, a new entry
    let known = store
        .known_items(
            st.id,
            &[item("a"), moved.clone(), same_page.clone(), item("d")],
        )
        .expect("known");
    let mut known: Vec<String> = known.into_iter().collect();
    known.sort();
    assert_eq!(
        known,
        vec!["a".to_string(), "c".to_string()],
        "a by key, c by link and title; e (same page, new title) is new"
    );
    let shared = store
        .links_in_feed(st.id, &[same_page, item("d")])
        .expect("links");
    assert_eq!(
        shared.into_iter().collect::<Vec<_>>(),
        vec!["e".to_string()]
    );
    assert_eq!(store.due_alerts(100, 10).expect("due").len(), 3);
}

#[test]
fn failed_alert_waits_until_retry_time_and_dead_never_returns() {
    let (_dir, store) = open();
    let feed = FeedId::from_stored("http://f/".into());
    let st = store.feed_state(&feed).expect("state");
    let items = vec![item("a"), item("b")];
    let alerts = vec![alert(0, "mail"), alert(1, "mail")];
    let batch = Ingest::batch(&items, &alerts, 10);
    store.ingest(st.id, feed.as_str(), &batch).expect("ingest");
    let due = store.due_alerts(10, 10).expect("due");
    assert_eq!(due.len(), 2);
    assert_ne!(due[0].uid, due[1].uid);
    store
        .mark_failed(due[0].id, "connection refused", Some(70))
        .expect("fail");
    store
        .mark_failed(due[1].id, "550 no such user", None)
        .expect("dead");
    assert!(store.due_alerts(69, 10).expect("due").is_empty());
    let again = store.due_alerts(70, 10).expect("due");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    store.mark_sent(again[0].id, 71).expect("sent");
    assert_eq!(store.undelivered_count().expect("count"), 0);
    assert_eq!(
        store.alert_counts().expect("counts"),
        vec![("dead".to_string(), 1), ("sent".to_string(), 1)]
    );
}

#[test]
fn failures_count_up_and_reset_on_success() {
    let (_dir, store) = open();
    let feed = FeedId::from_stored("http://f/".into());
    let st = store.feed_state(&feed).expect("state");
    store
        .record_failure(st.id, feed.as_str(), 1, "boom", &[])
        .expect("fail");
    store
        .record_failure(st.id, feed.as_str(), 2, "boom", &[])
        .expect("fail");
    let failing = store.feed_state(&feed).expect("state");
    assert_eq!(failing.last_error.as_deref(), Some("boom"));
    assert_eq!(
        (failing.consecutive_failures, failing.failing_since),
        (2, Some(1))
    );
    assert!(!failing.health_alerted);
    store
        .record_failure(st.id, feed.as_str(), 3, "boom", &[alert(0, "mail")])
        .expect("fail with health alert");
    assert!(store.feed_state(&feed).expect("state").health_alerted);
    assert_eq!(
        store.due_alerts(3, 10).expect("due").len(),
        1,
        "health alert queued"
    );
    store
        .record_not_modified(st.id, feed.as_str(), &[], 4)
        .expect("304");
    let st = store.feed_state(&feed).expect("state");
    assert_eq!((st.consecutive_failures, st.last_error), (0, None));
    assert_eq!((st.failing_since, st.health_alerted), (None, false));
}

#[test]
fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    let feed = FeedId::from_stored("http://f/".into());
    {
        let store = Store::open(&path).expect("open");
        let st = store.feed_state(&feed).expect("state");
        let items = vec![item("a")];
        let alerts = vec![alert(0, "mail")];
        let batch = Ingest::batch(&items, &alerts, 5);
        store.ingest(st.id, feed.as_str(), &batch).expect("ingest");
    }
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.undelivered_count().expect("count"), 1);
    assert_eq!(store.items_since(0).expect("items").len(), 1);
}

#[test]
fn one_story_alerts_once_per_rule_and_notifier_across_feeds() {
    let (_dir, store) = open();
    for (n, url) in ["http://a/", "http://b/"].iter().enumerate() {
        let feed = FeedId::from_stored((*url).into());
        let st = store.feed_state(&feed).expect("state");
        let items = vec![item(&format!("k{n}"))];
        let mut a = alert(0, "mail");
        a.story = "https://news.example/story".into();
        let alerts = [a];
        let batch = Ingest::batch(&items, &alerts, 1);
        let r = store.ingest(st.id, feed.as_str(), &batch).expect("ingest");
        assert_eq!(r.items, 1);
        assert_eq!(r.alerts, usize::from(n == 0), "feed {url}");
    }
}

#[test]
fn digest_alerts_wait_in_their_queue_and_are_sent_together() {
    let (_dir, store) = open();
    let feed = FeedId::from_stored("http://f/".into());
    let st = store.feed_state(&feed).expect("state");
    let items = vec![item("a"), item("b"), item("c")];
    let mut alerts = vec![alert(0, "mail"), alert(1, "mail"), alert(2, "mail")];
    alerts[0].digest = Some("1h".into());
    alerts[1].digest = Some("1h".into());
    let batch = Ingest::batch(&items, &alerts, 100);
    store.ingest(st.id, feed.as_str(), &batch).expect("ingest");
    assert_eq!(
        store.due_alerts(100, 10).expect("due").len(),
        1,
        "digest alerts are not single"
    );
    assert_eq!(
        store.undelivered_count().expect("n"),
        1,
        "waiting for a digest is not undelivered"
    );
    let q = store.digest_queues().expect("queues");
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].count, q[0].oldest, q[0].last_sent), (2, 100, None));
    let batch_alerts = store.digest_alerts("mail", "1h").expect("alerts");
    let ids: Vec<i64> = batch_alerts.iter().map(|a| a.id).collect();
    store
        .mark_digest_sent("mail", "1h", &ids, 200)
        .expect("sent");
    assert!(store.digest_queues().expect("queues").is_empty());
    assert_eq!(store.rule_alerts_since("r", 0).expect("count"), 1);
}

#[test]
fn listing_and_requeue() {
    let (_dir, store) = open();
    let feed = FeedId::from_stored("http://f/".into());
    let st = store.feed_state(&feed).expect("state");
    let items = vec![item("a"), item("b")];
    let alerts = vec![alert(0, "mail"), alert(1, "mail")];
    let batch = Ingest::batch(&items, &alerts, 1);
    store.ingest(st.id, feed.as_str(), &batch).expect("ingest");
    let due = store.due_alerts(1, 10).expect("due");
    store
        .mark_failed(due[0].id, "550 nope", None)
        .expect("dead");
    store
        .mark_failed(due[1].id, "550 nope", None)
        .expect("dead");
    let dead = store.list_alerts(Some("dead"), 10).expect("list");
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].last_error.as_deref(), Some("550 nope"));
    assert!(store.requeue(due[0].id, 5).expect("requeue"));
    assert!(!store.requeue(999, 5).expect("no such alert"));
    assert_eq!(store.requeue_dead(5).expect("requeue dead"), 1);
    assert_eq!(store.due_alerts(5, 10).expect("due").len(), 2);
}

#[test]
fn prune_keeps_keys_as_tombstones() {
    let (_dir, store) = open();
    let feed = FeedId::from_stored("http://f/".into());
    let st = store.feed_state(&feed).expect("state");
    let items = vec![item("old")];
    let batch = Ingest::batch(&items, &[], 10);
    store.ingest(st.id, feed.as_str(), &batch).expect("ingest");
    assert_eq!(store.prune(20).expect("prune"), 1);
    assert_eq!(store.prune(20).expect("prune again"), 0);
    assert!(
        store.items_since(0).expect("items").is_empty(),
        "bodies are gone"
    );
    let known = store.known_items(st.id, &[item("old")]).expect("known");
    assert!(known.contains("old"), "the key still dedupes");
    let rows = store.feeds_overview().expect("overview");
    assert_eq!(rows[0].items, 1);
}

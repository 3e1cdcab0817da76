use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use super::*;
use crate::domain::FeedId;
use crate::domain::fixtures::{alert, item};
use crate::similar::Sketch;

async fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("sub/feedwatch.db"))
        .await
        .expect("open");
    (dir, store)
}

impl Ingest {
    /// The one builder for test batches (here and in the outbox tests): `items` and their
    /// `alerts` at `now`, with no feed title, no validators and no feed alerts. Set other
    /// fields with `Ingest { title: …, ..Ingest::batch(…) }`.
    pub(crate) fn batch(items: Vec<Item>, alerts: Vec<NewAlert>, now: i64) -> Self {
        Ingest {
            items,
            alerts,
            now,
            ..Ingest::default()
        }
    }
}

/// The feed `http://f/` and its state (its row created).
async fn feed(store: &Store) -> (FeedId, FeedState) {
    let feed = FeedId::from_stored("http://f/".into());
    let st = store.feed_state(&feed).await.expect("state");
    (feed, st)
}

fn keys(set: HashSet<ItemKey>) -> Vec<String> {
    let mut v: Vec<String> = set.into_iter().map(|k| k.as_str().to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn ingest_dedupes_items_and_queues_alerts_once() {
    let (_dir, store) = open().await;
    let (feed, st) = feed(&store).await;
    assert_eq!(st.first_polled_at, None);
    let first = Ingest {
        title: Some("F".into()),
        etag: Some("\"e1\"".into()),
        ..Ingest::batch(
            vec![item("a"), item("b")],
            vec![alert(0, "mail"), alert(1, "mail"), alert(1, "hook")],
            100,
        )
    };
    let r = store
        .ingest(st.id, feed.as_str(), first.clone())
        .await
        .expect("ingest");
    assert_eq!(
        r,
        IngestReport {
            items: 2,
            alerts: 3
        }
    );
    // The same batch again: nothing new, nothing queued twice.
    let r = store
        .ingest(st.id, feed.as_str(), first)
        .await
        .expect("ingest");
    assert_eq!(r, IngestReport::default());
    let st = store.feed_state(&feed).await.expect("state");
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
        .await
        .expect("known");
    assert_eq!(
        keys(known),
        vec!["a".to_string(), "c".to_string()],
        "a by key, c by link and title; e (same page, new title) is new"
    );
    let shared = store
        .links_in_feed(st.id, &[same_page.clone(), item("d")])
        .await
        .expect("links");
    assert_eq!(keys(shared), vec!["e".to_string()]);
    // Both in one trip, as a poll asks: the new items themselves come back.
    let sorted = store
        .new_items(st.id, vec![item("a"), moved, same_page, item("d")])
        .await
        .expect("new items");
    let new: Vec<&str> = sorted.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(new, ["e", "d"]);
    assert_eq!(keys(sorted.shared), vec!["e".to_string()]);
    assert_eq!(store.due_alerts(100, 10).await.expect("due").len(), 3);
}

#[tokio::test]
async fn a_first_poll_gets_every_item_back_as_new() {
    let (_dir, store) = open().await;
    let (_, st) = feed(&store).await;
    let doc = vec![item("a"), item("b"), on_page("c", "C", "")];
    let sorted = store
        .new_items(st.id, doc.clone())
        .await
        .expect("new items");
    assert_eq!(format!("{:?}", sorted.items), format!("{doc:?}"));
    assert!(sorted.shared.is_empty());
}

/// `(feed row id, items)` ingested while the database thread is held, all at once.
async fn ingest_together(
    store: &Store,
    batches: Vec<(i64, Ingest)>,
) -> Vec<Result<IngestReport, StoreError>> {
    let (release, holding) = store.owner.hold().await;
    let calls: Vec<_> = batches
        .into_iter()
        .map(|(id, batch)| {
            let s = store.clone();
            tokio::spawn(async move { s.ingest(id, "http://f/", batch).await })
        })
        .collect();
    // On this single-threaded runtime each yield lets the spawned calls reach the queue.
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
    release.send(()).expect("release");
    holding.await.expect("join");
    let mut out = Vec::new();
    for c in calls {
        out.push(c.await.expect("join"));
    }
    out
}

#[tokio::test]
async fn ingests_waiting_together_commit_once_at_the_strictest_durability() {
    let (_dir, store) = open().await;
    let mut ids = Vec::new();
    for url in ["http://f/", "http://g/", "http://h/"] {
        let st = store
            .feed_state(&FeedId::from_stored(url.into()))
            .await
            .expect("state");
        ids.push(st.id);
    }
    let reports = ingest_together(
        &store,
        vec![
            (
                ids[0],
                Ingest::batch(vec![item("a")], vec![alert(0, "mail")], 1),
            ),
            (ids[1], Ingest::batch(vec![item("b")], vec![], 1)),
            (ids[2], Ingest::batch(vec![item("c"), item("d")], vec![], 1)),
        ],
    )
    .await;
    let reports: Vec<IngestReport> = reports.into_iter().map(|r| r.expect("ingest")).collect();
    assert_eq!(
        reports,
        [
            IngestReport {
                items: 1,
                alerts: 1
            },
            IngestReport {
                items: 1,
                alerts: 0
            },
            IngestReport {
                items: 2,
                alerts: 0
            },
        ]
    );
    // One by one, the last two would have left NORMAL behind.
    assert_eq!(
        synchronous(&store).await,
        2,
        "one commit, at FULL for the alert"
    );
    assert_eq!(store.due_alerts(1, 10).await.expect("due").len(), 1);
}

#[tokio::test]
async fn a_failing_ingest_among_others_waiting_fails_alone() {
    let (_dir, store) = open().await;
    let (_, st) = feed(&store).await;
    let g = store
        .feed_state(&FeedId::from_stored("http://g/".into()))
        .await
        .expect("state");
    // No feed row 9999: its items break the foreign key.
    let reports = ingest_together(
        &store,
        vec![
            (
                st.id,
                Ingest::batch(vec![item("a")], vec![alert(0, "mail")], 1),
            ),
            (9999, Ingest::batch(vec![item("x")], vec![], 1)),
            (g.id, Ingest::batch(vec![item("b")], vec![], 1)),
        ],
    )
    .await;
    assert!(
        matches!(&reports[1], Err(StoreError::Query { .. })),
        "{:?}",
        reports[1]
    );
    assert_eq!(
        reports[0].as_ref().expect("first feed"),
        &IngestReport {
            items: 1,
            alerts: 1
        }
    );
    assert_eq!(
        reports[2].as_ref().expect("third feed"),
        &IngestReport {
            items: 1,
            alerts: 0
        }
    );
    for (id, key) in [(st.id, "a"), (g.id, "b")] {
        let known = store.known_items(id, &[item(key)]).await.expect("known");
        assert_eq!(keys(known), vec![key.to_string()], "{key} is stored");
    }
    assert_eq!(store.due_alerts(1, 10).await.expect("due").len(), 1);
}

/// An item keyed `key` on the shared page `http://example.org/page`, titled `title`, with
/// `text` as its summary.
fn on_page(key: &str, title: &str, text: &str) -> Item {
    Item {
        link: Some("http://example.org/page".into()),
        title: title.into(),
        summary: text.into(),
        ..item(key)
    }
}

#[tokio::test]
async fn entries_sharing_a_page_are_the_same_item_only_with_the_same_title_and_text() {
    let (_dir, store) = open().await;
    let (feed, st) = feed(&store).await;
    let first = Ingest::batch(vec![on_page("k1", "Update", "one")], vec![], 1);
    store
        .ingest(st.id, feed.as_str(), first)
        .await
        .expect("ingest");
    let doc = [
        on_page("k2", "Update", "two"),   // same title, new text: a new entry
        on_page("k3", "Incident", "one"), // new title: a new entry
        on_page("k4", "Update", "one"),   // the first one under a new key
        on_page("k1", "Update", "one"),   // the first one
    ];
    let known = store.known_items(st.id, &doc).await.expect("known");
    assert_eq!(keys(known), vec!["k1".to_string(), "k4".to_string()]);
    // Once two stored items share the page, it stays shared when the document shows only
    // one entry of it.
    let second = Ingest::batch(vec![on_page("k2", "Update", "two")], vec![], 2);
    store
        .ingest(st.id, feed.as_str(), second)
        .await
        .expect("ingest");
    let known = store
        .known_items(st.id, &[on_page("k5", "Update", "three")])
        .await
        .expect("known");
    assert!(known.is_empty(), "{known:?}");
    // A page no other item shares: an edit of the text is the same story.
    let mut edited = item("b2");
    edited.link = Some("http://example.org/a".into());
    edited.summary = "edited".into();
    edited.title = "title a".into();
    let lone = Ingest::batch(vec![item("a")], vec![], 3);
    store
        .ingest(st.id, feed.as_str(), lone)
        .await
        .expect("ingest");
    let known = store.known_items(st.id, &[edited]).await.expect("known");
    assert_eq!(keys(known), vec!["b2".to_string()]);
}

/// A store whose feed has one item, `old`, first seen at 10 and pruned since.
async fn with_old_item_pruned() -> (tempfile::TempDir, Store, FeedState) {
    let (dir, store) = open().await;
    let (feed, st) = feed(&store).await;
    let b = Ingest::batch(vec![item("old")], vec![], 10);
    store.ingest(st.id, feed.as_str(), b).await.expect("ingest");
    assert_eq!(store.prune_before(20).await.expect("prune"), 1);
    (dir, store, st)
}

#[tokio::test]
async fn a_pruned_tombstone_suppresses_only_its_own_item() {
    let (_dir, store, st) = with_old_item_pruned().await;
    let same_link = |key: &str, title: &str| Item {
        link: Some("http://example.org/old?utm_source=x".into()),
        title: title.into(),
        ..item(key)
    };
    // One document per case: two entries on one page would make it a shared page.
    for (doc, known) in [
        (item("old"), true),                        // itself, by key
        (same_link("migrated", "title old"), true), // itself under a new GUID
        (same_link("next", "a new story"), false),  // another item on that page
    ] {
        let key = doc.key.clone();
        let found = store.known_items(st.id, &[doc]).await.expect("known");
        assert_eq!(found.contains(&key), known, "{key}");
    }
}

/// Stores items `a` and `b` at `now`, each with an alert to `mail`; returns those alerts.
async fn queue_two(store: &Store, now: i64) -> Vec<Alert> {
    let (feed, st) = feed(store).await;
    let b = Ingest::batch(
        vec![item("a"), item("b")],
        vec![alert(0, "mail"), alert(1, "mail")],
        now,
    );
    store.ingest(st.id, feed.as_str(), b).await.expect("ingest");
    store.due_alerts(now, 10).await.expect("due")
}

#[tokio::test]
async fn failed_alert_waits_until_retry_time_and_dead_never_returns() {
    let (_dir, store) = open().await;
    let due = queue_two(&store, 10).await;
    assert_eq!(due.len(), 2);
    assert_ne!(due[0].uid, due[1].uid);
    store
        .mark_failed(due[0].id, "connection refused", Some(Retry::at(70)))
        .await
        .expect("fail");
    store
        .mark_failed(due[1].id, "550 no such user", None)
        .await
        .expect("dead");
    assert!(store.due_alerts(69, 10).await.expect("due").is_empty());
    let again = store.due_alerts(70, 10).await.expect("due");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    store.mark_sent(again[0].id, 71).await.expect("sent");
    assert_eq!(store.undelivered_count().await.expect("count"), 0);
    assert_eq!(
        store.alert_counts().await.expect("counts"),
        vec![(AlertStatus::Dead, 1), (AlertStatus::Sent, 1)]
    );
}

/// `feedwatch once` asks for every alert due by the end of time (it skips feedwatch's own
/// back-off) at `now`: those a server held past `now` with Retry-After must not come back.
#[tokio::test]
async fn a_servers_retry_after_holds_an_alert_even_when_the_back_off_is_skipped() {
    let (_dir, store) = open().await;
    let due = queue_two(&store, 10).await;
    let (held, backed_off) = (due[0].id, due[1].id);
    let asked = Retry {
        at: 3611,
        not_before: Some(3611),
    };
    store
        .mark_failed(held, "HTTP 429", Some(asked))
        .await
        .expect("429");
    (store.mark_failed(backed_off, "HTTP 500", Some(Retry::at(70))))
        .await
        .expect("500");
    let ids = |alerts: Vec<Alert>| alerts.iter().map(|a| a.id).collect::<Vec<_>>();
    let once_at = async |now| {
        ids(store
            .due_alerts_for("mail", now, i64::MAX, 10)
            .await
            .expect("due"))
    };
    assert_eq!(
        once_at(20).await,
        vec![backed_off],
        "own back-off skipped, not the server's"
    );
    assert!(
        store.due_alerts(20, 10).await.expect("due").is_empty(),
        "the daemon waits for both"
    );
    assert_eq!(
        store.due_notifiers(20, i64::MAX).await.expect("due"),
        vec!["mail"]
    );
    assert_eq!(
        store.server_holds(20).await.expect("holds"),
        Some(ServerHold {
            alerts: 1,
            until: 3611
        })
    );
    let listed = store.list_alerts(None, 10).await.expect("list");
    let not_before: Vec<_> = listed.iter().map(|r| (r.id, r.not_before)).collect();
    assert_eq!(not_before, vec![(backed_off, None), (held, Some(3611))]);

    // Alerts deferred behind a Retry-After are held by it too; a shorter hold never shortens it.
    store.defer(&[backed_off], asked).await.expect("defer");
    let shorter = Retry {
        at: 100,
        not_before: Some(100),
    };
    store
        .defer(&[backed_off, held], shorter)
        .await
        .expect("defer");
    store
        .defer(&[backed_off], Retry::at(200))
        .await
        .expect("defer");
    assert!(once_at(3610).await.is_empty(), "both held until 3611");
    assert!(
        store
            .due_notifiers(3610, i64::MAX)
            .await
            .expect("due")
            .is_empty()
    );
    assert_eq!(
        store
            .server_holds(3610)
            .await
            .expect("holds")
            .map(|h| h.alerts),
        Some(2)
    );
    assert_eq!(once_at(3611).await, vec![held, backed_off]);
    assert_eq!(store.server_holds(3611).await.expect("holds"), None);

    // `alerts retry ID` is the operator's explicit order: it lifts the server's hold.
    assert!(store.requeue(held, 30).await.expect("requeue"));
    assert_eq!(once_at(30).await, vec![held]);
    assert_eq!(
        ids(store.due_alerts(30, 10).await.expect("due")),
        vec![held]
    );
    // Giving up forgets the hold: requeued from dead, the alert goes at once.
    store
        .mark_failed(backed_off, "HTTP 400", None)
        .await
        .expect("dead");
    assert_eq!(store.requeue_dead(40).await.expect("requeue"), 1);
    assert_eq!(once_at(40).await, vec![held, backed_off]);
}

#[tokio::test]
async fn failures_count_up_and_reset_on_success() {
    let (_dir, store) = open().await;
    let (feed, st) = feed(&store).await;
    for now in [1, 2] {
        store
            .record_failure(st.id, feed.as_str(), now, "boom", &[])
            .await
            .expect("fail");
    }
    let failing = store.feed_state(&feed).await.expect("state");
    assert_eq!(failing.last_error.as_deref(), Some("boom"));
    assert_eq!(
        (failing.consecutive_failures, failing.failing_since),
        (2, Some(1))
    );
    assert!(!failing.health_alerted);
    store
        .record_failure(st.id, feed.as_str(), 3, "boom", &[alert(0, "mail")])
        .await
        .expect("fail with health alert");
    assert!(store.feed_state(&feed).await.expect("state").health_alerted);
    assert_eq!(
        store.due_alerts(3, 10).await.expect("due").len(),
        1,
        "health alert queued"
    );
    store
        .record_not_modified(st.id, feed.as_str(), &[], 4, None)
        .await
        .expect("304");
    let st = store.feed_state(&feed).await.expect("state");
    assert_eq!((st.consecutive_failures, st.last_error), (0, None));
    assert_eq!((st.failing_since, st.health_alerted), (None, false));
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    {
        let store = Store::open(&path).await.expect("open");
        let (feed, st) = feed(&store).await;
        let b = Ingest::batch(vec![item("a")], vec![alert(0, "mail")], 5);
        store.ingest(st.id, feed.as_str(), b).await.expect("ingest");
    }
    let store = Store::open(&path).await.expect("reopen");
    assert_eq!(store.undelivered_count().await.expect("count"), 1);
    assert_eq!(store.items_since(0).await.expect("items").len(), 1);
}

#[tokio::test]
async fn one_story_alerts_once_per_rule_and_notifier_across_feeds() {
    let (_dir, store) = open().await;
    for (n, url) in ["http://a/", "http://b/"].iter().enumerate() {
        let feed = FeedId::from_stored((*url).into());
        let st = store.feed_state(&feed).await.expect("state");
        let mut a = alert(0, "mail");
        a.story = "https://news.example/story".into();
        let b = Ingest::batch(vec![item(&format!("k{n}"))], vec![a], 1);
        let r = store.ingest(st.id, feed.as_str(), b).await.expect("ingest");
        assert_eq!(r.items, 1);
        assert_eq!(r.alerts, usize::from(n == 0), "feed {url}");
    }
}

#[tokio::test]
async fn digest_alerts_wait_in_their_queue_and_are_sent_together() {
    let (_dir, store) = open().await;
    let (feed, st) = feed(&store).await;
    let mut alerts = vec![alert(0, "mail"), alert(1, "mail"), alert(2, "mail")];
    alerts[0].digest = Some("1h".into());
    alerts[1].digest = Some("1h".into());
    let b = Ingest::batch(vec![item("a"), item("b"), item("c")], alerts, 100);
    store.ingest(st.id, feed.as_str(), b).await.expect("ingest");
    assert_eq!(
        store.due_alerts(100, 10).await.expect("due").len(),
        1,
        "digest alerts are not single"
    );
    assert_eq!(
        store.undelivered_count().await.expect("n"),
        1,
        "waiting for a digest is not undelivered"
    );
    let q = store.digest_queues().await.expect("queues");
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].count, q[0].oldest, q[0].last_sent), (2, 100, None));
    let batch_alerts = store.digest_alerts("mail", "1h").await.expect("alerts");
    let ids: Vec<i64> = batch_alerts.iter().map(|a| a.id).collect();
    store
        .mark_digest_sent("mail", "1h", &ids, 200)
        .await
        .expect("sent");
    assert!(store.digest_queues().await.expect("queues").is_empty());
    assert_eq!(store.rule_alerts_since("r", 0).await.expect("count"), 1);
}

#[tokio::test]
async fn listing_and_requeue() {
    let (_dir, store) = open().await;
    let due = queue_two(&store, 1).await;
    for a in &due {
        store
            .mark_failed(a.id, "550 nope", None)
            .await
            .expect("dead");
    }
    let dead = store
        .list_alerts(Some(AlertStatus::Dead), 10)
        .await
        .expect("list");
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].status, AlertStatus::Dead);
    assert_eq!(dead[0].last_error.as_deref(), Some("550 nope"));
    assert!(store.requeue(due[0].id, 5).await.expect("requeue"));
    assert!(!store.requeue(999, 5).await.expect("no such alert"));
    assert_eq!(store.requeue_dead(5).await.expect("requeue dead"), 1);
    assert_eq!(store.due_alerts(5, 10).await.expect("due").len(), 2);
    let json =
        serde_json::to_value(&store.list_alerts(None, 1).await.expect("list")[0]).expect("json");
    assert_eq!(json["status"], "pending", "listed by its stored name");
}

#[tokio::test]
async fn prune_keeps_keys_as_tombstones() {
    let (_dir, store, st) = with_old_item_pruned().await;
    assert_eq!(store.prune_before(20).await.expect("prune again"), 0);
    assert!(
        store.items_since(0).await.expect("items").is_empty(),
        "bodies are gone"
    );
    let known = store
        .known_items(st.id, &[item("old")])
        .await
        .expect("known");
    assert_eq!(
        keys(known),
        vec!["old".to_string()],
        "the key still dedupes"
    );
    let rows = store.feeds_overview().await.expect("overview");
    assert_eq!(rows[0].items, 1);
}

#[tokio::test]
async fn prune_empties_only_bodies_older_than_keep() {
    let (_dir, store) = open().await;
    let (feed, st) = feed(&store).await;
    for (key, seen) in [("old", 99), ("kept", 100)] {
        let b = Ingest::batch(vec![item(key)], vec![], seen);
        store.ingest(st.id, feed.as_str(), b).await.expect("ingest");
    }
    store.prune(Duration::from_secs(100), 200).await;
    let left: Vec<String> = store
        .items_since(0)
        .await
        .expect("items")
        .into_iter()
        .map(|s| s.item.key.as_str().to_string())
        .collect();
    assert_eq!(
        left,
        vec!["kept".to_string()],
        "pruned: first seen before 200 - 100"
    );
}

/// `PRAGMA synchronous` of the store's connection: 1 is NORMAL, 2 is FULL.
async fn synchronous(store: &Store) -> i64 {
    store
        .read(|conn| Ok(conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?))
        .await
        .expect("pragma")
}

type Call<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + 'a>>;

#[tokio::test]
async fn reads_leave_synchronous_as_the_last_write_set_it() {
    let (_dir, store) = open().await;
    let (feed, st) = feed(&store).await;
    let b = Ingest::batch(vec![item("a")], vec![alert(0, "mail")], 1);
    store.ingest(st.id, feed.as_str(), b).await.expect("ingest");
    assert_eq!(synchronous(&store).await, 2, "an alert commits at FULL");
    store
        .set_next_poll(st.id, 60, Duration::from_secs(60))
        .await
        .expect("bookkeeping");
    assert_eq!(
        synchronous(&store).await,
        1,
        "bookkeeping commits at NORMAL"
    );
    let s = &store;
    let reads: Vec<(&str, Call<'_>)> = vec![
        (
            "feed_state",
            Box::pin(async { s.feed_state(&feed).await.map(drop) }),
        ),
        (
            "known_items",
            Box::pin(async { s.known_items(st.id, &[item("a")]).await.map(drop) }),
        ),
        (
            "links_in_feed",
            Box::pin(async { s.links_in_feed(st.id, &[item("a")]).await.map(drop) }),
        ),
        (
            "new_items",
            Box::pin(async { s.new_items(st.id, vec![item("a")]).await.map(drop) }),
        ),
        (
            "feeds_overview",
            Box::pin(async { s.feeds_overview().await.map(drop) }),
        ),
        (
            "due_alerts",
            Box::pin(async { s.due_alerts(1, 10).await.map(drop) }),
        ),
        (
            "next_attempt_at",
            Box::pin(async { s.next_attempt_at().await.map(drop) }),
        ),
        (
            "digest_queues",
            Box::pin(async { s.digest_queues().await.map(drop) }),
        ),
        (
            "digest_alerts",
            Box::pin(async { s.digest_alerts("mail", "1h").await.map(drop) }),
        ),
        (
            "rule_alerts_since",
            Box::pin(async { s.rule_alerts_since("r", 0).await.map(drop) }),
        ),
        (
            "list_alerts",
            Box::pin(async { s.list_alerts(None, 10).await.map(drop) }),
        ),
        (
            "undelivered_count",
            Box::pin(async { s.undelivered_count().await.map(drop) }),
        ),
        (
            "feed_health",
            Box::pin(async { s.feed_health().await.map(drop) }),
        ),
        (
            "alert_counts",
            Box::pin(async { s.alert_counts().await.map(drop) }),
        ),
        (
            "items_since",
            Box::pin(async { s.items_since(0).await.map(drop) }),
        ),
    ];
    for (name, read) in reads {
        read.await.expect(name);
        assert_eq!(synchronous(&store).await, 1, "{name} switched synchronous");
    }
    let due = store.due_alerts(1, 10).await.expect("due");
    store.mark_sent(due[0].id, 2).await.expect("sent");
    assert_eq!(synchronous(&store).await, 2, "the outbox commits at FULL");
}

/// Bound on a 50 ms timer's lateness: far below the 10 s a blocked runtime would add.
const TIMER_SLACK: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "current_thread")]
async fn a_store_call_waiting_for_a_lock_does_not_block_the_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let store = Store::open(&path).await.expect("open");
    let (_, st) = feed(&store).await;
    // Another process holds the write lock: the store's write waits (busy_timeout, 10 s).
    let other = Connection::open(&path).expect("second connection");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let write = tokio::spawn({
        let store = store.clone();
        async move { store.set_gone(st.id, 7).await }
    });
    // On this runtime's only thread, a timer still fires on time meanwhile.
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let late = started.elapsed();
    assert!(late < TIMER_SLACK, "the timer fired after {late:?}");
    assert!(!write.is_finished(), "the write waits for the lock");
    other.execute_batch("COMMIT").expect("release the lock");
    write
        .await
        .expect("task")
        .expect("write after the lock is released");
    let (_, st) = feed(&store).await;
    assert_eq!(st.gone_at, Some(7));
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let store = Store::open(&path).await.expect("open");
    feed(&store).await;
    let wal = dir.path().join("db-wal");
    assert!(wal.exists(), "WAL mode keeps a log beside the database");
    let clone = store.clone();
    drop(store);
    assert!(wal.exists(), "a clone keeps the database open");
    drop(clone);
    // SQLite checkpoints and removes the WAL when its last connection closes.
    assert!(
        !wal.exists(),
        "closed by the time the last handle is dropped"
    );
}

#[tokio::test]
async fn alert_statuses_round_trip_through_sql_by_name() {
    let (_dir, store) = open().await;
    for status in AlertStatus::ALL {
        let (name, back) = store
            .read(move |conn| {
                Ok(conn.query_row("SELECT ?1, ?1", params![status], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, AlertStatus>(1)?))
                })?)
            })
            .await
            .expect("round trip");
        assert_eq!((name.as_str(), back), (status.as_str(), status));
    }
    let unknown = store
        .read(|conn| Ok(conn.query_row("SELECT 'lost'", [], |r| r.get::<_, AlertStatus>(0))?))
        .await;
    assert!(
        unknown.is_err(),
        "an unknown status is an error, not a guess"
    );
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    meta.permissions().mode() & 0o777
}

#[tokio::test]
async fn a_new_database_and_its_new_folders_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let existing = dir.path().join("existing");
    std::fs::create_dir(&existing).expect("mkdir");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let store = Store::open(&existing.join("new/deeper/fw.db"))
        .await
        .expect("open");
    feed(&store).await; // a write: the WAL and its index exist now
    let _lock = store.try_delivery_lock().expect("lock").expect("free");
    for (file, want) in [
        ("existing", 0o755), // not created by feedwatch: left as it is
        ("existing/new", 0o700),
        ("existing/new/deeper", 0o700),
        ("existing/new/deeper/fw.db", 0o600),
        ("existing/new/deeper/fw.db-wal", 0o600),
        ("existing/new/deeper/fw.db-shm", 0o600),
        ("existing/new/deeper/fw.db.lock", 0o600),
    ] {
        assert_eq!(
            mode(&dir.path().join(file)),
            want,
            "{file}: {:o}",
            mode(&dir.path().join(file))
        );
    }
}

#[tokio::test]
async fn a_deleted_or_replaced_database_file_fails_writes_and_is_reported() {
    for replaced in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let path = state.join("fw.db");
        let store = Store::open(&path).await.expect("open");
        let (_, st) = feed(&store).await;
        store.check_file().await.expect("in place");
        if replaced {
            // A backup restored over the open file.
            let copy = dir.path().join("backup.db");
            std::fs::copy(&path, &copy).expect("copy");
            std::fs::rename(&copy, &path).expect("replace");
        } else {
            std::fs::remove_dir_all(&state).expect("rm -r the state folder");
        }
        let write = store.set_gone(st.id, 1).await;
        assert!(
            matches!(write, Err(StoreError::FileLost { .. })),
            "replaced: {replaced}: {write:?}"
        );
        assert!(
            store.lost.is_cancelled(),
            "the write's own check reports it"
        );
        let lost = tokio::time::timeout(
            Duration::from_secs(5),
            store.file_lost(Duration::from_secs(3600)),
        )
        .await
        .expect("reported at once");
        assert!(
            lost.to_string().contains("was deleted or replaced"),
            "{lost}"
        );
    }
}

#[tokio::test]
async fn a_database_file_in_place_is_never_reported_lost() {
    let (_dir, store) = open().await;
    let waited = tokio::time::timeout(
        Duration::from_millis(200),
        store.file_lost(Duration::from_millis(10)),
    )
    .await;
    assert!(waited.is_err(), "{waited:?}");
}

/// An alert for batch item `item` to `notifier` about `story`, matched by `rules`.
fn story_alert(item: usize, notifier: &str, story: &str, rules: &[&str]) -> NewAlert {
    let mut a = alert(item, notifier);
    a.story = story.to_string();
    let matches = rules
        .iter()
        .map(|r| crate::domain::RuleMatch {
            rule: (*r).to_string(),
            query: (*r).to_string(),
            terms: Vec::new(),
        })
        .collect();
    a.payload = AlertPayload::for_rules(a.payload, matches);
    a.payload.feed_name = format!("feed of {item}");
    a
}

/// Ingests one item keyed `key` into the feed at `url` with `alerts`; returns alerts queued.
async fn ingest_at(store: &Store, url: &str, key: &str, alerts: Vec<NewAlert>) -> usize {
    ingest_with(store, url, key, alerts, |b| b).await
}

/// [`ingest_at`] with the batch changed by `with` first.
async fn ingest_with(
    store: &Store,
    url: &str,
    key: &str,
    mut alerts: Vec<NewAlert>,
    with: impl FnOnce(Ingest) -> Ingest,
) -> usize {
    let feed = FeedId::from_stored(url.into());
    let st = store.feed_state(&feed).await.expect("state");
    for a in &mut alerts {
        a.payload.feed_url = url.to_string();
        a.payload.feed_name = format!("feed {url}");
    }
    let b = with(Ingest::batch(vec![item(key)], alerts, 1));
    let r = store.ingest(st.id, feed.as_str(), b).await;
    r.expect("ingest").alerts
}

#[tokio::test]
async fn a_queued_story_takes_in_later_rules_and_sources_and_a_sent_one_is_left_alone() {
    let (_dir, store) = open().await;
    let s = "https://news.example/story";
    let both = story_alert(0, "mail", s, &["moscow-format", "kabulov"]);
    assert_eq!(ingest_at(&store, "http://a/", "k1", vec![both]).await, 1);
    // The same story in another feed, matched by a third rule: no second alert.
    let third = story_alert(0, "mail", s, &["taliban"]);
    assert_eq!(ingest_at(&store, "http://b/", "k2", vec![third]).await, 0);
    let due = store.due_alerts(1, 10).await.expect("due");
    assert_eq!(due.len(), 1, "{due:#?}");
    let p = &due[0].payload;
    assert_eq!(p.rule_names(), vec!["moscow-format", "kabulov", "taliban"]);
    assert_eq!(p.sources.len(), 1, "{p:#?}");
    assert_eq!(p.sources[0].feed_url, "http://b/");
    let rows = store.list_alerts(None, 10).await.expect("list");
    assert_eq!(rows[0].rule, "moscow-format, kabulov, taliban");
    // The flood guard counts the story for each of its rules.
    for rule in ["moscow-format", "kabulov", "taliban"] {
        assert_eq!(store.rule_alerts_since(rule, 0).await.expect("count"), 1);
    }
    assert_eq!(store.rule_alerts_since("other", 0).await.expect("count"), 0);
    // Once sent, the alert is what the user got: a later copy changes nothing.
    store.mark_sent(due[0].id, 2).await.expect("sent");
    let fourth = story_alert(0, "mail", s, &["fourth"]);
    assert_eq!(ingest_at(&store, "http://c/", "k3", vec![fourth]).await, 0);
    let rows = store.list_alerts(None, 10).await.expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].rule, "moscow-format, kabulov, taliban");
    // Another notifier has its own alert.
    let other = story_alert(0, "hook", s, &["kabulov"]);
    assert_eq!(ingest_at(&store, "http://c/", "k4", vec![other]).await, 1);
}

#[tokio::test]
async fn per_rule_grouping_alerts_once_per_story_and_rule() {
    let (_dir, store) = open().await;
    let s = "https://news.example/story";
    let per_rule = |rule: &str| {
        let mut a = story_alert(0, "mail", s, &[rule]);
        a.grouping = Grouping::Rule;
        a
    };
    let first = vec![per_rule("moscow-format"), per_rule("kabulov")];
    assert_eq!(ingest_at(&store, "http://a/", "k1", first).await, 2);
    let again = vec![per_rule("kabulov"), per_rule("taliban")];
    assert_eq!(
        ingest_at(&store, "http://b/", "k2", again).await,
        1,
        "only the rule not yet alerted"
    );
    let due = store.due_alerts(1, 10).await.expect("due");
    let uids: HashSet<&str> = due.iter().map(|a| a.uid.as_str()).collect();
    assert_eq!(uids.len(), 3, "each its own message id");
    let kabulov = due
        .iter()
        .find(|a| a.payload.rule == "kabulov")
        .expect("kabulov alert");
    assert_eq!(kabulov.payload.rule_names(), vec!["kabulov"]);
    assert_eq!(kabulov.payload.sources.len(), 1, "the other feed is named");
}

/// A database file in `dir` at schema `version` (as an older feedwatch left it) holding the
/// rows `sql` inserts.
fn old_database(dir: &Path, version: usize, sql: &str) -> PathBuf {
    let path = dir.join(format!("v{version}.db"));
    let mut conn = Connection::open(&path).expect("open");
    schema::migrations_until(version)
        .to_latest(&mut conn)
        .expect("old schema");
    conn.execute_batch(sql).expect("old rows");
    let stored: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("version");
    assert_eq!(usize::try_from(stored).ok(), Some(version));
    path
}

#[tokio::test]
async fn a_database_made_by_the_old_schema_keeps_its_alerts_and_does_not_alert_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    // What feedwatch before issue 12 left: one alert per item, rule and notifier.
    let path = old_database(
        dir.path(),
        1,
        r#"INSERT INTO feeds (id, url) VALUES (1, 'http://a/');
            INSERT INTO items (id, feed_id, key, title, summary, content, authors, categories,
                               first_seen_at, link_key)
                VALUES (1, 1, 'guid:1', 'Russia Invites Taliban', '', '', '[]', '[]', 50,
                        'https://news.example/story');
            INSERT INTO alerts (uid, item_id, rule, notifier, payload, status, attempts,
                                created_at, next_attempt_at, sent_at, story, digest)
                VALUES ('old-sent', 1, 'moscow-format', 'mail',
                        '{"rule":"moscow-format","query":"q","matched":["Kabulov"],"feed_name":"A","feed_url":"http://a/","title":"Russia Invites Taliban","link":null,"published":null,"snippet":"Kabulov said","highlights":[[0,7]]}',
                        'sent', 1, 50, 50, 51, 'https://news.example/story', NULL),
                       ('old-pending', 1, 'kabulov', 'mail',
                        '{"rule":"kabulov","query":"Kabulov","matched":["Kabulov"],"feed_name":"A","feed_url":"http://a/","title":"Russia Invites Taliban","link":null,"published":null,"snippet":"Kabulov said","highlights":[[0,7]],"summary":"lead"}',
                        'pending', 0, 50, 50, NULL, 'https://news.example/story', NULL);"#,
    );
    let store = Store::open(&path).await.expect("migrates");
    let rows = store.list_alerts(None, 10).await.expect("list");
    let by_uid = |uid: &str| rows.iter().find(|r| r.uid == uid).expect("row kept");
    assert_eq!(by_uid("old-sent").status, AlertStatus::Sent);
    assert_eq!(by_uid("old-sent").sent_at, Some(51));
    assert_eq!(by_uid("old-pending").status, AlertStatus::Pending);
    assert_eq!(by_uid("old-pending").rule, "kabulov");
    // The pending one is still delivered, readable as an alert of its one rule.
    let due = store.due_alerts(60, 10).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].uid, "old-pending");
    assert_eq!(due[0].payload.rule_names(), vec!["kabulov"]);
    assert_eq!(
        due[0].payload.rule_matches()[0].terms[0].snippet,
        "Kabulov said"
    );
    // The same story from another feed after the upgrade: already alerted, not again.
    let again = story_alert(
        0,
        "mail",
        "https://news.example/story",
        &["moscow-format", "kabulov"],
    );
    assert_eq!(ingest_at(&store, "http://b/", "k2", vec![again]).await, 0);
    assert_eq!(store.list_alerts(None, 10).await.expect("list").len(), 2);
    assert_eq!(
        store
            .rule_alerts_since("moscow-format", 0)
            .await
            .expect("n"),
        1
    );
    // A story the old alerts never saw alerts as one story.
    let new = story_alert(
        0,
        "mail",
        "https://news.example/other",
        &["moscow-format", "kabulov"],
    );
    assert_eq!(ingest_at(&store, "http://b/", "k3", vec![new]).await, 1);
}

/// A database schema version 5 left (before Retry-After was stored apart) migrates with its
/// queued alerts as they were: no server hold, the same next attempt.
#[tokio::test]
async fn a_database_from_before_server_holds_keeps_its_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = old_database(
        dir.path(),
        5,
        r#"INSERT INTO alerts (uid, item_id, grouping, rule, rules, notifier, payload, status,
                                attempts, created_at, next_attempt_at, story, digest)
                VALUES ('backed-off', NULL, 'r', 'r', '["r"]', 'mail',
                        '{"rule":"r","query":"q","matched":[],"feed_name":"A","feed_url":"http://a/","title":"T","link":null,"published":null,"snippet":"","highlights":[]}',
                        'retry', 2, 50, 500, 'story-1', NULL);"#,
    );
    let store = Store::open(&path).await.expect("migrates");
    let rows = store.list_alerts(None, 10).await.expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].status, rows[0].attempts), (AlertStatus::Retry, 2));
    assert_eq!(
        (rows[0].next_attempt_at, rows[0].not_before),
        (Some(500), None)
    );
    assert!(
        store.due_alerts(60, 10).await.expect("due").is_empty(),
        "back-off kept"
    );
    let once = store
        .due_alerts_for("mail", 60, i64::MAX, 10)
        .await
        .expect("due");
    assert_eq!(once.len(), 1, "`once` still skips feedwatch's own back-off");
    assert_eq!(store.server_holds(60).await.expect("holds"), None);
}

/// [`story_alert`] with the sketch of `title` and `lead`.
fn sketched(story: &str, title: &str, lead: &str) -> NewAlert {
    let mut a = story_alert(0, "mail", story, &["kabulov"]);
    a.payload.title = title.to_string();
    a.sketch = Some(Sketch::of(title, lead));
    a
}

/// Ingests `alert`'s item into the feed at `url` with copies compared as `copies` says.
async fn ingest_copy(
    store: &Store,
    url: &str,
    key: &str,
    alert: NewAlert,
    copies: Option<Copies>,
    now: i64,
) -> usize {
    ingest_with(store, url, key, vec![alert], |b| Ingest {
        copies,
        now,
        ..b
    })
    .await
}

#[tokio::test]
async fn a_copy_under_another_link_within_the_window_joins_the_queued_alert() {
    let (_dir, store) = open().await;
    let lead = "Russia has invited representatives of the Taliban to talks in Moscow on Oct. 20, Kremlin envoy Zamir Kabulov said on Thursday.";
    let copies = |now: i64| {
        Some(Copies {
            since: now - 48 * 3600,
            similarity: 0.8,
        })
    };
    let original = sketched(
        "https://mt.example/a",
        "Russia Invites Taliban for Afghan Talks",
        lead,
    );
    assert_eq!(
        ingest_copy(&store, "http://a/", "k1", original, copies(1000), 1000).await,
        1
    );
    let wire = sketched(
        "https://wire.example/b",
        "Russia invites Taliban for Afghan talks — Reuters",
        lead,
    );
    assert_eq!(
        ingest_copy(&store, "http://b/", "k2", wire.clone(), copies(2000), 2000).await,
        0,
        "a copy"
    );
    let due = store.due_alerts(2000, 10).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].payload.sources.len(), 1, "{:#?}", due[0].payload);
    assert_eq!(
        due[0].payload.sources[0].title,
        "Russia invites Taliban for Afghan talks — Reuters"
    );
    // A different story with the same headline template alerts.
    let iran = sketched(
        "https://mt.example/c",
        "Russia invites Iran to Moscow talks",
        "Russia has invited Iran's foreign minister to Moscow for talks next week on the nuclear deal and the war in Syria, the Russian foreign ministry said on Monday.",
    );
    assert_eq!(
        ingest_copy(&store, "http://a/", "k3", iran, copies(2000), 2000).await,
        1
    );
    // The comparison off, or the original outside the window: the copy alerts.
    let mut again = wire.clone();
    again.story = "https://wire.example/d".into();
    assert_eq!(
        ingest_copy(&store, "http://c/", "k4", again.clone(), None, 3000).await,
        1
    );
    again.story = "https://wire.example/e".into();
    let later = 1000 + 49 * 3600;
    assert_eq!(
        ingest_copy(&store, "http://d/", "k5", again, copies(later), later).await,
        1
    );
}

#[tokio::test]
async fn a_feeds_own_items_are_never_copies_of_each_other() {
    let (_dir, store) = open().await;
    let copies = Some(Copies {
        since: 0,
        similarity: 0.8,
    });
    let lead = "Ukraine's air force said on Sunday it had shot down 40 of 52 drones launched by Russia overnight, mostly over the southern regions.";
    let first = sketched("https://news.example/1", "Drones overnight", lead);
    let second = sketched("https://news.example/2", "Drones overnight", lead);
    assert_eq!(
        ingest_copy(&store, "http://a/", "k1", first, copies, 10).await,
        1
    );
    assert_eq!(
        ingest_copy(&store, "http://a/", "k2", second, copies, 20).await,
        1
    );
}

#[tokio::test]
async fn a_failed_query_names_the_database_file() {
    let (dir, store) = open().await;
    let (_, st) = feed(&store).await;
    store.set_query_only(true).await.expect("refuse writes");
    let e = store
        .set_next_poll(st.id, 100, std::time::Duration::from_secs(60))
        .await
        .expect_err("refused");
    let chain = error_chain(&e);
    let path = dir.path().join("sub/feedwatch.db");
    assert!(
        chain.starts_with(&format!("query on database {} failed: ", path.display())),
        "{chain}"
    );
    assert!(chain.contains("readonly"), "{chain}");
}

#[tokio::test]
async fn a_truncated_database_is_refused_not_started_afresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fw.db");
    // An empty file nobody used (no lock file yet) is a new database.
    std::fs::write(&path, b"").expect("create");
    let store = Store::open(&path)
        .await
        .expect("an unused empty file opens");
    feed(&store).await;
    drop(store.try_delivery_lock().expect("lock").expect("free"));
    drop(store);
    // Truncated after use: refused, naming the file.
    for sidecar in ["fw.db-wal", "fw.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(sidecar));
    }
    std::fs::write(&path, b"").expect("truncate");
    let err = match Store::open(&path).await {
        Ok(_) => panic!("a truncated database opened as a new one"),
        Err(e) => e,
    };
    assert!(matches!(err, StoreError::Emptied { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_rules_alert_counts_as_far_as_its_furthest_notifier_got() {
    use AlertStatus::{Dead, Pending, Retry, Sent};
    let read = |pairs: &[(&str, AlertStatus)]| {
        let json: Vec<(&str, &str)> = pairs.iter().map(|(r, s)| (*r, s.as_str())).collect();
        alerts_by_rule(&serde_json::to_string(&json).expect("json"), 9).expect("readable")
    };
    assert_eq!(read(&[("a", Dead), ("a", Sent)]), vec![("a".into(), Sent)]);
    assert_eq!(
        read(&[("a", Pending), ("a", Dead)]),
        vec![("a".into(), Pending)]
    );
    assert_eq!(
        read(&[("a", Pending), ("a", Retry)]),
        vec![("a".into(), Retry)]
    );
    assert_eq!(
        read(&[("b", Dead), ("a", Sent), ("b", Retry)]),
        vec![("a".into(), Sent), ("b".into(), Retry)]
    );
    // A status this build does not know, or a damaged array, is an error, not "no alert".
    assert!(alerts_by_rule(r#"[["a","bounced"]]"#, 9).is_err());
    assert!(alerts_by_rule("not json", 9).is_err());
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_damaged_and_a_locked_one_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fw.db");
    std::fs::write(&path, vec![b'x'; 8192]).expect("write");
    let Err(err) = Store::open(&path).await else {
        panic!("opened a file that is not a database");
    };
    assert!(err.is_damaged(), "{err:?}");
    let other = StoreError::ReadOnly { path: path.clone() };
    assert!(!other.is_damaged());
    let busy = StoreError::Query {
        path,
        source: rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        ),
    };
    assert!(!busy.is_damaged());
}

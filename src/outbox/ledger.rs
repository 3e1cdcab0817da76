//! The ledger of deliveries a server accepted but the store could not record as sent (a full
//! or read-only disk, a database locked for longer than the busy timeout).
//!
//! Such an alert is still `pending` in the database, so whoever reads the queue next would send
//! it again — every half second, as long as the fault lasts: the storm of issue 10. Instead the
//! lane that could not record it writes it here and delivery pauses (every lane checks the
//! ledger before each send); the record is retried with back-off, and delivery resumes once
//! everything here is recorded. The fault is logged once, when delivery pauses, and once more
//! when it resumes; [`DeliveryHealth`] carries it to `/healthz`, the metrics and systemd's
//! STATUS line.
//!
//! The ledger lives in memory, shared by every lane and (in the daemon) across reloads. What is
//! still in it when the process ends is sent again on the next start: at most one duplicate
//! per alert, and only when the process ends during the fault.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

use crate::domain::error_chain;
use crate::store::{Store, StoreError};

/// First pause before trying again to record (and, in a lane, after a store error); it
/// doubles after each failed attempt up to [`STORE_RETRY_CAP`].
pub const STORE_RETRY_BASE: Duration = Duration::from_secs(1);
/// Longest pause between two attempts: also the longest delivery stays paused after the
/// database has recovered.
pub const STORE_RETRY_CAP: Duration = Duration::from_secs(15);

/// The pause after `failures` consecutive failed store attempts (1 or more).
pub fn store_backoff(failures: u32) -> Duration {
    STORE_RETRY_BASE
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)))
        .min(STORE_RETRY_CAP)
}

/// Whether deliveries are being recorded: what `/healthz`, the metrics and the STATUS line
/// show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DeliveryHealth {
    /// Every delivery so far is recorded.
    #[default]
    Recording,
    /// Delivery is paused: alerts were sent but the database refuses to record it.
    Paused {
        /// Alerts sent but not recorded as sent (a digest counts its alerts).
        unrecorded: usize,
        /// The database's error at the last attempt, with its causes.
        error: String,
    },
}

/// One delivery the store has not recorded yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unrecorded {
    /// A single alert, accepted at unix time `at`.
    Alert {
        /// Alert row id.
        id: i64,
        /// Unix seconds it was accepted.
        at: i64,
    },
    /// A digest: its alerts and its queue's last-sent time.
    Digest {
        /// Notifier name.
        notifier: String,
        /// Digest schedule label.
        schedule: String,
        /// The alerts it carried.
        ids: Vec<i64>,
        /// Unix seconds it was accepted.
        at: i64,
    },
}

impl Unrecorded {
    /// Writes the record that failed before.
    async fn record(&self, store: &Store) -> Result<(), StoreError> {
        match self {
            Unrecorded::Alert { id, at } => store.mark_sent(*id, *at).await,
            Unrecorded::Digest {
                notifier,
                schedule,
                ids,
                at,
            } => store.mark_digest_sent(notifier, schedule, ids, *at).await,
        }
    }

    /// How many alerts it carries.
    fn alerts(&self) -> usize {
        match self {
            Unrecorded::Alert { .. } => 1,
            Unrecorded::Digest { ids, .. } => ids.len(),
        }
    }

    /// The alert ids, for the log.
    fn ids(&self) -> Vec<i64> {
        match self {
            Unrecorded::Alert { id, .. } => vec![*id],
            Unrecorded::Digest { ids, .. } => ids.clone(),
        }
    }
}

/// Shared handle to the ledger. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// What waits to be recorded and when to try next. A lane holds the lock while it writes
    /// the records, so one lane retries at a time and the others wait for its answer.
    state: Mutex<State>,
    /// [`DeliveryHealth`] as of the last change, readable without the lock: lanes check it
    /// before every send; `/healthz`, the metrics and the status line subscribe to it.
    health: watch::Sender<DeliveryHealth>,
}

#[derive(Debug, Default)]
struct State {
    /// Oldest first.
    unrecorded: Vec<Unrecorded>,
    /// Failed attempts to record since delivery paused.
    failures: u32,
    /// Not before this instant; `None` while nothing waits.
    next_try: Option<Instant>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Follows [`DeliveryHealth`]: for `/healthz`, the metrics and the status line.
    pub fn health(&self) -> watch::Receiver<DeliveryHealth> {
        self.inner.health.subscribe()
    }

    /// Is delivery paused (something waits to be recorded)? Cheap: no lock, no store.
    pub fn is_paused(&self) -> bool {
        *self.inner.health.borrow() != DeliveryHealth::Recording
    }

    /// When the next attempt to record is due, while delivery is paused.
    pub async fn paused_until(&self) -> Option<Instant> {
        if !self.is_paused() {
            return None;
        }
        self.inner.state.lock().await.next_try
    }

    /// Remembers a delivery the store could not record (`error`) and pauses delivery. Logs
    /// the fault once, when delivery pauses.
    pub(super) async fn hold(&self, entry: Unrecorded, notifier: &str, error: &StoreError) {
        let mut st = self.inner.state.lock().await;
        let error = error_chain(error);
        if st.unrecorded.is_empty() {
            st.failures = 1;
            st.next_try = Some(Instant::now() + store_backoff(1));
            tracing::error!(alert_ids = ?entry.ids(), notifier, error = %error,
                "sent, but the database cannot record it as sent: delivery paused until it can \
                 (the record is retried with back-off; nothing else is sent meanwhile)");
        } else {
            tracing::debug!(alert_ids = ?entry.ids(), notifier, error = %error,
                "sent, but not recorded either; delivery stays paused");
        }
        st.unrecorded.push(entry);
        self.publish_paused(&st, error);
    }

    /// Lets a lane send: `Ok` when nothing waits to be recorded, or once everything that
    /// waited has now been recorded; `Err(when)` while the store still refuses (or before the
    /// next attempt is due), with when to ask again.
    pub async fn gate(&self, store: &Store) -> Result<(), Instant> {
        if !self.is_paused() {
            return Ok(());
        }
        let mut st = self.inner.state.lock().await;
        match st.next_try {
            Some(t) if Instant::now() < t => return Err(t),
            _ => {}
        }
        match self.record_all(&mut st, store).await {
            Ok(()) => Ok(()),
            Err(_) => Err(st.next_try.unwrap_or_else(Instant::now)),
        }
    }

    /// One last attempt to record what waits, whatever the back-off (at the end of `once`
    /// or of the daemon). What still fails is logged: it will be sent again.
    pub async fn settle(&self, store: &Store) -> Result<(), StoreError> {
        if !self.is_paused() {
            return Ok(());
        }
        let mut st = self.inner.state.lock().await;
        let result = self.record_all(&mut st, store).await;
        if result.is_err() {
            let ids: Vec<i64> = st.unrecorded.iter().flat_map(Unrecorded::ids).collect();
            tracing::error!(alert_ids = ?ids,
                "these alerts were sent but could not be recorded as sent: they will be sent \
                 again on the next start");
        }
        result
    }

    /// Records what waits, oldest first, until the store refuses; updates the schedule and
    /// the health either way.
    async fn record_all(&self, st: &mut State, store: &Store) -> Result<(), StoreError> {
        let mut recorded = 0;
        while let Some(entry) = st.unrecorded.first() {
            match entry.record(store).await {
                Ok(()) => {
                    recorded += entry.alerts();
                    st.unrecorded.remove(0);
                }
                Err(e) => {
                    st.failures = st.failures.saturating_add(1);
                    let wait = store_backoff(st.failures);
                    st.next_try = Some(Instant::now() + wait);
                    tracing::debug!(error = %error_chain(&e), attempt = st.failures,
                        retry_in_s = wait.as_secs(), "still cannot record sent alerts");
                    self.publish_paused(st, error_chain(&e));
                    return Err(e);
                }
            }
        }
        if recorded > 0 {
            tracing::info!(
                recorded,
                "the database records deliveries again: delivery resumes"
            );
        }
        st.failures = 0;
        st.next_try = None;
        self.inner.health.send_replace(DeliveryHealth::Recording);
        Ok(())
    }

    /// Publishes that delivery is paused, with the store's last `error`.
    fn publish_paused(&self, st: &State, error: String) {
        let unrecorded = st.unrecorded.iter().map(Unrecorded::alerts).sum();
        self.inner
            .health
            .send_replace(DeliveryHealth::Paused { unrecorded, error });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FeedId;
    use crate::domain::fixtures::{alert, item};
    use crate::store::Ingest;

    /// A store holding one pending alert (id returned) for notifier `n`.
    async fn store_with_one_alert(dir: &std::path::Path) -> (Store, i64) {
        let store = Store::open(&dir.join("db")).await.expect("open");
        let feed = FeedId::from_stored("http://f/".into());
        let st = store.feed_state(&feed).await.expect("state");
        let batch = Ingest::batch(vec![item("a")], vec![alert(0, "n")], 100);
        store
            .ingest(st.id, feed.as_str(), batch)
            .await
            .expect("ingest");
        let due = store.due_alerts(100, 10).await.expect("due");
        (store, due[0].id)
    }

    #[tokio::test]
    async fn an_unrecorded_delivery_pauses_until_the_store_records_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, id) = store_with_one_alert(dir.path()).await;
        store.set_query_only(true).await.expect("refuse writes");
        let e = store.mark_sent(id, 100).await.expect_err("refused");
        let ledger = Ledger::new();
        assert_eq!(*ledger.health().borrow(), DeliveryHealth::Recording);

        ledger
            .hold(Unrecorded::Alert { id, at: 100 }, "n", &e)
            .await;
        assert!(ledger.is_paused());
        assert!(
            matches!(&*ledger.health().borrow(), DeliveryHealth::Paused { unrecorded: 1, error }
                if error.contains("readonly")),
            "{:?}",
            ledger.health().borrow()
        );
        let until = ledger
            .gate(&store)
            .await
            .expect_err("paused, retry not due yet");
        assert!(until > Instant::now(), "back-off before the next attempt");
        assert!(ledger.settle(&store).await.is_err(), "still refused");
        assert!(ledger.is_paused(), "a failed attempt keeps delivery paused");

        store.set_query_only(false).await.expect("allow writes");
        ledger.settle(&store).await.expect("recorded");
        assert!(!ledger.is_paused());
        assert_eq!(*ledger.health().borrow(), DeliveryHealth::Recording);
        assert!(ledger.gate(&store).await.is_ok());
        assert_eq!(
            store.undelivered_count().await.expect("count"),
            0,
            "marked sent"
        );
    }

    #[test]
    fn store_backoff_doubles_from_base_to_cap() {
        let cases = [(1, 1), (2, 2), (3, 4), (4, 8), (5, 15), (40, 15)];
        for (failures, secs) in cases {
            assert_eq!(
                store_backoff(failures),
                Duration::from_secs(secs),
                "{failures}"
            );
        }
    }
}

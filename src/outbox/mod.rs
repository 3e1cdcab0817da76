//! The outbox: delivers queued alerts through their notifiers and records each outcome —
//! `sent`, `retry` with the error and the next attempt time, or `dead`. Digest queues are sent
//! as one message when their schedule comes round (times of day in the notifier's zone); alerts
//! held by quiet hours are such a queue, due when the quiet hours end. `feedwatch alerts flush`
//! makes every waiting queue due at once ([`Outbox::flush`]).
//!
//! Each notifier has its own **lane** (the `lane` module): a task that claims only that notifier's due
//! alerts, oldest first, and sleeps and wakes on its own, so a hung or slow server delays only
//! its own alerts. Alerts are marked `sent` the moment the server accepts them: the one window
//! in which a crash can cause a duplicate is between the server's "accepted" and that one-row
//! update. When that update fails (full disk, read-only or locked database) the delivery is
//! kept in the [`Ledger`] and every lane pauses until it can be recorded: at most one
//! duplicate per fault (if the process ends meanwhile), never a storm. After a transient
//! failure the rest of that notifier's alerts wait for the next attempt, so a server that is
//! down is not hammered once per alert.
//!
//! Stopping is bounded ([`Stop`]): a lane stops claiming at once; on shutdown the send in
//! flight gets [`SHUTDOWN_GRACE`] and is then abandoned (its alert stays queued). On a reload
//! the old lanes finish their send in the background and each new lane starts only once its
//! notifier's old lane has ended ([`Lanes`]), so two lanes never send the same alert.

mod lane;
mod ledger;

use std::collections::BTreeMap;
#[cfg(test)]
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Delivery, DigestSchedule};
use crate::domain::hash_hex;
use crate::notify::Notifier;
use crate::store::{Retry, Store, StoreError};
use lane::{Lane, PanicAlarm};
pub use ledger::{DeliveryHealth, Ledger, STORE_RETRY_BASE, STORE_RETRY_CAP};

/// How often a lane looks for due retries when nothing wakes it (also covers clock jumps).
pub const OUTBOX_TICK: Duration = Duration::from_secs(15);
/// How often a sleeping lane asks the database whether another process changed it
/// (`feedwatch alerts flush` or `alerts retry` beside the daemon): what they asked for is
/// sent within about this long, not at the next [`OUTBOX_TICK`].
pub const EXTERNAL_CHECK: Duration = Duration::from_secs(1);
/// How long a send in flight may go on after shutdown is asked for; then it is abandoned and
/// its alert stays queued. A healthy server answers in well under a second; this leaves a slow
/// one room to finish, and keeps a stop far inside systemd's 90 s stop timeout.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause before the next pass when something is already due (a retry time in the past).
const DUE_AGAIN: Duration = Duration::from_millis(500);
/// How long alerts for a notifier missing from the config wait before being looked at again.
const MISSING_NOTIFIER_RECHECK: Duration = Duration::from_secs(3600);
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Alerts delivered (digest members included).
    pub sent: usize,
    /// Failed transiently and scheduled again (or skipped behind such a failure).
    pub deferred: usize,
    /// Given up.
    pub dead: usize,
}

impl DeliveryReport {
    fn add(&mut self, other: DeliveryReport) {
        self.sent += other.sent;
        self.deferred += other.deferred;
        self.dead += other.dead;
    }
}

/// Delay before attempt number `attempts + 1`: `base` doubling up to `cap`, with ±10 %
/// jitter derived from the alert's uid (deterministic, so tests and retries agree, yet spread
/// across alerts so a recovering server is not hit by all of them in the same second).
pub fn retry_delay(policy: &Delivery, attempts: u32, uid: &str) -> Duration {
    let factor = 2u32.saturating_pow(attempts.min(30));
    let delay = policy
        .retry_base
        .saturating_mul(factor)
        .min(policy.retry_cap);
    let h = hash_hex(&[uid, &attempts.to_string()]);
    let r = u64::from_str_radix(&h[..4], 16).unwrap_or(0x8000); // 0..=65535
    // factor in [0.9, 1.1]
    let permille = 900 + (r * 200 / 65_535);
    delay.mul_f64(permille as f64 / 1000.0)
}

/// When a lane stops claiming alerts, and when a send in flight is abandoned.
#[derive(Debug, Clone)]
pub struct Stop {
    /// Cancelled when the lane's generation ends (a reload, or shutdown): no further alert is
    /// claimed; the send in flight finishes and is recorded.
    pub claiming: CancellationToken,
    /// Cancelled on shutdown: from then on the send in flight has `grace` to finish, then it
    /// is abandoned.
    pub shutdown: CancellationToken,
    /// See `shutdown`.
    pub grace: Duration,
}

impl Stop {
    /// Never stops (`once`: the pass ends when the queue is done).
    pub fn never() -> Stop {
        Stop {
            claiming: CancellationToken::new(),
            shutdown: CancellationToken::new(),
            grace: SHUTDOWN_GRACE,
        }
    }

    /// `work`'s output, or `None` if shutdown came and `grace` passed first.
    async fn bounded<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            out = work => Some(out),
            () = async {
                self.shutdown.cancelled().await;
                tokio::time::sleep(self.grace).await;
            } => None,
        }
    }
}

/// Delivers alerts through the configured notifiers.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: Store,
    notifiers: BTreeMap<String, Notifier>,
    policy: Delivery,
    /// Deliveries not yet recorded; the daemon shares one across reloads.
    ledger: Ledger,
}

impl Outbox {
    /// An outbox over `store` delivering through `notifiers` (by name).
    pub fn new(store: Store, notifiers: BTreeMap<String, Notifier>, policy: Delivery) -> Outbox {
        Outbox {
            store,
            notifiers,
            policy,
            ledger: Ledger::new(),
        }
    }

    /// The same outbox keeping unrecorded deliveries in `ledger` (the daemon's, which outlives
    /// a reload).
    pub fn with_ledger(mut self, ledger: Ledger) -> Outbox {
        self.ledger = ledger;
        self
    }

    /// One pass over the alerts due at `now` (unix seconds), honouring retry back-off and
    /// digest schedules; every notifier's lane at once.
    pub async fn deliver_due(&self, now: i64) -> Result<DeliveryReport, StoreError> {
        self.deliver(now, now).await
    }

    /// One pass over every undelivered single alert, feedwatch's back-off or not (what
    /// `feedwatch once` does: the user asked for delivery now), except those whose server
    /// asked for a later time (`Retry-After`): that is the server's word, not ours to skip.
    /// Digests still wait for their schedule.
    pub async fn deliver_all(&self, now: i64) -> Result<DeliveryReport, StoreError> {
        self.deliver(now, i64::MAX - 1).await
    }

    async fn deliver(&self, now: i64, due_by: i64) -> Result<DeliveryReport, StoreError> {
        let mut passes = tokio::task::JoinSet::new();
        for lane in self.lanes() {
            passes.spawn(async move { lane.pass(now, due_by, &Stop::never()).await });
        }
        let mut report = DeliveryReport::default();
        report.deferred += self.defer_orphans(now, due_by).await?;
        self.join_passes(passes, report).await
    }

    /// `feedwatch alerts flush`: makes every waiting digest (quiet-hours holds included) of
    /// `only` (of every notifier when `None`) due at `now`, and returns the queues flushed.
    /// Sending is then up to the holder of the delivery lock: [`Outbox::deliver_digests`]
    /// here, or the running daemon, whose lanes notice within [`EXTERNAL_CHECK`].
    pub async fn flush(
        &self,
        only: Option<&str>,
        now: i64,
    ) -> Result<Vec<crate::store::DigestQueue>, StoreError> {
        let label = DigestSchedule::Now.label();
        self.store.flush_digests(only, &label, now).await
    }

    /// One pass over the digests due at `now` of `only` (of every notifier when `None`) and
    /// nothing else, every lane at once: what `feedwatch alerts flush` sends when no daemon
    /// runs.
    pub async fn deliver_digests(
        &self,
        now: i64,
        only: Option<&str>,
    ) -> Result<DeliveryReport, StoreError> {
        let mut passes = tokio::task::JoinSet::new();
        for lane in self.lanes().filter(|l| only.is_none_or(|n| n == l.name)) {
            passes.spawn(async move { lane.digests_pass(now).await });
        }
        self.join_passes(passes, DeliveryReport::default()).await
    }

    /// Adds up the passes' reports once they have all ended, then records what the store
    /// refused meanwhile (one more try, else the caller fails and the alert is sent again
    /// next time).
    async fn join_passes(
        &self,
        mut passes: tokio::task::JoinSet<Result<DeliveryReport, StoreError>>,
        mut report: DeliveryReport,
    ) -> Result<DeliveryReport, StoreError> {
        let mut failed = None;
        while let Some(pass) = passes.join_next().await {
            match pass {
                Ok(Ok(r)) => report.add(r),
                Ok(Err(e)) => failed = Some(e),
                // A pass panicked (a bug): the others' work stands; report it as a failure.
                Err(e) => failed = Some(StoreError::Panicked(e.to_string())),
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        self.ledger.settle(&self.store).await?;
        Ok(report)
    }

    /// Alerts due by `due_by` (and not held by a server past `now`) whose notifier is no
    /// longer configured stay queued (they are not ours to drop) and are looked at again in
    /// `MISSING_NOTIFIER_RECHECK` (or on `alerts retry`); returns how many.
    pub async fn defer_orphans(&self, now: i64, due_by: i64) -> Result<usize, StoreError> {
        let mut deferred = 0;
        for name in self.store.due_notifiers(now, due_by).await? {
            if self.notifiers.contains_key(&name) {
                continue;
            }
            let ids: Vec<i64> = self
                .store
                .due_alerts_for(&name, now, due_by, usize::MAX >> 1)
                .await?
                .iter()
                .map(|a| a.id)
                .collect();
            tracing::warn!(alert_ids = ?ids, notifier = %name,
                "alerts wait for a notifier that is not configured");
            let later = Retry::at(now + secs(MISSING_NOTIFIER_RECHECK));
            self.store.defer(&ids, later).await?;
            deferred += ids.len();
        }
        Ok(deferred)
    }

    /// One lane per configured notifier.
    fn lanes(&self) -> impl Iterator<Item = Lane> + '_ {
        self.notifiers.iter().map(|(name, notifier)| Lane {
            name: name.clone(),
            notifier: notifier.clone(),
            store: self.store.clone(),
            policy: self.policy.clone(),
            ledger: self.ledger.clone(),
        })
    }

    /// Starts one lane task per configured notifier, replacing `lanes`' current ones. Each new
    /// lane first waits for the previous lane of its notifier to end (it stops claiming once
    /// its `Stop` says so, and finishes its send in flight): so a reload never waits for a
    /// delivery, and two lanes never send the same alert. Lanes of notifiers the config no
    /// longer has are kept in `lanes` until they end. `wake` tells every lane that alerts may
    /// have been queued; a lane notifies `activity` after a pass that did something.
    pub fn spawn_lanes(
        &self,
        lanes: &mut Lanes,
        stop: &Stop,
        wake: &watch::Sender<()>,
        activity: &Arc<Notify>,
    ) {
        let mut previous = std::mem::take(&mut lanes.current);
        for lane in self.lanes() {
            let predecessor = previous.remove(&lane.name);
            let (stop, wake, activity) = (stop.clone(), wake.subscribe(), activity.clone());
            let alarm = PanicAlarm(lanes.died.clone());
            let name = lane.name.clone();
            let task = tokio::spawn(async move {
                let _alarm = alarm;
                if let Some(predecessor) = predecessor {
                    predecessor.finished().await;
                }
                lane.run(stop, wake, activity).await;
            });
            lanes.current.insert(name, LaneTask(task));
        }
        lanes.retired.retain(|t| !t.0.is_finished());
        lanes.retired.extend(previous.into_values());
    }
}

/// The daemon's lane tasks, across reloads.
#[derive(Debug, Default)]
pub struct Lanes {
    /// The newest lane of each notifier, by name (each owns the handle of the lane it
    /// replaced, and waits for it before it claims anything).
    current: BTreeMap<String, LaneTask>,
    /// Lanes of notifiers a reload removed, possibly still finishing a send.
    retired: Vec<LaneTask>,
    /// Cancelled when a lane task panics (a bug): the daemon then exits to be restarted.
    died: CancellationToken,
}

impl Lanes {
    /// Cancelled if any lane panics.
    pub fn died(&self) -> CancellationToken {
        self.died.clone()
    }

    /// Waits until every lane has ended, or `deadline`; aborts what is left then.
    pub async fn join(self, deadline: tokio::time::Instant) {
        let tasks = self.current.into_values().chain(self.retired);
        for mut task in tasks {
            if tokio::time::timeout_at(deadline, &mut task.0)
                .await
                .is_err()
            {
                tracing::warn!("a delivery lane did not stop in time; abandoned");
            }
        }
    }
}

/// A lane task; aborted when dropped, so that no lane outlives the daemon's stop.
#[derive(Debug)]
struct LaneTask(JoinHandle<()>);

impl LaneTask {
    /// Waits for the task to end (a panic is reported by its [`PanicAlarm`]).
    async fn finished(mut self) {
        let _ = (&mut self.0).await;
    }
}

impl Drop for LaneTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_from_base_to_cap_with_bounded_jitter() {
        let p = Delivery::default();
        let cases = [(0, 30), (1, 60), (2, 120), (6, 1920), (7, 3600), (50, 3600)];
        for (attempts, secs) in cases {
            for uid in ["a", "b", "c", "d"] {
                let d = retry_delay(&p, attempts, uid).as_secs_f64();
                let nominal = secs as f64;
                assert!(
                    d >= nominal * 0.9 - 0.001 && d <= nominal * 1.1 + 0.001,
                    "attempt {attempts} uid {uid}: {d}"
                );
            }
        }
        let spread: BTreeSet<u128> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|u| retry_delay(&p, 3, u).as_millis())
            .collect();
        assert!(spread.len() > 1, "jitter spreads alerts: {spread:?}");
        assert_eq!(retry_delay(&p, 3, "x"), retry_delay(&p, 3, "x"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_in_flight_is_abandoned_only_after_shutdown_and_its_grace() {
        let stop = Stop::never();
        let slow = || tokio::time::sleep(Duration::from_secs(3600));
        // Without shutdown (a reload only stops claiming) the send runs to its end.
        stop.claiming.cancel();
        let started = tokio::time::Instant::now();
        assert_eq!(stop.bounded(slow()).await, Some(()));
        assert_eq!(started.elapsed(), Duration::from_secs(3600));
        // Shutdown: the send gets the grace, counted from the shutdown, then is abandoned.
        let started = tokio::time::Instant::now();
        let shutdown = stop.shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            shutdown.cancel();
        });
        assert_eq!(stop.bounded(slow()).await, None);
        assert_eq!(started.elapsed(), Duration::from_secs(10) + SHUTDOWN_GRACE);
        // A send that ends within the grace is kept.
        assert_eq!(stop.bounded(async { 7 }).await, Some(7));
    }

    #[tokio::test]
    async fn alerts_for_a_notifier_no_longer_configured_stay_queued_and_wait() {
        use crate::domain::FeedId;
        use crate::domain::fixtures::{alert, item};
        use crate::store::Ingest;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db")).await.expect("open");
        let feed = FeedId::from_stored("http://f/".into());
        let st = store.feed_state(&feed).await.expect("state");
        let items = vec![item("a"), item("b")];
        let alerts = vec![alert(0, "gone"), alert(1, "gone")];
        let batch = Ingest::batch(items, alerts, 100);
        store
            .ingest(st.id, feed.as_str(), batch)
            .await
            .expect("ingest");
        let outbox = Outbox::new(store.clone(), BTreeMap::new(), Delivery::default());
        let r = outbox.deliver_due(100).await.expect("pass");
        assert_eq!(
            r,
            DeliveryReport {
                sent: 0,
                deferred: 2,
                dead: 0
            }
        );
        assert!(
            store.due_alerts(100, 10).await.expect("due").is_empty(),
            "not retried in a tight loop"
        );
        assert_eq!(
            store.undelivered_count().await.expect("count"),
            2,
            "nothing dropped"
        );
        let at = 100 + MISSING_NOTIFIER_RECHECK.as_secs() as i64;
        assert_eq!(
            store.due_alerts(at, 10).await.expect("due").len(),
            2,
            "looked at again later"
        );
    }

    /// A store holding `n` alerts for the stdout notifier `n`, queued at `at` with the digest
    /// label `digest`, and an outbox over it (times shown in UTC).
    async fn outbox_with(
        dir: &std::path::Path,
        digest: Option<&str>,
        keys: &[&str],
        at: i64,
    ) -> (Store, Outbox) {
        use crate::domain::FeedId;
        use crate::domain::fixtures::{alert, item};
        use crate::store::Ingest;
        let store = Store::open(&dir.join("db")).await.expect("open");
        let feed = FeedId::from_stored("http://f/".into());
        let st = store.feed_state(&feed).await.expect("state");
        let items = keys.iter().map(|k| item(k)).collect();
        let alerts = (0..keys.len())
            .map(|i| {
                let mut a = alert(i, "n");
                a.digest = digest.map(str::to_string);
                a
            })
            .collect();
        store
            .ingest(st.id, feed.as_str(), Ingest::batch(items, alerts, at))
            .await
            .expect("ingest");
        let stdout = Notifier::Stdout(crate::notify::stdout::StdoutNotifier(chrono_tz::Tz::UTC));
        let notifiers = BTreeMap::from([("n".to_string(), stdout)]);
        let outbox = Outbox::new(store.clone(), notifiers, Delivery::default());
        (store, outbox)
    }

    fn t(rfc3339: &str) -> i64 {
        crate::domain::fixtures::at(rfc3339).timestamp()
    }

    #[tokio::test]
    async fn alerts_held_by_quiet_hours_go_out_as_one_digest_when_they_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = Some("quiet 22:00-07:00");
        let queued = t("2026-11-29T23:10:00Z");
        let (store, outbox) = outbox_with(dir.path(), held, &["a", "b", "c"], queued).await;
        for now in [
            "2026-11-29T23:10:00Z",
            "2026-11-30T03:00:00Z",
            "2026-11-30T06:59:59Z",
        ] {
            let r = outbox.deliver_due(t(now)).await.expect("pass");
            assert_eq!(r, DeliveryReport::default(), "held at {now}");
        }
        assert_eq!(store.digest_queues().await.expect("queues")[0].count, 3);
        let r = outbox
            .deliver_due(t("2026-11-30T07:00:00Z"))
            .await
            .expect("pass");
        assert_eq!(r.sent, 3, "all three, together, when the quiet hours end");
        assert!(store.digest_queues().await.expect("queues").is_empty());
        assert_eq!(store.undelivered_count().await.expect("count"), 0);
    }

    #[tokio::test]
    async fn a_flush_makes_every_waiting_digest_due_and_sends_only_digests() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queued = t("2026-11-29T10:00:00Z");
        let (store, outbox) =
            outbox_with(dir.path(), Some("weekly mon 08:00"), &["a", "b"], queued).await;
        let now = queued + 60;
        assert_eq!(outbox.deliver_due(now).await.expect("pass").sent, 0);
        let flushed = outbox.flush(Some("n"), now).await.expect("flush");
        assert_eq!(flushed.len(), 1);
        assert_eq!(
            (flushed[0].schedule.as_str(), flushed[0].count),
            ("weekly mon 08:00", 2)
        );
        assert!(
            outbox
                .flush(Some("other"), now)
                .await
                .expect("flush")
                .is_empty(),
            "another notifier's flush leaves these alone"
        );
        let r = outbox.deliver_digests(now, Some("n")).await.expect("send");
        assert_eq!(r.sent, 2);
        assert!(store.digest_queues().await.expect("queues").is_empty());
        assert!(
            outbox.flush(None, now).await.expect("flush").is_empty(),
            "nothing waits any more"
        );
    }

    /// `feedwatch once`'s pass skips feedwatch's own back-off but not a server's
    /// Retry-After; the held alert is neither sent nor claimed again and again.
    #[tokio::test]
    async fn delivering_all_sends_the_backed_off_but_not_what_a_server_holds() {
        use crate::store::Retry;
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, outbox) = outbox_with(dir.path(), None, &["a", "b", "c"], 100).await;
        let due = store.due_alerts(100, 10).await.expect("due");
        let held = Retry {
            at: 100 + 3601,
            not_before: Some(100 + 3601),
        };
        let failures = [(Some(held), "HTTP 429"), (Some(Retry::at(130)), "HTTP 500")];
        for (alert, (retry, error)) in due.iter().zip(failures) {
            store
                .mark_failed(alert.id, error, retry)
                .await
                .expect("fail");
        }
        let pass = outbox.deliver_all(101);
        let r = tokio::time::timeout(Duration::from_secs(30), pass)
            .await
            .expect("the pass ends")
            .expect("pass");
        assert_eq!(
            r,
            DeliveryReport {
                sent: 2,
                deferred: 0,
                dead: 0
            }
        );
        assert_eq!(store.undelivered_count().await.expect("count"), 1);
        let hold = store.server_holds(101).await.expect("holds");
        assert_eq!(hold.map(|h| (h.alerts, h.until)), Some((1, 3701)));
        let r = outbox.deliver_all(3700).await.expect("pass");
        assert_eq!(r, DeliveryReport::default(), "not a second early");
        assert_eq!(outbox.deliver_all(3701).await.expect("pass").sent, 1);
    }

    #[tokio::test]
    async fn a_resting_lane_wakes_when_another_process_changes_the_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, outbox) = outbox_with(dir.path(), None, &[], 0).await;
        let lane = outbox.lanes().next().expect("one lane");
        // A second connection to the file, as `feedwatch alerts flush` opens.
        let other = Store::open(&dir.path().join("db")).await.expect("open");
        let (stop, (_tx, mut wake), mut open) = (Stop::never(), watch::channel(()), true);
        let long = Duration::from_secs(3600);
        // Without news the lane sleeps on; its own connection's writes are no news.
        let seen = store.data_version().await.ok();
        store.mute("r", 0, None).await.expect("own write");
        let quiet = lane.rest(long, seen, &stop, &mut wake, &mut open);
        assert!(
            tokio::time::timeout(EXTERNAL_CHECK * 3, quiet)
                .await
                .is_err(),
            "woke without news"
        );
        let seen = store.data_version().await.ok();
        other.unmute("r", 0).await.expect("other write");
        let woken = lane.rest(long, seen, &stop, &mut wake, &mut open);
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(30), woken).await,
            Ok(true),
            "another process's commit wakes the lane"
        );
    }
}

//! The outbox dispatcher: claims due alerts from the store, sends each through its notifier,
//! and records the outcome — `sent`, `retry` with the error and the next attempt time, or
//! `dead`. Digest queues are sent as one message when their schedule comes round.
//!
//! Alerts are delivered oldest first and marked `sent` the moment the server accepts them:
//! the only window in which a crash can cause a duplicate is between the server's "accepted"
//! and that one-row update. After a transient failure the rest of that notifier's alerts wait
//! for the next pass, so a server that is down is not hammered once per alert.

use std::collections::BTreeMap;
#[cfg(test)]
use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{Delivery, DigestSchedule};
use crate::domain::{Alert, error_chain, hash_hex};
use crate::notify::{Notifier, NotifyError};
use crate::store::{Store, StoreError};

/// How often the dispatcher looks for due retries when nothing wakes it (also covers clock
/// jumps).
pub const OUTBOX_TICK: Duration = Duration::from_secs(15);
/// Pause before the next pass when something is already due (a retry time in the past).
const DUE_AGAIN: Duration = Duration::from_millis(500);
/// Single alerts claimed per pass.
const BATCH: usize = 500;
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

/// Delivers alerts through the configured notifiers.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: Store,
    notifiers: BTreeMap<String, Notifier>,
    policy: Delivery,
}

impl Outbox {
    /// An outbox over `store` delivering through `notifiers` (by name).
    pub fn new(store: Store, notifiers: BTreeMap<String, Notifier>, policy: Delivery) -> Outbox {
        Outbox {
            store,
            notifiers,
            policy,
        }
    }

    /// One pass over the alerts due at `now` (unix seconds), honouring retry back-off and
    /// digest schedules.
    pub async fn deliver_due(&self, now: i64) -> Result<DeliveryReport, StoreError> {
        self.deliver(now, now).await
    }

    /// One pass over every undelivered single alert, back-off or not (what `feedwatch once`
    /// does: the user asked for delivery now). Digests still wait for their schedule.
    pub async fn deliver_all(&self, now: i64) -> Result<DeliveryReport, StoreError> {
        self.deliver(now, i64::MAX - 1).await
    }

    /// The dispatcher loop: a delivery pass, then sleep until the next retry or digest is due,
    /// `wake` is notified (a poll may have queued alerts) or [`OUTBOX_TICK`] passes. Runs
    /// `between` after every pass (the daemon keeps its status line and retention there).
    /// Ends between passes once `shutdown` is cancelled.
    pub async fn run(
        &self,
        shutdown: &CancellationToken,
        wake: &Notify,
        mut between: impl BetweenPasses,
    ) {
        loop {
            match self.deliver_due(Utc::now().timestamp()).await {
                Ok(r) if r.sent + r.dead + r.deferred > 0 => {
                    tracing::debug!(
                        sent = r.sent,
                        deferred = r.deferred,
                        dead = r.dead,
                        "delivery pass"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %error_chain(&e), "outbox failed"),
            }
            between.after_pass().await;
            let now = Utc::now().timestamp();
            let pause = match self.next_wake().await {
                Ok(Some(at)) if at > now => {
                    Duration::from_secs(u64::try_from(at - now).unwrap_or(0))
                }
                Ok(Some(_)) => DUE_AGAIN,
                _ => OUTBOX_TICK,
            }
            .min(OUTBOX_TICK);
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// When the next single alert retry or digest is due (unix seconds), if anything waits.
    pub async fn next_wake(&self) -> Result<Option<i64>, StoreError> {
        let mut next = self.store.next_attempt_at().await?;
        for q in self.store.digest_queues().await? {
            // A queue whose notifier is gone from the config waits for it to come back; it
            // must not wake the dispatcher again and again.
            if !self.notifiers.contains_key(&q.notifier) {
                continue;
            }
            let due = DigestSchedule::parse(&q.schedule)
                .map(|s| s.next_due(q.last_sent, q.oldest))
                .unwrap_or(q.oldest)
                .max(q.next_attempt);
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        Ok(next)
    }

    async fn deliver(&self, now: i64, due_by: i64) -> Result<DeliveryReport, StoreError> {
        let mut report = DeliveryReport::default();
        // Notifiers that failed transiently in this pass, with their retry time, and the
        // alerts skipped behind them (deferred to the same time, attempts not counted).
        let mut failing: BTreeMap<String, i64> = BTreeMap::new();
        let mut skipped: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for alert in self.store.due_alerts(due_by, BATCH).await? {
            let notifier = self.notifiers.get(&alert.notifier);
            if notifier.is_none() && !failing.contains_key(&alert.notifier) {
                // Its notifier was removed from the config: keep the alert queued, it is not
                // ours to drop, and look again later (or on `alerts retry`).
                tracing::warn!(alert_id = alert.id, notifier = %alert.notifier,
                    "alert waits for a notifier that is not configured");
                failing.insert(alert.notifier.clone(), now + secs(MISSING_NOTIFIER_RECHECK));
            }
            let Some(notifier) = notifier.filter(|_| !failing.contains_key(&alert.notifier)) else {
                skipped
                    .entry(alert.notifier.clone())
                    .or_default()
                    .push(alert.id);
                report.deferred += 1;
                continue;
            };
            let result = notifier.send(&alert, now).await;
            match self
                .record(std::slice::from_ref(&alert), result, now)
                .await?
            {
                Outcome::Sent => report.sent += 1,
                Outcome::Retry(at) => {
                    failing.insert(alert.notifier.clone(), at);
                    report.deferred += 1;
                }
                Outcome::Dead => report.dead += 1,
            }
        }
        for (notifier, ids) in skipped {
            if let Some(until) = failing.get(&notifier) {
                self.store.defer(&ids, *until).await?;
            }
        }
        self.deliver_digests(now, &mut report).await?;
        Ok(report)
    }

    async fn deliver_digests(
        &self,
        now: i64,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        for q in self.store.digest_queues().await? {
            let due = match DigestSchedule::parse(&q.schedule) {
                Ok(schedule) => schedule.next_due(q.last_sent, q.oldest),
                // A label this version cannot read (written by a newer one): send now rather
                // than hold alerts forever.
                Err(_) => now,
            };
            if now < due || now < q.next_attempt {
                continue;
            }
            let Some(notifier) = self.notifiers.get(&q.notifier) else {
                continue;
            };
            let alerts = self.store.digest_alerts(&q.notifier, &q.schedule).await?;
            if alerts.is_empty() {
                continue;
            }
            let result = notifier.send_digest(&alerts, now).await;
            let ok = result.is_ok();
            match self.record(&alerts, result, now).await? {
                Outcome::Sent => report.sent += alerts.len(),
                Outcome::Retry(_) => report.deferred += alerts.len(),
                Outcome::Dead => report.dead += alerts.len(),
            }
            if ok {
                let ids: Vec<i64> = alerts.iter().map(|a| a.id).collect();
                self.store
                    .mark_digest_sent(&q.notifier, &q.schedule, &ids, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// Records the outcome of sending `alerts` (one alert, or one digest) and logs each state
    /// change once: the first failure warns, repeated failures are debug, recovery and giving
    /// up are logged again.
    async fn record(
        &self,
        alerts: &[Alert],
        result: Result<crate::notify::Delivered, NotifyError>,
        now: i64,
    ) -> Result<Outcome, StoreError> {
        let Some(first) = alerts.first() else {
            return Ok(Outcome::Sent);
        };
        let kind = if alerts.len() > 1 || first.digest.is_some() {
            "digest"
        } else {
            "alert"
        };
        match result {
            Ok(delivered) => {
                metrics::counter!(crate::metrics::DELIVERIES, "notifier" => first.notifier.clone(),
                    "result" => "sent")
                .increment(alerts.len() as u64);
                if kind == "alert" {
                    self.store.mark_sent(first.id, now).await?;
                }
                if first.attempts > 0 {
                    tracing::info!(alert_id = first.id, notifier = %first.notifier,
                        attempt = first.attempts + 1, answer = %delivered.detail,
                        "{kind} delivered after earlier failures");
                } else {
                    tracing::info!(alert_id = first.id, notifier = %first.notifier,
                        rule = %first.payload.rule, title = %first.payload.title,
                        alerts = alerts.len(), answer = %delivered.detail, "{kind} sent");
                }
                Ok(Outcome::Sent)
            }
            Err(e) => {
                let retry_at = self.retry_at(first, &e, now);
                // The whole cause chain, once: what `alerts` shows and the logs say.
                let error = error_chain(&e);
                metrics::counter!(crate::metrics::DELIVERIES, "notifier" => first.notifier.clone(),
                    "result" => if retry_at.is_some() { "retry" } else { "dead" })
                .increment(alerts.len() as u64);
                for a in alerts {
                    self.store.mark_failed(a.id, &error, retry_at).await?;
                }
                match retry_at {
                    Some(at) => {
                        if first.attempts == 0 {
                            tracing::warn!(alert_id = first.id, notifier = %first.notifier,
                                attempt = 1, retry_in_s = at - now, error = %error,
                                "{kind} delivery failed; will retry");
                        } else {
                            tracing::debug!(alert_id = first.id, notifier = %first.notifier,
                                attempt = first.attempts + 1, retry_in_s = at - now, error = %error,
                                "{kind} delivery failed again; will retry");
                        }
                        Ok(Outcome::Retry(at))
                    }
                    None => {
                        tracing::error!(alert_id = first.id, notifier = %first.notifier,
                            attempt = first.attempts + 1, error = %error,
                            "{kind} delivery failed; giving up (dead)");
                        Ok(Outcome::Dead)
                    }
                }
            }
        }
    }

    /// When to try again, or `None` to give up: permanent failures at once, transient ones
    /// once `give_up_after` has passed since the alert was queued.
    fn retry_at(&self, alert: &Alert, e: &NotifyError, now: i64) -> Option<i64> {
        let NotifyError::Transient { retry_after, .. } = e else {
            return None;
        };
        let give_up = alert
            .created_at
            .saturating_add(secs(self.policy.give_up_after));
        if now >= give_up {
            return None;
        }
        let backoff = retry_delay(&self.policy, alert.attempts, &alert.uid);
        // The server's Retry-After is honoured, never shortened, but bounded so a bogus
        // header cannot park an alert for a year.
        let wait = retry_after
            .map(|r| r.min(MAX_RETRY_AFTER))
            .map_or(backoff, |r| r.max(backoff));
        // Times are whole seconds and `now` was rounded down: one more second makes sure a
        // server's Retry-After is never undercut.
        let margin = i64::from(retry_after.is_some());
        Some(now.saturating_add(secs(wait).max(1) + margin))
    }
}

/// Work done after every pass of [`Outbox::run`]. A trait rather than an async closure: the
/// `Send` bound on its future is stated here, which the daemon's spawned dispatcher needs and
/// which rustc cannot yet prove for an async closure's borrowing future.
pub trait BetweenPasses: Send {
    /// Called after each delivery pass.
    fn after_pass(&mut self) -> impl Future<Output = ()> + Send;
}

enum Outcome {
    Sent,
    /// Scheduled again at this unix time.
    Retry(i64),
    Dead,
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
}

//! One notifier's delivery lane: claims only that notifier's due alerts and digests, sends them
//! oldest first, records each outcome, and sleeps until its next retry or digest is due or a
//! poll wakes it. Lanes share nothing but the store and the [`Ledger`], so one notifier's
//! outage or slowness never delays another's alerts.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::ledger::{Ledger, Unrecorded, store_backoff};
use super::{
    DUE_AGAIN, DeliveryReport, EXTERNAL_CHECK, MAX_RETRY_AFTER, OUTBOX_TICK, Stop, retry_delay,
    secs,
};
use crate::config::{Delivery, DigestSchedule};
use crate::domain::{Alert, error_chain};
use crate::notify::{Delivered, Notifier, NotifyError};
use crate::store::{Retry, Store, StoreError};

/// Single alerts claimed per pass.
const BATCH: usize = 500;

/// One notifier's delivery.
#[derive(Debug, Clone)]
pub(super) struct Lane {
    /// The notifier's name (what alerts carry).
    pub(super) name: String,
    pub(super) notifier: Notifier,
    pub(super) store: Store,
    pub(super) policy: Delivery,
    pub(super) ledger: Ledger,
}

/// What became of one send.
enum Outcome {
    Sent,
    /// Sent, but the store could not record it: it waits in the ledger and delivery pauses.
    Unrecorded,
    /// Scheduled again.
    Retry(Retry),
    Dead,
}

impl Lane {
    /// The lane's loop: a pass, then sleep until something of this notifier is due, `wake`
    /// changes (a poll queued alerts) or [`OUTBOX_TICK`] passes. Ends once `stop.claiming` is
    /// cancelled, after the send in flight (see [`Stop`]). Notifies `activity` after a pass
    /// that did something (the daemon refreshes its status line then).
    pub(super) async fn run(
        self,
        stop: Stop,
        mut wake: watch::Receiver<()>,
        activity: Arc<Notify>,
    ) {
        // Consecutive passes that failed on a store error (not a record: see the ledger).
        let mut store_failures = 0u32;
        // The daemon keeps the sender for its whole life; if it ever goes, the tick remains.
        let mut wake_open = true;
        loop {
            if stop.claiming.is_cancelled() {
                break;
            }
            // Read before the pass: whatever another process commits from here on wakes the
            // lane early (see `rest`).
            let seen = self.store.data_version().await.ok();
            let now = Utc::now().timestamp();
            let pause = match self.pass(now, now, &stop).await {
                Ok(r) => {
                    if store_failures > 0 {
                        tracing::info!(notifier = %self.name,
                            "the database answers again: delivery resumes");
                        store_failures = 0;
                    }
                    if r.sent + r.dead + r.deferred > 0 {
                        tracing::debug!(notifier = %self.name, sent = r.sent,
                            deferred = r.deferred, dead = r.dead, "delivery pass");
                        activity.notify_one();
                    }
                    self.pause().await
                }
                Err(e) => {
                    store_failures = store_failures.saturating_add(1);
                    let wait = store_backoff(store_failures);
                    if store_failures == 1 {
                        tracing::error!(notifier = %self.name, error = %error_chain(&e),
                            retry_in_s = wait.as_secs(),
                            "delivery paused: the database failed; retrying with back-off");
                    } else {
                        tracing::debug!(notifier = %self.name, error = %error_chain(&e),
                            retry_in_s = wait.as_secs(), "the database failed again");
                    }
                    wait
                }
            };
            if !self
                .rest(pause, seen, &stop, &mut wake, &mut wake_open)
                .await
            {
                break;
            }
        }
    }

    /// Sleeps for `pause`, or until `wake` changes or another process commits to the
    /// database (its data version moves on from `seen`; checked every [`EXTERNAL_CHECK`]).
    /// `false` once `stop.claiming` is cancelled.
    pub(super) async fn rest(
        &self,
        pause: Duration,
        seen: Option<i64>,
        stop: &Stop,
        wake: &mut watch::Receiver<()>,
        wake_open: &mut bool,
    ) -> bool {
        let until = tokio::time::Instant::now() + pause;
        loop {
            let step = until.min(tokio::time::Instant::now() + EXTERNAL_CHECK);
            tokio::select! {
                () = stop.claiming.cancelled() => return false,
                changed = wake.changed(), if *wake_open => {
                    *wake_open = changed.is_ok();
                    return true;
                }
                () = tokio::time::sleep_until(step) => {}
            }
            if tokio::time::Instant::now() >= until {
                return true;
            }
            // An unreadable version is no news: the pass after `pause` looks anyway.
            if let (Some(before), Ok(now)) = (seen, self.store.data_version().await)
                && now != before
            {
                return true;
            }
        }
    }

    /// How long to sleep after a pass: until the ledger's next attempt while delivery is
    /// paused, else until this notifier's next retry or digest, at most [`OUTBOX_TICK`].
    async fn pause(&self) -> Duration {
        if let Some(at) = self.ledger.paused_until().await {
            return at
                .saturating_duration_since(tokio::time::Instant::now())
                .min(OUTBOX_TICK);
        }
        let now = Utc::now().timestamp();
        match self.next_wake().await {
            Ok(Some(at)) if at > now => Duration::from_secs(u64::try_from(at - now).unwrap_or(0)),
            Ok(Some(_)) => DUE_AGAIN,
            _ => OUTBOX_TICK,
        }
        .min(OUTBOX_TICK)
    }

    /// When this notifier's next single alert retry or digest is due (unix seconds).
    pub(super) async fn next_wake(&self) -> Result<Option<i64>, StoreError> {
        let mut next = self.store.next_attempt_at_for(&self.name).await?;
        for q in self.store.digest_queues().await? {
            if q.notifier != self.name {
                continue;
            }
            let due = DigestSchedule::from_label(&q.schedule)
                .map(|s| s.next_due(q.last_sent, q.oldest, self.notifier.zone()))
                .unwrap_or(q.oldest)
                .max(q.next_attempt);
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        Ok(next)
    }

    /// One pass over this notifier's alerts due by `due_by`, then its digests due at `now`.
    /// Stops early when `stop` says so or delivery pauses; an error is the store's.
    pub(super) async fn pass(
        &self,
        now: i64,
        due_by: i64,
        stop: &Stop,
    ) -> Result<DeliveryReport, StoreError> {
        let mut report = DeliveryReport::default();
        if self.ledger.gate(&self.store).await.is_err() {
            return Ok(report);
        }
        // Claimed a batch at a time, until none is left: `feedwatch once` delivers every
        // alert that is due, not the first batch of them. Each full batch leaves the due set
        // smaller (sent or given up) or ends the pass, so the batches are bounded by the queue.
        // An alert its server holds past `now` (Retry-After) is never claimed, whatever
        // `due_by`, so it cannot keep a batch full.
        loop {
            let alerts = (self.store)
                .due_alerts_for(&self.name, now, due_by, BATCH)
                .await?;
            let full = alerts.len() == BATCH;
            if !self.singles(&alerts, now, stop, &mut report).await? {
                return Ok(report);
            }
            if !full || report.deferred > 0 {
                break;
            }
        }
        self.deliver_digests(now, stop, &mut report).await?;
        Ok(report)
    }

    /// Sends `alerts` one by one, in order, adding to `report`: `false` when the pass must
    /// end here (told to stop, or a delivery could not be recorded).
    async fn singles(
        &self,
        alerts: &[Alert],
        now: i64,
        stop: &Stop,
        report: &mut DeliveryReport,
    ) -> Result<bool, StoreError> {
        let mut queue = alerts.iter();
        while let Some(alert) = queue.next() {
            if self.must_stop(stop) {
                return Ok(false);
            }
            let Some(result) = self.send(stop, alert, self.notifier.send(alert, now)).await else {
                return Ok(false);
            };
            match self
                .record(std::slice::from_ref(alert), result, now)
                .await?
            {
                Outcome::Sent => report.sent += 1,
                Outcome::Unrecorded => {
                    report.sent += 1;
                    return Ok(false);
                }
                Outcome::Dead => report.dead += 1,
                Outcome::Retry(retry) => {
                    // The server is failing: the rest wait until the same time (attempts not
                    // counted), so a server that is down is not hammered once per alert; a
                    // server's Retry-After holds them as it holds this one.
                    let rest: Vec<i64> = queue.map(|a| a.id).collect();
                    report.deferred += 1 + rest.len();
                    if !rest.is_empty() {
                        self.store.defer(&rest, retry).await?;
                    }
                    break;
                }
            }
        }
        Ok(true)
    }

    /// Only this notifier's digests due at `now` (`feedwatch alerts flush`, after
    /// [`Store::flush_digests`] made every waiting one due).
    pub(super) async fn digests_pass(&self, now: i64) -> Result<DeliveryReport, StoreError> {
        let mut report = DeliveryReport::default();
        if self.ledger.gate(&self.store).await.is_ok() {
            self.deliver_digests(now, &Stop::never(), &mut report)
                .await?;
        }
        Ok(report)
    }

    /// No further send: the lane is told to stop claiming, or delivery paused (another lane's
    /// delivery could not be recorded).
    fn must_stop(&self, stop: &Stop) -> bool {
        stop.claiming.is_cancelled() || self.ledger.is_paused()
    }

    /// Runs `send` (of `alert`, or of a digest starting with it), bounded by `stop`: `None`
    /// when it was abandoned at shutdown (logged; the alert stays queued).
    async fn send(
        &self,
        stop: &Stop,
        alert: &Alert,
        send: impl Future<Output = Result<Delivered, NotifyError>>,
    ) -> Option<Result<Delivered, NotifyError>> {
        let result = stop.bounded(send).await;
        if result.is_none() {
            tracing::warn!(alert_id = alert.id, notifier = %self.name,
                grace_s = stop.grace.as_secs(),
                "shutting down: abandoned the send in flight; the alert stays queued (sent \
                 again on the next start, a duplicate if the server had accepted it)");
        }
        result
    }

    async fn deliver_digests(
        &self,
        now: i64,
        stop: &Stop,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        for q in self.store.digest_queues().await? {
            if q.notifier != self.name {
                continue;
            }
            let due = match DigestSchedule::from_label(&q.schedule) {
                Ok(schedule) => schedule.next_due(q.last_sent, q.oldest, self.notifier.zone()),
                // A label this version cannot read (written by a newer one): send now rather
                // than hold alerts forever.
                Err(_) => now,
            };
            // A failed digest waits for its next attempt, in `once` too: feedwatch's back-off
            // and, within it, a server's Retry-After (never undercut).
            if now < due || now < q.next_attempt {
                continue;
            }
            if self.must_stop(stop) {
                return Ok(());
            }
            let alerts = self.store.digest_alerts(&q.notifier, &q.schedule).await?;
            let Some(first) = alerts.first() else {
                continue;
            };
            let sending = self.notifier.send_digest(&alerts, now);
            let Some(result) = self.send(stop, first, sending).await else {
                return Ok(());
            };
            let ok = result.is_ok();
            match self.record(&alerts, result, now).await? {
                Outcome::Sent | Outcome::Unrecorded => report.sent += alerts.len(),
                Outcome::Retry(_) => report.deferred += alerts.len(),
                Outcome::Dead => report.dead += alerts.len(),
            }
            if ok {
                let ids: Vec<i64> = alerts.iter().map(|a| a.id).collect();
                if let Err(e) = self
                    .store
                    .mark_digest_sent(&q.notifier, &q.schedule, &ids, now)
                    .await
                {
                    let entry = Unrecorded::Digest {
                        notifier: q.notifier.clone(),
                        schedule: q.schedule.clone(),
                        ids,
                        at: now,
                    };
                    self.ledger.hold(entry, &self.name, &e).await;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Records the outcome of sending `alerts` (one alert, or one digest) and logs each state
    /// change once: the first failure warns, repeated failures are debug, recovery and giving
    /// up are logged again. A single alert the store cannot mark sent goes to the ledger (a
    /// digest's record is its caller's, [`Store::mark_digest_sent`]).
    async fn record(
        &self,
        alerts: &[Alert],
        result: Result<Delivered, NotifyError>,
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
                if first.attempts > 0 {
                    tracing::info!(alert_id = first.id, notifier = %first.notifier,
                        attempt = first.attempts + 1, answer = %delivered.detail,
                        "{kind} delivered after earlier failures");
                } else {
                    tracing::info!(alert_id = first.id, notifier = %first.notifier,
                        rule = %first.payload.rule, title = %first.payload.title,
                        alerts = alerts.len(), answer = %delivered.detail, "{kind} sent");
                }
                if kind == "alert"
                    && let Err(e) = self.store.mark_sent(first.id, now).await
                {
                    let entry = Unrecorded::Alert {
                        id: first.id,
                        at: now,
                    };
                    self.ledger.hold(entry, &self.name, &e).await;
                    return Ok(Outcome::Unrecorded);
                }
                Ok(Outcome::Sent)
            }
            Err(e) => {
                let retry = self.retry_at(first, &e, now);
                // The whole cause chain, once: what `alerts` shows and the logs say.
                let error = error_chain(&e);
                metrics::counter!(crate::metrics::DELIVERIES, "notifier" => first.notifier.clone(),
                    "result" => if retry.is_some() { "retry" } else { "dead" })
                .increment(alerts.len() as u64);
                for a in alerts {
                    self.store.mark_failed(a.id, &error, retry).await?;
                }
                match retry {
                    Some(retry) => {
                        let at = retry.at;
                        if first.attempts == 0 {
                            tracing::warn!(alert_id = first.id, notifier = %first.notifier,
                                attempt = 1, retry_in_s = at - now, error = %error,
                                "{kind} delivery failed; will retry");
                        } else {
                            tracing::debug!(alert_id = first.id, notifier = %first.notifier,
                                attempt = first.attempts + 1, retry_in_s = at - now, error = %error,
                                "{kind} delivery failed again; will retry");
                        }
                        Ok(Outcome::Retry(retry))
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
    /// once `give_up_after` has passed since the alert was queued. The server's `Retry-After`
    /// is kept apart as well (`not_before`): `feedwatch once` skips the back-off, not that.
    fn retry_at(&self, alert: &Alert, e: &NotifyError, now: i64) -> Option<Retry> {
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
        // header cannot park an alert for a year. Times are whole seconds and `now` was
        // rounded down: one more second makes sure it is never undercut.
        let asked = retry_after.map(|r| secs(r.min(MAX_RETRY_AFTER)).saturating_add(1));
        let wait = secs(backoff).max(1).max(asked.unwrap_or(0));
        Some(Retry {
            at: now.saturating_add(wait),
            not_before: asked.map(|a| now.saturating_add(a)),
        })
    }
}

/// Cancels `died` if the lane task it lives in panics (dropped while unwinding), so that the
/// daemon notices a dead lane and exits to be restarted.
pub(super) struct PanicAlarm(pub(super) CancellationToken);

impl Drop for PanicAlarm {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.cancel();
        }
    }
}

//! The outbox dispatcher: claims due alerts from the store, sends each through its notifier,
//! and records the outcome — `sent`, `retry` with the next attempt time, or `dead`.
//!
//! Alerts are delivered oldest first. After a transient failure the rest of that notifier's
//! alerts wait for the next pass (a mail server that is down is not hammered once per alert).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::domain::Alert;
use crate::notify::{Notifier, NotifyError};
use crate::store::{Store, StoreError};

/// First retry delay after a transient failure.
pub const RETRY_BASE: Duration = Duration::from_secs(30);
/// Longest delay between retries.
pub const RETRY_CAP: Duration = Duration::from_secs(3600);
/// After this long undelivered, an alert is given up (dead).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);
/// Alerts claimed per pass.
const BATCH: usize = 500;

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Delivered.
    pub sent: usize,
    /// Failed transiently and scheduled again (or skipped behind such a failure).
    pub deferred: usize,
    /// Given up.
    pub dead: usize,
}

/// Delay before attempt number `attempts + 1`: 30 s doubling, capped at one hour.
pub fn retry_delay(attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.min(16));
    RETRY_BASE.saturating_mul(factor).min(RETRY_CAP)
}

/// Delivers alerts through the configured notifiers.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: Store,
    notifiers: BTreeMap<String, Notifier>,
}

impl Outbox {
    /// An outbox over `store` delivering through `notifiers` (by name).
    pub fn new(store: Store, notifiers: BTreeMap<String, Notifier>) -> Outbox {
        Outbox { store, notifiers }
    }

    /// One pass over the alerts due at `now` (unix seconds), honouring retry back-off.
    pub async fn deliver_due(&self, now: i64) -> Result<DeliveryReport, StoreError> {
        self.deliver(now, now).await
    }

    /// One pass over every undelivered alert, back-off or not: what `feedwatch once` does,
    /// since the user asked for delivery now.
    pub async fn deliver_all(&self, now: i64) -> Result<DeliveryReport, StoreError> {
        self.deliver(now, i64::MAX - 1).await
    }

    async fn deliver(&self, now: i64, due_by: i64) -> Result<DeliveryReport, StoreError> {
        let mut report = DeliveryReport::default();
        let mut failing: BTreeSet<String> = BTreeSet::new();
        for alert in self.store.due_alerts(due_by, BATCH)? {
            if failing.contains(&alert.notifier) {
                report.deferred += 1;
                continue;
            }
            let Some(notifier) = self.notifiers.get(&alert.notifier) else {
                // Its notifier was removed from the config: keep the alert queued, it is not
                // ours to drop. It is delivered if the notifier comes back.
                tracing::warn!(alert_id = alert.id, notifier = %alert.notifier,
                    "alert waits for a notifier that is not configured");
                failing.insert(alert.notifier.clone());
                report.deferred += 1;
                continue;
            };
            match notifier.send(&alert).await {
                Ok(()) => {
                    self.store.mark_sent(alert.id, now)?;
                    tracing::info!(alert_id = alert.id, notifier = %alert.notifier,
                        rule = %alert.payload.rule, title = %alert.payload.title, "alert sent");
                    report.sent += 1;
                }
                Err(e) => {
                    let retry_at = self.retry_at(&alert, &e, now);
                    self.store.mark_failed(alert.id, &e.to_string(), retry_at)?;
                    match retry_at {
                        Some(at) => {
                            tracing::warn!(alert_id = alert.id, notifier = %alert.notifier,
                                attempt = alert.attempts + 1, retry_in_s = at - now,
                                error = %e, "alert delivery failed; will retry");
                            failing.insert(alert.notifier.clone());
                            report.deferred += 1;
                        }
                        None => {
                            tracing::error!(alert_id = alert.id, notifier = %alert.notifier,
                                attempt = alert.attempts + 1, error = %e,
                                "alert delivery failed permanently; giving up");
                            report.dead += 1;
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    fn retry_at(&self, alert: &Alert, e: &NotifyError, now: i64) -> Option<i64> {
        let give_up = alert
            .created_at
            .saturating_add(GIVE_UP_AFTER.as_secs() as i64);
        (e.is_transient() && now < give_up)
            .then(|| now.saturating_add(retry_delay(alert.attempts).as_secs() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_from_30s_to_a_1h_cap() {
        let cases = [(0, 30), (1, 60), (2, 120), (6, 1920), (7, 3600), (50, 3600)];
        for (attempts, secs) in cases {
            assert_eq!(
                retry_delay(attempts),
                Duration::from_secs(secs),
                "{attempts}"
            );
        }
    }
}

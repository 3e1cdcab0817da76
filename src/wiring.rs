//! Shared wiring for the one-shot commands and the daemon: the components built from a
//! [`Config`] (fetcher, notifiers, engine, outbox over one store) and one logged poll.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use crate::config::Config;
use crate::domain::error_chain;
use crate::fetch::{FetchSettings, Fetcher};
use crate::notify::Notifier;
use crate::outbox::Outbox;
use crate::pipeline::Engine;
use crate::redact::Redacted;
use crate::store::Store;

/// Everything a command needs, built from the config.
pub struct Parts {
    /// Polls feeds: fetch → parse → dedupe → match → commit.
    pub engine: Engine,
    /// Delivers the alerts the engine queues.
    pub outbox: Outbox,
    /// The database both work on.
    pub store: Store,
}

impl Parts {
    /// Builds the components for `config`, opening the database.
    pub async fn build(config: Config) -> anyhow::Result<Parts> {
        let store = Store::open(&config.storage.path).await?;
        Parts::with_store(config, store)
    }

    /// Builds the components for `config` on an already open store (a reload keeps it).
    pub fn with_store(config: Config, store: Store) -> anyhow::Result<Parts> {
        let mut settings = FetchSettings::new(
            config.poll.timeout,
            config.poll.max_body,
            config.poll.user_agent.clone(),
        );
        settings.proxy = config.poll.proxy.clone();
        let fetcher = Fetcher::new(&settings).context("cannot set up the HTTP client")?;
        let mut notifiers = BTreeMap::new();
        for (name, n) in &config.notifiers {
            let notifier = Notifier::from_config(n, &config.poll.user_agent)
                .with_context(|| format!("cannot set up notifier {name:?}"))?;
            notifiers.insert(name.clone(), notifier);
        }
        let outbox = Outbox::new(store.clone(), notifiers, config.delivery.clone());
        let engine = Engine::new(Arc::new(config), fetcher, store.clone());
        Ok(Parts {
            engine,
            outbox,
            store,
        })
    }
}

/// Polls one feed and logs the outcome once. Returns the result (for `once`) and when the
/// feed is next due.
///
/// What is worth a line at the default level: new items (INFO), a feed that starts failing
/// (WARN) and, while it goes on failing, a reminder at most once an hour (see
/// [`failure_note`]; every other failed poll is DEBUG), and its recovery (INFO, once). An
/// unchanged feed (304) is DEBUG: at 100 feeds it was a hundred INFO lines per interval that
/// said nothing.
pub async fn poll_and_log(engine: &Engine, n: usize) -> (bool, Option<Duration>) {
    let Some(feed) = engine.config().feeds.get(n) else {
        return (false, None);
    };
    let now = Utc::now();
    let started = std::time::Instant::now();
    let polled = engine.poll(n, now).await;
    metrics::histogram!(crate::metrics::POLL_SECONDS).record(started.elapsed().as_secs_f64());
    let next_in = polled
        .next_poll
        .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO));
    let next = polled
        .next_poll
        // RFC 3339 with its zone, like the log line's own timestamp: a bare "22:30:37" said
        // neither the day nor the zone.
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "never".into());
    let url = Redacted::url(&feed.url);
    if let (Ok(_), Some(run)) = (&polled.result, polled.before) {
        tracing::info!(feed = %feed.name, %url, failures = run.consecutive,
            failing_since = %rfc3339(run.since), "feed recovered");
    }
    let ok = match polled.result {
        Ok(r) if r.not_modified => {
            metrics::counter!(crate::metrics::POLLS, "outcome" => "not_modified").increment(1);
            tracing::debug!(feed = %feed.name, %url, next_poll = %next, "not modified");
            true
        }
        Ok(r) => {
            metrics::counter!(crate::metrics::POLLS, "outcome" => "ok").increment(1);
            metrics::counter!(crate::metrics::ITEMS).increment(r.new_items as u64);
            // A feed without validators answers 200 every time: without anything new that
            // is as quiet as a 304.
            match r.new_items {
                0 => tracing::debug!(feed = %feed.name, %url, items = r.seen, new = 0,
                    alerts = r.alerts, next_poll = %next, "polled"),
                new => tracing::info!(feed = %feed.name, %url, items = r.seen, new,
                    alerts = r.alerts, next_poll = %next, "polled"),
            }
            true
        }
        Err(crate::pipeline::PollError::ShuttingDown) => {
            tracing::info!(feed = %feed.name, %url, "poll abandoned: shutting down");
            false
        }
        // The store reports a failing database once (not once per poll and feed).
        Err(e @ crate::pipeline::PollError::Store(_)) => {
            metrics::counter!(crate::metrics::POLLS, "outcome" => "error").increment(1);
            tracing::debug!(feed = %feed.name, %url, error = %error_chain(&e), next_poll = %next,
                "poll failed: the database failed");
            false
        }
        Err(e) => {
            metrics::counter!(crate::metrics::POLLS, "outcome" => "error").increment(1);
            let status = match &e {
                crate::pipeline::PollError::Fetch(crate::fetch::FetchError::Status {
                    status,
                    ..
                }) => Some(*status),
                crate::pipeline::PollError::Fetch(crate::fetch::FetchError::Gone) => Some(410),
                _ => None,
            };
            let error = error_chain(&e);
            match (
                failure_note(polled.before.as_ref(), now.timestamp()),
                polled.before,
            ) {
                (FailureNote::Started, _) | (_, None) => tracing::warn!(feed = %feed.name,
                    %url, status, %error, next_poll = %next, "poll failed"),
                (FailureNote::Reminder, Some(run)) => tracing::warn!(feed = %feed.name, %url,
                    status, %error, failures = run.consecutive.saturating_add(1),
                    failing_since = %rfc3339(run.since), next_poll = %next,
                    "feed still failing"),
                (FailureNote::Quiet, Some(_)) => tracing::debug!(feed = %feed.name, %url,
                    status, %error, next_poll = %next, "poll failed"),
            }
            false
        }
    };
    (ok, next_in)
}

/// How often a feed that goes on failing is mentioned again at WARN.
pub const FAILING_REMINDER_EVERY: i64 = 3600;

/// What the log says about one more failed poll of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureNote {
    /// The feed was healthy: it starts failing now (WARN).
    Started,
    /// The first failure in a new hour of the run (WARN, with how long it has been failing).
    Reminder,
    /// Already said within this hour (DEBUG).
    Quiet,
}

/// Whether a failed poll at `now` (Unix seconds) is news, given the run of failures before it.
/// The hours are counted from the run's start and compared with the previous poll's, so the
/// decision needs no memory of what was logged and holds across restarts and reloads: at most
/// one WARN per hour of failing, whatever the poll interval.
pub fn failure_note(before: Option<&crate::pipeline::FailureRun>, now: i64) -> FailureNote {
    let Some(run) = before else {
        return FailureNote::Started;
    };
    let hour = |t: i64| {
        t.saturating_sub(run.since)
            .div_euclid(FAILING_REMINDER_EVERY)
    };
    match run.last_polled_at {
        Some(last) if hour(now) <= hour(last) => FailureNote::Quiet,
        _ => FailureNote::Reminder,
    }
}

/// Unix seconds as RFC 3339 UTC, for log fields.
fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::FailureRun;

    #[test]
    fn a_failing_feed_is_mentioned_once_then_hourly() {
        let run = |since: i64, last: i64| FailureRun {
            consecutive: 3,
            since,
            last_polled_at: Some(last),
        };
        // (case, run before the poll, now, note)
        let cases = [
            ("healthy until now", None, 1_000, FailureNote::Started),
            (
                "again within the first hour",
                Some(run(0, 600)),
                1_200,
                FailureNote::Quiet,
            ),
            (
                "first poll of the second hour",
                Some(run(0, 3_500)),
                3_700,
                FailureNote::Reminder,
            ),
            (
                "second poll of the second hour",
                Some(run(0, 3_700)),
                4_000,
                FailureNote::Quiet,
            ),
            (
                "polled only every three hours",
                Some(run(0, 0)),
                10_800,
                FailureNote::Reminder,
            ),
            (
                "hours count from the run's start",
                Some(run(100, 3_600)),
                3_650,
                FailureNote::Quiet,
            ),
            (
                "no previous poll recorded",
                Some(FailureRun {
                    consecutive: 1,
                    since: 0,
                    last_polled_at: None,
                }),
                10,
                FailureNote::Reminder,
            ),
        ];
        for (case, before, now, want) in cases {
            assert_eq!(failure_note(before.as_ref(), now), want, "{case}");
        }
    }
}

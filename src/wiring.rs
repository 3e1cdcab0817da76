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
    let ok = match polled.result {
        Ok(r) if r.not_modified => {
            metrics::counter!(crate::metrics::POLLS, "outcome" => "not_modified").increment(1);
            tracing::info!(feed = %feed.name, url = %Redacted::url(&feed.url), next_poll = %next,
                "not modified");
            true
        }
        Ok(r) => {
            metrics::counter!(crate::metrics::POLLS, "outcome" => "ok").increment(1);
            metrics::counter!(crate::metrics::ITEMS).increment(r.new_items as u64);
            tracing::info!(feed = %feed.name, url = %Redacted::url(&feed.url), items = r.seen,
                new = r.new_items, alerts = r.alerts, next_poll = %next, "polled");
            true
        }
        Err(crate::pipeline::PollError::ShuttingDown) => {
            tracing::info!(feed = %feed.name, url = %Redacted::url(&feed.url),
                "poll abandoned: shutting down");
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
            tracing::warn!(feed = %feed.name, url = %Redacted::url(&feed.url), status,
                error = %error_chain(&e), next_poll = %next, "poll failed");
            false
        }
    };
    (ok, next_in)
}

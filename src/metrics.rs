//! Prometheus metrics and `/healthz` on `[metrics] listen` (off unless configured).
//!
//! Counters and histograms are recorded with the `metrics` macros where things happen (they
//! are no-ops when no recorder is installed, e.g. in `once`); gauges that describe the store
//! (alerts by state, queue depth, failing feeds) are refreshed from SQLite on each scrape.

use std::net::SocketAddr;
use std::sync::Mutex;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::domain::AlertStatus;
use crate::outbox::DeliveryHealth;
use crate::store::Store;

/// Polls, by outcome (`ok`, `not_modified`, `error`).
pub const POLLS: &str = "feedwatch_polls_total";
/// Fetch latency in seconds (whole poll: request, body, parse, store).
pub const POLL_SECONDS: &str = "feedwatch_poll_duration_seconds";
/// New items stored.
pub const ITEMS: &str = "feedwatch_items_ingested_total";
/// Alerts queued, by rule.
pub const MATCHES: &str = "feedwatch_rule_matches_total";
/// Delivery attempts, by notifier and result (`sent`, `retry`, `dead`).
pub const DELIVERIES: &str = "feedwatch_deliveries_total";
/// Alerts in the outbox, by state.
pub const ALERTS: &str = "feedwatch_alerts";
/// Alerts waiting to be delivered.
pub const QUEUE_DEPTH: &str = "feedwatch_queue_depth";
/// Configured feeds whose last poll failed. Rendered from the store and the current config on
/// each scrape, so a feed removed by a reload stops counting.
pub const FEED_ERRORS: &str = "feedwatch_feeds_failing";
/// Per configured feed (label `feed`, its name): Unix time of its last successful poll; absent
/// until it has one.
pub const FEED_LAST_SUCCESS: &str = "feedwatch_feed_last_success_timestamp_seconds";
/// Per configured feed (label `feed`): failed polls in a row, 0 while healthy.
pub const FEED_FAILURES: &str = "feedwatch_feed_consecutive_failures";
/// Alerts sent but not recorded as sent (the database refused); above zero, delivery is
/// paused. Rendered from the daemon's own [`DeliveryHealth`] on each scrape.
pub const UNRECORDED: &str = "feedwatch_unrecorded_deliveries";

/// Errors starting the metrics endpoint.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The recorder could not be installed (one is already installed in this process).
    #[error("cannot install the metrics recorder")]
    Recorder(#[source] metrics_exporter_prometheus::BuildError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// How often the recorder's histogram samples are folded into their buckets between scrapes.
/// `install_recorder` leaves this upkeep to the caller (a scrape does it too): without it
/// every poll's duration sample stays in memory until the next scrape, for ever if nothing
/// scrapes — about 8 bytes a poll, 38 MB a day at 10,000 feeds polled every 3 minutes.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The process's recorder, installed by the first [`serve`]: the `metrics` macros record into
/// one global recorder, so a second daemon in the same process (tests) shares it.
static RECORDER: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// The process's recorder handle, installing the recorder on first use.
fn recorder() -> Result<PrometheusHandle, MetricsError> {
    // A poisoned lock only means another thread panicked while installing: the slot is still
    // either empty or set.
    let mut slot = RECORDER.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(&[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
        .map_err(MetricsError::Recorder)?
        .install_recorder()
        .map_err(MetricsError::Recorder)?;
    *slot = Some(handle.clone());
    describe();
    Ok(handle)
}

/// `# HELP` for every series the recorder renders (`# TYPE` it writes itself); the series
/// rendered by hand in [`render`] carry their own.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(POLLS, "Feed polls, by outcome (ok, not_modified, error).");
    describe_histogram!(
        POLL_SECONDS,
        Unit::Seconds,
        "Duration of one poll: request, body, parse and store."
    );
    describe_counter!(ITEMS, "New items stored.");
    describe_counter!(MATCHES, "Alerts queued, by rule.");
    describe_counter!(
        DELIVERIES,
        "Delivery attempts, by notifier and result (sent, retry, dead)."
    );
    describe_gauge!(ALERTS, "Alerts in the outbox, by state.");
    describe_gauge!(QUEUE_DEPTH, "Alerts waiting to be delivered.");
}

/// The configured feeds as the metrics know them: (name, URL as the store keys it). The
/// daemon sends a new list on every reload.
pub type FeedLabels = std::sync::Arc<Vec<(String, String)>>;

/// [`FeedLabels`] of a config.
pub fn feed_labels(config: &crate::config::Config) -> FeedLabels {
    let feeds = config.feeds.iter();
    std::sync::Arc::new(
        feeds
            .map(|f| (f.name.clone(), f.id().as_str().to_string()))
            .collect(),
    )
}

/// Installs the recorder and serves `/metrics` and `/healthz` on `addr` until `shutdown`;
/// `health` is whether the daemon's deliveries are being recorded, `feeds` the feeds configured
/// now. Returns the bound address (useful with port 0).
pub async fn serve(
    addr: SocketAddr,
    store: Store,
    health: watch::Receiver<DeliveryHealth>,
    feeds: watch::Receiver<FeedLabels>,
    shutdown: CancellationToken,
) -> Result<SocketAddr, MetricsError> {
    let handle = recorder()?;
    let upkeep = handle.clone();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| MetricsError::Bind { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    let app = Router::new()
        .route(
            "/metrics",
            get({
                let (store, health) = (store.clone(), health.clone());
                move || render(handle.clone(), store.clone(), health.clone(), feeds.clone())
            }),
        )
        .route(
            "/healthz",
            get(move || healthz(store.clone(), health.clone())),
        );
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let mut every = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = every.tick() => upkeep.run_upkeep(),
                }
            }
        }
    });
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "metrics endpoint failed");
        }
    });
    tracing::info!(listen = %bound, "serving /metrics and /healthz");
    Ok(bound)
}

async fn render(
    handle: PrometheusHandle,
    store: Store,
    health: watch::Receiver<DeliveryHealth>,
    feeds: watch::Receiver<FeedLabels>,
) -> String {
    // Read first: the store calls below may wait behind the very record that is failing.
    let unrecorded = match &*health.borrow() {
        DeliveryHealth::Recording => 0,
        DeliveryHealth::Paused { unrecorded, .. } => *unrecorded,
    };
    // A failed count reads as zero of each state, as a state with no alerts does.
    let counts = store.alert_counts().await.unwrap_or_default();
    for state in AlertStatus::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!(ALERTS, "state" => state.as_str()).set(n as f64);
    }
    if let Ok(d) = store.undelivered_count().await {
        metrics::gauge!(QUEUE_DEPTH).set(d as f64);
    }
    let labels = feeds.borrow().clone();
    let per_feed = match store.feed_health().await {
        Ok(rows) => feed_series(&labels, &rows),
        // Left out rather than shown as zero: "no feed failing" would be a claim.
        Err(_) => String::new(),
    };
    // This daemon's own figures, not the process-wide recorder's (which a second daemon in
    // the same process would share, and which would keep a removed feed's series forever).
    format!(
        "{}{per_feed}# HELP {UNRECORDED} Alerts sent but not recorded as sent; delivery is paused while above zero.\n\
         # TYPE {UNRECORDED} gauge\n{UNRECORDED} {unrecorded}\n",
        handle.render()
    )
}

/// The per-feed gauges and the failing count, for the configured feeds only, in the text
/// exposition format.
fn feed_series(labels: &[(String, String)], rows: &[crate::store::FeedHealth]) -> String {
    use std::fmt::Write as _;
    let by_url: std::collections::HashMap<&str, &crate::store::FeedHealth> =
        rows.iter().map(|r| (r.url.as_str(), r)).collect();
    let configured: Vec<(&str, Option<&crate::store::FeedHealth>)> = labels
        .iter()
        .map(|(name, url)| (name.as_str(), by_url.get(url.as_str()).copied()))
        .collect();
    let failing = configured
        .iter()
        .filter(|(_, r)| r.is_some_and(|r| r.consecutive_failures > 0))
        .count();
    let mut out = format!(
        "# HELP {FEED_ERRORS} Configured feeds whose last poll failed.\n\
         # TYPE {FEED_ERRORS} gauge\n{FEED_ERRORS} {failing}\n\
         # HELP {FEED_LAST_SUCCESS} Unix time of the feed's last successful poll.\n\
         # TYPE {FEED_LAST_SUCCESS} gauge\n"
    );
    for (name, row) in &configured {
        if let Some(t) = row.and_then(|r| r.last_success_at) {
            let _ = writeln!(out, "{FEED_LAST_SUCCESS}{{feed=\"{}\"}} {t}", label(name));
        }
    }
    let _ = write!(
        out,
        "# HELP {FEED_FAILURES} Failed polls of the feed in a row; 0 while healthy.\n\
         # TYPE {FEED_FAILURES} gauge\n"
    );
    for (name, row) in &configured {
        let n = row.map_or(0, |r| r.consecutive_failures);
        let _ = writeln!(out, "{FEED_FAILURES}{{feed=\"{}\"}} {n}", label(name));
    }
    out
}

/// A label value escaped as the exposition format requires: backslash, quote, line feed.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// 200 while the database answers and records deliveries; 503 with the reason otherwise.
async fn healthz(store: Store, health: watch::Receiver<DeliveryHealth>) -> (StatusCode, String) {
    // Checked first, without the store, which may be busy failing that very record.
    if let DeliveryHealth::Paused { unrecorded, error } = &*health.borrow() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "delivery paused: {unrecorded} sent alert(s) cannot be recorded in the database ({error})\n"
            ),
        );
    }
    match store.undelivered_count().await {
        Ok(_) => (StatusCode::OK, "ok\n".to_string()),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable\n".to_string(),
        ),
    }
}

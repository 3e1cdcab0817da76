//! `feedwatch once`: polls every feed once, delivers what is due (when this process holds the
//! delivery lock), prunes, and exits 0, or 1 when a feed failed or an alert is still queued.
//! Alerts are sent whatever feedwatch's own back-off says, but never before a time their
//! server asked for (`Retry-After`): those stay queued and are named in the summary.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;

use crate::config::Config;
use crate::pipeline::Engine;
use crate::wiring::{Parts, poll_and_log};

pub async fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = Config::load(path)?;
    let concurrency = config.poll.concurrency;
    let per_host = config.poll.per_host;
    let keep = config.storage.keep;
    let parts = Parts::build(config).await?;
    let failed = poll_all_once(&parts.engine, concurrency, per_host).await;
    let feeds = parts.engine.config().feeds.len();
    // Only the holder of the delivery lock sends: beside a running daemon, `once` polls and
    // queues, and leaves sending to the daemon (so nothing goes out twice).
    let (delivery, undelivered, held) = match parts.store.try_delivery_lock()? {
        Some(_lock) => {
            let now = Utc::now().timestamp();
            (
                parts.outbox.deliver_all(now).await?,
                parts.store.undelivered_count().await?,
                parts.store.server_holds(now).await?,
            )
        }
        None => {
            tracing::info!(
                "another feedwatch process (the daemon) holds this database's delivery lock; \
                 it delivers the queued alerts"
            );
            (crate::outbox::DeliveryReport::default(), 0, None)
        }
    };
    if let Some(hold) = held {
        tracing::info!(
            alerts = hold.alerts,
            not_before = %super::local_time(hold.until).unwrap_or_default(),
            "alerts wait for the server's Retry-After: not sent before then (a later `once` \
             or the daemon sends them)"
        );
    }
    if let Some(keep) = keep {
        parts.store.prune(keep, Utc::now().timestamp()).await;
    }
    tracing::info!(
        feeds,
        failed_feeds = failed,
        sent = delivery.sent,
        dead = delivery.dead,
        undelivered,
        waiting_for_server = held.map_or(0, |h| h.alerts),
        "once: done"
    );
    Ok(if failed == 0 && undelivered == 0 && delivery.dead == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Polls every feed once, at most `concurrency` at a time and `per_host` against one host (the
/// daemon's scheduler with every feed due now and none rescheduled), and returns how many
/// failed.
async fn poll_all_once(engine: &Engine, concurrency: usize, per_host: usize) -> usize {
    let feeds = engine.config().feeds.len();
    if feeds == 0 {
        return 0;
    }
    let now = tokio::time::Instant::now();
    let jobs = engine
        .config()
        .feeds
        .iter()
        .map(|f| crate::scheduler::Job {
            first: now,
            host: crate::scheduler::host_key(&f.url),
        })
        .collect();
    let tally = Arc::new(Tally {
        feeds,
        finished: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        done: tokio_util::sync::CancellationToken::new(),
    });
    let poll = {
        let (tally, engine) = (tally.clone(), engine.clone());
        move |n| {
            let finish = Finish {
                tally: tally.clone(),
                ok: false,
            };
            let engine = engine.clone();
            async move {
                // Move the whole guard in (a closure would capture only its `ok` field).
                let mut finish = finish;
                finish.ok = poll_and_log(&engine, n).await.0;
                // `once` polls each feed once: never reschedule.
                None
            }
        }
    };
    crate::scheduler::run(jobs, concurrency, per_host, tally.done.clone(), poll).await;
    tally.failed.load(Ordering::Relaxed)
}

/// What [`poll_all_once`] counts across its poll tasks.
struct Tally {
    /// Feeds to poll.
    feeds: usize,
    /// Polls finished (failed or not); the one that makes it `feeds` cancels `done`.
    finished: AtomicUsize,
    /// Polls that failed (or panicked).
    failed: AtomicUsize,
    /// Ends the scheduler once every feed has been polled.
    done: tokio_util::sync::CancellationToken,
}

/// Counts one poll as finished when dropped — also if the poll panicked, so a panic is one
/// feed's failure and the round still ends.
struct Finish {
    tally: Arc<Tally>,
    /// Set when the poll completed successfully.
    ok: bool,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if !self.ok {
            self.tally.failed.fetch_add(1, Ordering::Relaxed);
        }
        if self.tally.finished.fetch_add(1, Ordering::AcqRel) + 1 == self.tally.feeds {
            self.tally.done.cancel();
        }
    }
}

//! The long-running daemon as a library function, [`run`]: scheduler + dispatcher over one
//! store, systemd notifications, the watchdog and retention, reloads on request. Signals are
//! the binary's business (`commands::run`); a test starts and stops the daemon with its own
//! cancellation token and reload channel.
//!
//! A reload validates the new config completely first; an invalid one is logged (every
//! problem) and the daemon keeps running on the old one. A valid one is swapped in between
//! "generations": the running scheduler stops dispatching and lets its in-flight polls finish,
//! then a new engine, outbox and scheduler start on the same database. The schedule resumes
//! from the next-poll times stored per feed, and queued alerts live in the outbox, so a reload
//! neither polls everything at once nor loses or resends anything.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::domain::error_chain;
use crate::outbox::BetweenPasses;
use crate::scheduler::{Job, first_poll};
use crate::store::Store;
use crate::wiring::{Parts, poll_and_log};

/// Waiting for the delivery lock at start-up: attempts × pause (about 30 s).
const LOCK_ATTEMPTS: u32 = 60;
const LOCK_RETRY: Duration = Duration::from_millis(500);
/// How often old item bodies are pruned (when `[storage] keep` is set).
pub const PRUNE_EVERY: Duration = Duration::from_secs(6 * 3600);

/// When to reload, and where the new config comes from.
pub struct Reload {
    /// Each message asks for a reload (SIGHUP, in the binary). Give the channel capacity 1:
    /// requests made while one is pending then coalesce, and the pending one reads the newest
    /// config when it runs.
    pub requests: mpsc::Receiver<()>,
    /// Loads and validates the new config.
    pub load: Box<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>,
}

impl Reload {
    /// Reloads that read the config file at `path` again; send on the returned sender to ask
    /// for one.
    pub fn from_file(path: PathBuf) -> (mpsc::Sender<()>, Reload) {
        let (tx, requests) = mpsc::channel(1);
        let load = Box::new(move || Config::load(&path));
        (tx, Reload { requests, load })
    }
}

/// Runs the daemon on `config` over `store` until `shutdown` is cancelled, reloading when
/// `reload` asks. Installs no signal handlers: the caller decides what stops and reloads it
/// (the binary: SIGTERM/SIGINT and SIGHUP; a test: its own token and channel).
///
/// Returns an error when it cannot start (another process keeps the delivery lock) or when
/// the scheduler or dispatcher died, so that the service manager restarts feedwatch.
pub async fn run(
    config: Config,
    store: Store,
    shutdown: CancellationToken,
    reload: Reload,
) -> anyhow::Result<()> {
    run_with_ready(config, store, shutdown, reload, watch::Sender::new(0)).await
}

/// [`run`], also counting in `ready` each time the daemon becomes ready: once its scheduler
/// and dispatcher run, and again when a reload has been dealt with (taken or refused). These
/// are the moments it tells systemd `READY=1`; a test in the same process waits on them
/// instead of on a log line or a fixed sleep.
pub async fn run_with_ready(
    mut config: Config,
    store: Store,
    shutdown: CancellationToken,
    mut reload: Reload,
    ready: watch::Sender<u64>,
) -> anyhow::Result<()> {
    let announce_ready = || {
        crate::systemd::ready();
        ready.send_modify(|n| *n += 1);
    };
    // One deliverer per database. A `feedwatch once` may hold the lock for a moment; another
    // daemon on the same database holds it for good, which is a configuration mistake.
    let mut delivery_lock = None;
    for _ in 0..LOCK_ATTEMPTS {
        delivery_lock = store.try_delivery_lock()?;
        if delivery_lock.is_some() {
            break;
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(LOCK_RETRY) => {}
        }
    }
    let Some(_delivery_lock) = delivery_lock else {
        anyhow::bail!(
            "another feedwatch process keeps the delivery lock of {} (is a second daemon running on this database?)",
            config.storage.path.display()
        );
    };
    let watchdog = tokio::spawn(watchdog(store.clone(), shutdown.clone()));
    if let Some(addr) = config.metrics {
        // Metrics are an aid, not a duty: a port already taken is logged, not fatal.
        if let Err(e) = crate::metrics::serve(addr, store.clone(), shutdown.clone()).await {
            tracing::error!(error = %error_chain(&e), "metrics endpoint not started");
        }
    }

    let mut generation = start(config.clone(), store.clone(), &shutdown).await?;
    status(&config, &store).await;
    announce_ready();
    loop {
        let event = tokio::select! {
            // Shutdown first: on SIGTERM the generation's tasks end too, which is not a death.
            biased;
            () = shutdown.cancelled() => Event::Shutdown,
            Some(()) = reload.requests.recv() => Event::Reload,
            task = generation.died() => Event::Died(task),
        };
        match event {
            Event::Shutdown => break,
            Event::Died(_) if shutdown.is_cancelled() => break,
            Event::Died(task) => {
                // A poll or delivery loop that is gone would leave a daemon that pings the
                // watchdog but does no work: better to exit and be restarted.
                crate::systemd::stopping();
                shutdown.cancel();
                let _ = watchdog.await;
                anyhow::bail!(
                    "the {task} stopped unexpectedly (a bug; see the log above); exiting so the service manager restarts feedwatch"
                );
            }
            Event::Reload => {
                crate::systemd::reloading();
                match (reload.load)() {
                    Ok(new) => {
                        if new.metrics != config.metrics {
                            tracing::warn!("[metrics] listen changed: takes effect on restart");
                        }
                        if new.storage.path != config.storage.path {
                            tracing::warn!(old = %config.storage.path.display(),
                                new = %new.storage.path.display(),
                                "[storage] path changed: takes effect on restart; keeping the open database");
                        }
                        generation.stop().await;
                        match start(new.clone(), store.clone(), &shutdown).await {
                            Ok(g) => {
                                tracing::info!(
                                    feeds = new.feeds.len(),
                                    rules = new.enabled_rules().count(),
                                    notifiers = new.notifiers.len(),
                                    "config reloaded"
                                );
                                generation = g;
                                config = new;
                            }
                            Err(e) => {
                                tracing::error!(
                                    error = format!("{e:#}"),
                                    "cannot start with the new config; keeping the old one"
                                );
                                generation =
                                    start(config.clone(), store.clone(), &shutdown).await?;
                            }
                        }
                    }
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "reload failed: the new config is invalid; still running the old one"
                    ),
                }
                status(&config, &store).await;
                announce_ready();
            }
        }
    }
    crate::systemd::stopping();
    tracing::info!("shutting down: letting polls in flight finish");
    generation.stop().await;
    let _ = watchdog.await;
    tracing::info!("feedwatch stopped");
    Ok(())
}

/// What woke the daemon's main loop.
enum Event {
    Shutdown,
    Reload,
    /// A generation's task ended on its own.
    Died(&'static str),
}

/// One configuration's scheduler and dispatcher.
struct Generation {
    /// Cancelled to end this generation (a child of the shutdown token).
    token: CancellationToken,
    /// The poll loop; `None` once it has been seen to end.
    scheduler: Option<tokio::task::JoinHandle<()>>,
    /// The delivery loop; `None` once it has been seen to end.
    dispatcher: Option<tokio::task::JoinHandle<()>>,
}

impl Generation {
    /// Resolves only if the scheduler or the dispatcher ends by itself (a panic); names it.
    /// A handle seen to end is dropped, so [`Generation::stop`] never awaits it twice.
    async fn died(&mut self) -> &'static str {
        let (Some(scheduler), Some(dispatcher)) = (&mut self.scheduler, &mut self.dispatcher)
        else {
            return std::future::pending().await;
        };
        let (which, result) = tokio::select! {
            r = scheduler => ("scheduler", r),
            r = dispatcher => ("alert dispatcher", r),
        };
        if which == "scheduler" {
            self.scheduler = None;
        } else {
            self.dispatcher = None;
        }
        if let Err(e) = result {
            tracing::error!(error = %e, "{which} task failed");
        }
        which
    }

    /// Stops dispatching, waits for in-flight polls and the dispatcher's current pass.
    async fn stop(self) {
        self.token.cancel();
        for (what, task) in [
            ("scheduler", self.scheduler),
            ("dispatcher", self.dispatcher),
        ] {
            if let Some(task) = task
                && let Err(e) = task.await
            {
                tracing::error!(error = %e, "{what} task failed");
            }
        }
    }
}

async fn start(
    config: Config,
    store: Store,
    shutdown: &CancellationToken,
) -> anyhow::Result<Generation> {
    let concurrency = config.poll.concurrency;
    let per_host = config.poll.per_host;
    let housekeeping = Housekeeping {
        store: store.clone(),
        config: config.clone(),
        last_prune: None,
        last_pending: None,
    };
    let feeds = config.feeds.clone();
    let Parts { engine, outbox, .. } = Parts::with_store(config, store.clone())?;
    // Shutdown (not a reload, which lets polls finish) abandons a parse in progress.
    let engine = engine.with_shutdown(shutdown.clone());
    let token = shutdown.child_token();
    // Wakes the dispatcher as soon as a poll may have queued alerts.
    let wake = Arc::new(Notify::new());

    let dispatcher = {
        let wake = wake.clone();
        let token = token.clone();
        tokio::spawn(async move { outbox.run(&token, &wake, housekeeping).await })
    };

    // Each feed resumes from its stored next-poll time; new feeds start within seconds.
    let now = Utc::now();
    let start = tokio::time::Instant::now();
    let mut jobs = Vec::with_capacity(feeds.len());
    for f in &feeds {
        // (A feed that is gone is polled once, which reports it and stops.)
        let state = store.feed_state(&f.id()).await.ok();
        let stored_at = state
            .as_ref()
            .and_then(|s| s.next_poll_at)
            .and_then(|t| chrono::DateTime::<Utc>::from_timestamp(t, 0));
        // The stored time stands (back-off, Retry-After and cache hints included) unless the
        // feed's interval changed since it was decided: then it is at most one new interval
        // away.
        let same_interval = state.and_then(|s| s.next_poll_interval) == Some(f.interval);
        let cap = chrono::Duration::from_std(f.interval)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
        let stored_at = if same_interval {
            stored_at
        } else {
            stored_at.map(|t| t.min(cap))
        };
        let at = first_poll(stored_at, now, f.url.as_str(), f.interval);
        let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
        jobs.push(Job {
            first: start + wait,
            host: crate::scheduler::host_key(&f.url),
        });
    }
    tracing::info!(
        feeds = feeds.len(),
        concurrency,
        per_host,
        "scheduler started"
    );
    let scheduler = {
        let token = token.clone();
        tokio::spawn(async move {
            crate::scheduler::run(jobs, concurrency, per_host, token, move |n| {
                let engine = engine.clone();
                let wake = wake.clone();
                async move {
                    let (ok, next) = poll_and_log(&engine, n).await;
                    if ok {
                        wake.notify_one();
                    }
                    next
                }
            })
            .await;
        })
    };
    Ok(Generation {
        token,
        scheduler: Some(scheduler),
        dispatcher: Some(dispatcher),
    })
}

/// What the dispatcher does between delivery passes: keeps systemd's STATUS= line current
/// and prunes item bodies every [`PRUNE_EVERY`] when `[storage] keep` is set.
struct Housekeeping {
    store: Store,
    /// The generation's config (the status line and `keep`).
    config: Config,
    /// When bodies were last pruned; `None` until the first pass.
    last_prune: Option<tokio::time::Instant>,
    /// The undelivered count the status line last showed.
    last_pending: Option<u64>,
}

impl BetweenPasses for Housekeeping {
    async fn after_pass(&mut self) {
        // Keep systemd's STATUS= line current when the queue changes.
        let pending = self.store.undelivered_count().await.ok();
        if pending != self.last_pending {
            status(&self.config, &self.store).await;
            self.last_pending = pending;
        }
        if let Some(keep) = self.config.storage.keep
            && self.last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY)
        {
            self.store.prune(keep, Utc::now().timestamp()).await;
            self.last_prune = Some(tokio::time::Instant::now());
        }
    }
}

async fn status(config: &Config, store: &Store) {
    let pending = store.undelivered_count().await.unwrap_or(0);
    crate::systemd::status(&format!(
        "watching {} feeds with {} rules; {} alerts pending",
        config.feeds.len(),
        config.enabled_rules().count(),
        pending
    ));
}

/// Pings the systemd watchdog while the database answers (a wedged store must get the
/// daemon restarted, not kept alive by a timer).
async fn watchdog(store: Store, shutdown: CancellationToken) {
    let Some(every) = crate::systemd::watchdog_interval() else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        match store.undelivered_count().await {
            Ok(_) => crate::systemd::watchdog(),
            Err(e) => tracing::warn!(error = %error_chain(&e),
                "database check failed; withholding the watchdog ping"),
        }
    }
}

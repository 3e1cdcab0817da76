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
//!
//! Shutdown stops dispatching and claiming at once; polls and sends in flight get
//! [`SHUTDOWN_GRACE`] to finish (a poll that does is recorded like any other), and what still
//! runs when it ends is abandoned, so a stop is bounded whatever a server or a feed does.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::domain::error_chain;
use crate::outbox::{DeliveryHealth, Lanes, Ledger, OUTBOX_TICK, Outbox, SHUTDOWN_GRACE, Stop};
use crate::scheduler::{Job, first_poll};
use crate::store::Store;
use crate::wiring::{Parts, poll_and_log};

/// Waiting for the delivery lock at start-up: attempts × pause (about 30 s).
const LOCK_ATTEMPTS: u32 = 60;
const LOCK_RETRY: Duration = Duration::from_millis(500);
/// What a stop may take beyond [`SHUTDOWN_GRACE`]: for the lanes to record what finished,
/// and for one last attempt to record deliveries the database refused.
const STOP_MARGIN: Duration = Duration::from_secs(1);
/// How often the daemon checks that its database file is still in place, besides the check
/// before every write: bounds how long a deleted database goes unnoticed while nothing is
/// written (one `stat`, so it may be frequent).
const FILE_CHECK_EVERY: Duration = Duration::from_secs(5);
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
/// Returns an error when it cannot start (another process keeps the delivery lock), when the
/// scheduler or dispatcher died, or when the database file was deleted or replaced, so that
/// the service manager restarts feedwatch.
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
    // Shared by every generation: deliveries sent but not recorded survive a reload.
    let ledger = Ledger::new();
    // The feeds the metrics describe: replaced on every reload.
    let feed_labels = watch::Sender::new(crate::metrics::feed_labels(&config));
    if let Some(addr) = config.metrics {
        // A configured endpoint that cannot listen (the port is taken) is a start-up error:
        // monitoring that silently scrapes another process, or nothing, is worse than a
        // daemon that refuses to start and says why.
        let health = ledger.health();
        let served = crate::metrics::serve(
            addr,
            store.clone(),
            health,
            feed_labels.subscribe(),
            shutdown.clone(),
        )
        .await;
        if let Err(e) = served {
            return Err(anyhow::Error::new(e)
                .context("cannot start the metrics endpoint ([metrics] listen)"));
        }
    }
    let watchdog = tokio::spawn(watchdog(store.clone(), shutdown.clone()));
    // Polls in flight at shutdown get the grace sends get; those still running then are
    // abandoned. A timer of its own rather than a step of the stop below: a SIGTERM that
    // comes while a reload waits for its polls must bound them too.
    let abandon = CancellationToken::new();
    let abandoner = tokio::spawn(abandon_after_grace(shutdown.clone(), abandon.clone()));

    let mut daemon = Running {
        store: store.clone(),
        shutdown: shutdown.clone(),
        abandon,
        abandoner,
        ledger,
        wake: watch::Sender::new(()),
        lanes: Lanes::default(),
    };
    let dispatcher_died = daemon.lanes.died();
    let mut generation = daemon.start(config.clone()).await?;
    status(&config, &store, &daemon.health()).await;
    announce_ready();
    // Set when the loop ends because the database file was deleted or replaced.
    let mut lost_file = None;
    loop {
        let event = tokio::select! {
            // Shutdown first: on SIGTERM the generation's tasks end too, which is not a death.
            biased;
            () = shutdown.cancelled() => Event::Shutdown,
            Some(()) = reload.requests.recv() => Event::Reload,
            task = generation.died() => Event::Died(task),
            () = dispatcher_died.cancelled() => Event::Died("alert dispatcher"),
            lost = store.file_lost(FILE_CHECK_EVERY) => Event::DatabaseLost(lost),
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
            Event::DatabaseLost(lost) => {
                // Carrying on would write to a deleted file, losing every alert queued from
                // now on, silently. Stop as on SIGTERM, then fail saying why; the next start
                // opens whatever is at the path then (a restored file, or a new database).
                shutdown.cancel();
                lost_file = Some(lost);
                break;
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
                        // Polls in flight finish; deliveries in flight go on in the background.
                        generation.stop_polling().await;
                        match daemon.start(new.clone()).await {
                            Ok(g) => {
                                tracing::info!(
                                    feeds = new.feeds.len(),
                                    rules = new.enabled_rules().count(),
                                    notifiers = new.notifiers.len(),
                                    changes = %crate::config::Changes::between(&config, &new),
                                    "config reloaded"
                                );
                                feed_labels.send_replace(crate::metrics::feed_labels(&new));
                                generation = g;
                                config = new;
                            }
                            Err(e) => {
                                tracing::error!(
                                    error = format!("{e:#}"),
                                    "cannot start with the new config; keeping the old one"
                                );
                                generation = daemon.start(config.clone()).await?;
                            }
                        }
                    }
                    Err(e) => log_refused_reload(&e),
                }
                status(&config, &store, &daemon.health()).await;
                announce_ready();
            }
        }
    }
    crate::systemd::stopping();
    tracing::info!(
        grace_s = SHUTDOWN_GRACE.as_secs(),
        "shutting down: polls and sends in flight get a short grace; everything else stays queued"
    );
    // One deadline for all: the scheduler's polls and the lanes' sends were told to stop at
    // the same moment and wind down side by side; both are given up when the grace ends.
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE + STOP_MARGIN;
    generation.stop_by(deadline).await;
    std::mem::take(&mut daemon.lanes).join(deadline).await;
    // One last try to record what was sent but not recorded (logged if it still fails).
    let settle = daemon.ledger.settle(&store);
    if tokio::time::timeout(STOP_MARGIN, settle).await.is_err() {
        tracing::error!(
            "the database did not answer in time; alerts sent but not recorded as sent will be sent again on the next start"
        );
    }
    let _ = watchdog.await;
    if let Some(lost) = lost_file {
        return Err(DatabaseLost(lost).into());
    }
    tracing::info!("feedwatch stopped");
    Ok(())
}

/// A refused reload: one line saying so, then one line per problem (a multi-line message in
/// one field came out as one line with literal `\n`s in journald and JSON logs). A problem's
/// own detail lines (the caret under a bad query) are left to `feedwatch check`.
fn log_refused_reload(e: &ConfigError) {
    tracing::error!("reload failed: the new config is invalid; still running the old one");
    match e {
        ConfigError::Invalid { path, problems } => {
            for p in problems {
                let text = p.to_string();
                let problem = text.lines().next().unwrap_or_default();
                tracing::error!(config = %path.display(), problem, "config problem");
            }
        }
        ConfigError::Read { .. } => tracing::error!(error = %error_chain(e), "config problem"),
    }
}

/// The daemon stopped because its database file was deleted or replaced under it. The binary
/// exits with [`crate::app::EXIT_DATABASE_LOST`], on which the service manager is told not to
/// restart: a restart would begin an empty database and alert again on the backlog, so the
/// operator decides (restore the file, or start on a new database).
#[derive(Debug, thiserror::Error)]
#[error(
    "{0}; stopping. Restore the file and start feedwatch again (it carries on where it stopped), or start it without one to begin a new, empty database, whose first polls alert on items published within [poll] backlog"
)]
pub struct DatabaseLost(pub crate::store::StoreError);

/// The daemon could not start because its database file is damaged or is not a database.
/// The binary exits with [`crate::app::EXIT_DATABASE_LOST`] as for a lost file: a restart
/// would fail the same way every few seconds, so the operator decides.
#[derive(Debug, thiserror::Error)]
#[error(
    "{}; the file is damaged, and restarting will not mend it. Restore it from a backup (feedwatch carries on where the backup left off), rescue what is readable with `sqlite3 FILE .recover | sqlite3 NEW` and put NEW in its place, or move it aside to begin a new, empty database, whose first polls alert on items published within [poll] backlog",
    error_chain(.0)
)]
pub struct DatabaseDamaged(pub crate::store::StoreError);

/// What woke the daemon's main loop.
enum Event {
    Shutdown,
    Reload,
    /// A generation's task ended on its own.
    Died(&'static str),
    /// The database file was deleted or replaced.
    DatabaseLost(crate::store::StoreError),
}

/// Cancels `abandon` [`SHUTDOWN_GRACE`] after `shutdown` is cancelled.
async fn abandon_after_grace(shutdown: CancellationToken, abandon: CancellationToken) {
    shutdown.cancelled().await;
    tokio::time::sleep(SHUTDOWN_GRACE).await;
    abandon.cancel();
}

/// What outlives a generation: the store, the shutdown tokens, the delivery lanes (which a
/// reload hands over, see [`Outbox::spawn_lanes`]) and what they share.
struct Running {
    store: Store,
    /// Cancelled on SIGTERM/SIGINT: no poll or send starts any more; lanes abandon their
    /// sends after the grace.
    shutdown: CancellationToken,
    /// Cancelled [`SHUTDOWN_GRACE`] after `shutdown`: every generation's engine abandons the
    /// polls it still runs then (until then they finish and are recorded). A reload never
    /// cancels it: the polls of a generation it replaces always finish.
    abandon: CancellationToken,
    /// The timer that cancels `abandon`; aborted when the daemon returns (see `Drop`).
    abandoner: tokio::task::JoinHandle<()>,
    /// Deliveries sent but not recorded, across generations.
    ledger: Ledger,
    /// Sent a value after every poll that may have queued alerts; each lane (of whichever
    /// generation) subscribes and wakes on it. A watch channel: a lane busy in a pass still
    /// sees the change when it next waits, and the sender never blocks.
    wake: watch::Sender<()>,
    /// The newest lane of each notifier, and retired ones still finishing a send.
    lanes: Lanes,
}

impl Running {
    /// Whether deliveries are being recorded, now.
    fn health(&self) -> DeliveryHealth {
        self.ledger.health().borrow().clone()
    }

    /// Starts a generation for `config`: its scheduler, its housekeeping, and new lanes that
    /// take over from the current ones. Fails before touching the running lanes when `config`
    /// cannot be built.
    async fn start(&mut self, config: Config) -> anyhow::Result<Generation> {
        let Parts { engine, outbox, .. } = Parts::with_store(config.clone(), self.store.clone())?;
        // Polls in flight at shutdown finish within the grace, as on a reload, and are
        // abandoned only when it ends.
        let engine = engine.with_abandon(self.abandon.clone());
        let outbox = outbox.with_ledger(self.ledger.clone());
        let token = self.shutdown.child_token();
        // Lanes notify it after a pass that did something; the status line follows.
        let activity = Arc::new(Notify::new());
        let stop = Stop {
            claiming: token.clone(),
            shutdown: self.shutdown.clone(),
            grace: SHUTDOWN_GRACE,
        };
        outbox.spawn_lanes(&mut self.lanes, &stop, &self.wake, &activity);
        let housekeeping = Housekeeping {
            store: self.store.clone(),
            outbox,
            config: config.clone(),
            health: self.ledger.health(),
            last_prune: None,
            last_status: None,
        };
        let housekeeping =
            tokio::spawn(housekeeping.run(token.clone(), self.wake.subscribe(), activity));
        let scheduler =
            spawn_scheduler(config, self.store.clone(), engine, &token, &self.wake).await;
        Ok(Generation {
            token,
            scheduler: Some(scheduler),
            housekeeping: Some(housekeeping),
        })
    }
}

impl Drop for Running {
    /// The daemon is returning, on whichever path: nothing of it may go on polling (a
    /// generation left running by a failure), and its grace timer has nothing left to cut.
    fn drop(&mut self) {
        self.abandon.cancel();
        self.abandoner.abort();
    }
}

/// One configuration's scheduler and housekeeping (its delivery lanes live in [`Lanes`]).
struct Generation {
    /// Cancelled to end this generation (a child of the shutdown token).
    token: CancellationToken,
    /// The poll loop; `None` once it has been seen to end.
    scheduler: Option<tokio::task::JoinHandle<()>>,
    /// Status line, prune and orphaned alerts; aborted when the generation stops (it holds
    /// nothing a stop must wait for); `None` once it has been seen to end.
    housekeeping: Option<tokio::task::JoinHandle<()>>,
}

impl Generation {
    /// Resolves only if the scheduler or the housekeeping ends by itself (a panic); names it.
    /// A handle seen to end is dropped, so a stop never awaits it twice.
    async fn died(&mut self) -> &'static str {
        let (Some(scheduler), Some(housekeeping)) = (&mut self.scheduler, &mut self.housekeeping)
        else {
            return std::future::pending().await;
        };
        let (which, result) = tokio::select! {
            r = scheduler => ("scheduler", r),
            r = housekeeping => ("housekeeping task", r),
        };
        if which == "scheduler" {
            self.scheduler = None;
        } else {
            self.housekeeping = None;
        }
        if let Err(e) = result {
            tracing::error!(error = %e, "{which} failed");
        }
        which
    }

    /// Stops the generation (its lanes stop claiming) and waits for its polls in flight, each
    /// bounded by `[poll] timeout`; deliveries are not waited for.
    async fn stop_polling(self) {
        self.stop_by(tokio::time::Instant::now() + Duration::MAX / 4)
            .await;
    }

    /// [`Generation::stop_polling`], abandoning polls still running at `deadline` (a poll's
    /// commit is one transaction: it happens whole or not at all).
    async fn stop_by(mut self, deadline: tokio::time::Instant) {
        self.token.cancel();
        if let Some(housekeeping) = self.housekeeping.take() {
            housekeeping.abort();
        }
        if let Some(mut task) = self.scheduler.take() {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Err(e)) => tracing::error!(error = %e, "scheduler task failed"),
                Ok(Ok(())) => {}
                Err(_) => {
                    tracing::warn!("polls still running at shutdown were abandoned");
                    task.abort();
                }
            }
        }
    }
}

/// Starts the poll loop over `config`'s feeds; a poll that stored something sends on `wake`.
async fn spawn_scheduler(
    config: Config,
    store: Store,
    engine: crate::pipeline::Engine,
    token: &CancellationToken,
    wake: &watch::Sender<()>,
) -> tokio::task::JoinHandle<()> {
    let concurrency = config.poll.concurrency;
    let per_host = config.poll.per_host;
    let feeds = config.feeds;
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
    let token = token.clone();
    let wake = wake.clone();
    tokio::spawn(async move {
        crate::scheduler::run(jobs, concurrency, per_host, token, move |n| {
            let engine = engine.clone();
            let wake = wake.clone();
            async move {
                let (ok, next) = poll_and_log(&engine, n).await;
                if ok {
                    wake.send_replace(());
                }
                next
            }
        })
        .await;
    })
}

/// A generation's chores beside polling and delivery: keeps systemd's STATUS= line current
/// (queue size, a paused delivery), defers alerts whose notifier is no longer configured, and
/// prunes item bodies every [`PRUNE_EVERY`] when `[storage] keep` is set.
struct Housekeeping {
    store: Store,
    /// The generation's outbox (which notifiers exist).
    outbox: Outbox,
    /// The generation's config (the status line and `keep`).
    config: Config,
    /// Whether deliveries are being recorded.
    health: watch::Receiver<DeliveryHealth>,
    /// When bodies were last pruned; `None` until the first round.
    last_prune: Option<tokio::time::Instant>,
    /// The status line last shown.
    last_status: Option<String>,
}

impl Housekeeping {
    /// Runs a round now, and again whenever a poll queued alerts (`wake`), a lane did
    /// something (`activity`), delivery health changed, or [`OUTBOX_TICK`] passed; until
    /// `token` is cancelled.
    async fn run(
        mut self,
        token: CancellationToken,
        mut wake: watch::Receiver<()>,
        activity: Arc<Notify>,
    ) {
        let (mut wake_open, mut health_open) = (true, true);
        loop {
            self.round().await;
            tokio::select! {
                () = token.cancelled() => break,
                () = activity.notified() => {}
                changed = wake.changed(), if wake_open => wake_open = changed.is_ok(),
                changed = self.health.changed(), if health_open => health_open = changed.is_ok(),
                () = tokio::time::sleep(OUTBOX_TICK) => {}
            }
        }
    }

    async fn round(&mut self) {
        let now = Utc::now().timestamp();
        if let Err(e) = self.outbox.defer_orphans(now, now).await {
            tracing::debug!(error = %error_chain(&e), "cannot look for orphaned alerts");
        }
        let pending = self.store.undelivered_count().await.unwrap_or(0);
        let line = status_line(
            &self.config,
            pending,
            &self.health.borrow_and_update().clone(),
        );
        if self.last_status.as_ref() != Some(&line) {
            crate::systemd::status(&line);
            self.last_status = Some(line);
        }
        if let Some(keep) = self.config.storage.keep
            && self.last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY)
        {
            self.store.prune(keep, now).await;
            self.last_prune = Some(tokio::time::Instant::now());
        }
    }
}

async fn status(config: &Config, store: &Store, health: &DeliveryHealth) {
    let pending = store.undelivered_count().await.unwrap_or(0);
    crate::systemd::status(&status_line(config, pending, health));
}

/// systemd's STATUS= line for `config`: see [`status_text`].
fn status_line(config: &Config, pending: u64, health: &DeliveryHealth) -> String {
    let (feeds, rules) = (config.feeds.len(), config.enabled_rules().count());
    status_text(feeds, rules, pending, health)
}

/// What is watched and waiting, and first of all a paused delivery.
fn status_text(feeds: usize, rules: usize, pending: u64, health: &DeliveryHealth) -> String {
    let watching = format!("watching {feeds} feeds with {rules} rules; {pending} alerts pending");
    match health {
        DeliveryHealth::Recording => watching,
        DeliveryHealth::Paused { unrecorded, error } => format!(
            "DELIVERY PAUSED: {unrecorded} sent alert(s) cannot be recorded in the database ({error}); {watching}"
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_leads_with_a_paused_delivery() {
        let paused = DeliveryHealth::Paused {
            unrecorded: 2,
            error: "database or disk is full".into(),
        };
        let cases = [
            (
                DeliveryHealth::Recording,
                "watching 3 feeds with 2 rules; 5 alerts pending",
            ),
            (
                paused,
                "DELIVERY PAUSED: 2 sent alert(s) cannot be recorded in the database \
                 (database or disk is full); watching 3 feeds with 2 rules; 5 alerts pending",
            ),
        ];
        for (health, want) in cases {
            assert_eq!(status_text(3, 2, 5, &health), want);
        }
    }
}

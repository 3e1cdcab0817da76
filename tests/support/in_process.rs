//! The daemon inside the test process: `feedwatch::daemon` on the test's own runtime, started
//! on a config file and stopped through its cancellation token (what SIGTERM does in the
//! binary), with a handle on the same database so that a test waits on the outbox's rows or on
//! the daemon's readiness, never on a log line or a fixed sleep. Black-box tests of the binary
//! (signals, exit codes, a crash) use [`super::Daemon`] instead.

use std::path::Path;
use std::time::{Duration, Instant};

use feedwatch::config::Config;
use feedwatch::daemon::{self, Reload};
use feedwatch::domain::FeedId;
use feedwatch::store::{AlertRow, FeedState, Store};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::FeedServer;

/// Longest wait for the daemon to start, reload or stop: far beyond what it needs, so a
/// loaded machine does not fail a test, while the happy path returns at once.
const DAEMON_DEADLINE: Duration = Duration::from_secs(30);
/// How often [`wait_for`] checks its condition.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// A daemon running on the current runtime.
pub struct InProcess {
    /// The daemon's shutdown token: cancelled by [`InProcess::stop`].
    shutdown: CancellationToken,
    /// Asks for a reload of the config file, as SIGHUP does (capacity 1: requests coalesce).
    reload: mpsc::Sender<()>,
    /// How many times the daemon has become ready (started, then once per reload handled).
    ready: watch::Receiver<u64>,
    /// The daemon itself; its result is what the binary would turn into an exit status.
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The daemon's database, for the test to look at (shares the daemon's connection).
    pub store: Store,
}

impl InProcess {
    /// Loads the config at `path`, opens its database and starts the daemon on it, as
    /// `feedwatch --config PATH run` does, minus the signal handlers.
    pub async fn start(path: &Path) -> InProcess {
        let config =
            Config::load(path).unwrap_or_else(|e| panic!("config {} loads: {e:#}", path.display()));
        let store = Store::open(&config.storage.path)
            .await
            .expect("the database opens");
        let shutdown = CancellationToken::new();
        let (reload, requests) = Reload::from_file(path.to_path_buf());
        let (ready_tx, ready) = watch::channel(0);
        let task = tokio::spawn(daemon::run_with_ready(
            config,
            store.clone(),
            shutdown.clone(),
            requests,
            ready_tx,
        ));
        InProcess {
            shutdown,
            reload,
            ready,
            task,
            store,
        }
    }

    /// Waits (bounded, also under paused time) until the daemon has become ready `times`
    /// times in all: 1 once it has started, 1 + n once it has dealt with n reloads.
    pub async fn ready(&mut self, times: u64) {
        let what = format!("the daemon ready {times} times");
        let reached = self.ready.wait_for(|n| *n >= times);
        if within_real(DAEMON_DEADLINE, &what, reached).await.is_err() {
            panic!("the daemon ended before {what}");
        }
    }

    /// Asks the daemon to read its config file again (SIGHUP in the binary).
    pub fn reload(&self) {
        // Full: a reload is pending already and will read the newest file.
        let _ = self.reload.try_send(());
    }

    /// Every alert in the outbox, oldest first.
    pub async fn alerts(&self) -> Vec<AlertRow> {
        let mut rows = self
            .store
            .list_alerts(None, 10_000)
            .await
            .expect("list alerts");
        rows.reverse();
        rows
    }

    /// The stored state of the feed configured at `url`.
    pub async fn feed_state(&self, url: &Url) -> FeedState {
        self.store
            .feed_state(&FeedId::from_url(url))
            .await
            .expect("feed state")
    }

    /// Stops the daemon as SIGTERM does (polls and sends in flight get the shutdown grace,
    /// what is queued stays queued) and waits (bounded, also under paused time) for it to end without an error.
    /// Returns its database handle: what it holds now is final.
    pub async fn stop(self) -> Store {
        self.shutdown.cancel();
        match within_real(DAEMON_DEADLINE, "the daemon stopped", self.task).await {
            Ok(Ok(())) => self.store,
            Ok(Err(e)) => panic!("the daemon failed: {e:#}"),
            Err(e) => panic!("the daemon task failed: {e}"),
        }
    }
}

/// Awaits `fut`, panicking if it takes longer than `limit` of real time. The deadline is a
/// plain thread's sleep, not a tokio timer, so it holds under paused time as well: there a
/// tokio timeout fires as soon as the runtime idles (say, while the daemon waits on the
/// database), with no real time gone by.
async fn within_real<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    let (expired, deadline) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        let _ = expired.send(());
    });
    tokio::select! {
        out = fut => out,
        _ = deadline => panic!("timed out after {limit:?} waiting for: {what}"),
    }
}

/// Waits until `cond` holds, checking every 20 ms, for at most `within` (real time); panics
/// naming `what`. Returns as soon as `cond` holds. Not for paused time, which would turn the
/// checks into a busy loop.
pub async fn wait_for(what: &str, within: Duration, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    loop {
        if cond().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for: {what}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// A path on `feeds` whose URL the daemon's start-up spread (`scheduler::first_poll`, a hash
/// of the URL) schedules within the first `within` after start, for a feed with `interval`.
/// A never-polled feed is otherwise first polled up to 10 s after start; a test choosing its
/// URL waits for nothing.
pub fn promptly_polled_path(feeds: &FeedServer, interval: Duration, within: Duration) -> String {
    let now = chrono::Utc::now();
    (0..10_000)
        .map(|i| format!("/feed{i}"))
        .find(|path| {
            let at = feedwatch::scheduler::first_poll(None, now, &feeds.url(path), interval);
            (at - now).to_std().is_ok_and(|d| d < within)
        })
        .expect("one path in 10,000 is polled promptly")
}

/// Keeps paused tokio time still while it lives, so that the clock moves only by
/// `tokio::time::advance`. Paused time otherwise jumps to the next timer whenever the runtime
/// idles, and the daemon idles each time it waits for its database thread: a jump there lets a
/// timer fire long before the test meant it to. A running `spawn_blocking` task inhibits the
/// jumps (tokio documents this under `time::pause`, "Preventing auto-advance"); this one runs
/// until the hold is dropped (or, should the test hang, for at most two minutes).
pub struct ClockHold {
    /// Dropping it ends the blocking task, and with it the hold.
    _release: std::sync::mpsc::Sender<()>,
}

impl ClockHold {
    /// Holds the clock of the current (paused, current-thread) runtime.
    pub fn new() -> ClockHold {
        let (release, held) = std::sync::mpsc::channel::<()>();
        tokio::task::spawn_blocking(move || held.recv_timeout(Duration::from_secs(120)));
        ClockHold { _release: release }
    }

    /// Moves the clock `by` at once, then lets the tasks whose timers fired run.
    pub async fn advance(&self, by: Duration) {
        tokio::time::advance(by).await;
        // A timer that has fired wakes its task at the runtime's next turn, not during
        // `advance`: a few turns let every woken task take its step.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    }
}

//! SQLite storage: feeds (validators, health), items (deduplicated per feed by stable key) and
//! the alert outbox. One file, WAL mode, schema from versioned migrations.
//!
//! The key promise lives in [`Store::ingest`]: the new items of one poll and the alerts they
//! trigger are written in **one transaction**, so a crash can neither lose an alert nor queue it
//! twice. This module knows domain types only — never rules, fetching or notifiers.
//!
//! The API is async and never blocks the runtime: the one connection lives on its own thread
//! (`owner`), and each call sends it a closure and awaits the answer. A lock wait
//! (`busy_timeout`), an fsync or a prune parks that thread, not a tokio worker.
//!
//! Durability is chosen per write (see `Durability`): everything that touches the outbox
//! commits with `synchronous=FULL`; per-poll bookkeeping that carries no alert (a 304, a poll's
//! time, the next-poll time, items that matched no rule) commits with `synchronous=NORMAL`,
//! which in WAL mode skips the fsync per commit. That is what lets one disk serve thousands of
//! polls a second; the trade-off is spelled out on `Durability::Normal`. Reads leave the
//! level as it is: `synchronous` only matters to commits.

mod file;
mod health;
mod mutes;
mod owner;
mod schema;

pub use mutes::{Mute, MutedMatch};

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, MAIN_DB, OptionalExtension, params};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::domain::{
    Alert, AlertPayload, AlertStatus, FeedId, Grouping, Item, ItemKey, NewAlert, canonical_link,
    error_chain, hash_hex,
};
use crate::similar::Sketch;
use file::FileId;
use health::Health;
use owner::Owner;

/// How long a writer waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements kept per connection: every statement on the polling path is prepared
/// once and reused (rusqlite's default of 16 is fewer than this module has).
const STATEMENT_CACHE: usize = 64;

/// How hard a commit insists on reaching the disk (`PRAGMA synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// fsync the WAL on every commit: a committed transaction survives power loss. The
    /// default, and what every write touching the outbox (alerts queued, sent, failed,
    /// requeued) uses, so an alert once queued is never lost and once sent never re-sent.
    Full,
    /// No fsync per commit (the WAL is synced at checkpoints). Still atomic and safe against
    /// a crash of feedwatch itself — the commit is in the OS page cache — but a power loss or
    /// kernel panic may roll back the last such commits. Used only for per-poll bookkeeping
    /// that carries no alert: the worst case is that a feed is polled again as if that poll
    /// had not happened, and decides the same. A later `Full` commit fsyncs the WAL up to
    /// itself, so it also makes every earlier bookkeeping commit durable: the database never
    /// holds an alert without the state that led to it. (SQLite documents WAL + NORMAL as
    /// consistent after power loss: <https://sqlite.org/pragma.html#pragma_synchronous>.)
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }

    /// `Full` when `alerts` queues anything, else `Normal`.
    fn for_alerts(alerts: &[NewAlert]) -> Durability {
        if alerts.is_empty() {
            Durability::Normal
        } else {
            Durability::Full
        }
    }
}

/// The connection and its current `synchronous` level: the state the owner thread keeps.
#[derive(Debug)]
struct Db {
    conn: Connection,
    /// The level the connection is set to; changed only between transactions (SQLite refuses
    /// to change it inside one), and only when a write asks for the other level.
    sync: Durability,
    /// The database path, and the file it named when opened: every write first checks that
    /// the path still names it ([`Db::check_file`]).
    path: PathBuf,
    file: FileId,
    /// Cancelled once the file is found deleted or replaced; [`Store::file_lost`] waits on it.
    lost: CancellationToken,
    /// Writes waiting for the group commit ([`Db::flush`]), in the order they came.
    grouped: Vec<Box<dyn GroupedWrite>>,
}

impl std::fmt::Debug for dyn GroupedWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupedWrite")
    }
}

/// Most writes one group commit takes: a bound on how long the first of them waits.
const MAX_GROUP: usize = 64;

/// A write waiting for [`Db::flush`], with its caller waiting for the answer.
trait GroupedWrite: Send {
    /// How hard its commit must insist.
    fn durability(&self) -> Durability;
    /// Writes, in the group's transaction (or its own), keeping the result to answer with.
    fn write(&mut self, tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError>;
    /// Answers the caller once the transaction it wrote in is committed (`Ok`), or failed.
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
}

/// A [`GroupedWrite`] made of the write `op` and the channel its caller waits on.
struct Grouped<T, F> {
    level: Durability,
    op: F,
    written: Option<T>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> GroupedWrite for Grouped<T, F>
where
    T: Send,
    F: Fn(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send,
{
    fn durability(&self) -> Durability {
        self.level
    }

    fn write(&mut self, tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
        self.written = Some((self.op)(tx)?);
        Ok(())
    }

    fn answer(self: Box<Self>, committed: Result<(), StoreError>) {
        let Grouped { written, reply, .. } = *self;
        let answer = committed.and_then(|()| {
            written.ok_or_else(|| StoreError::Panicked("group commit lost a write".into()))
        });
        // The caller may have stopped waiting: nothing to tell it.
        let _ = reply.send(answer);
    }
}

impl Db {
    /// Opens (creating if needed, privately: see [`file`]) the database at `path` and
    /// migrates it to the latest schema. `lost` is cancelled if the file is later found
    /// deleted or replaced.
    fn open(path: &Path, lost: CancellationToken) -> Result<Db, StoreError> {
        let open_err = |e: rusqlite::Error| open_error(path, Box::new(e));
        let io_err = |e: std::io::Error| open_error(path, Box::new(e));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            file::create_private_dir(dir).map_err(io_err)?;
        }
        // An empty file beside the delivery lock of a database that was in use was truncated
        // (a restore gone wrong, a full disk, `> fw.db`): SQLite would take it for a new
        // database and feedwatch would forget every queued alert and alert again on recent
        // items. Refuse, and say how to recover. (A first start leaves no lock file before the
        // schema is written, so a crash then does not trip this.)
        if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) && lock_path(path).exists() {
            return Err(StoreError::Emptied {
                path: path.to_path_buf(),
            });
        }
        file::create_private_file(path).map_err(io_err)?;
        let mut conn = Connection::open(path).map_err(open_err)?;
        // SQLite opens a file it may not write read-only, silently, and every write then
        // fails: a warning per poll instead of one clear refusal at start-up.
        if conn.is_readonly(MAIN_DB).map_err(open_err)? {
            return Err(StoreError::ReadOnly {
                path: path.to_path_buf(),
            });
        }
        let file = FileId::of(path).map_err(io_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL for concurrent readers (CLI listings while the daemon runs); synchronous=FULL so
        // a committed alert survives power loss, not only a process crash (bookkeeping writes
        // relax it: see `Durability`).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", Durability::Full.pragma())
            .map_err(open_err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        schema::migrations()
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Db {
            conn,
            sync: Durability::Full,
            path: path.to_path_buf(),
            file,
            lost,
            grouped: Vec::new(),
        })
    }

    /// Queues a write for the next group commit, which runs once every request already
    /// waiting for the database thread has run (the thread's idle hook), or at once when
    /// [`MAX_GROUP`] are queued.
    fn group(&mut self, write: Box<dyn GroupedWrite>) {
        self.grouped.push(write);
        if self.grouped.len() >= MAX_GROUP {
            self.flush();
        }
    }

    /// The group commit: the queued writes (ingests, new feed rows) in one transaction, at the
    /// strictest durability any of them needs, each caller answered only once it is
    /// committed. A first poll of 2,000 feeds committed 4,000 times (a row for each feed, then
    /// its items), rewriting the same index pages into the WAL each time (issue 13's profile:
    /// 11 % of its CPU in commits). Should anything in the group fail, the group is rolled
    /// back and each write runs again in its own transaction, so each caller gets its own
    /// outcome, as if there were no grouping. Reads on the database thread never see a queued
    /// write: it is not written until here.
    fn flush(&mut self) {
        let mut grouped = std::mem::take(&mut self.grouped);
        if grouped.len() > 1 {
            let level = if grouped.iter().any(|g| g.durability() == Durability::Full) {
                Durability::Full
            } else {
                Durability::Normal
            };
            let together = self.at(level).and_then(|conn| {
                let tx = conn.transaction()?;
                for g in &mut grouped {
                    g.write(&tx)?;
                }
                Ok(tx.commit()?)
            });
            if together.is_ok() {
                for g in grouped {
                    g.answer(Ok(()));
                }
                return;
            }
        }
        for mut g in grouped {
            let written = self.at(g.durability()).and_then(|conn| {
                let tx = conn.transaction()?;
                g.write(&tx)?;
                Ok(tx.commit()?)
            });
            g.answer(written);
        }
    }

    /// Fails, and cancels `lost`, when the database path no longer names the open file: what
    /// is written from then on would vanish with the deleted file. One `stat`.
    fn check_file(&self) -> Result<(), StoreError> {
        if self.file.still_at(&self.path) {
            return Ok(());
        }
        self.lost.cancel();
        Err(StoreError::FileLost {
            path: self.path.clone(),
        })
    }

    /// The connection, set to `level` for the write that follows, once the file is known to
    /// be still in place.
    fn at(&mut self, level: Durability) -> Result<&mut Connection, StoreError> {
        self.check_file()?;
        if self.sync != level {
            self.conn
                .pragma_update(None, "synchronous", level.pragma())?;
            self.sync = level;
        }
        Ok(&mut self.conn)
    }
}

/// The delivery lock file of the database at `path`: `<database>.lock`.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_error(path: &Path, source: Box<dyn std::error::Error + Send + Sync>) -> StoreError {
    StoreError::Open {
        path: path.to_path_buf(),
        source,
    }
}

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be created or opened.
    #[error("cannot open database {}", path.display())]
    Open {
        /// The database path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The database file may not be written (its owner or mode, or a read-only filesystem):
    /// nothing a poll finds could be stored.
    #[error(
        "database {} is read-only: feedwatch must be able to write it (check the file's owner and mode, and that its filesystem is mounted read-write)",
        path.display()
    )]
    ReadOnly {
        /// The database path.
        path: PathBuf,
    },
    /// The database file is empty although it was in use (its delivery lock file exists): it
    /// was truncated, and opening it would silently start afresh.
    #[error(
        "database {} is empty but was in use (its .lock file exists): it was truncated; restore it from a backup, or delete it and its .lock file to start afresh (recent items would alert again)",
        path.display()
    )]
    Emptied {
        /// The database path.
        path: PathBuf,
    },
    /// The database file was deleted or replaced while open: whatever is written from now on
    /// would be lost with it.
    #[error("database file {} was deleted or replaced while feedwatch had it open", path.display())]
    FileLost {
        /// The database path.
        path: PathBuf,
    },
    /// The schema migration failed.
    #[error("cannot migrate the schema of database {}", path.display())]
    Migrate {
        /// The database path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite_migration::Error,
    },
    /// A query failed (disk full, I/O error, locked database…). Inside the store only: what
    /// leaves it is [`StoreError::Query`], which names the file.
    #[error("database query failed")]
    Sqlite(#[from] rusqlite::Error),
    /// A query on the database file failed (disk full, I/O error, locked database, a damaged
    /// file…).
    #[error("query on database {} failed", path.display())]
    Query {
        /// The database path.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored alert payload is not valid JSON (the row was written by an incompatible version).
    #[error("stored alert {id} has an unreadable payload")]
    Payload {
        /// Alert row id.
        id: i64,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A database operation panicked (a bug); the connection stays usable for other calls.
    #[error("database operation panicked: {0}")]
    Panicked(String),
    /// The database thread is gone (it can only end once every handle is dropped, or if it
    /// panicked outside an operation).
    #[error("database thread has stopped")]
    Closed,
}

impl StoreError {
    /// Whether SQLite found the file damaged ("database disk image is malformed") or not a
    /// database at all: nothing a retry or a restart mends.
    pub fn is_damaged(&self) -> bool {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        // Bounded by the length of the chain, which ends.
        while let Some(e) = cause {
            if let Some(code) = e
                .downcast_ref::<rusqlite::Error>()
                .and_then(rusqlite::Error::sqlite_error_code)
                && matches!(code, DatabaseCorrupt | NotADatabase)
            {
                return true;
            }
            cause = e.source();
        }
        false
    }

    /// The same error, naming the database file at `path` if it is a bare SQLite error.
    fn in_file(self, path: &Path) -> StoreError {
        match self {
            StoreError::Sqlite(source) => StoreError::Query {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        }
    }
}

/// What the store remembers about a feed between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedState {
    /// Row id.
    pub id: i64,
    /// Last ETag.
    pub etag: Option<String>,
    /// Last Last-Modified.
    pub last_modified: Option<String>,
    /// Unix seconds of the first successful poll; `None` until then.
    pub first_polled_at: Option<i64>,
    /// Consecutive failed polls.
    pub consecutive_failures: u32,
    /// Unix seconds of the last poll, successful or not.
    pub last_polled_at: Option<i64>,
    /// The last error, if the last poll failed.
    pub last_error: Option<String>,
    /// When the current run of failures began.
    pub failing_since: Option<i64>,
    /// A feed-health alert was queued for the current run of failures.
    pub health_alerted: bool,
    /// When the feed is next due (scheduler state).
    pub next_poll_at: Option<i64>,
    /// The feed interval that `next_poll_at` was decided with.
    pub next_poll_interval: Option<Duration>,
    /// When the server said 410 Gone.
    pub gone_at: Option<i64>,
    /// Where a permanent redirect moved the feed.
    pub moved_to: Option<String>,
    /// Items are keyed by link because the feed's GUIDs are unreliable.
    pub link_keys: bool,
}

/// One successful poll's worth of changes. Owned: it travels to the database thread.
#[derive(Debug, Clone, Default)]
pub struct Ingest {
    /// Feed title from the document.
    pub title: Option<String>,
    /// New ETag.
    pub etag: Option<String>,
    /// New Last-Modified.
    pub last_modified: Option<String>,
    /// Items to store; ones already stored are skipped.
    pub items: Vec<Item>,
    /// Alerts for those items (by index into `items`).
    pub alerts: Vec<NewAlert>,
    /// Alerts about the feed itself (recovery after a health alert); `item` is ignored.
    pub feed_alerts: Vec<NewAlert>,
    /// Matches a mute held back (by index into `items`): stored, not alerted.
    pub muted: Vec<MutedMatch>,
    /// Unix seconds now.
    pub now: i64,
    /// When the feed is next due, stored in the same transaction (one commit per poll).
    pub next_poll: Option<NextPoll>,
    /// How alerts with a sketch find an earlier copy of their story under another link
    /// (`None`: they do not).
    pub copies: Option<Copies>,
    /// This poll's article fetches, added to the feed's counts.
    pub articles: ArticleTally,
}

impl Ingest {
    /// How hard its commit must insist: items that queue no alert are bookkeeping (lost to a
    /// power cut, they are fetched and decided again: see [`Durability::Normal`]); anything
    /// that queues an alert is fsynced.
    fn durability(&self) -> Durability {
        if self.alerts.is_empty() && self.feed_alerts.is_empty() {
            Durability::Normal
        } else {
            Durability::Full
        }
    }
}

/// Which earlier stories a new alert's story may be a copy of (`[stories]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Copies {
    /// Stories first alerted at or after this (unix seconds).
    pub since: i64,
    /// Least containment (see [`Sketch::containment`]) to be the same story.
    pub similarity: f64,
}

/// Article fetches (`fetch_article = true`): counts, and the reason of the last failure.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ArticleTally {
    /// Articles fetched and yielding text.
    pub fetched: u64,
    /// Articles that failed (fetch error, refused link, no text, out of time).
    pub failed: u64,
    /// The last failure's reason; a poll whose fetches all succeed clears it.
    pub error: Option<String>,
}

/// What [`Store::ingest`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Items that were new.
    pub items: usize,
    /// Alerts queued.
    pub alerts: usize,
}

/// A stored item, for backtests and listings.
#[derive(Debug, Clone)]
pub struct StoredItem {
    /// Feed URL.
    pub feed_url: String,
    /// The item.
    pub item: Item,
    /// The rules that decided an alert on this item, by name, each with how far its alert
    /// got: [`AlertStatus::Sent`] if any notifier delivered it, else the status of the one
    /// still on its way ([`AlertStatus::Pending`] or [`AlertStatus::Retry`]), else
    /// [`AlertStatus::Dead`]. Sorted by name.
    pub alerts: Vec<(String, AlertStatus)>,
}

impl StoredItem {
    /// The rules whose alert for this item is in `status`.
    pub fn rules_with(&self, status: &[AlertStatus]) -> Vec<&str> {
        self.alerts
            .iter()
            .filter(|(_, s)| status.contains(s))
            .map(|(rule, _)| rule.as_str())
            .collect()
    }
}

/// How far a rule's alert got when it has several (one per notifier): delivered anywhere
/// beats on its way, which beats given up.
fn furthest(a: AlertStatus, b: AlertStatus) -> AlertStatus {
    let rank = |s| match s {
        AlertStatus::Sent => 3,
        AlertStatus::Retry => 2,
        AlertStatus::Pending => 1,
        AlertStatus::Dead => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Reads the `[[rule, status], …]` array [`Store::items_since`] builds (column `column`) into
/// [`StoredItem::alerts`]. The store wrote every part of it, so anything else (a status this
/// build does not know) is an error, as it is for an alert row's own status.
fn alerts_by_rule(json: &str, column: usize) -> rusqlite::Result<Vec<(String, AlertStatus)>> {
    let bad = |e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, e)
    };
    let pairs: Vec<(String, String)> = serde_json::from_str(json).map_err(|e| bad(e.into()))?;
    let mut by_rule: BTreeMap<String, AlertStatus> = BTreeMap::new();
    for (rule, status) in pairs {
        let status = AlertStatus::from_name(&status)
            .ok_or_else(|| bad(format!("unknown alert status {status:?}").into()))?;
        let entry = by_rule.entry(rule).or_insert(status);
        *entry = furthest(*entry, status);
    }
    Ok(by_rule.into_iter().collect())
}

/// What [`Store::new_items`] found: a document's new items.
#[derive(Debug, Clone, Default)]
pub struct NewItems {
    /// The items not stored yet, in document order.
    pub items: Vec<Item>,
    /// Keys of those whose canonical link a stored item of the feed already has.
    pub shared: HashSet<ItemKey>,
}

/// Handle to the database. Cheap to clone; all clones share one connection, owned by one
/// thread that ends when the last clone drops.
#[derive(Debug, Clone)]
pub struct Store {
    /// The thread that owns the connection; every call goes through it.
    owner: Arc<Owner<Db>>,
    /// The database file (the delivery lock lives beside it).
    path: PathBuf,
    /// Cancelled by the database thread once the file is found deleted or replaced.
    lost: CancellationToken,
    /// Whether queries fail: reported once per run of failures, not once per call.
    health: Arc<Health>,
}

/// Held by the one process that delivers from a database (see [`Store::try_delivery_lock`]).
/// The kernel drops the lock when the process dies, so a crash never leaves it stale.
#[derive(Debug)]
pub struct DeliveryLock {
    _file: std::fs::File,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it to the latest schema,
    /// on the database thread this starts.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let path = path.to_path_buf();
        let lost = CancellationToken::new();
        let owner = Owner::start(
            {
                let (path, lost) = (path.clone(), lost.clone());
                move || Db::open(&path, lost)
            },
            Db::flush,
            |e| open_error(&path, Box::new(e)),
        )
        .await?;
        Ok(Store {
            owner: Arc::new(owner),
            path,
            lost,
            health: Arc::default(),
        })
    }

    /// Checks that the database path still names the open file ([`StoreError::FileLost`] if
    /// not). Every write checks this by itself; this is for a daemon that has not written for
    /// a while.
    pub async fn check_file(&self) -> Result<(), StoreError> {
        self.call(|db: &mut Db| db.check_file()).await
    }

    /// Resolves once the database file is found deleted or replaced — by a write, or by a
    /// check every `every` — with the error that says so. Never resolves while it is in place.
    pub async fn file_lost(&self, every: Duration) -> StoreError {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.lost.cancelled() => break,
                _ = tick.tick() => {
                    // Another failure (the database thread gone) is not a lost file.
                    if let Err(e @ StoreError::FileLost { .. }) = self.check_file().await {
                        return e;
                    }
                }
            }
        }
        StoreError::FileLost {
            path: self.path.clone(),
        }
    }

    /// Takes the delivery lock (`<database>.lock`, an exclusive `flock`) if no other process
    /// holds it. Only its holder sends alerts, so a `feedwatch once` beside a running daemon
    /// can never send the same alert twice. `Ok(None)`: another process delivers. (A
    /// non-blocking `flock` on a local file: cheap enough to stay on the caller's thread.)
    pub fn try_delivery_lock(&self) -> Result<Option<DeliveryLock>, StoreError> {
        let lock_path = lock_path(&self.path);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(file::FILE_MODE)
            .open(&lock_path)
            .map_err(|e| open_error(&lock_path, Box::new(e)))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(DeliveryLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(open_error(&lock_path, Box::new(e))),
        }
    }

    /// Runs `op` on the database thread with the connection as it is: for reads, which
    /// `synchronous` does not affect (switching it would cost a statement each way, and would
    /// undo the bookkeeping level between two polls).
    async fn read<R, F>(&self, op: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        self.call(move |db: &mut Db| op(&db.conn)).await
    }

    /// [`Store::read`] for a batch of lookups (one per item of a document): all of them in
    /// one read transaction, so the WAL's read lock (an `fcntl` pair on its shared-memory file)
    /// is taken once, not once per statement — 8 % of a first poll's CPU before (issue 13).
    async fn read_batch<R, F>(&self, op: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        self.read(move |conn| {
            // Dropped without commit on an error: a read transaction has nothing to undo.
            let tx = conn.unchecked_transaction()?;
            let out = op(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Runs the write `op` on the database thread, committing at `level`.
    async fn write<R, F>(&self, level: Durability, op: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let written = self.call(move |db: &mut Db| op(db.at(level)?)).await;
        if written.is_ok() {
            self.health.wrote(&self.path);
        }
        written
    }

    /// Runs `op` on the database thread; a failed query's error names the database file
    /// (a full disk or a damaged file is then reported with the file it concerns).
    async fn call<R, F>(&self, op: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Db) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let result = self.owner.call(op).await.map_err(|e| e.in_file(&self.path));
        if let Err(e) = &result {
            self.health.failed(e);
        }
        result
    }

    /// The stored state of a feed, creating its row on first sight.
    pub async fn feed_state(&self, feed: &FeedId) -> Result<FeedState, StoreError> {
        // Read first: on every poll but a feed's first, the row exists, and a plain read takes
        // no write lock and commits nothing.
        let wanted = feed.clone();
        let stored = self
            .read(move |conn| read_feed_state(conn, &wanted))
            .await?;
        if let Some(state) = stored {
            return Ok(state);
        }
        // A new feed's row: with the other writes of a first poll, in one commit.
        let feed = feed.clone();
        self.write_grouped(Durability::Normal, move |tx| {
            tx.prepare_cached("INSERT INTO feeds (url) VALUES (?1) ON CONFLICT(url) DO NOTHING")?
                .execute(params![feed.as_str()])?;
            read_feed_state(tx, &feed)?
                .ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
        })
        .await
    }

    /// A poll's document sorted against what is stored, in one trip to the database thread:
    /// the items that are new (in document order; see `known_keys` for what counts as known)
    /// and which of them share a page with a stored item (`linked_keys`).
    /// The items travel to the database thread and the new ones come back, not copies: on a
    /// feed's first poll every item is new, and copying their text was 5 % of the poll's CPU
    /// (issue 13).
    pub async fn new_items(&self, feed_id: i64, items: Vec<Item>) -> Result<NewItems, StoreError> {
        self.read_batch(move |conn| {
            if !has_items(conn, feed_id)? {
                return Ok(NewItems {
                    items,
                    shared: HashSet::new(),
                });
            }
            let known = known_keys(conn, feed_id, &items)?;
            let items: Vec<Item> = items
                .into_iter()
                .filter(|i| !known.contains(&i.key))
                .collect();
            let shared = linked_keys(conn, feed_id, &items)?;
            Ok(NewItems { items, shared })
        })
        .await
    }

    /// Records a 304: the feed is healthy and unchanged; validators stay as they are.
    /// `feed_alerts` (a recovery notice) are queued in the same transaction.
    pub async fn record_not_modified(
        &self,
        feed_id: i64,
        feed_url: &str,
        feed_alerts: &[NewAlert],
        now: i64,
        next_poll: Option<NextPoll>,
    ) -> Result<(), StoreError> {
        let (feed_url, feed_alerts) = (feed_url.to_string(), feed_alerts.to_vec());
        self.write(Durability::for_alerts(&feed_alerts), move |conn| {
            let tx = conn.transaction()?;
            tx.prepare_cached(
                "UPDATE feeds SET last_polled_at = ?2, last_success_at = ?2, last_error = NULL,
                        consecutive_failures = 0, failing_since = NULL, health_alerted = 0
                 WHERE id = ?1",
            )?
            .execute(params![feed_id, now])?;
            // The most common poll of all (a 304) commits once: its next-poll time goes in
            // the same transaction instead of a second one (measured by the farm benchmark).
            if let Some(next) = next_poll {
                update_next_poll(&tx, feed_id, next)?;
            }
            insert_feed_alerts(&tx, &feed_url, &feed_alerts, now)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Records a failed poll. `health_alert` (queued in the same transaction, marking the
    /// feed as alerted) is the notice that the feed has been failing for too long, decided by
    /// the caller from the state before.
    pub async fn record_failure(
        &self,
        feed_id: i64,
        feed_url: &str,
        now: i64,
        error: &str,
        health_alert: &[NewAlert],
    ) -> Result<(), StoreError> {
        let (feed_url, error, health_alert) = (
            feed_url.to_string(),
            error.to_string(),
            health_alert.to_vec(),
        );
        self.write(Durability::for_alerts(&health_alert), move |conn| {
            let tx = conn.transaction()?;
            tx.prepare_cached(
                "UPDATE feeds SET last_polled_at = ?2, last_error = ?3,
                        consecutive_failures = consecutive_failures + 1,
                        failing_since = COALESCE(failing_since, ?2),
                        health_alerted = max(health_alerted, ?4)
                 WHERE id = ?1",
            )?
            .execute(params![feed_id, now, error, !health_alert.is_empty()])?;
            insert_feed_alerts(&tx, &feed_url, &health_alert, now)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Stores when the feed is next due.
    pub async fn set_next_poll(
        &self,
        feed_id: i64,
        at: i64,
        interval: Duration,
    ) -> Result<(), StoreError> {
        self.write(Durability::Normal, move |conn| {
            update_next_poll(conn, feed_id, NextPoll { at, interval })
        })
        .await
    }

    /// Marks the feed gone (410): it is not polled again.
    pub async fn set_gone(&self, feed_id: i64, now: i64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE feeds SET gone_at = ?2 WHERE id = ?1",
            (feed_id, now),
        )
        .await
        .map(drop)
    }

    /// Records where a permanent redirect moved the feed (polled there from now on).
    pub async fn set_moved(&self, feed_id: i64, url: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE feeds SET moved_to = ?2 WHERE id = ?1",
            (feed_id, url.to_string()),
        )
        .await
        .map(drop)
    }

    /// Switches the feed to link-based item keys (its GUIDs proved unreliable).
    pub async fn set_link_keys(&self, feed_id: i64) -> Result<(), StoreError> {
        self.execute("UPDATE feeds SET link_keys = 1 WHERE id = ?1", (feed_id,))
            .await
            .map(drop)
    }

    /// One statement at `synchronous=FULL`; returns the rows changed.
    async fn execute<P>(&self, sql: &'static str, params: P) -> Result<usize, StoreError>
    where
        P: rusqlite::Params + Send + 'static,
    {
        self.write(Durability::Full, move |conn| {
            Ok(conn.prepare_cached(sql)?.execute(params)?)
        })
        .await
    }

    /// Every stored feed with its health and item count, for `feedwatch feeds`.
    pub async fn feeds_overview(&self) -> Result<Vec<FeedRow>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT f.url, f.title, f.last_success_at, f.last_polled_at, f.last_error,
                        f.consecutive_failures, f.failing_since, f.next_poll_at, f.gone_at,
                        f.moved_to, f.etag IS NOT NULL, f.last_modified IS NOT NULL,
                        (SELECT count(*) FROM items i WHERE i.feed_id = f.id),
                        f.articles_fetched, f.articles_failed, f.article_error
                 FROM feeds f ORDER BY f.url",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(FeedRow {
                    url: r.get(0)?,
                    title: r.get(1)?,
                    last_success_at: r.get(2)?,
                    last_polled_at: r.get(3)?,
                    last_error: r.get(4)?,
                    consecutive_failures: r.get(5)?,
                    failing_since: r.get(6)?,
                    next_poll_at: r.get(7)?,
                    gone_at: r.get(8)?,
                    moved_to: r.get(9)?,
                    has_etag: r.get(10)?,
                    has_last_modified: r.get(11)?,
                    items: count(r.get(12)?),
                    articles: ArticleTally {
                        fetched: count(r.get(13)?),
                        failed: count(r.get(14)?),
                        error: r.get(15)?,
                    },
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Retention (`[storage] keep`): empties the bodies of items first seen more than `keep`
    /// before `now`, keeping their keys, links and titles (so they never alert again, and
    /// are still recognised under a new GUID; see `known_keys`) and the alerts' own
    /// copies. Best effort: the outcome is logged, and a failure is tried again next time.
    pub async fn prune(&self, keep: Duration, now: i64) {
        let before = now.saturating_sub(i64::try_from(keep.as_secs()).unwrap_or(i64::MAX));
        match self.prune_before(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(items = n, "pruned old item bodies (keys kept)"),
            Err(e) => tracing::warn!(error = %error_chain(&e), "pruning failed"),
        }
    }

    /// Prunes the bodies of items first seen before `before`; returns how many.
    async fn prune_before(&self, before: i64) -> Result<usize, StoreError> {
        self.execute(
            "UPDATE items SET summary = '', content = '', article = '', authors = '[]',
                    categories = '[]', pruned = 1
             WHERE first_seen_at < ?1 AND pruned = 0",
            (before,),
        )
        .await
    }

    /// Stores a successful poll: feed metadata, new items and their alerts, atomically.
    ///
    /// Ingests that reach the database thread together are committed together (see
    /// `Db::flush`); each call returns once its own ingest is committed.
    pub async fn ingest(
        &self,
        feed_id: i64,
        feed_url: &str,
        batch: Ingest,
    ) -> Result<IngestReport, StoreError> {
        let feed_url = feed_url.to_string();
        self.write_grouped(batch.durability(), move |tx| {
            ingest(tx, feed_id, &feed_url, &batch)
        })
        .await
    }

    /// Runs the write `op` in the next group commit ([`Db::flush`]) and returns its result
    /// once that is committed.
    async fn write_grouped<T, F>(&self, level: Durability, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let grouped = Box::new(Grouped {
            level,
            op,
            written: None,
            reply,
        });
        self.call(move |db: &mut Db| {
            db.group(grouped);
            Ok(())
        })
        .await?;
        // A dropped reply: the group commit panicked (the database thread goes on).
        let written = answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Panicked("group commit panicked".into())))
            .map_err(|e| e.in_file(&self.path));
        match &written {
            Ok(_) => self.health.wrote(&self.path),
            Err(e) => self.health.failed(e),
        }
        written
    }

    /// Single (non-digest) alerts due for delivery at `now`, oldest first.
    pub async fn due_alerts(&self, now: i64, limit: usize) -> Result<Vec<Alert>, StoreError> {
        self.due_alerts_of(None, now, now, limit).await
    }

    /// One notifier's single alerts whose next attempt is due by `due_by` and that no server
    /// asked to hold past `now` (its `Retry-After`), oldest first: what that notifier's
    /// delivery lane claims. The daemon asks with `due_by = now`; `feedwatch once` with a
    /// `due_by` far ahead (it skips feedwatch's own back-off, never the server's).
    pub async fn due_alerts_for(
        &self,
        notifier: &str,
        now: i64,
        due_by: i64,
        limit: usize,
    ) -> Result<Vec<Alert>, StoreError> {
        self.due_alerts_of(Some(notifier.to_string()), now, due_by, limit)
            .await
    }

    async fn due_alerts_of(
        &self,
        notifier: Option<String>,
        now: i64,
        due_by: i64,
        limit: usize,
    ) -> Result<Vec<Alert>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts
                 WHERE status IN (?3, ?4) AND digest IS NULL AND next_attempt_at <= ?1
                   AND (not_before IS NULL OR not_before <= ?6)
                   AND (?5 IS NULL OR notifier = ?5)
                 ORDER BY id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(
                params![
                    due_by,
                    limit as i64,
                    AlertStatus::Pending,
                    AlertStatus::Retry,
                    notifier,
                    now
                ],
                read_alert,
            )?;
            collect_alerts(rows)
        })
        .await
    }

    /// The notifiers that have single alerts due by `due_by` and not held by their server
    /// past `now` (as [`Store::due_alerts_for`]; to find alerts whose notifier is no longer
    /// configured).
    pub async fn due_notifiers(&self, now: i64, due_by: i64) -> Result<Vec<String>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT notifier FROM alerts
                 WHERE status IN (?2, ?3) AND digest IS NULL AND next_attempt_at <= ?1
                   AND (not_before IS NULL OR not_before <= ?4)",
            )?;
            let rows = stmt.query_map(
                params![due_by, AlertStatus::Pending, AlertStatus::Retry, now],
                |r| r.get(0),
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The earliest `next_attempt_at` of an undelivered single alert.
    pub async fn next_attempt_at(&self) -> Result<Option<i64>, StoreError> {
        self.next_attempt_of(None).await
    }

    /// [`Store::next_attempt_at`] of one notifier's alerts.
    pub async fn next_attempt_at_for(&self, notifier: &str) -> Result<Option<i64>, StoreError> {
        self.next_attempt_of(Some(notifier.to_string())).await
    }

    async fn next_attempt_of(&self, notifier: Option<String>) -> Result<Option<i64>, StoreError> {
        self.read(move |conn| {
            Ok(conn.query_row(
                "SELECT min(next_attempt_at) FROM alerts
                 WHERE status IN (?1, ?2) AND digest IS NULL AND (?3 IS NULL OR notifier = ?3)",
                params![AlertStatus::Pending, AlertStatus::Retry, notifier],
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// Digest queues: every (notifier, schedule) with undelivered digest alerts, with the
    /// oldest alert's queue time, the earliest retry time and the last digest sent.
    pub async fn digest_queues(&self) -> Result<Vec<DigestQueue>, StoreError> {
        self.read(|conn| digest_queues(conn, None)).await
    }

    /// `feedwatch alerts flush`: makes every digest queue of `notifier` (of every notifier
    /// when `None`) due now, in one transaction: their alerts are relabelled `label` (one
    /// queue per notifier, whose schedule says "at once") and a failed digest's back-off is
    /// lifted, a server's `Retry-After` too (the operator's explicit order, as
    /// [`Store::requeue`]). Returns the queues as they were, to say what was flushed. Only the label and
    /// the next attempt change: whoever holds the delivery lock sends them, exactly once.
    pub async fn flush_digests(
        &self,
        notifier: Option<&str>,
        label: &str,
        now: i64,
    ) -> Result<Vec<DigestQueue>, StoreError> {
        let (notifier, label) = (notifier.map(str::to_string), label.to_string());
        self.write(Durability::Full, move |conn| {
            let tx = conn.transaction()?;
            let queues = digest_queues(&tx, notifier.as_deref())?;
            tx.execute(
                "UPDATE alerts SET digest = ?1, next_attempt_at = min(next_attempt_at, ?2),
                        not_before = NULL
                 WHERE status IN (?3, ?4) AND digest IS NOT NULL
                   AND (?5 IS NULL OR notifier = ?5)",
                params![
                    label,
                    now,
                    AlertStatus::Pending,
                    AlertStatus::Retry,
                    notifier
                ],
            )?;
            tx.commit()?;
            Ok(queues)
        })
        .await
    }

    /// A number that changes whenever another process (another connection) commits to the
    /// database — `feedwatch alerts flush`, `alerts retry`, `mute` beside a running daemon —
    /// and never for this connection's own writes (`PRAGMA data_version`,
    /// <https://sqlite.org/pragma.html#pragma_data_version>). Cheap: no table is read.
    pub async fn data_version(&self) -> Result<i64, StoreError> {
        self.read(|conn| Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?))
            .await
    }

    /// The undelivered alerts of one digest queue, oldest first.
    pub async fn digest_alerts(
        &self,
        notifier: &str,
        schedule: &str,
    ) -> Result<Vec<Alert>, StoreError> {
        let (notifier, schedule) = (notifier.to_string(), schedule.to_string());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts
                 WHERE status IN (?3, ?4) AND notifier = ?1 AND digest = ?2
                 ORDER BY id"
            ))?;
            let rows = stmt.query_map(
                params![notifier, schedule, AlertStatus::Pending, AlertStatus::Retry],
                read_alert,
            )?;
            collect_alerts(rows)
        })
        .await
    }

    /// Marks a delivered digest: all its alerts sent and the queue's last-sent time, atomically.
    pub async fn mark_digest_sent(
        &self,
        notifier: &str,
        schedule: &str,
        ids: &[i64],
        now: i64,
    ) -> Result<(), StoreError> {
        let (notifier, schedule, ids) = (notifier.to_string(), schedule.to_string(), ids.to_vec());
        self.write(Durability::Full, move |conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(MARK_SENT)?;
                for id in ids {
                    stmt.execute(params![id, now, AlertStatus::Sent])?;
                }
            }
            tx.execute(
                "INSERT INTO digests (notifier, schedule, last_sent_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (notifier, schedule) DO UPDATE SET last_sent_at = excluded.last_sent_at",
                params![notifier, schedule, now],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// How many distinct items a rule alerted on (singly, not in digests) since `since`.
    pub async fn rule_alerts_since(&self, rule: &str, since: i64) -> Result<u32, StoreError> {
        let rule = rule.to_string();
        let n: i64 = self
            .read(move |conn| {
                Ok(conn.query_row(
                    "SELECT count(DISTINCT item_id) FROM alerts
                     WHERE created_at >= ?2 AND digest IS NULL
                       AND EXISTS (SELECT 1 FROM json_each(alerts.rules) WHERE value = ?1)",
                    params![rule, since],
                    |r| r.get(0),
                )?)
            })
            .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Alerts for listings, newest first, optionally of one status.
    pub async fn list_alerts(
        &self,
        status: Option<AlertStatus>,
        limit: usize,
    ) -> Result<Vec<AlertRow>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, uid, rule, notifier, status, attempts, last_error, created_at,
                        next_attempt_at, sent_at, digest, payload, not_before
                 FROM alerts WHERE ?1 IS NULL OR status = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![status, limit as i64], |r| {
                let payload: String = r.get(11)?;
                let payload: Option<AlertPayload> = serde_json::from_str(&payload).ok();
                let status: AlertStatus = r.get(4)?;
                let next: i64 = r.get(8)?;
                Ok(AlertRow {
                    id: r.get(0)?,
                    uid: r.get(1)?,
                    rule: r.get(2)?,
                    notifier: r.get(3)?,
                    attempts: r.get(5)?,
                    last_error: r.get(6)?,
                    created_at: r.get(7)?,
                    next_attempt_at: status.is_undelivered().then_some(next),
                    not_before: if status.is_undelivered() {
                        r.get(12)?
                    } else {
                        None
                    },
                    status,
                    sent_at: r.get(9)?,
                    digest: r.get(10)?,
                    title: payload
                        .as_ref()
                        .map(|p| p.title.clone())
                        .unwrap_or_default(),
                    link: payload.and_then(|p| p.link),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Requeues one alert (any status but `sent`) for immediate delivery. Returns whether it
    /// existed and was requeued. A server's `Retry-After` on it is lifted too: the operator
    /// asked for this alert by id (`feedwatch alerts retry ID`), which no automatic delivery
    /// does.
    pub async fn requeue(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        let n = self
            .execute(
                "UPDATE alerts SET status = ?3, next_attempt_at = ?2, not_before = NULL
                 WHERE id = ?1 AND status != ?4",
                (id, now, AlertStatus::Pending, AlertStatus::Sent),
            )
            .await?;
        Ok(n == 1)
    }

    /// Requeues every dead alert. Returns how many.
    pub async fn requeue_dead(&self, now: i64) -> Result<usize, StoreError> {
        self.execute(
            "UPDATE alerts SET status = ?2, next_attempt_at = ?1, not_before = NULL
             WHERE status = ?3",
            (now, AlertStatus::Pending, AlertStatus::Dead),
        )
        .await
    }

    /// Marks an alert delivered.
    pub async fn mark_sent(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.execute(MARK_SENT, (id, now, AlertStatus::Sent))
            .await
            .map(drop)
    }

    /// Records a failed delivery: `retry` schedules another attempt, `None` gives up (dead).
    pub async fn mark_failed(
        &self,
        id: i64,
        error: &str,
        retry: Option<Retry>,
    ) -> Result<(), StoreError> {
        let (status, next, not_before) = match retry {
            Some(r) => (AlertStatus::Retry, r.at, r.not_before),
            None => (AlertStatus::Dead, i64::MAX, None),
        };
        self.execute(
            "UPDATE alerts SET status = ?2, attempts = attempts + 1, last_error = ?3,
                    next_attempt_at = ?4, not_before = ?5
             WHERE id = ?1",
            (id, status, error.to_string(), next, not_before),
        )
        .await
        .map(drop)
    }

    /// Moves undelivered alerts' next attempt to `until` without counting an attempt: for
    /// alerts waiting behind another alert's failure on the same notifier. When that failure
    /// carried the server's `Retry-After`, it holds them too (`retry.not_before`): the server
    /// asked for a pause, not for the next alert instead.
    pub async fn defer(&self, ids: &[i64], retry: Retry) -> Result<(), StoreError> {
        let ids = ids.to_vec();
        self.write(Durability::Full, move |conn| {
            let tx = conn.transaction()?;
            {
                // Both only move later: `max` of the two when both are set, else whichever is.
                let mut stmt = tx.prepare_cached(
                    "UPDATE alerts SET next_attempt_at = max(next_attempt_at, ?2),
                            not_before = coalesce(max(not_before, ?5), not_before, ?5)
                     WHERE id = ?1 AND status IN (?3, ?4)",
                )?;
                for id in ids {
                    stmt.execute(params![
                        id,
                        retry.at,
                        AlertStatus::Pending,
                        AlertStatus::Retry,
                        retry.not_before
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The undelivered alerts that their server asked not to be sent before a time still
    /// ahead of `now` (its `Retry-After`), and the earliest such time; `None` when there are
    /// none. What `feedwatch once` reports as waiting for the server.
    pub async fn server_holds(&self, now: i64) -> Result<Option<ServerHold>, StoreError> {
        self.read(move |conn| {
            let (alerts, until): (i64, Option<i64>) = conn.query_row(
                "SELECT count(*), min(not_before) FROM alerts
                 WHERE status IN (?1, ?2) AND not_before > ?3",
                params![AlertStatus::Pending, AlertStatus::Retry, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(until.map(|until| ServerHold {
                alerts: count(alerts),
                until,
            }))
        })
        .await
    }

    /// Refuses (`true`) or allows again every write on this connection, as a read-only
    /// database would (`PRAGMA query_only`: writes fail with SQLITE_READONLY). For fault tests:
    /// a filesystem cannot be remounted read-only while the daemon holds the file open.
    pub async fn set_query_only(&self, on: bool) -> Result<(), StoreError> {
        self.call(move |db: &mut Db| Ok(db.conn.pragma_update(None, "query_only", on)?))
            .await
    }

    /// Alerts that should have gone out but have not: single alerts pending or waiting to
    /// retry, and digest alerts whose digest failed. Alerts waiting for their digest's time
    /// are not counted.
    pub async fn undelivered_count(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            Ok(count(conn.query_row(
                "SELECT count(*) FROM alerts
                 WHERE (status = ?1 AND digest IS NULL) OR status = ?2",
                params![AlertStatus::Pending, AlertStatus::Retry],
                |r| r.get(0),
            )?))
        })
        .await
    }

    /// Every stored feed's health, for the metrics: one light row per feed (`feeds_overview`
    /// also counts items, too much for every scrape). Includes feeds no longer configured; the
    /// caller keeps the configured ones.
    pub async fn feed_health(&self) -> Result<Vec<FeedHealth>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT url, last_success_at, consecutive_failures FROM feeds ORDER BY url",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(FeedHealth {
                    url: r.get(0)?,
                    last_success_at: r.get(1)?,
                    consecutive_failures: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Counts of alerts by status, for status lines and listings.
    pub async fn alert_counts(&self) -> Result<Vec<(AlertStatus, u64)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT status, count(*) FROM alerts GROUP BY status ORDER BY status",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, count(r.get(1)?))))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Items first seen at or after `since` (unix seconds), oldest first.
    pub async fn items_since(&self, since: i64) -> Result<Vec<StoredItem>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT f.url, i.key, i.title, i.link, i.summary, i.content, i.authors,
                        i.categories, i.published_at,
                        (SELECT json_group_array(json_array(r.value, a.status))
                         FROM alerts a, json_each(a.rules) r WHERE a.item_id = i.id),
                        i.article
                 FROM items i JOIN feeds f ON f.id = i.feed_id
                 WHERE i.first_seen_at >= ?1 AND i.pruned = 0 ORDER BY i.id",
            )?;
            let rows = stmt.query_map(params![since], |r| {
                Ok(StoredItem {
                    feed_url: r.get(0)?,
                    item: Item {
                        key: r.get(1)?,
                        title: r.get(2)?,
                        link: r.get(3)?,
                        summary: r.get(4)?,
                        content: r.get(5)?,
                        authors: parse_list(&r.get::<_, String>(6)?),
                        categories: parse_list(&r.get::<_, String>(7)?),
                        published: r
                            .get::<_, Option<i64>>(8)?
                            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)),
                        article: r.get(10)?,
                    },
                    alerts: alerts_by_rule(&r.get::<_, String>(9)?, 9)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

/// Marks one alert (`?1`) delivered at `?2`; `?3` is [`AlertStatus::Sent`].
const MARK_SENT: &str = "UPDATE alerts SET status = ?3, sent_at = ?2, attempts = attempts + 1,
        last_error = NULL
 WHERE id = ?1";

/// A row count from SQL (never negative) as `u64`.
fn count(n: i64) -> u64 {
    n.max(0).unsigned_abs()
}

/// The body of [`Store::ingest`], on the database thread, in the caller's transaction.
fn ingest(
    tx: &rusqlite::Transaction<'_>,
    feed_id: i64,
    feed_url: &str,
    batch: &Ingest,
) -> Result<IngestReport, StoreError> {
    tx.prepare_cached(
        "UPDATE feeds SET title = COALESCE(?2, title), etag = ?3, last_modified = ?4,
                first_polled_at = COALESCE(first_polled_at, ?5), last_polled_at = ?5,
                last_success_at = ?5, last_error = NULL, consecutive_failures = 0,
                failing_since = NULL, health_alerted = 0
         WHERE id = ?1",
    )?
    .execute(params![
        feed_id,
        batch.title,
        batch.etag,
        batch.last_modified,
        batch.now
    ])?;
    let tally = &batch.articles;
    if tally.fetched + tally.failed > 0 {
        tx.prepare_cached(
            "UPDATE feeds SET articles_fetched = articles_fetched + ?2,
                    articles_failed = articles_failed + ?3, article_error = ?4
             WHERE id = ?1",
        )?
        .execute(params![
            feed_id,
            i64::try_from(tally.fetched).unwrap_or(i64::MAX),
            i64::try_from(tally.failed).unwrap_or(i64::MAX),
            tally.error,
        ])?;
    }
    let mut report = IngestReport::default();
    let mut item_ids: Vec<Option<i64>> = Vec::with_capacity(batch.items.len());
    {
        // `execute` and `last_insert_rowid` rather than `RETURNING id`: a RETURNING statement
        // runs to completion into a buffer before its row can be read, for every item.
        let mut insert = tx.prepare_cached(
            "INSERT INTO items (feed_id, key, title, link, summary, content, authors,
                                categories, published_at, first_seen_at, link_key, article)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT(feed_id, key) DO NOTHING",
        )?;
        for item in &batch.items {
            let inserted = insert.execute(params![
                feed_id,
                item.key,
                item.title,
                item.link,
                item.summary,
                item.content,
                json_list(&item.authors),
                json_list(&item.categories),
                item.published.map(|t| t.timestamp()),
                batch.now,
                item.link.as_deref().map(canonical_link),
                item.article,
            ])?;
            // 0 rows: the key is already stored (DO NOTHING), and the last rowid is stale.
            let id = (inserted > 0).then(|| tx.last_insert_rowid());
            if id.is_some() {
                report.items += 1;
            }
            item_ids.push(id);
        }
    }
    let mut recent = RecentStories::new(batch.copies);
    for alert in &batch.alerts {
        // Only alerts for items this batch actually inserted: an item already stored had its
        // alerts decided when it was first seen.
        let (Some(item), Some(Some(item_id))) =
            (batch.items.get(alert.item), item_ids.get(alert.item))
        else {
            continue;
        };
        let queued = QueuedItem {
            feed_url,
            item,
            item_id: *item_id,
            now: batch.now,
        };
        report.alerts += queue_alert(tx, &queued, alert, &mut recent)?;
    }
    insert_feed_alerts(tx, feed_url, &batch.feed_alerts, batch.now)?;
    mutes::record_muted(tx, &batch.muted, &item_ids, batch.now)?;
    if let Some(next) = batch.next_poll {
        update_next_poll(tx, feed_id, next)?;
    }
    Ok(report)
}

/// Keys of `items` (a whole document: whether a page is shared depends on its other entries
/// too) that are already stored for feed `feed_id`, which has items stored; on the database
/// thread, inside a read transaction.
///
/// An item is known by its key, or as the same story under another key: a stored item of
/// this feed with the same canonical link and title (a feed that changes its GUIDs
/// wholesale, an item without GUID whose text was edited). Where the link is shared — two
/// stored items of this feed have it, or two entries of this document — the link says
/// nothing about the story: a status page or live blog links every entry to one page. There
/// the story must also have the same text, so entries that differ in title or text are
/// different items.
///
/// A pruned item (`[storage] keep`) keeps its key, link and title but not its text: it is
/// its own tombstone, found by key or by link and title on a page that is not shared, and
/// never stands for any other item with that link.
fn known_keys(
    conn: &Connection,
    feed_id: i64,
    items: &[Item],
) -> Result<HashSet<ItemKey>, StoreError> {
    let links: Vec<Option<String>> = items
        .iter()
        .map(|i| i.link.as_deref().map(canonical_link))
        .collect();
    let mut in_document: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for l in links.iter().flatten() {
        *in_document.entry(l).or_default() += 1;
    }
    let mut by_key = conn.prepare_cached("SELECT 1 FROM items WHERE feed_id = ?1 AND key = ?2")?;
    let mut on_page =
        conn.prepare_cached("SELECT count(*) FROM items WHERE feed_id = ?1 AND link_key = ?2")?;
    // Tombstones pruned before titles were kept have an empty title, which says
    // nothing about which story they were.
    let mut by_title = conn.prepare_cached(
        "SELECT 1 FROM items WHERE feed_id = ?1 AND link_key = ?2 AND title = ?3
                               AND (pruned = 0 OR title <> '')",
    )?;
    let mut by_text = conn.prepare_cached(
        "SELECT 1 FROM items WHERE feed_id = ?1 AND link_key = ?2 AND title = ?3
                               AND summary = ?4 AND content = ?5 AND pruned = 0",
    )?;
    let mut known = HashSet::new();
    for (w, link) in items.iter().zip(&links) {
        let same_story = if by_key.exists(params![feed_id, w.key])? {
            true
        } else if let Some(link) = link {
            let stored: i64 = on_page.query_row(params![feed_id, link], |r| r.get(0))?;
            let shared = stored > 1 || in_document.get(link.as_str()).is_some_and(|n| *n > 1);
            if shared {
                by_text.exists(params![feed_id, link, w.title, w.summary, w.content])?
            } else {
                stored > 0 && by_title.exists(params![feed_id, link, w.title])?
            }
        } else {
            false
        };
        if same_story {
            known.insert(w.key.clone());
        }
    }
    Ok(known)
}

/// Keys of the given (new) items whose canonical link some stored item of feed `feed_id`
/// already has: entries that share a page with earlier ones. On the database thread, inside a
/// read transaction, for a feed with items stored.
fn linked_keys(
    conn: &Connection,
    feed_id: i64,
    items: &[Item],
) -> Result<HashSet<ItemKey>, StoreError> {
    let mut by_link =
        conn.prepare_cached("SELECT 1 FROM items WHERE feed_id = ?1 AND link_key = ?2")?;
    let mut shared = HashSet::new();
    for i in items {
        let Some(link) = i.link.as_deref() else {
            continue;
        };
        if by_link.exists(params![feed_id, canonical_link(link)])? {
            shared.insert(i.key.clone());
        }
    }
    Ok(shared)
}

/// Whether any item of feed `feed_id` is stored: a feed's first poll finds none, and then
/// no item of its document needs looking up one by one.
fn has_items(conn: &Connection, feed_id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM items WHERE feed_id = ?1)")?
        .query_row(params![feed_id], |r| r.get(0))?)
}

/// Queues `alert` for the new item `item` (row `item_id`), unless its story already has an
/// alert for this notifier: one story, one alert. Returns how many alerts were queued (0 or 1).
///
/// A story already alerted (by this feed or another carrying the same story) is not alerted
/// again. While that earlier alert is still queued — waiting for its digest, for its turn, or
/// for a retry — it takes in what is new: further rules that matched (for an alert per story)
/// and the other feed as a source. Per-rule alerts (`group = "rule"`) are one per story and
/// rule; a story already alerted with that rule (in either grouping) is not alerted again.
fn queue_alert(
    tx: &rusqlite::Transaction<'_>,
    at: &QueuedItem<'_>,
    alert: &NewAlert,
    recent: &mut RecentStories,
) -> Result<usize, StoreError> {
    let QueuedItem {
        feed_url,
        item,
        item_id,
        now,
    } = *at;
    let grouping = match alert.grouping {
        Grouping::Story => "",
        Grouping::Rule => alert.payload.rule.as_str(),
    };
    let mut story = alert.story.as_str();
    let mut earlier = earlier_alerts(tx, &alert.notifier, story)?;
    // Not alerted under its own link: perhaps a copy of a recent story under another.
    let copy_of = match &alert.sketch {
        Some(sketch) if earlier.is_empty() => recent.copy_of(tx, sketch, story, feed_url)?,
        _ => None,
    };
    if let Some(original) = &copy_of {
        story = original;
        earlier = earlier_alerts(tx, &alert.notifier, story)?;
    }
    let covers = |e: &Earlier| match alert.grouping {
        Grouping::Story => true,
        Grouping::Rule => e.rules.contains(&alert.payload.rule),
    };
    if earlier.iter().any(covers) {
        let open = earlier
            .iter()
            .find(|e| e.status.is_undelivered() && e.grouping == grouping);
        if let Some(e) = open {
            let mut payload = e.payload.clone();
            if payload.absorb(&alert.payload) {
                update_payload(tx, e.id, &payload)?;
            }
        }
        return Ok(0);
    }
    let uid = alert_uid(feed_url, item.key.as_str(), grouping, &alert.notifier);
    let names = alert.payload.rule_names();
    let rules =
        serde_json::to_string(&names).map_err(|source| StoreError::Payload { id: 0, source })?;
    let payload = serde_json::to_string(&alert.payload)
        .map_err(|source| StoreError::Payload { id: 0, source })?;
    let n = tx
        .prepare_cached(
            "INSERT INTO alerts (uid, item_id, rule, rules, grouping, notifier, payload, status,
                                 attempts, created_at, next_attempt_at, story, digest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?9, ?10, ?11)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            uid,
            item_id,
            names.join(", "),
            rules,
            grouping,
            alert.notifier,
            payload,
            AlertStatus::Pending,
            now,
            story,
            alert.digest,
        ])?;
    if let (1, Some(sketch)) = (n, &alert.sketch) {
        recent.remember(tx, (story, feed_url), sketch, now)?;
    }
    Ok(n)
}

/// Where a new alert's item is: its feed, the item and its row, and the time of the poll.
#[derive(Clone, Copy)]
struct QueuedItem<'a> {
    feed_url: &'a str,
    item: &'a Item,
    item_id: i64,
    now: i64,
}

/// A story alerted recently: its id, the feed it was first alerted from, and its sketch.
type Recent = (String, String, Sketch);

/// The sketches of the stories alerted within the `[stories]` window, read once per ingest
/// (and only when an alert needs them), with the stories this ingest adds.
struct RecentStories {
    copies: Option<Copies>,
    /// `None` until first needed.
    loaded: Option<Vec<Recent>>,
}

impl RecentStories {
    fn new(copies: Option<Copies>) -> RecentStories {
        RecentStories {
            copies,
            loaded: None,
        }
    }

    /// The recent story (other than `own`) of another feed whose title and lead contain the
    /// most of this one's, if that share reaches the threshold. A feed's own items are never
    /// copies of each other: a feed that gives two items two links says they are two stories
    /// (a daily "Live updates", numbered bulletins). When unsure — a text too short to tell, a
    /// share below the threshold — none: a missed alert is worse than a duplicate.
    fn copy_of(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        sketch: &Sketch,
        own: &str,
        feed: &str,
    ) -> Result<Option<String>, StoreError> {
        let Some(copies) = self.copies else {
            return Ok(None);
        };
        let stories = self.load(tx, copies)?;
        let best = stories
            .iter()
            .filter(|(story, from, _)| story != own && from != feed)
            .filter_map(|(story, _, s)| Some((sketch.containment(s)?, story)))
            .filter(|(score, _)| *score >= copies.similarity)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        Ok(best.map(|(_, story)| story.clone()))
    }

    fn load(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        copies: Copies,
    ) -> Result<&mut Vec<Recent>, StoreError> {
        if self.loaded.is_none() {
            // Stories older than the window are never compared again.
            tx.prepare_cached("DELETE FROM story_sketches WHERE seen_at < ?1")?
                .execute(params![copies.since])?;
            let mut stmt = tx.prepare_cached("SELECT story, feed, sketch FROM story_sketches")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (story, feed, bytes) = row?;
                // A sketch that cannot be read is skipped: at worst a copy alerts again.
                if let Some(sketch) = Sketch::from_bytes(&bytes) {
                    out.push((story, feed, sketch));
                }
            }
            self.loaded = Some(out);
        }
        Ok(self.loaded.get_or_insert_with(Vec::new))
    }

    /// Records the sketch of a story just alerted for the first time, from `feed`.
    fn remember(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        (story, feed): (&str, &str),
        sketch: &Sketch,
        now: i64,
    ) -> Result<(), StoreError> {
        if self.copies.is_none() {
            return Ok(());
        }
        let added = tx
            .prepare_cached(
                "INSERT INTO story_sketches (story, feed, sketch, seen_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (story) DO NOTHING",
            )?
            .execute(params![story, feed, sketch.to_bytes(), now])?;
        // Once loaded, the list must see it too (a copy later in this same ingest).
        if added == 1
            && let Some(loaded) = self.loaded.as_mut()
        {
            loaded.push((story.to_string(), feed.to_string(), sketch.clone()));
        }
        Ok(())
    }
}

/// An alert already stored for a story and notifier.
struct Earlier {
    id: i64,
    grouping: String,
    rules: Vec<String>,
    status: AlertStatus,
    payload: AlertPayload,
}

/// The alerts already stored for `story` to `notifier`, oldest first. A payload that cannot be
/// read (a row from an incompatible version) still counts as alerted; it is only not updated.
fn earlier_alerts(
    tx: &rusqlite::Transaction<'_>,
    notifier: &str,
    story: &str,
) -> Result<Vec<Earlier>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, grouping, rules, status, payload FROM alerts
         WHERE notifier = ?1 AND story = ?2 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![notifier, story], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, AlertStatus>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, grouping, rules, status, payload) = row?;
        let payload: Option<AlertPayload> = serde_json::from_str(&payload).ok();
        out.push(Earlier {
            id,
            grouping,
            rules: serde_json::from_str(&rules).unwrap_or_default(),
            // Unreadable: leave it as it is, as if delivered.
            status: if payload.is_some() {
                status
            } else {
                AlertStatus::Sent
            },
            payload: payload.unwrap_or_default(),
        });
    }
    Ok(out)
}

/// Rewrites a queued alert's payload (and its rule columns) after it took in more.
fn update_payload(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    payload: &AlertPayload,
) -> Result<(), StoreError> {
    let names = payload.rule_names();
    let rules =
        serde_json::to_string(&names).map_err(|source| StoreError::Payload { id, source })?;
    let text =
        serde_json::to_string(payload).map_err(|source| StoreError::Payload { id, source })?;
    tx.prepare_cached(
        "UPDATE alerts SET payload = ?2, rule = ?3, rules = ?4
         WHERE id = ?1 AND status IN (?5, ?6)",
    )?
    .execute(params![
        id,
        text,
        names.join(", "),
        rules,
        AlertStatus::Pending,
        AlertStatus::Retry
    ])?;
    Ok(())
}

/// Alert statuses are stored by name; the schema's CHECK allows exactly these.
impl ToSql for AlertStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for AlertStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let name = value.as_str()?;
        AlertStatus::from_name(name)
            .ok_or_else(|| FromSqlError::Other(format!("unknown alert status {name:?}").into()))
    }
}

/// Item keys are stored as their text.
impl ToSql for ItemKey {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for ItemKey {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(ItemKey::from_stored(value.as_str()?.to_string()))
    }
}

/// A feed's stored state, if it has a row.
/// When a feed is next due, and the interval that decision was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextPoll {
    /// Unix seconds.
    pub at: i64,
    /// The feed's configured interval at the time (a changed interval voids the decision).
    pub interval: Duration,
}

fn update_next_poll(conn: &Connection, feed_id: i64, next: NextPoll) -> Result<(), StoreError> {
    let secs = i64::try_from(next.interval.as_secs()).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "UPDATE feeds SET next_poll_at = ?2, next_poll_interval = ?3 WHERE id = ?1",
    )?
    .execute(params![feed_id, next.at, secs])?;
    Ok(())
}

fn read_feed_state(conn: &Connection, feed: &FeedId) -> Result<Option<FeedState>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, etag, last_modified, first_polled_at, consecutive_failures, last_error,
                failing_since, health_alerted, next_poll_at, gone_at, moved_to, link_keys,
                next_poll_interval, last_polled_at
         FROM feeds WHERE url = ?1",
    )?;
    let state = stmt
        .query_row(params![feed.as_str()], |r| {
            Ok(FeedState {
                id: r.get(0)?,
                etag: r.get(1)?,
                last_modified: r.get(2)?,
                first_polled_at: r.get(3)?,
                consecutive_failures: r.get(4)?,
                last_error: r.get(5)?,
                failing_since: r.get(6)?,
                health_alerted: r.get(7)?,
                next_poll_at: r.get(8)?,
                gone_at: r.get(9)?,
                moved_to: r.get(10)?,
                link_keys: r.get(11)?,
                next_poll_interval: r
                    .get::<_, Option<i64>>(12)?
                    .and_then(|s| u64::try_from(s).ok())
                    .map(Duration::from_secs),
                last_polled_at: r.get(13)?,
            })
        })
        .optional()?;
    Ok(state)
}

/// Queues alerts about a feed (not an item): health notices.
fn insert_feed_alerts(
    tx: &rusqlite::Transaction<'_>,
    feed_url: &str,
    alerts: &[NewAlert],
    now: i64,
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO alerts (uid, item_id, rule, rules, grouping, notifier, payload, status,
                             attempts, created_at, next_attempt_at, story, digest)
         VALUES (?1, NULL, ?2, json_array(?2), ?2, ?3, ?4, ?7, 0, ?5, ?5, ?6, NULL)
         ON CONFLICT DO NOTHING",
    )?;
    for alert in alerts {
        let uid = alert_uid(feed_url, &alert.story, &alert.payload.rule, &alert.notifier);
        let payload = serde_json::to_string(&alert.payload)
            .map_err(|source| StoreError::Payload { id: 0, source })?;
        insert.execute(params![
            uid,
            alert.payload.rule,
            alert.notifier,
            payload,
            now,
            alert.story,
            AlertStatus::Pending,
        ])?;
    }
    Ok(())
}

/// A feed as listed by `feedwatch feeds`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FeedRow {
    /// Configured URL (the feed's identity).
    pub url: String,
    /// Title from the feed document.
    pub title: Option<String>,
    /// Unix seconds of the last successful poll.
    pub last_success_at: Option<i64>,
    /// Unix seconds of the last poll.
    pub last_polled_at: Option<i64>,
    /// Last error, while failing.
    pub last_error: Option<String>,
    /// Consecutive failed polls.
    pub consecutive_failures: u32,
    /// When the current run of failures began.
    pub failing_since: Option<i64>,
    /// When the feed is next due.
    pub next_poll_at: Option<i64>,
    /// When the server said 410 Gone.
    pub gone_at: Option<i64>,
    /// Where a permanent redirect moved the feed.
    pub moved_to: Option<String>,
    /// An ETag is stored.
    pub has_etag: bool,
    /// A Last-Modified is stored.
    pub has_last_modified: bool,
    /// Items stored.
    pub items: u64,
    /// Article fetches (`fetch_article = true`) over the feed's life, and the last failure.
    pub articles: ArticleTally,
}

/// Columns read by [`read_alert`], in order.
const ALERT_COLUMNS: &str = "id, uid, notifier, attempts, payload, created_at, digest";

type RawAlert = (i64, String, String, u32, String, i64, Option<String>);

fn read_alert(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawAlert> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn collect_alerts(
    rows: impl Iterator<Item = rusqlite::Result<RawAlert>>,
) -> Result<Vec<Alert>, StoreError> {
    let mut out = Vec::new();
    for row in rows {
        let (id, uid, notifier, attempts, payload, created_at, digest) = row?;
        let payload: AlertPayload =
            serde_json::from_str(&payload).map_err(|source| StoreError::Payload { id, source })?;
        out.push(Alert {
            id,
            uid,
            notifier,
            attempts,
            created_at,
            digest,
            payload,
        });
    }
    Ok(out)
}

/// The digest queues with undelivered alerts (of one notifier, when given), oldest first.
fn digest_queues(
    conn: &Connection,
    notifier: Option<&str>,
) -> Result<Vec<DigestQueue>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.notifier, a.digest, min(a.created_at), min(a.next_attempt_at),
                count(*), d.last_sent_at
         FROM alerts a
         LEFT JOIN digests d ON d.notifier = a.notifier AND d.schedule = a.digest
         WHERE a.status IN (?1, ?2) AND a.digest IS NOT NULL
           AND (?3 IS NULL OR a.notifier = ?3)
         GROUP BY a.notifier, a.digest ORDER BY min(a.id)",
    )?;
    let rows = stmt.query_map(
        params![AlertStatus::Pending, AlertStatus::Retry, notifier],
        |r| {
            Ok(DigestQueue {
                notifier: r.get(0)?,
                schedule: r.get(1)?,
                oldest: r.get(2)?,
                next_attempt: r.get(3)?,
                count: count(r.get(4)?),
                last_sent: r.get(5)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// When a failed alert is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Unix seconds of the next attempt: feedwatch's back-off, or the server's time if later.
    pub at: i64,
    /// Unix seconds before which the server asked not to be sent it (`Retry-After`), if it
    /// asked. Never later than `at`; `feedwatch once`, which skips the back-off, keeps this.
    pub not_before: Option<i64>,
}

impl Retry {
    /// At `at`, on feedwatch's own account (no server asked for a time).
    pub fn at(at: i64) -> Retry {
        Retry {
            at,
            not_before: None,
        }
    }
}

/// Undelivered alerts held by their server's `Retry-After` ([`Store::server_holds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHold {
    /// How many.
    pub alerts: u64,
    /// Unix seconds the first of them may be sent.
    pub until: i64,
}

/// A queue of alerts waiting for one notifier's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestQueue {
    /// Notifier name.
    pub notifier: String,
    /// Digest schedule label.
    pub schedule: String,
    /// When the oldest waiting alert was queued.
    pub oldest: i64,
    /// Earliest `next_attempt_at` among them (later than now after a failed digest).
    pub next_attempt: i64,
    /// How many alerts wait.
    pub count: u64,
    /// When this queue's last digest went out.
    pub last_sent: Option<i64>,
}

/// One feed's health, for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedHealth {
    /// Configured URL (the feed's identity).
    pub url: String,
    /// Unix seconds of the last successful poll.
    pub last_success_at: Option<i64>,
    /// Failed polls in a row (0 while healthy).
    pub consecutive_failures: u32,
}

/// One alert as listed by `feedwatch alerts`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlertRow {
    /// Row id (what `alerts retry ID` takes).
    pub id: i64,
    /// Stable id (Message-ID / Idempotency-Key).
    pub uid: String,
    /// Rule name.
    pub rule: String,
    /// Notifier name.
    pub notifier: String,
    /// pending, retry, sent or dead.
    pub status: AlertStatus,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// Unix seconds queued.
    pub created_at: i64,
    /// Unix seconds of the next attempt, while undelivered.
    pub next_attempt_at: Option<i64>,
    /// Unix seconds before which the receiving server asked not to be sent it (its
    /// `Retry-After`), while undelivered; `feedwatch once` waits for it too.
    pub not_before: Option<i64>,
    /// Unix seconds delivered.
    pub sent_at: Option<i64>,
    /// Digest schedule, when delivered in a digest.
    pub digest: Option<String>,
    /// Item title.
    pub title: String,
    /// Item link.
    pub link: Option<String>,
}

/// Stable alert identity: the same (feed, item, grouping, notifier) always gives the same uid,
/// so a resend after a crash carries the same Message-ID / idempotency key. `grouping` is the
/// rule's name for an alert of one rule (and feed-health alerts), empty for a story's alert.
pub fn alert_uid(feed_url: &str, item_key: &str, grouping: &str, notifier: &str) -> String {
    hash_hex(&[feed_url, item_key, grouping, notifier])[..32].to_string()
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".to_string())
}

fn parse_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

/// A lookup of some of a feed's items' keys ([`known_keys`], [`linked_keys`]).
#[cfg(test)]
type KeyLookup = fn(&Connection, i64, &[Item]) -> Result<HashSet<ItemKey>, StoreError>;

/// The two lookups of [`Store::new_items`] one at a time, so tests can pin each on its own.
#[cfg(test)]
impl Store {
    /// Keys of the given items that are already stored for this feed. `items` is the whole
    /// document: whether a page is shared depends on its other entries too.
    pub async fn known_items(
        &self,
        feed_id: i64,
        items: &[Item],
    ) -> Result<HashSet<ItemKey>, StoreError> {
        self.look_up(feed_id, items, known_keys).await
    }

    /// Keys of the given (new) items whose canonical link some stored item of this feed
    /// already has: entries that share a page with earlier ones.
    pub async fn links_in_feed(
        &self,
        feed_id: i64,
        items: &[Item],
    ) -> Result<HashSet<ItemKey>, StoreError> {
        self.look_up(feed_id, items, linked_keys).await
    }

    /// Runs `lookup` on copies of `items` of feed `feed_id`, if the feed has any item stored.
    async fn look_up(
        &self,
        feed_id: i64,
        items: &[Item],
        lookup: KeyLookup,
    ) -> Result<HashSet<ItemKey>, StoreError> {
        let items = items.to_vec();
        self.read_batch(move |conn| match has_items(conn, feed_id)? {
            true => lookup(conn, feed_id, &items),
            false => Ok(HashSet::new()),
        })
        .await
    }
}

#[cfg(test)]
mod tests;

//! A feed farm for the fault harnesses (`tests/crash_harness.rs`, `tests/storage_faults.rs`):
//! feeds on the loopback [`FeedServer`] that gain items on demand, a config that watches them
//! and alerts through a real SMTP server and a real webhook receiver, and the tally of what
//! each receiver got, per item (every item's link carries its id).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{FeedServer, Route, SmtpServer, WebhookReceiver};

/// Where every item link points: the receivers find each message's item by it.
pub const LINK_PREFIX: &str = "http://farm.test/item/";

/// A number from the environment variable `name`, else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")),
        Err(_) => default,
    }
}

/// One item of the farm.
#[derive(Clone, Debug)]
struct FarmItem {
    /// `f3-17`: the feed and the item's number in it; the item's link ends with it.
    id: String,
    matching: bool,
    published: chrono::DateTime<chrono::Utc>,
}

/// Feeds `/f0`, `/f1` … on a [`FeedServer`], their items newest last; every item stays in its
/// feed to the end, so a daemon that was down for a while finds everything it missed.
pub struct Farm {
    server: FeedServer,
    feeds: Vec<Vec<FarmItem>>,
}

impl Farm {
    /// `feeds` empty feeds on `server`.
    pub fn new(server: FeedServer, feeds: usize) -> Farm {
        for f in 0..feeds {
            server.set(&format!("/f{f}"), Route::rss(Farm::rss(&[]), "\"0\""));
        }
        Farm {
            server,
            feeds: vec![Vec::new(); feeds],
        }
    }

    fn rss(items: &[FarmItem]) -> String {
        let body: String = items
            .iter()
            .rev()
            .map(|it| {
                // `[stories] window = "0s"` in the config: the harnesses are about faults,
                // not about story grouping.
                let subject = if it.matching {
                    "Envoy Kabulov spoke"
                } else {
                    "The weather report"
                };
                format!(
                    "<item><guid>{id}</guid><title>{subject} ({id})</title>\
                     <link>{LINK_PREFIX}{id}</link><pubDate>{date}</pubDate>\
                     <description>{subject}, item {id}.</description></item>",
                    id = it.id,
                    date = it.published.to_rfc2822(),
                )
            })
            .collect();
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Farm</title>{body}</channel></rss>"
        )
    }

    /// Adds one item to feed `f` and serves the feed's new body (with a new ETag).
    /// Returns the item's id.
    pub fn add(&mut self, f: usize, matching: bool) -> String {
        let items = &mut self.feeds[f];
        items.push(FarmItem {
            id: format!("f{f}-{}", items.len()),
            matching,
            published: chrono::Utc::now(),
        });
        let etag = format!("\"{}\"", items.len());
        self.server
            .set(&format!("/f{f}"), Route::rss(Farm::rss(items), &etag));
        items.last().map(|it| it.id.clone()).unwrap_or_default()
    }

    /// The ids of the matching items: one alert each per notifier.
    pub fn expected(&self) -> BTreeSet<String> {
        self.feeds
            .iter()
            .flatten()
            .filter(|it| it.matching)
            .map(|it| it.id.clone())
            .collect()
    }

    /// Items in all feeds.
    pub fn total(&self) -> usize {
        self.feeds.iter().map(Vec::len).sum()
    }

    /// A config in `dir` watching every feed every second, with the database at `database`
    /// (relative to `dir`), alerting on `Kabulov` by email to `smtp` and by webhook to
    /// `hook`, retrying failed deliveries after 1–2 s.
    pub fn config(
        &self,
        dir: &Path,
        database: &str,
        smtp: &SmtpServer,
        hook: &WebhookReceiver,
    ) -> PathBuf {
        let feed_tables: String = (0..self.feeds.len())
            .map(|f| {
                format!(
                    "[[feed]]\nurl = \"{}\"\nname = \"F{f}\"\n\n",
                    self.server.url(&format!("/f{f}"))
                )
            })
            .collect();
        let text = format!(
            "[storage]\npath = \"{database}\"\n\n\
             [poll]\ninterval = \"1s\"\nmin_interval = \"1s\"\ntimeout = \"5s\"\n\n\
             [delivery]\nretry_base = \"1s\"\nretry_cap = \"2s\"\n\n\
             [stories]\nwindow = \"0s\"\n\n\
             {feed_tables}\
             [[rule]]\nname = \"kabulov\"\nquery = 'Kabulov'\n\n\
             [notify.mail]\ntype = \"email\"\nsmtp = \"{}\"\nfrom = \"fw@localhost\"\n\
             to = [\"analyst@example.org\"]\ntimeout = \"5s\"\n\n\
             [notify.hook]\ntype = \"webhook\"\nurl = \"{}\"\ntimeout = \"5s\"\n",
            smtp.url(),
            hook.url()
        );
        let cfg = dir.join("feedwatch.toml");
        std::fs::write(&cfg, text).expect("write config");
        cfg
    }
}

/// The item ids a message names (by its links): one, for an alert.
pub fn ids_in(text: &str) -> BTreeSet<String> {
    text.match_indices(LINK_PREFIX)
        .map(|(at, _)| {
            text[at + LINK_PREFIX.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect()
        })
        .collect()
}

/// One copy of a message as a receiver got it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Copy {
    /// When the server accepted it.
    pub accepted: Instant,
    /// When its sender began it (SMTP: MAIL FROM; a webhook: its receipt): the sender was
    /// alive then, which tells which instance sent it.
    pub began: Instant,
}

/// What one notifier received: per item id, each copy.
pub type Received = BTreeMap<String, Vec<Copy>>;

/// What the SMTP server got.
pub fn received_mail(smtp: &SmtpServer) -> Received {
    let mut got = Received::new();
    for m in smtp.mails() {
        for id in ids_in(&m.text()) {
            got.entry(id).or_default().push(Copy {
                accepted: m.at,
                began: m.began,
            });
        }
    }
    got
}

/// What the webhook receiver got (and accepted).
pub fn received_hooks(hook: &WebhookReceiver) -> Received {
    let mut got = Received::new();
    // A request it refused is not a delivery.
    for h in hook.hooks().into_iter().filter(|h| h.status < 300) {
        for id in ids_in(&h.body) {
            got.entry(id).or_default().push(Copy {
                accepted: h.at,
                began: h.at,
            });
        }
    }
    got
}

/// A read-only connection to the database at `db` (beside a running daemon, in WAL mode).
fn read_only(db: &Path) -> rusqlite::Result<rusqlite::Connection> {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
}

/// Outbox rows not yet `sent` (-1 while the database cannot be read).
pub fn unsent(db: &Path) -> i64 {
    read_only(db)
        .and_then(|c| {
            c.query_row(
                "SELECT count(*) FROM alerts WHERE status <> 'sent'",
                [],
                |r| r.get(0),
            )
        })
        .unwrap_or(-1)
}

/// `PRAGMA integrity_check`'s first answer line (`ok`), or the error that kept it from
/// running.
pub fn integrity(db: &Path) -> String {
    read_only(db)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
        .unwrap_or_else(|e| format!("cannot check: {e}"))
}

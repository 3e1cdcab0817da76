//! Versioned schema migrations (rusqlite_migration, tracked in `PRAGMA user_version`).
//! Append new migrations; never edit one that has shipped.

use rusqlite_migration::{M, Migrations};

/// Every migration's SQL, oldest first: version N is `ALL[N - 1]`.
const ALL: [&str; 6] = [
    INITIAL,
    ALERTS_BY_STORY,
    MUTES,
    STORY_SKETCHES,
    ARTICLES,
    SERVER_HOLDS,
];

/// All migrations, oldest first.
pub(super) fn migrations() -> Migrations<'static> {
    migrations_until(ALL.len())
}

/// Version 1: feeds, items, the outbox (one alert per item, rule and notifier) and digests.
const INITIAL: &str = "CREATE TABLE feeds (
            id                   INTEGER PRIMARY KEY,
            url                  TEXT NOT NULL UNIQUE,
            title                TEXT,
            etag                 TEXT,
            last_modified        TEXT,
            first_polled_at      INTEGER,
            last_polled_at       INTEGER,
            last_success_at      INTEGER,
            last_error           TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            -- when the current run of failures began (NULL while healthy)
            failing_since        INTEGER,
            -- a feed-health alert was queued for the current run of failures
            health_alerted       INTEGER NOT NULL DEFAULT 0,
            -- scheduler state: when the feed is next due (a restart resumes from here)
            next_poll_at         INTEGER,
            -- the feed interval (seconds) in force when next_poll_at was decided: a reload
            -- that changes the interval reschedules; one that does not keeps back-off and hints
            next_poll_interval   INTEGER,
            -- the server answered 410 Gone: polling stopped until the config changes
            gone_at              INTEGER,
            -- the URL a permanent redirect (301/308) moved the feed to
            moved_to             TEXT,
            -- the feed's GUIDs are unreliable (repeated): items are keyed by link instead
            link_keys            INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE items (
            id            INTEGER PRIMARY KEY,
            feed_id       INTEGER NOT NULL REFERENCES feeds(id),
            key           TEXT NOT NULL,
            title         TEXT NOT NULL,
            link          TEXT,
            summary       TEXT NOT NULL,
            content       TEXT NOT NULL,
            authors       TEXT NOT NULL,
            categories    TEXT NOT NULL,
            published_at  INTEGER,
            first_seen_at INTEGER NOT NULL,
            -- canonical link, so a feed that changes its GUIDs wholesale does not re-alert
            link_key      TEXT,
            -- body pruned by [storage] keep; the key stays as a tombstone
            pruned        INTEGER NOT NULL DEFAULT 0,
            UNIQUE (feed_id, key)
        );
        CREATE INDEX items_first_seen ON items (first_seen_at);
        CREATE INDEX items_link ON items (feed_id, link_key);
        CREATE TABLE alerts (
            id              INTEGER PRIMARY KEY,
            uid             TEXT NOT NULL UNIQUE,
            -- NULL for feed-health alerts, which are about a feed, not an item
            item_id         INTEGER REFERENCES items(id),
            rule            TEXT NOT NULL,
            notifier        TEXT NOT NULL,
            payload         TEXT NOT NULL,
            status          TEXT NOT NULL
                            CHECK (status IN ('pending', 'retry', 'sent', 'dead')),
            attempts        INTEGER NOT NULL DEFAULT 0,
            last_error      TEXT,
            created_at      INTEGER NOT NULL,
            next_attempt_at INTEGER NOT NULL,
            sent_at         INTEGER,
            story           TEXT NOT NULL,
            digest          TEXT,
            UNIQUE (item_id, rule, notifier)
        );
        CREATE INDEX alerts_due ON alerts (status, next_attempt_at);
        -- One story, one alert per rule and notifier, whichever feed carried it.
        CREATE UNIQUE INDEX alerts_story ON alerts (rule, notifier, story);
        CREATE INDEX alerts_rule_created ON alerts (rule, created_at);
        CREATE TABLE digests (
            notifier     TEXT NOT NULL,
            schedule     TEXT NOT NULL,
            last_sent_at INTEGER NOT NULL,
            PRIMARY KEY (notifier, schedule)
        );";

/// Version 2: one alert per story and notifier, listing every rule that matched (issue 12).
/// What made an alert unique besides its item or story and its notifier was its rule; it is
/// now its `grouping`: `''` for an alert per story (every rule in `rules`), or a rule's name
/// for an alert of one rule (`group = "rule"`, feed-health alerts) — which every alert stored
/// before this migration is. Renaming the column carries the UNIQUE constraints and indexes
/// over (<https://sqlite.org/lang_altertable.html#altertabrename>), so no row is copied and
/// each keeps its id, uid and status; `rule` becomes the rules' names for listings.
const ALERTS_BY_STORY: &str = "
        ALTER TABLE alerts RENAME COLUMN rule TO grouping;
        -- the rules' names, comma-separated, for listings
        ALTER TABLE alerts ADD COLUMN rule TEXT NOT NULL DEFAULT '';
        -- the rules' names as a JSON array, for the flood guard
        ALTER TABLE alerts ADD COLUMN rules TEXT NOT NULL DEFAULT '[]';
        UPDATE alerts SET rule = grouping, rules = json_array(grouping);
        DROP INDEX alerts_rule_created;
        CREATE INDEX alerts_created ON alerts (created_at);
        -- every alert of a story to a notifier, whatever its grouping
        CREATE INDEX alerts_notifier_story ON alerts (notifier, story);";

/// Version 3: rules muted with `feedwatch mute` (issue 12), kept here so that a mute outlives
/// restarts and reloads, and the matches a mute held back, for `backtest`.
const MUTES: &str = "
        CREATE TABLE mutes (
            rule     TEXT PRIMARY KEY,
            muted_at INTEGER NOT NULL,
            -- NULL: until `feedwatch unmute`
            until    INTEGER
        );
        CREATE TABLE muted_matches (
            item_id INTEGER NOT NULL REFERENCES items(id),
            rule    TEXT NOT NULL,
            at      INTEGER NOT NULL,
            PRIMARY KEY (item_id, rule)
        );";

/// Version 4: the title-and-lead sketch of each story alerted recently, so a syndicated copy
/// in another feed (another URL) is recognised as the same story (issue 12, `[stories]`).
const STORY_SKETCHES: &str = "
        CREATE TABLE story_sketches (
            story   TEXT PRIMARY KEY,
            -- the feed the story was first alerted from: its own other items are other stories
            feed    TEXT NOT NULL,
            -- similar::Sketch::to_bytes
            sketch  BLOB NOT NULL,
            seen_at INTEGER NOT NULL
        );
        CREATE INDEX story_sketches_seen ON story_sketches (seen_at);";

/// Version 5: full stories (issue 13). An item keeps the text of the page it links to, so a
/// backtest can match it again and a restart never fetches it twice (only new items are
/// fetched); pruning empties it with the item's other text. A feed counts its article fetches
/// and failures and keeps the last failure's reason, for `feedwatch feeds`.
const ARTICLES: &str = "
        ALTER TABLE items ADD COLUMN article TEXT NOT NULL DEFAULT '';
        ALTER TABLE feeds ADD COLUMN articles_fetched INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE feeds ADD COLUMN articles_failed INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE feeds ADD COLUMN article_error TEXT;";

/// Version 6: the part of an alert's next attempt that the receiving server asked for (issue
/// 4: `Retry-After` on a 429 or 503). `next_attempt_at` mixes it with feedwatch's own back-off,
/// which `feedwatch once` skips; the server's time it must not. Existing rows get NULL (no
/// server asked anything), so an upgrade changes no alert's schedule.
const SERVER_HOLDS: &str = "
        -- unix seconds before which the server asked not to be sent this alert; NULL if it
        -- did not ask (cleared when the alert is requeued by `feedwatch alerts retry`)
        ALTER TABLE alerts ADD COLUMN not_before INTEGER;";

/// The migrations up to and including `version` (tests use it for a database as an older
/// feedwatch left it).
pub(super) fn migrations_until(version: usize) -> Migrations<'static> {
    Migrations::new(ALL.iter().take(version).map(|sql| M::up(sql)).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }
}

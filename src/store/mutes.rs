//! Muted rules (`feedwatch mute RULE [--for D]`, `feedwatch unmute RULE`) and the matches a
//! mute held back. Kept in the database, not the config: a mute is an operator's decision of
//! the moment that must outlive restarts and reloads, and the CLI sets it while the daemon
//! runs (the daemon reads it on each poll that matches anything, so no reload is needed).
//!
//! A rule is muted while its row exists and `until` is NULL or later than now; an expired row
//! is ignored and replaced by the next `mute`.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, params};

use super::{Durability, Store, StoreError};

/// One muted rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mute {
    /// Rule name.
    pub rule: String,
    /// Unix seconds the mute was set.
    pub muted_at: i64,
    /// Unix seconds it ends; `None`: until `feedwatch unmute`.
    pub until: Option<i64>,
}

/// A match held back by a mute: item `item` (an index into [`super::Ingest::items`]) matched
/// rule `rule`. Stored only for items the batch inserts, like alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutedMatch {
    /// Index into the batch's items.
    pub item: usize,
    /// Rule name.
    pub rule: String,
}

impl Store {
    /// Mutes `rule` from `now` until `until` (`None`: until unmuted), replacing any earlier
    /// mute of it.
    pub async fn mute(&self, rule: &str, now: i64, until: Option<i64>) -> Result<(), StoreError> {
        let rule = rule.to_string();
        self.write(Durability::Full, move |conn| {
            conn.prepare_cached(
                "INSERT INTO mutes (rule, muted_at, until) VALUES (?1, ?2, ?3)
                 ON CONFLICT(rule) DO UPDATE SET muted_at = ?2, until = ?3",
            )?
            .execute(params![rule, now, until])?;
            Ok(())
        })
        .await
    }

    /// Ends the mute of `rule`; returns whether it was muted at `now`.
    pub async fn unmute(&self, rule: &str, now: i64) -> Result<bool, StoreError> {
        let rule = rule.to_string();
        self.write(Durability::Full, move |conn| {
            let active: Option<i64> = conn
                .prepare_cached(
                    "DELETE FROM mutes WHERE rule = ?1 RETURNING (until IS NULL OR until > ?2)",
                )?
                .query_row(params![rule, now], |r| r.get(0))
                .optional()?;
            Ok(active == Some(1))
        })
        .await
    }

    /// The rules muted at `now`, by name.
    pub async fn mutes(&self, now: i64) -> Result<Vec<Mute>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT rule, muted_at, until FROM mutes
                 WHERE until IS NULL OR until > ?1 ORDER BY rule",
            )?;
            let rows = stmt.query_map(params![now], |r| {
                Ok(Mute {
                    rule: r.get(0)?,
                    muted_at: r.get(1)?,
                    until: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The items (feed URL, item key) whose match of `rule` a mute held back, for `backtest`.
    pub async fn muted_items(&self, rule: &str) -> Result<HashSet<(String, String)>, StoreError> {
        let rule = rule.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT f.url, i.key FROM muted_matches m
                 JOIN items i ON i.id = m.item_id JOIN feeds f ON f.id = i.feed_id
                 WHERE m.rule = ?1",
            )?;
            let rows = stmt.query_map(params![rule], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

/// Records the batch's held-back matches for the items it inserted (`item_ids[n]` is the new
/// row of item `n`, `None` when it was already stored).
pub(super) fn record_muted(
    tx: &rusqlite::Transaction<'_>,
    muted: &[MutedMatch],
    item_ids: &[Option<i64>],
    now: i64,
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO muted_matches (item_id, rule, at) VALUES (?1, ?2, ?3)
         ON CONFLICT(item_id, rule) DO NOTHING",
    )?;
    for m in muted {
        if let Some(Some(id)) = item_ids.get(m.item) {
            insert.execute(params![id, m.rule, now])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;
    use crate::store::Ingest;

    #[tokio::test]
    async fn a_mute_lasts_until_it_ends_or_is_lifted_and_keeps_what_it_held_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("fw.db")).await.expect("open");
        store.mute("kabulov", 100, Some(200)).await.expect("mute");
        store.mute("taliban", 100, None).await.expect("mute");
        let names = |m: Vec<Mute>| m.into_iter().map(|m| m.rule).collect::<Vec<_>>();
        assert_eq!(
            names(store.mutes(150).await.expect("mutes")),
            ["kabulov", "taliban"]
        );
        assert_eq!(names(store.mutes(200).await.expect("mutes")), ["taliban"]);
        assert!(
            !store.unmute("kabulov", 250).await.expect("unmute"),
            "had ended"
        );
        assert!(store.unmute("taliban", 250).await.expect("unmute"));
        assert!(
            !store.unmute("taliban", 250).await.expect("unmute"),
            "already lifted"
        );
        assert!(store.mutes(250).await.expect("mutes").is_empty());

        let feed = crate::domain::FeedId::from_stored("http://f/".into());
        let state = store.feed_state(&feed).await.expect("state");
        let items = vec![fixtures::item("a"), fixtures::item("b")];
        let batch = Ingest {
            muted: vec![MutedMatch {
                item: 1,
                rule: "kabulov".into(),
            }],
            ..Ingest::batch(items, Vec::new(), 300)
        };
        store
            .ingest(state.id, feed.as_str(), batch)
            .await
            .expect("ingest");
        let held = store.muted_items("kabulov").await.expect("muted items");
        assert_eq!(
            held,
            HashSet::from([("http://f/".to_string(), "b".to_string())])
        );
    }
}

//! One feed, one poll: fetch → parse → dedupe → match → commit.
//!
//! A failure anywhere is recorded on the feed's row and returned as a value; it never affects
//! other feeds. The new items and the alerts they trigger are committed together
//! ([`Store::ingest`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{Config, Feed};
use crate::domain::{AlertPayload, Item, NewAlert};
use crate::fetch::{FetchError, FetchOutcome, Fetcher, Validators};
use crate::parse::{ParseError, ParsedFeed, parse_feed};
use crate::rules::{Document, RuleSet};
use crate::store::{Ingest, Store, StoreError};

/// Why one poll of one feed failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// Fetching failed.
    #[error("fetch failed")]
    Fetch(#[from] FetchError),
    /// The body is not a feed.
    #[error("cannot parse feed")]
    Parse(#[from] ParseError),
    /// The database failed.
    #[error("database error")]
    Store(#[from] StoreError),
}

/// What a successful poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    /// The server said 304 Not Modified.
    pub not_modified: bool,
    /// Entries in the document.
    pub seen: usize,
    /// Entries not stored before.
    pub new_items: usize,
    /// Alerts queued.
    pub alerts: usize,
}

/// Everything needed to poll feeds: config, compiled rules, HTTP client and store.
/// Cheap to clone (shared parts are behind `Arc`).
#[derive(Clone)]
pub struct Engine {
    config: Arc<Config>,
    /// One automaton over the enabled rules.
    rules: Arc<RuleSet>,
    /// `rules` index → index in `config.rules`.
    rule_index: Arc<Vec<usize>>,
    fetcher: Fetcher,
    store: Store,
}

impl Engine {
    /// Compiles the enabled rules into one [`RuleSet`].
    pub fn new(config: Arc<Config>, fetcher: Fetcher, store: Store) -> Engine {
        let (rule_index, queries): (Vec<usize>, Vec<_>) = config
            .enabled_rules()
            .map(|(i, r)| (i, r.query.clone()))
            .unzip();
        Engine {
            rules: Arc::new(RuleSet::new(queries)),
            rule_index: Arc::new(rule_index),
            config,
            fetcher,
            store,
        }
    }

    /// The configuration this engine runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Polls feed number `feed` of the config once. Failures are recorded on the feed row.
    pub async fn poll(&self, feed: usize, now: DateTime<Utc>) -> Result<PollReport, PollError> {
        let Some(cfg) = self.config.feeds.get(feed) else {
            return Ok(PollReport::default());
        };
        let state = self.store.feed_state(&cfg.id())?;
        let result = self.poll_inner(feed, cfg, &state, now).await;
        if let Err(e) = &result
            && !matches!(e, PollError::Store(_))
        {
            self.store
                .record_failure(state.id, now.timestamp(), &error_chain(e))?;
        }
        result
    }

    async fn poll_inner(
        &self,
        feed: usize,
        cfg: &Feed,
        state: &crate::store::FeedState,
        now: DateTime<Utc>,
    ) -> Result<PollReport, PollError> {
        let validators = Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        };
        let fetched = match self.fetcher.fetch(&cfg.url, &validators).await? {
            FetchOutcome::NotModified => {
                self.store.record_not_modified(state.id, now.timestamp())?;
                return Ok(PollReport {
                    not_modified: true,
                    ..PollReport::default()
                });
            }
            FetchOutcome::Fetched(f) => f,
        };
        let base = fetched.final_url.clone();
        let content_type = fetched.content_type.clone();
        let body = fetched.body;
        // feed-rs is CPU work and may panic on hostile input: off the async threads, and a
        // panic that escapes catch_unwind still becomes this feed's error (JoinError).
        let parsed: ParsedFeed =
            tokio::task::spawn_blocking(move || parse_feed(&body, content_type.as_deref(), &base))
                .await
                .map_err(|e| ParseError::Panicked(e.to_string()))??;

        let keys: Vec<&str> = parsed.items.iter().map(|i| i.key.as_str()).collect();
        let known = self.store.known_keys(state.id, &keys)?;
        let new_items: Vec<Item> = parsed
            .items
            .iter()
            .filter(|i| !known.contains(&i.key))
            .cloned()
            .collect();

        // On the first poll only recent, dated items may alert: subscribing to a feed must
        // not flood the user with its whole archive.
        let first_poll = state.first_polled_at.is_none();
        let backlog_start = now
            - chrono::Duration::from_std(self.config.poll.backlog).unwrap_or(chrono::Duration::MAX);
        let mut alerts = Vec::new();
        for (n, item) in new_items.iter().enumerate() {
            if first_poll && item.published.is_none_or(|p| p < backlog_start) {
                continue;
            }
            alerts.extend(self.decide(feed, cfg, n, item));
        }

        let report = self.store.ingest(
            state.id,
            cfg.id().as_str(),
            &Ingest {
                title: parsed.title.as_deref(),
                etag: fetched.validators.etag.as_deref(),
                last_modified: fetched.validators.last_modified.as_deref(),
                items: &new_items,
                alerts: &alerts,
                now: now.timestamp(),
            },
        )?;
        Ok(PollReport {
            not_modified: false,
            seen: parsed.items.len(),
            new_items: report.items,
            alerts: report.alerts,
        })
    }

    /// The alerts one item triggers: each matching enabled rule that watches this feed, once
    /// per notifier of that rule.
    fn decide(&self, feed: usize, cfg: &Feed, n: usize, item: &Item) -> Vec<NewAlert> {
        let doc = document(item, &cfg.name);
        let mut out = Vec::new();
        for hit in self.rules.matches(&doc) {
            let Some(rule) = self
                .rule_index
                .get(hit.rule)
                .and_then(|i| self.config.rules.get(*i))
            else {
                continue;
            };
            if !rule.feeds.contains(&feed) {
                continue;
            }
            let mut matched: Vec<String> = Vec::new();
            for t in &hit.terms {
                if !matched.contains(&t.term) {
                    matched.push(t.term.clone());
                }
            }
            let payload = AlertPayload {
                rule: rule.name.clone(),
                query: rule.query_text.clone(),
                matched,
                feed_name: cfg.name.clone(),
                feed_url: cfg.url.to_string(),
                title: item.title.clone(),
                link: item.link.clone(),
                published: item.published,
                snippet: hit
                    .terms
                    .first()
                    .map(|t| t.snippet.clone())
                    .unwrap_or_default(),
            };
            for notifier in &rule.notify {
                out.push(NewAlert {
                    item: n,
                    notifier: notifier.clone(),
                    payload: payload.clone(),
                });
            }
        }
        out
    }
}

/// The rule engine's view of an item.
pub fn document(item: &Item, feed_name: &str) -> Document {
    Document {
        title: item.title.clone(),
        summary: item.summary.clone(),
        content: item.content.clone(),
        authors: item.authors.clone(),
        categories: item.categories.clone(),
        link: item.link.clone().unwrap_or_default(),
        feed: feed_name.to_string(),
    }
}

/// An error and all its causes on one line: `fetch failed: request failed: connection refused`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let msg = c.to_string();
        // reqwest repeats its cause in its own message; do not print it twice.
        if !s.ends_with(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = c.source();
    }
    s
}

//! One feed, one poll: fetch → parse → dedupe → match → commit.
//!
//! A failure anywhere is recorded on the feed's row and returned as a value; it never affects
//! other feeds. The new items and the alerts they trigger are committed together
//! ([`Store::ingest`]).
//!
//! Parsing is CPU work on the blocking pool, bounded per feed by [`PARSE_TIME_LIMIT`] (a feed
//! over it fails like any other poll); alert payloads are bounded in size
//! ([`AlertPayload::clipped`]) whatever the feed sends. A poll still fetching or parsing when
//! it is abandoned ([`Engine::with_abandon`]: the daemon, when its shutdown grace ends) stops
//! there and records nothing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use std::collections::HashSet;

use crate::article::Articles;
use crate::config::{Config, DigestSchedule, Feed, Rule};
pub use crate::domain::error_chain;
use crate::domain::{
    AlertPayload, Grouping, Item, NewAlert, RuleMatch, TermSnippet, canonical_link,
};
use crate::fetch::{
    FetchError, FetchOutcome, FetchSettings, Fetcher, Hints, RequestOptions, Validators,
};
use crate::parse::{ParseError, ParsedFeed, parse_feed_within, rekey_by_link};
use crate::redact::Redacted;
use crate::rules::{Document, MatchedTerm, RuleSet};
use crate::scheduler::{FailureClass, Outcome, Policy, next_poll};
use crate::similar::Sketch;
use crate::store::{
    ArticleTally, Copies, FeedState, Ingest, MutedMatch, NewItems, NextPoll, Store, StoreError,
};

pub use crate::domain::HEALTH_RULE;

/// Most CPU time one feed's body may take to parse and normalize, measured on the parsing
/// thread's own CPU clock, so a legitimate parse is not refused because the machine is busy
/// (a 100,000-item feed took 1.2 s of CPU but 10.2 s of wall time on an overloaded machine).
/// Each field's conversion is bounded (`text::MAX_HTML_BYTES`, `text::MAX_HTML_DEPTH`) and the
/// limit is checked between fields, so a feed over it stops within one field's work and fails
/// with [`ParseError::TooSlow`]. The largest legitimate feeds take well under a second.
pub const PARSE_TIME_LIMIT: Duration = Duration::from_secs(10);

/// The wall-clock backstop, as a multiple of the CPU limit: a parse that gets almost no CPU
/// (a starved machine, a thread stuck without spinning) is still stopped, with the same
/// [`ParseError::TooSlow`], once this many times the limit has passed on the clock.
const PARSE_WALL_BACKSTOP_FACTOR: u32 = 6;

/// The CPU time the calling thread has used, from `CLOCK_THREAD_CPUTIME_ID` (POSIX); `None`
/// where that clock cannot be read, and the caller then counts wall time instead.
fn thread_cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec that outlives the call; clock_gettime only
        // writes into it and reports failure through its return value.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        let secs = u64::try_from(ts.tv_sec).ok()?;
        let nanos = u32::try_from(ts.tv_nsec).ok()?;
        (rc == 0).then(|| Duration::new(secs, nanos))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The time a parse may take, started on (and to be asked on) the parsing thread: at most
/// `limit` of that thread's CPU time, and at most `backstop` of wall time.
struct ParseBudget {
    limit: Duration,
    backstop: Duration,
    wall_start: std::time::Instant,
    /// The thread's CPU clock at the start; `None` when it cannot be read.
    cpu_start: Option<Duration>,
}

impl ParseBudget {
    fn start(limit: Duration, backstop: Duration) -> ParseBudget {
        ParseBudget {
            limit,
            backstop,
            wall_start: std::time::Instant::now(),
            cpu_start: thread_cpu_time(),
        }
    }

    /// `Err(TooSlow)` once the thread has spent `limit` of CPU, or `backstop` of wall time.
    fn check(&self) -> Result<(), ParseError> {
        let wall = self.wall_start.elapsed();
        // One thread cannot use more CPU than the wall time that passed, so while neither
        // `limit` nor `backstop` of wall time has passed there is nothing to read: this runs
        // for every field of every item, and the CPU clock is a system call.
        if wall <= self.limit.min(self.backstop) {
            return Ok(());
        }
        let cpu = self
            .cpu_start
            .and_then(|start| Some(thread_cpu_time()?.saturating_sub(start)));
        if over_budget(cpu, wall, self.limit, self.backstop) {
            Err(ParseError::TooSlow { limit: self.limit })
        } else {
            Ok(())
        }
    }
}

/// Whether a parse that used `cpu` (`None`: unknown) over `wall` is past its budget. Without a
/// CPU reading the limit applies to wall time, as it did before the CPU clock was used.
fn over_budget(cpu: Option<Duration>, wall: Duration, limit: Duration, backstop: Duration) -> bool {
    match cpu {
        Some(cpu) => cpu > limit || wall > backstop,
        None => wall > limit,
    }
}

/// Parses a fetched body as a poll does: on the blocking pool (feed-rs is CPU work and may
/// panic on hostile input; a panic that escapes its `catch_unwind` still ends as a `JoinError`,
/// not a crash), stopped with [`ParseError::TooSlow`] past `limit` of the parsing thread's CPU
/// time (or, as a backstop, six times `limit` of wall time) and with
/// [`ParseError::Stopped`] once `stop` is cancelled. `feedwatch parse` calls it too, so
/// the command sees exactly what the daemon sees.
pub fn spawn_parse(
    body: Vec<u8>,
    content_type: Option<String>,
    base: url::Url,
    limit: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<Result<ParsedFeed, ParseError>> {
    tokio::task::spawn_blocking(move || {
        // Started here, on the blocking thread that parses: its CPU clock is the one to read.
        let budget = ParseBudget::start(limit, limit * PARSE_WALL_BACKSTOP_FACTOR);
        let go_on = || {
            if stop.is_cancelled() {
                Err(ParseError::Stopped)
            } else {
                budget.check()
            }
        };
        parse_feed_within(&body, content_type.as_deref(), &base, &go_on)
    })
}

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
    /// The server said 410 Gone earlier; the feed is no longer polled.
    #[error("feed is gone (the server answered 410); polling stopped")]
    Gone,
    /// feedwatch is shutting down and the poll was still fetching or parsing when its grace
    /// ended: it was abandoned midway, nothing was recorded.
    #[error("poll abandoned: feedwatch is shutting down")]
    ShuttingDown,
}

impl PollError {
    /// Whether the next poll may succeed without anyone acting; sets how fast the back-off
    /// grows ([`crate::scheduler::next_poll`]).
    pub fn class(&self) -> FailureClass {
        match self {
            PollError::Fetch(f) if f.is_transient() => FailureClass::Transient,
            // Our own database failed: nothing is wrong with the feed.
            PollError::Store(_) | PollError::ShuttingDown => FailureClass::Transient,
            PollError::Fetch(_) | PollError::Parse(_) | PollError::Gone => FailureClass::Permanent,
        }
    }
}

/// One poll's result and when the feed is due next (`None`: never, it is gone).
#[derive(Debug)]
pub struct Polled {
    /// What happened.
    pub result: Result<PollReport, PollError>,
    /// When to poll again.
    pub next_poll: Option<DateTime<Utc>>,
    /// The run of failures the feed was in before this poll (`None`: it was healthy, or its
    /// state could not be read): what the log needs to say a failure once, not every poll.
    pub before: Option<FailureRun>,
}

/// A feed's current run of failed polls, as stored before a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRun {
    /// Failed polls in a row.
    pub consecutive: u32,
    /// Unix seconds of the first failure of the run.
    pub since: i64,
    /// Unix seconds of the last poll (the latest failure).
    pub last_polled_at: Option<i64>,
}

impl FailureRun {
    fn of(state: &FeedState) -> Option<FailureRun> {
        (state.consecutive_failures > 0).then(|| FailureRun {
            consecutive: state.consecutive_failures,
            since: state.failing_since.or(state.last_polled_at).unwrap_or(0),
            last_polled_at: state.last_polled_at,
        })
    }
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
    /// Scheduling policy (min interval, back-off cap).
    policy: Policy,
    /// Longest one feed's parse may take: [`PARSE_TIME_LIMIT`] unless set otherwise.
    parse_limit: Duration,
    /// Cancelled when polls in flight are to be given up (the daemon: when the shutdown grace
    /// ends; a reload never does): a fetch in progress is dropped, a parse stops at its next
    /// check, and the poll ends with [`PollError::ShuttingDown`]. A poll that got past them
    /// first commits as usual. One-shot commands leave it uncancelled.
    abandon: CancellationToken,
    /// Article fetchers, when any feed sets `fetch_article = true`.
    articles: Option<Articles>,
    /// URLs of the feeds whose article fetches are failing and have been logged as such:
    /// a failure is logged when a feed enters this set, a recovery when it leaves it, so a
    /// paywalled site does not log on every poll.
    article_failing: Arc<std::sync::Mutex<HashSet<String>>>,
}

impl Engine {
    /// Compiles the enabled rules into one [`RuleSet`].
    pub fn new(config: Arc<Config>, fetcher: Fetcher, store: Store) -> Engine {
        let (rule_index, queries): (Vec<usize>, Vec<_>) = config
            .enabled_rules()
            .map(|(i, r)| (i, r.query.clone()))
            .unzip();
        let articles = config
            .feeds
            .iter()
            .any(|f| f.article.is_some())
            .then(|| {
                let settings = FetchSettings::new(
                    config.poll.timeout,
                    config.poll.max_body,
                    config.poll.user_agent.clone(),
                );
                Articles::new(&settings, config.poll.per_host)
                    .inspect_err(|e| {
                        tracing::warn!(error = %error_chain(e),
                            "cannot set up article fetching; matching feed text only");
                    })
                    .ok()
            })
            .flatten();
        Engine {
            articles,
            article_failing: Arc::default(),
            rules: Arc::new(RuleSet::new(queries)),
            rule_index: Arc::new(rule_index),
            policy: Policy {
                min_interval: config.poll.min_interval,
                ..Policy::default()
            },
            config,
            fetcher,
            store,
            parse_limit: PARSE_TIME_LIMIT,
            abandon: CancellationToken::new(),
        }
    }

    /// Abandons polls still fetching or parsing (parsing stops at its next check) once
    /// `abandon` is cancelled. Cancel it when they may no longer finish, not when they may
    /// no longer start: a poll whose answer arrives before then is recorded.
    pub fn with_abandon(mut self, abandon: CancellationToken) -> Engine {
        self.abandon = abandon;
        self
    }

    /// Awaits `work` unless the poll is abandoned first (see [`Engine::with_abandon`]).
    async fn unless_abandoned<T>(&self, work: impl Future<Output = T>) -> Result<T, PollError> {
        tokio::select! {
            // Work that is done wins: it is recorded even when the grace ends just then.
            biased;
            out = work => Ok(out),
            () = self.abandon.cancelled() => Err(PollError::ShuttingDown),
        }
    }

    /// Sets how long one feed's parse may take (tests: a limit a big feed exceeds).
    pub fn with_parse_limit(mut self, limit: Duration) -> Engine {
        self.parse_limit = limit;
        self
    }

    /// Which earlier stories a story found now may be a copy of (`[stories]`); `None` when
    /// the comparison is off (`window = "0s"`).
    fn copies(&self, now: DateTime<Utc>) -> Option<Copies> {
        let stories = &self.config.stories;
        if stories.window.is_zero() {
            return None;
        }
        Some(Copies {
            since: now
                .timestamp()
                .saturating_sub(i64::try_from(stories.window.as_secs()).unwrap_or(i64::MAX)),
            similarity: stories.similarity,
        })
    }

    /// The store this engine writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration this engine runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Polls feed number `feed` of the config once. Failures are recorded on the feed row,
    /// and the next poll time (from the scheduling policy) is stored with it.
    pub async fn poll(&self, feed: usize, now: DateTime<Utc>) -> Polled {
        let Some(cfg) = self.config.feeds.get(feed) else {
            return Polled {
                result: Ok(PollReport::default()),
                next_poll: None,
                before: None,
            };
        };
        let state = match self.store.feed_state(&cfg.id()).await {
            Ok(s) => s,
            Err(e) => {
                // The database is unwell: try this feed again after its interval.
                return Polled {
                    result: Err(e.into()),
                    next_poll: Some(now + chrono_duration(cfg.interval)),
                    before: None,
                };
            }
        };
        let before = FailureRun::of(&state);
        if state.gone_at.is_some() {
            return Polled {
                result: Err(PollError::Gone),
                next_poll: None,
                before,
            };
        }
        let e = match self.poll_inner(feed, cfg, &state, now).await {
            // A successful poll stored its next-poll time with its own record (one commit).
            Ok((report, next_poll)) => {
                return Polled {
                    result: Ok(report),
                    next_poll,
                    before,
                };
            }
            // Says nothing about the feed: no failure recorded, its stored next poll stands.
            Err(PollError::ShuttingDown) => {
                return Polled {
                    result: Err(PollError::ShuttingDown),
                    next_poll: None,
                    before,
                };
            }
            Err(e) => e,
        };
        let outcome = self.record_error(cfg, &state, &e, now).await;
        let next_poll = self.next_poll_for(cfg, &outcome, now);
        if let Some(next) = stored(cfg, next_poll)
            && let Err(se) = self
                .store
                .set_next_poll(state.id, next.at, next.interval)
                .await
        {
            // The store reports a failing database once; this is one more of its failures.
            tracing::debug!(feed = %cfg.name, error = %error_chain(&se), "cannot store next poll time");
        }
        Polled {
            result: Err(e),
            next_poll,
            before,
        }
    }

    /// When a poll with `outcome` makes the feed next due (the scheduling policy's decision).
    fn next_poll_for(
        &self,
        cfg: &Feed,
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        next_poll(&self.policy, cfg.interval, outcome, now, cfg.url.as_str())
    }

    /// Records a failed poll on the feed row (queuing the one feed-health alert when the feed
    /// has been failing for longer than `health_alert_after`) and says how to schedule it.
    async fn record_error(
        &self,
        cfg: &Feed,
        state: &FeedState,
        e: &PollError,
        now: DateTime<Utc>,
    ) -> Outcome {
        let message = error_chain(e);
        if let PollError::Fetch(FetchError::Gone) = e {
            tracing::error!(feed = %cfg.name, url = %Redacted::url(&cfg.url),
                "the server says this feed is gone (410): polling stopped; remove or change it in the config");
            let recorded = async {
                let at = now.timestamp();
                self.store
                    .record_failure(state.id, cfg.id().as_str(), at, &message, &[])
                    .await?;
                self.store.set_gone(state.id, at).await
            };
            if let Err(se) = recorded.await {
                tracing::warn!(feed = %cfg.name, error = %error_chain(&se), "cannot record 410");
            }
            return Outcome::Gone;
        }
        let failing_since = state.failing_since.unwrap_or(now.timestamp());
        let overdue = now.timestamp().saturating_sub(failing_since)
            >= i64::try_from(self.config.poll.health_alert_after.as_secs()).unwrap_or(i64::MAX);
        let health = if overdue && !state.health_alerted && !matches!(e, PollError::Store(_)) {
            let since = DateTime::<Utc>::from_timestamp(failing_since, 0).unwrap_or(now);
            self.health_alerts(
                cfg,
                format!("health:{}:{failing_since}", cfg.url),
                format!(
                    "Feed {} has been failing since {}",
                    cfg.name,
                    since.format("%Y-%m-%d %H:%M UTC")
                ),
                format!("Last error: {message}"),
            )
        } else {
            Vec::new()
        };
        if !health.is_empty() {
            tracing::error!(feed = %cfg.name, url = %Redacted::url(&cfg.url), error = %message,
                "feed failing for longer than health_alert_after; health alert queued");
        }
        if !matches!(e, PollError::Store(_))
            && let Err(se) = self
                .store
                .record_failure(
                    state.id,
                    cfg.id().as_str(),
                    now.timestamp(),
                    &message,
                    &health,
                )
                .await
        {
            tracing::warn!(feed = %cfg.name, error = %error_chain(&se), "cannot record failure");
        }
        Outcome::Failure {
            consecutive: state.consecutive_failures.saturating_add(1),
            retry_after: match e {
                PollError::Fetch(f) => f.retry_after(),
                _ => None,
            },
            class: e.class(),
        }
    }

    /// Feed-health alerts (one per notifier) with a story id that makes them once-only.
    fn health_alerts(
        &self,
        cfg: &Feed,
        story: String,
        title: String,
        detail: String,
    ) -> Vec<NewAlert> {
        let payload = AlertPayload {
            rule: HEALTH_RULE.to_string(),
            query: String::new(),
            matched: Vec::new(),
            feed_name: cfg.name.clone(),
            feed_url: Redacted::url(&cfg.url).to_string(),
            title,
            link: Some(Redacted::url(&cfg.url).to_string()),
            published: None,
            snippet: detail,
            ..AlertPayload::default()
        }
        .clipped();
        // `[poll] health_notify` picks the notifiers; without it, every one.
        let wanted = self.config.poll.health_notify.as_ref();
        self.config
            .notifiers
            .keys()
            .filter(|n| wanted.is_none_or(|w| w.contains(n)))
            .map(|n| NewAlert {
                item: 0,
                notifier: n.clone(),
                story: story.clone(),
                digest: None,
                // About a feed, not a story: stored under its own name, as a rule's would be.
                grouping: Grouping::Rule,
                sketch: None,
                payload: payload.clone(),
            })
            .collect()
    }

    /// A recovery notice when this feed had raised a health alert.
    fn recovery_alerts(&self, cfg: &Feed, state: &FeedState) -> Vec<NewAlert> {
        match (state.health_alerted, state.failing_since) {
            // The recovery itself is logged once by the caller (`wiring::poll_and_log`).
            (true, Some(since)) => self.health_alerts(
                cfg,
                format!("recovered:{}:{since}", cfg.url),
                format!("Feed {} has recovered", cfg.name),
                format!(
                    "It had been failing since {}.",
                    DateTime::<Utc>::from_timestamp(since, 0)
                        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_default()
                ),
            ),
            _ => Vec::new(),
        }
    }

    async fn poll_inner(
        &self,
        feed: usize,
        cfg: &Feed,
        state: &FeedState,
        now: DateTime<Utc>,
    ) -> Result<(PollReport, Option<DateTime<Utc>>), PollError> {
        let validators = Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        };
        // After a permanent redirect the feed lives at its new address.
        let url = state
            .moved_to
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .unwrap_or_else(|| cfg.url.clone());
        let options = RequestOptions {
            headers: cfg.headers.clone(),
            // Credentials stay with the origin the user configured, wherever the feed moved:
            // only editing the URL in the config sends them somewhere new.
            headers_origin: Some(cfg.url.origin()),
            user_agent: cfg.user_agent.clone(),
        };
        let outcome = self
            .unless_abandoned(self.fetcher.fetch_with(&url, &validators, &options))
            .await??;
        if let Some(moved) = outcome.permanent_redirect()
            && moved != &url
        {
            tracing::warn!(feed = %cfg.name,
                from = %Redacted::url(&url), to = %Redacted::url(moved),
                "feed moved permanently; polling the new address (update the config)");
            self.store.set_moved(state.id, moved.as_str()).await?;
        }
        let not_before = not_before(outcome.hints(), now);
        let fetched = match outcome {
            FetchOutcome::NotModified(_) => {
                let recovery = self.recovery_alerts(cfg, state);
                let outcome = Outcome::Success {
                    not_before,
                    skip_hours: Vec::new(),
                    skip_days: Vec::new(),
                };
                let next = self.next_poll_for(cfg, &outcome, now);
                self.store
                    .record_not_modified(
                        state.id,
                        cfg.id().as_str(),
                        &recovery,
                        now.timestamp(),
                        stored(cfg, next),
                    )
                    .await?;
                return Ok((
                    PollReport {
                        not_modified: true,
                        alerts: recovery.len(),
                        ..PollReport::default()
                    },
                    next,
                ));
            }
            FetchOutcome::Fetched(f) => f,
        };
        let base = fetched.final_url.clone();
        let content_type = fetched.content_type.clone();
        let body = fetched.body;
        // A blocking task cannot be killed: it reads `stop` at its next check and ends by
        // itself, when the poll is abandoned or when this future is dropped (a stop that
        // gave up waiting), whichever comes first; nobody waits for that.
        let stop = self.abandon.child_token();
        let _stop_when_dropped = stop.clone().drop_guard();
        let parse = spawn_parse(body, content_type, base, self.parse_limit, stop);
        let parsed = self
            .unless_abandoned(parse)
            .await?
            .map_err(|e| ParseError::Panicked(e.to_string()))?;
        let mut parsed: ParsedFeed = match parsed {
            Err(ParseError::Stopped) => return Err(PollError::ShuttingDown),
            parsed => parsed?,
        };

        // A feed whose GUIDs repeat cannot be trusted to identify items: key it by link.
        if state.link_keys || parsed.guids_unreliable {
            if !state.link_keys {
                tracing::warn!(feed = %cfg.name, url = %Redacted::url(&cfg.url),
                    "feed repeats its GUIDs; identifying its items by link from now on");
                self.store.set_link_keys(state.id).await?;
            }
            rekey_by_link(&mut parsed.items);
        }

        let seen = parsed.items.len();
        let NewItems {
            items: mut new_items,
            mut shared,
        } = (self.store)
            .new_items(state.id, std::mem::take(&mut parsed.items))
            .await?;

        // On the first poll only recent, dated items may alert: subscribing to a feed must
        // not flood the user with its whole archive.
        let first_poll = state.first_polled_at.is_none();
        let backlog_start = chrono::Duration::from_std(self.config.poll.backlog)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let in_backlog =
            |item: &Item| !first_poll || item.published.is_some_and(|p| p >= backlog_start);
        let articles = self
            .unless_abandoned(self.fetch_articles(cfg, &url, &mut new_items, &in_backlog))
            .await?;
        // Entries that share a page (a live blog, a status page) with an earlier entry of
        // this feed (`shared` from the store), or with another new one, are distinct stories
        // despite the shared link.
        let links: Vec<Option<String>> = new_items
            .iter()
            .map(|i| i.link.as_deref().map(canonical_link))
            .collect();
        let mut link_count: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::new();
        for l in links.iter().flatten() {
            *link_count.entry(l).or_default() += 1;
        }
        for (i, link) in new_items.iter().zip(&links) {
            if link
                .as_deref()
                .is_some_and(|l| link_count.get(l).is_some_and(|c| *c > 1))
            {
                shared.insert(i.key.clone());
            }
        }
        let mut alerts = Vec::new();
        let mut flood = FloodGuard::default();
        let mut mutes = MuteFilter::default();
        for (n, item) in new_items.iter().enumerate() {
            if !in_backlog(item) {
                continue;
            }
            let page_shared = shared.contains(&item.key);
            alerts.extend(
                self.decide(feed, cfg, n, item, page_shared, &mut flood, &mut mutes, now)
                    .await?,
            );
        }

        let recovery = self.recovery_alerts(cfg, state);
        let recovered = recovery.len();
        let ttl = parsed.ttl.map(|t| now + chrono_duration(t));
        let outcome = Outcome::Success {
            not_before: later(not_before, ttl),
            skip_hours: parsed.skip_hours.clone(),
            skip_days: parsed.skip_days.clone(),
        };
        let next = self.next_poll_for(cfg, &outcome, now);
        let report = self
            .store
            .ingest(
                state.id,
                cfg.id().as_str(),
                Ingest {
                    title: parsed.title.take(),
                    etag: fetched.validators.etag,
                    last_modified: fetched.validators.last_modified,
                    items: new_items,
                    alerts,
                    feed_alerts: recovery,
                    muted: mutes.held,
                    now: now.timestamp(),
                    next_poll: stored(cfg, next),
                    copies: self.copies(now),
                    articles,
                },
            )
            .await?;
        Ok((
            PollReport {
                not_modified: false,
                seen,
                new_items: report.items,
                alerts: report.alerts + recovered,
            },
            next,
        ))
    }

    /// For a feed with `fetch_article = true`: fetches the links of the new items that may
    /// alert (`eligible`: on a first poll only those inside the backlog window), at most the
    /// feed's `max_articles`, and puts each page's text in its item's `article`. Bounded by
    /// `[poll] timeout` as a whole (see [`Articles::fetch_all`]); a failed article leaves the
    /// item as the feed gave it, so it is matched on its feed text at once.
    async fn fetch_articles(
        &self,
        cfg: &Feed,
        feed_url: &url::Url,
        items: &mut [Item],
        eligible: &(dyn Fn(&Item) -> bool + Sync),
    ) -> ArticleTally {
        let mut tally = ArticleTally::default();
        let (Some(settings), Some(articles)) = (&cfg.article, &self.articles) else {
            return tally;
        };
        for (w, result) in articles.fill(settings, feed_url, items, eligible).await {
            match result {
                Ok(()) => tally.fetched += 1,
                Err(e) => {
                    tally.failed += 1;
                    tally.error = Some(format!("{}: {}", redacted_link(&w.link), error_chain(&e)));
                }
            }
        }
        if tally.fetched + tally.failed == 0 {
            return tally;
        }
        self.log_article_state(cfg, &tally);
        tally
    }

    /// Logs a feed's article failures once per change: when they start (with the reason) and
    /// when a poll's fetches all succeed again.
    fn log_article_state(&self, cfg: &Feed, tally: &ArticleTally) {
        let mut failing = self
            .article_failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &tally.error {
            Some(reason) if failing.insert(cfg.url.to_string()) => {
                tracing::warn!(feed = %cfg.name, reason = %reason, failed = tally.failed,
                    "article fetch failed; such items are matched on their feed text");
            }
            None if failing.remove(cfg.url.as_str()) => {
                tracing::info!(feed = %cfg.name, "article fetches work again");
            }
            _ => {}
        }
    }

    /// The alerts one item triggers: one per notifier, naming every matching enabled rule that
    /// watches this feed and sends to that notifier (one per rule for a notifier with
    /// `group = "rule"`). An alert goes into a digest when its rules or the notifier ask for
    /// one, or when the rules' `max_per_hour` flood guard is exceeded — and at once when any
    /// of its rules would send it at once.
    #[allow(clippy::too_many_arguments)] // per-item context; a struct would only rename it
    async fn decide(
        &self,
        feed: usize,
        cfg: &Feed,
        n: usize,
        item: &Item,
        page_shared: bool,
        flood: &mut FloodGuard,
        mutes: &mut MuteFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<NewAlert>, StoreError> {
        let doc = document(item, &cfg.name);
        // One story, one alert: the canonical link identifies a story across feeds, unless
        // this feed uses the link for several entries.
        let story = match item.link.as_deref().map(canonical_link) {
            Some(link) if !page_shared => link,
            Some(link) => format!("{link}#{}", item.key),
            None => format!("{}#{}", cfg.url, item.key),
        };
        // Every enabled rule that matched and watches this feed, in config order.
        let mut matched: Vec<(&Rule, RuleMatch)> = Vec::new();
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
            metrics::counter!(crate::metrics::MATCHES, "rule" => rule.name.clone()).increment(1);
            if mutes.is_muted(&self.store, &rule.name, now).await? {
                // Stored with the item (for `backtest`), not alerted.
                tracing::debug!(feed = %cfg.name, rule = %rule.name, title = %item.title,
                    "match held back: the rule is muted");
                mutes.held.push(MutedMatch {
                    item: n,
                    rule: rule.name.clone(),
                });
                continue;
            }
            matched.push((rule, rule_match(rule, &hit.terms)));
        }
        let mut flooded: HashSet<&str> = HashSet::new();
        for (rule, _) in &matched {
            if let Some(max) = rule.max_per_hour
                && flood.count(&self.store, &rule.name, now).await? >= max
            {
                flooded.insert(&rule.name);
            }
        }
        let base = AlertPayload {
            feed_name: cfg.name.clone(),
            feed_url: Redacted::url(&cfg.url).to_string(),
            title: item.title.clone(),
            link: item.link.clone(),
            published: item.published,
            summary: if item.summary.is_empty() {
                &item.content
            } else {
                &item.summary
            }
            .clone(),
            ..AlertPayload::default()
        };
        // Title and lead as alerts carry them (the lead cut to its first few hundred chars),
        // so that copies compare the same text whatever the length of their bodies.
        let sketch = self.copies(now).map(|_| {
            let shown = base.clone().clipped();
            Sketch::of(&shown.title, &shown.summary)
        });
        let mut out = Vec::new();
        let mut single: HashSet<&str> = HashSet::new();
        for (name, notifier) in &self.config.notifiers {
            let rules: Vec<&(&Rule, RuleMatch)> = matched
                .iter()
                .filter(|(r, _)| r.notify.contains(name))
                .collect();
            // A rule's digest, else the notifier's, else its quiet hours' hold while they
            // last, else the hourly one of a flooded rule.
            let quiet = notifier.quiet_digest(now.timestamp());
            let digest_of = |rule: &Rule| {
                rule.digest
                    .or(notifier.digest)
                    .or(quiet)
                    .or(flooded.contains(rule.name.as_str()).then_some(FLOOD_DIGEST))
            };
            let groups: Vec<Vec<&(&Rule, RuleMatch)>> = match notifier.group {
                Grouping::Story if !rules.is_empty() => vec![rules],
                Grouping::Story => Vec::new(),
                Grouping::Rule => rules.into_iter().map(|r| vec![r]).collect(),
            };
            for group in groups {
                // When unsure, alert: a story goes out at once if any of its rules would
                // send it at once; else with the first rule's digest.
                let digests: Vec<Option<DigestSchedule>> =
                    group.iter().map(|(r, _)| digest_of(r)).collect();
                let digest = if digests.iter().any(Option::is_none) {
                    None
                } else if quiet.is_some() && digests.contains(&quiet) {
                    // It would have gone at once but for the quiet hours: not a later digest.
                    quiet
                } else {
                    digests.into_iter().flatten().next()
                };
                if digest.is_none() {
                    single.extend(group.iter().map(|(r, _)| r.name.as_str()));
                }
                let rules = group.iter().map(|(_, m)| m.clone()).collect();
                out.push(NewAlert {
                    item: n,
                    notifier: name.clone(),
                    story: story.clone(),
                    digest: digest.map(|d| d.label()),
                    grouping: notifier.group,
                    sketch: sketch.clone(),
                    payload: AlertPayload::for_rules(base.clone(), rules).clipped(),
                });
            }
        }
        for rule in single {
            flood.add(rule);
        }
        Ok(out)
    }
}

/// What `rule` matched: every term with its excerpt, and in each excerpt the rule's other
/// matched words highlighted too.
fn rule_match(rule: &Rule, terms: &[MatchedTerm]) -> RuleMatch {
    RuleMatch {
        rule: rule.name.clone(),
        query: rule.query_text.clone(),
        terms: (0..terms.len())
            .map(|i| {
                let (snippet, highlights) = snippet_with_highlights(terms, i);
                TermSnippet {
                    term: terms[i].term.clone(),
                    snippet,
                    highlights,
                }
            })
            .collect(),
    }
}

/// A link as logs and `feeds` may show it (credentials and secret query values hidden).
pub fn redacted_link(link: &str) -> String {
    url::Url::parse(link)
        .map(|u| Redacted::url(&u).to_string())
        .unwrap_or_default()
}

/// The next-poll time as the store keeps it, with the interval it was decided for.
fn stored(cfg: &Feed, next: Option<DateTime<Utc>>) -> Option<NextPoll> {
    next.map(|at| NextPoll {
        at: at.timestamp(),
        interval: cfg.interval,
    })
}

fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The server's "fresh until" from `Cache-Control: max-age` / `Expires`.
fn not_before(hints: &Hints, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    hints.fresh_until(now)
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Term `at`'s snippet, with every matched term's text that occurs inside it highlighted
/// (each term carries its own snippet; the others' matched words are found in this one by
/// their original spelling).
fn snippet_with_highlights(terms: &[MatchedTerm], at: usize) -> (String, Vec<(usize, usize)>) {
    let Some(first) = terms.get(at) else {
        return (String::new(), Vec::new());
    };
    let snippet = first.snippet.clone();
    let mut ranges = vec![(first.highlight.start, first.highlight.end)];
    for (_, t) in terms.iter().enumerate().filter(|(i, _)| *i != at) {
        let Some(word) = t.snippet.get(t.highlight.clone()).filter(|w| !w.is_empty()) else {
            continue;
        };
        let mut from = 0;
        while let Some(pos) = snippet.get(from..).and_then(|rest| rest.find(word)) {
            let start = from + pos;
            let range = (start, start + word.len());
            if !ranges.iter().any(|r| r.0 < range.1 && range.0 < r.1) {
                ranges.push(range);
            }
            from = start + word.len();
        }
    }
    ranges.sort_unstable();
    (snippet, ranges)
}

/// Where alerts beyond a rule's `max_per_hour` go when neither the rule nor the notifier has
/// a digest of its own.
const FLOOD_DIGEST: DigestSchedule = DigestSchedule::Every(std::time::Duration::from_secs(3600));

/// Counts single alerts per rule in the last hour: from the store once per rule and poll,
/// then in memory for the alerts this poll adds.
#[derive(Default)]
struct FloodGuard {
    counts: std::collections::HashMap<String, u32>,
}

impl FloodGuard {
    async fn count(
        &mut self,
        store: &Store,
        rule: &str,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        if let Some(n) = self.counts.get(rule) {
            return Ok(*n);
        }
        let n = store
            .rule_alerts_since(rule, now.timestamp() - 3600)
            .await?;
        self.counts.insert(rule.to_string(), n);
        Ok(n)
    }

    fn add(&mut self, rule: &str) {
        if let Some(n) = self.counts.get_mut(rule) {
            *n += 1;
        }
    }
}

/// The rules muted now (`feedwatch mute`), read from the store once per poll and only when
/// something matched (so an unchanged feed costs nothing more), and the matches they held back.
#[derive(Default)]
struct MuteFilter {
    /// Muted rule names; `None` until first needed.
    muted: Option<HashSet<String>>,
    /// Matches held back, stored with the poll's items.
    held: Vec<MutedMatch>,
}

impl MuteFilter {
    async fn is_muted(
        &mut self,
        store: &Store,
        rule: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if self.muted.is_none() {
            let mutes = store.mutes(now.timestamp()).await?;
            self.muted = Some(mutes.into_iter().map(|m| m.rule).collect());
        }
        Ok(self.muted.as_ref().is_some_and(|m| m.contains(rule)))
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
        article: item.article.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn refusals_and_bad_content_are_permanent_while_outages_are_transient() {
        let status = |status| FetchError::Status {
            status,
            retry_after: None,
        };
        let cases: Vec<(&str, PollError, FailureClass)> = vec![
            ("404", status(404).into(), FailureClass::Permanent),
            ("403", status(403).into(), FailureClass::Permanent),
            (
                "too large",
                FetchError::TooLarge { limit: 1 }.into(),
                FailureClass::Permanent,
            ),
            (
                "not a feed",
                ParseError::Panicked("x".into()).into(),
                FailureClass::Permanent,
            ),
            ("503", status(503).into(), FailureClass::Transient),
            ("429", status(429).into(), FailureClass::Transient),
            (
                "timeout",
                FetchError::Timeout {
                    limit: Duration::from_secs(1),
                }
                .into(),
                FailureClass::Transient,
            ),
            (
                "our database",
                StoreError::Sqlite(rusqlite::Error::InvalidQuery).into(),
                FailureClass::Transient,
            ),
        ];
        for (name, e, want) in cases {
            assert_eq!(e.class(), want, "{name}");
        }
    }

    #[test]
    fn the_parse_budget_counts_cpu_time_with_a_wall_clock_backstop() {
        let ms = Duration::from_millis;
        let (limit, backstop) = (ms(10_000), ms(60_000));
        // (case, CPU used or unknown, wall time, over budget)
        let cases = [
            ("quick parse", Some(ms(200)), ms(300), false),
            ("busy machine, 1 s CPU", Some(ms(1_160)), ms(10_160), false),
            ("slow, under backstop", Some(ms(9_000)), ms(59_000), false),
            ("over the CPU limit", Some(ms(10_001)), ms(10_500), true),
            ("stuck past backstop", Some(ms(10)), ms(60_001), true),
            ("no CPU clock, over", None, ms(10_001), true),
            ("no CPU clock, under", None, ms(9_999), false),
        ];
        for (case, cpu, wall, want) in cases {
            assert_eq!(over_budget(cpu, wall, limit, backstop), want, "{case}");
        }
    }

    #[test]
    fn a_parse_budget_refuses_once_its_thread_has_spent_the_cpu_limit() {
        let budget = ParseBudget::start(Duration::from_millis(50), Duration::from_secs(30));
        assert!(budget.check().is_ok(), "nothing spent yet");
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            budget.check().is_ok(),
            "sleeping past the limit spends no CPU"
        );
        let wall = std::time::Instant::now();
        while budget.check().is_ok() && wall.elapsed() < Duration::from_secs(20) {
            std::hint::black_box(wall.elapsed());
        }
        match budget.check() {
            Err(ParseError::TooSlow { limit }) => assert_eq!(limit, Duration::from_millis(50)),
            other => panic!("50 ms of CPU spent, the budget should refuse: {other:?}"),
        }
        let stuck = ParseBudget::start(Duration::from_secs(10), Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            matches!(stuck.check(), Err(ParseError::TooSlow { .. })),
            "past the wall-clock backstop without spending CPU"
        );
    }
}

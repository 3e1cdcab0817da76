//! When each feed is polled (a pure policy function), and the loop that dispatches the polls.
//!
//! Policy: a feed is polled every `interval` (never faster than `min_interval`); what the
//! server says (`Cache-Control: max-age`, `Expires`, RSS `<ttl>`, `Retry-After`) can only push
//! the next poll later, bounded so a bogus header cannot park a feed for a year; RSS
//! `skipHours`/`skipDays` are honoured; errors back off exponentially up to a cap — faster for
//! failures that will not fix themselves (404, 403, not a feed) than for passing trouble (503,
//! timeouts) — and a failing feed is retried at the cap for as long as it fails, never parked
//! forever. A deterministic jitter spreads feeds that share an interval.
//!
//! The loop bounds global concurrency and concurrency per host, stops dispatching on
//! shutdown and lets in-flight polls finish. It knows nothing about what a poll does: the
//! daemon hands it a closure that returns when the feed should be polled next.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Default cap of the error back-off.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// Longest delay a server hint (max-age, Expires, ttl, Retry-After) may impose.
pub const MAX_HINT_DELAY: Duration = Duration::from_secs(24 * 3600);
/// Jitter as a fraction of the delay: ±10 %.
const JITTER_PERMILLE: u64 = 100;
/// Back-off growth per consecutive failure when the failure is likely to pass by itself.
pub const TRANSIENT_BACKOFF_FACTOR: u32 = 2;
/// Back-off growth per consecutive failure when the server refused for good (404, 403, a
/// redirect loop, not a feed): someone has to fix the URL, so asking again soon is only noise
/// for both sides, yet it is still asked (a site being rebuilt can 404 for an hour).
pub const PERMANENT_BACKOFF_FACTOR: u32 = 4;
/// When a poll panicked, its feed is tried again after this long.
pub const PANIC_RETRY: Duration = Duration::from_secs(15 * 60);
/// On start-up, feeds never polled before are spread over at most this long.
pub const STARTUP_SPREAD: Duration = Duration::from_secs(10);

/// The polling policy's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// No feed is polled more often than this, whatever its interval or the server says.
    pub min_interval: Duration,
    /// Error back-off never exceeds this.
    pub max_backoff: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_interval: Duration::from_secs(60),
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

/// What a poll told the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200 or 304.
    Success {
        /// The server's "do not ask before" time (max-age / Expires / ttl), if any.
        not_before: Option<DateTime<Utc>>,
        /// RSS `<skipHours>`: hours (0–23, UTC) in which not to poll.
        skip_hours: Vec<u32>,
        /// RSS `<skipDays>`.
        skip_days: Vec<Weekday>,
    },
    /// The poll failed.
    Failure {
        /// Failures in a row, this one included (1 for the first).
        consecutive: u32,
        /// `Retry-After` from a 429/503.
        retry_after: Option<Duration>,
        /// Whether this failure is expected to pass by itself; sets how fast the back-off grows.
        class: FailureClass,
    },
    /// 410 Gone: never poll again.
    Gone,
}

/// How a failed poll is expected to evolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Likely to pass by itself: network trouble, timeouts, 5xx, 408, 429, our own database.
    Transient,
    /// Will not change until someone acts: 4xx, redirect loops, oversized or unparseable bodies.
    Permanent,
}

/// When to poll a feed next, or `None` never. `key` (the feed URL) seeds the jitter.
pub fn next_poll(
    policy: &Policy,
    interval: Duration,
    outcome: &Outcome,
    now: DateTime<Utc>,
    key: &str,
) -> Option<DateTime<Utc>> {
    let base = interval.max(policy.min_interval);
    // What the server asked for (max-age, Expires, ttl, Retry-After): the jitter spreads feeds
    // out but never brings a poll before it.
    let (delay, asked) = match outcome {
        Outcome::Gone => return None,
        Outcome::Success { not_before, .. } => {
            let asked = not_before
                .and_then(|t| (t - now).to_std().ok())
                .map(|d| d.min(MAX_HINT_DELAY));
            (asked.map_or(base, |h| h.max(base)), asked)
        }
        Outcome::Failure {
            consecutive,
            retry_after,
            class,
        } => {
            let factor = match class {
                FailureClass::Transient => TRANSIENT_BACKOFF_FACTOR,
                FailureClass::Permanent => PERMANENT_BACKOFF_FACTOR,
            };
            let exp = consecutive.saturating_sub(1).min(30);
            let backoff = base
                .saturating_mul(factor.saturating_pow(exp))
                .min(policy.max_backoff.max(base));
            let asked = retry_after.map(|r| r.min(MAX_HINT_DELAY));
            (asked.map_or(backoff, |r| r.max(backoff)), asked)
        }
    };
    let jittered = jitter(delay, key, now).max(asked.unwrap_or_default());
    let at = now + chrono_duration(jittered);
    Some(match outcome {
        Outcome::Success {
            skip_hours,
            skip_days,
            ..
        } => skip(at, skip_hours, skip_days),
        _ => at,
    })
}

/// `delay` ± 10 %, chosen by hashing the feed key and the time, so feeds that share an
/// interval drift apart instead of firing in the same second.
pub fn jitter(delay: Duration, key: &str, now: DateTime<Utc>) -> Duration {
    let h = crate::domain::hash_hex(&[key, &now.timestamp().to_string()]);
    let r = u64::from_str_radix(&h[..8], 16).unwrap_or(0); // 0..=u32::MAX
    let permille = 1000 - JITTER_PERMILLE + r % (2 * JITTER_PERMILLE + 1);
    delay.mul_f64(permille as f64 / 1000.0)
}

/// Moves `at` forward, hour by hour, out of skipped hours and days (at most a week).
fn skip(mut at: DateTime<Utc>, hours: &[u32], days: &[Weekday]) -> DateTime<Utc> {
    if hours.len() >= 24 || days.len() >= 7 {
        return at; // a feed that skips everything is ignoring its own advice
    }
    for _ in 0..(24 * 7) {
        let blocked = hours.contains(&at.hour()) || days.contains(&at.weekday());
        if !blocked {
            break;
        }
        // Next full hour.
        at = at.with_nanosecond(0).unwrap_or(at)
            + chrono::Duration::seconds(3600 - i64::from(at.minute() * 60 + at.second()));
    }
    at
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Where a feed starts after (re)start: its persisted next poll when there is one (a restart
/// resumes the schedule), else soon, spread over [`STARTUP_SPREAD`] (or its interval, if
/// shorter) by a hash of its key.
pub fn first_poll(
    stored: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    key: &str,
    interval: Duration,
) -> DateTime<Utc> {
    match stored {
        Some(t) => t,
        None => {
            let h = crate::domain::hash_hex(&[key]);
            let spread = STARTUP_SPREAD.min(interval);
            let ms = u64::from_str_radix(&h[..8], 16).unwrap_or(0)
                % u64::try_from(spread.as_millis()).unwrap_or(1).max(1);
            now + chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(0))
        }
    }
}

/// The per-host limit's key for a feed URL: host and port.
pub fn host_key(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// One feed as the loop sees it.
#[derive(Debug, Clone)]
pub struct Job {
    /// When it is first due.
    pub first: Instant,
    /// Host (with port) for the per-host limit.
    pub host: String,
}

/// Runs `poll(feed)` for every job until `shutdown` is cancelled. `poll` returns how long
/// to wait before polling that feed again, or `None` to stop polling it. At most
/// `concurrency` polls run at once, and at most `per_host` against one host. Returns after
/// in-flight polls have finished.
pub async fn run<F, Fut>(
    jobs: Vec<Job>,
    concurrency: usize,
    per_host: usize,
    shutdown: CancellationToken,
    poll: F,
) where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Option<Duration>> + Send + 'static,
{
    let concurrency = concurrency.max(1);
    let per_host = per_host.max(1);
    // Hosts by index, so the hot path works on integers.
    let mut host_ids: HashMap<&str, usize> = HashMap::new();
    let host_of: Vec<usize> = jobs
        .iter()
        .map(|j| {
            let next = host_ids.len();
            *host_ids.entry(j.host.as_str()).or_insert(next)
        })
        .collect();
    let hosts = host_ids.len();
    // Min-heap of (due time, feed) for feeds waiting for their time.
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = jobs
        .iter()
        .enumerate()
        .map(|(n, j)| Reverse((j.first, n)))
        .collect();
    // Due feeds waiting for a slot, per host, in due order.
    let mut ready: Vec<VecDeque<usize>> = vec![VecDeque::new(); hosts];
    // Hosts with ready feeds, round-robin order.
    let mut ready_hosts: VecDeque<usize> = VecDeque::new();
    // Polls in flight per host.
    let mut active: Vec<usize> = vec![0; hosts];
    // Polls in flight; each yields its feed and the delay until its next poll.
    let mut in_flight: JoinSet<(usize, Option<Duration>)> = JoinSet::new();
    // Which feed each task polls, so a panicking poll still frees its host slot and is
    // rescheduled.
    let mut feed_of_task: HashMap<tokio::task::Id, usize> = HashMap::new();

    loop {
        let now = Instant::now();
        while let Some(Reverse((t, n))) = due.peek().copied() {
            if t > now {
                break;
            }
            due.pop();
            let h = host_of[n];
            if ready[h].is_empty() {
                ready_hosts.push_back(h);
            }
            ready[h].push_back(n);
        }
        // Dispatch round-robin over hosts with capacity.
        let mut blocked = VecDeque::new();
        while in_flight.len() < concurrency {
            let Some(h) = ready_hosts.pop_front() else {
                break;
            };
            if active[h] >= per_host {
                blocked.push_back(h);
                continue;
            }
            let Some(n) = ready[h].pop_front() else {
                continue;
            };
            active[h] += 1;
            let fut = poll(n);
            let task = in_flight.spawn(async move { (n, fut.await) });
            feed_of_task.insert(task.id(), n);
            if !ready[h].is_empty() {
                ready_hosts.push_back(h);
            }
        }
        ready_hosts.extend(blocked);

        let next = due.peek().map(|Reverse((t, _))| *t);
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(done) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                let (id, n, again) = match done {
                    Ok((id, (n, again))) => (id, n, again),
                    // A poll panicked (a bug): say so, and try the feed again later.
                    Err(e) => {
                        tracing::error!(error = %e, "a poll task failed unexpectedly");
                        let Some(&n) = feed_of_task.get(&e.id()) else { continue };
                        (e.id(), n, Some(PANIC_RETRY))
                    }
                };
                feed_of_task.remove(&id);
                let h = host_of[n];
                active[h] = active[h].saturating_sub(1);
                if let Some(d) = again {
                    due.push(Reverse((Instant::now() + d, n)));
                }
            }
            () = tokio::time::sleep_until(next.unwrap_or(now)), if next.is_some() => {}
        }
    }
    // Stop dispatching; let what is running finish (each poll is bounded by its timeout).
    while in_flight.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::at as t;
    use std::sync::{Arc, Mutex};

    fn secs_after(now: DateTime<Utc>, at: Option<DateTime<Utc>>) -> i64 {
        (at.expect("scheduled") - now).num_seconds()
    }

    fn failure(consecutive: u32, retry_after: Option<Duration>, class: FailureClass) -> Outcome {
        Outcome::Failure {
            consecutive,
            retry_after,
            class,
        }
    }

    fn success(not_before: Option<DateTime<Utc>>) -> Outcome {
        Outcome::Success {
            not_before,
            skip_hours: vec![],
            skip_days: vec![],
        }
    }

    #[test]
    fn policy_table() {
        let now = t("2026-01-05T10:00:00Z"); // a Monday
        let p = Policy::default();
        let i15 = Duration::from_secs(900);
        // (name, interval, outcome, expected delay in seconds before ±10 % jitter)
        let cases: Vec<(&str, Duration, Outcome, i64)> = vec![
            ("plain interval", i15, success(None), 900),
            (
                "min_interval floor",
                Duration::from_secs(5),
                success(None),
                60,
            ),
            (
                "max-age later than interval pushes later",
                i15,
                success(Some(now + chrono::Duration::hours(2))),
                7200,
            ),
            (
                "hint earlier than interval is ignored",
                i15,
                success(Some(now + chrono::Duration::minutes(1))),
                900,
            ),
            (
                "hint in the past is ignored",
                i15,
                success(Some(now - chrono::Duration::hours(1))),
                900,
            ),
            (
                "absurd hint is capped at 24h",
                i15,
                success(Some(now + chrono::Duration::days(365))),
                86_400,
            ),
            (
                "first failure: interval",
                i15,
                failure(1, None, FailureClass::Transient),
                900,
            ),
            (
                "third failure: 4x",
                i15,
                failure(3, None, FailureClass::Transient),
                3600,
            ),
            (
                "many failures: capped at 6h, never parked",
                i15,
                failure(40, None, FailureClass::Transient),
                21_600,
            ),
            (
                "retry-after longer than backoff wins",
                i15,
                failure(1, Some(Duration::from_secs(7200)), FailureClass::Transient),
                7200,
            ),
            (
                "retry-after shorter than interval is not earlier",
                i15,
                failure(1, Some(Duration::from_secs(5)), FailureClass::Transient),
                900,
            ),
        ];
        for (name, interval, outcome, want) in cases {
            let got = secs_after(now, next_poll(&p, interval, &outcome, now, "http://a/"));
            let lo = want * 9 / 10;
            let hi = want * 11 / 10 + 1;
            assert!(
                (lo..=hi).contains(&got),
                "{name}: {got}s not within 10% of {want}s"
            );
        }
        assert_eq!(next_poll(&p, i15, &Outcome::Gone, now, "k"), None, "gone");
    }

    #[test]
    fn permanent_failures_back_off_faster_to_the_cap_than_transient_ones() {
        let now = t("2026-01-05T10:00:00Z");
        let p = Policy::default();
        let i15 = Duration::from_secs(900);
        // (failures in a row, delay after a 503/timeout, delay after a 404/403), before jitter.
        let cases = [
            (1, 900, 900), // one failure of either kind: just the interval
            (2, 1800, 3600),
            (3, 3600, 14_400),
            (4, 7200, 21_600), // permanent: at the 6 h cap after four failures
            (6, 21_600, 21_600),
            (40, 21_600, 21_600), // both capped, never parked
        ];
        for (consecutive, transient, permanent) in cases {
            for (class, want) in [
                (FailureClass::Transient, transient),
                (FailureClass::Permanent, permanent),
            ] {
                let outcome = failure(consecutive, None, class);
                let got = secs_after(now, next_poll(&p, i15, &outcome, now, "http://a/"));
                assert!(
                    (want * 9 / 10..=want * 11 / 10 + 1).contains(&got),
                    "{class:?} failure #{consecutive}: {got}s not within 10% of {want}s"
                );
            }
        }
        // Retry-After still wins over a shorter back-off, whatever the class.
        let outcome = failure(2, Some(Duration::from_secs(7200)), FailureClass::Permanent);
        let got = secs_after(now, next_poll(&p, i15, &outcome, now, "http://a/"));
        assert!((7200..=7921).contains(&got), "{got}s");
    }

    /// The jitter spreads polls out but never brings one before the time the server asked
    /// for (Retry-After, max-age/Expires), whichever way it falls for a feed.
    #[test]
    fn no_poll_comes_before_the_server_asked() {
        let now = t("2026-01-05T10:00:00Z");
        let p = Policy::default();
        let i10 = Duration::from_secs(10);
        let five_minutes = Duration::from_secs(300);
        let mut earliest = (i64::MAX, i64::MAX);
        for i in 0..200 {
            let key = format!("http://host/feed{i}");
            let hinted = success(Some(now + chrono_duration(five_minutes)));
            let retry = failure(1, Some(five_minutes), FailureClass::Transient);
            let s = secs_after(now, next_poll(&p, i10, &hinted, now, &key));
            let r = secs_after(now, next_poll(&p, i10, &retry, now, &key));
            earliest = (earliest.0.min(s), earliest.1.min(r));
        }
        assert_eq!(earliest, (300, 300), "max-age and Retry-After of 300 s");
    }

    #[test]
    fn jitter_spreads_feeds_with_equal_intervals() {
        let now = t("2026-01-05T10:00:00Z");
        let p = Policy::default();
        let times: std::collections::BTreeSet<i64> = (0..50)
            .map(|i| {
                let key = format!("http://host/feed{i}");
                secs_after(
                    now,
                    next_poll(&p, Duration::from_secs(900), &success(None), now, &key),
                )
            })
            .collect();
        assert!(
            times.len() > 30,
            "50 feeds spread over {} distinct seconds",
            times.len()
        );
        assert!(times.iter().all(|s| (810..=990).contains(s)), "{times:?}");
    }

    #[test]
    fn skip_hours_and_days_push_the_poll_out() {
        let now = t("2026-01-05T10:00:00Z"); // Monday
        let p = Policy {
            min_interval: Duration::from_secs(1),
            ..Policy::default()
        };
        let out = Outcome::Success {
            not_before: None,
            skip_hours: vec![10, 11, 12],
            skip_days: vec![],
        };
        let at = next_poll(&p, Duration::from_secs(60), &out, now, "k").expect("scheduled");
        assert_eq!(at, t("2026-01-05T13:00:00Z"));
        let out = Outcome::Success {
            not_before: None,
            skip_hours: vec![],
            skip_days: vec![Weekday::Mon, Weekday::Tue],
        };
        let at = next_poll(&p, Duration::from_secs(60), &out, now, "k").expect("scheduled");
        assert_eq!(at, t("2026-01-07T00:00:00Z"));
    }

    #[test]
    fn restart_resumes_the_stored_schedule() {
        let now = t("2026-01-05T10:00:00Z");
        let stored = t("2026-01-05T10:12:00Z");
        let i = Duration::from_secs(900);
        assert_eq!(first_poll(Some(stored), now, "k", i), stored);
        let fresh = first_poll(None, now, "k", i);
        assert!(fresh >= now && fresh < now + chrono::Duration::seconds(10));
        let quick = first_poll(None, now, "k", Duration::from_secs(2));
        assert!(
            quick < now + chrono::Duration::seconds(2),
            "spread within a short interval"
        );
    }

    fn jobs(hosts: &[&str]) -> Vec<Job> {
        let now = Instant::now();
        hosts
            .iter()
            .map(|h| Job {
                first: now,
                host: (*h).to_string(),
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn each_feed_is_polled_when_its_closure_says() {
        let log: Arc<Mutex<Vec<(usize, u64)>>> = Arc::default();
        let token = CancellationToken::new();
        let start = Instant::now();
        let task = {
            let log = log.clone();
            let token = token.clone();
            tokio::spawn(async move {
                run(jobs(&["a", "b"]), 4, 2, token, move |n| {
                    let log = log.clone();
                    async move {
                        let secs = (Instant::now() - start).as_secs();
                        log.lock().expect("lock").push((n, secs));
                        Some(Duration::from_secs(if n == 0 { 10 } else { 25 }))
                    }
                })
                .await;
            })
        };
        tokio::time::sleep(Duration::from_secs(61)).await;
        token.cancel();
        task.await.expect("scheduler ends");
        let log = log.lock().expect("lock").clone();
        let feed = |k| {
            log.iter()
                .filter(|(n, _)| *n == k)
                .map(|x| x.1)
                .collect::<Vec<_>>()
        };
        assert_eq!(feed(0), vec![0, 10, 20, 30, 40, 50, 60]);
        assert_eq!(feed(1), vec![0, 25, 50]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_feed_that_returns_none_is_not_polled_again() {
        let count = Arc::new(Mutex::new(0));
        let token = CancellationToken::new();
        let task = {
            let count = count.clone();
            let token = token.clone();
            tokio::spawn(run(jobs(&["a"]), 1, 1, token, move |_| {
                let count = count.clone();
                async move {
                    *count.lock().expect("lock") += 1;
                    None
                }
            }))
        };
        tokio::time::sleep(Duration::from_secs(3600)).await;
        token.cancel();
        task.await.expect("ends");
        assert_eq!(*count.lock().expect("lock"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn global_and_per_host_concurrency_are_bounded_and_shutdown_waits() {
        // (active overall, max overall, active on host x, max on host x, finished)
        let st = Arc::new(Mutex::new((0usize, 0usize, 0usize, 0usize, 0usize)));
        let token = CancellationToken::new();
        // 6 feeds on host x, one each on a and b.
        let hosts = ["x", "x", "x", "x", "x", "x", "a", "b"];
        let task = {
            let st = st.clone();
            let token = token.clone();
            tokio::spawn(run(jobs(&hosts), 4, 2, token, move |n| {
                let st = st.clone();
                let on_x = n < 6;
                async move {
                    {
                        let mut s = st.lock().expect("lock");
                        s.0 += 1;
                        s.1 = s.1.max(s.0);
                        if on_x {
                            s.2 += 1;
                            s.3 = s.3.max(s.2);
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    let mut s = st.lock().expect("lock");
                    s.0 -= 1;
                    if on_x {
                        s.2 -= 1;
                    }
                    s.4 += 1;
                    Some(Duration::from_secs(3600))
                }
            }))
        };
        tokio::time::sleep(Duration::from_secs(7)).await;
        token.cancel();
        task.await.expect("scheduler ends");
        let (now, max, _, max_x, finished) = *st.lock().expect("lock");
        assert_eq!(max, 4, "global limit");
        assert_eq!(max_x, 2, "per-host limit");
        assert_eq!(now, 0, "shutdown returned with polls still running");
        // 0 s: x, a, b, x (4 = global limit, 2 on x); 5 s: two more x (the per-host limit
        // holds them to 2); cancel at 7 s waits for those.
        assert_eq!(finished, 6, "the second wave was awaited");
    }
}

#[cfg(test)]
mod panic_tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test(start_paused = true)]
    async fn a_panicking_poll_frees_its_host_slot_and_is_retried() {
        let polls: Arc<Mutex<Vec<(usize, u64)>>> = Arc::default();
        let token = CancellationToken::new();
        let start = Instant::now();
        let now = Instant::now();
        let jobs = vec![
            Job {
                first: now,
                host: "x".into(),
            },
            Job {
                first: now + Duration::from_secs(1),
                host: "x".into(),
            },
        ];
        let task = {
            let polls = polls.clone();
            let token = token.clone();
            tokio::spawn(run(jobs, 4, 1, token, move |n| {
                let polls = polls.clone();
                async move {
                    let secs = (Instant::now() - start).as_secs();
                    polls.lock().expect("lock").push((n, secs));
                    if n == 0 && secs == 0 {
                        panic!("a bug in one poll");
                    }
                    Some(Duration::from_secs(3600))
                }
            }))
        };
        tokio::time::sleep(PANIC_RETRY + Duration::from_secs(5)).await;
        token.cancel();
        task.await.expect("the scheduler survives the panic");
        let polls = polls.lock().expect("lock").clone();
        // Feed 1 shares the host (per_host 1): it only ran because the slot was freed.
        assert!(polls.contains(&(1, 1)), "{polls:?}");
        assert!(
            polls.contains(&(0, PANIC_RETRY.as_secs())),
            "retried: {polls:?}"
        );
    }
}

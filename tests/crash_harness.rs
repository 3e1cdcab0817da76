//! The crash harness (issue 14): the real daemon binary against a loopback feed farm whose
//! feeds keep gaining items, delivering to a real SMTP server and a real webhook receiver,
//! SIGKILLed and SIGTERMed at random moments and restarted each time. At the end every
//! matching item must have reached each notifier exactly once; the only duplicates allowed are
//! those of the documented one-message window (a SIGKILL between the server's acceptance and
//! the outbox's record of it), and each one is checked to lie in such a window and counted.
//!
//! Ignored by `cargo test` (it runs for minutes); `scripts/crash-harness` runs it, and
//! RELIABILITY.md ("Crash harness") has the figures. Tunable through the environment:
//! `FEEDWATCH_CRASH_SEED` (default: from the clock; printed either way),
//! `FEEDWATCH_CRASH_KILLS` and `FEEDWATCH_CRASH_TERMS` (50 each),
//! `FEEDWATCH_CRASH_BUDGET_S` (the whole run's bound, 600 s).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::Rng as _;
use proptest::test_runner::{RngAlgorithm, TestRng};
use support::farm::{
    Copy, Farm, Received, env_u64, integrity, received_hooks, received_mail, unsent,
};
use support::{Daemon, FeedServer, SmtpServer, WebhookReceiver, send_signal};

/// Feeds in the farm (all on one loopback host, as a busy site's sections would be).
const FEEDS: usize = 8;
/// A new item appears in a random feed about this often (±50 %) while the signals go on.
const NEW_ITEM_EVERY: Duration = Duration::from_millis(200);
/// One item in this many does not match the rule (and must alert nowhere).
const NON_MATCHING_ONE_IN: u64 = 4;
/// Longest an instance runs before its signal: the moment is uniform in [0, this).
const MAX_UP: Duration = Duration::from_millis(2500);
/// Longest pause between an instance's exit and the next start (uniform), so that items pile
/// up while nothing runs, as they do while a service manager restarts a crashed daemon.
const MAX_DOWN: Duration = Duration::from_millis(300);
/// How long a SIGTERMed daemon may take to exit: the 5 s shutdown grace plus slack for a
/// loaded machine.
const TERM_EXIT_BOUND: Duration = Duration::from_secs(15);
/// How long the last instance gets to deliver everything once the signals stop.
const DRAIN: Duration = Duration::from_secs(180);

/// The seeded generator: proptest's ChaCha (already a dev-dependency), so that the same seed
/// replays the same schedule.
struct Rng(TestRng);

impl Rng {
    fn seeded(seed: u64) -> Rng {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        Rng(TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
    }

    /// Uniform in [0, n).
    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n.max(1)
    }

    /// Uniform in [0, d).
    fn duration_below(&mut self, d: Duration) -> Duration {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.below(ms))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Kill,
    Term,
}

/// One run of the daemon, from spawn to reaping.
#[derive(Debug)]
struct Instance {
    started: Instant,
    signalled: Instant,
    reaped: Instant,
    stop: Stop,
    /// Exit code, or `None` when a signal ended it.
    code: Option<i32>,
}

/// The tally of one notifier against what was expected.
#[derive(Debug, Default)]
struct Tally {
    received: usize,
    lost: Vec<String>,
    unexpected: Vec<String>,
    /// Extra copies whose earlier copy was accepted just before a SIGKILL.
    in_window: usize,
    /// For those, when the earlier copy was accepted relative to the SIGKILL, in milliseconds
    /// (negative: before it; positive: the server took the message the dead process had
    /// already written, the duplicate of RFC 1047): how wide the window was in practice.
    offsets_ms: Vec<f64>,
    /// Extra copies that no SIGKILL explains.
    outside_window: Vec<String>,
    /// Instances (by index) that left more than one duplicate: a lane has one message in
    /// flight, so one SIGKILL may duplicate at most one message per notifier.
    several_per_kill: Vec<usize>,
}

/// If `copy` was sent by an instance that then died by a signal it could not handle (SIGKILL,
/// or a SIGTERM that came before its handlers were installed): that instance's index, and when
/// the copy was accepted relative to the signal, in milliseconds. The sender is the instance
/// alive when the copy was begun: instances never overlap, and each began after the last
/// one was reaped.
fn kill_window(instances: &[Instance], copy: Copy) -> Option<(usize, f64)> {
    let n = instances.iter().rposition(|i| i.started <= copy.began)?;
    let i = &instances[n];
    let died = i.stop == Stop::Kill || i.code.is_none();
    let ms = if copy.accepted >= i.signalled {
        (copy.accepted - i.signalled).as_secs_f64() * 1000.0
    } else {
        -(i.signalled - copy.accepted).as_secs_f64() * 1000.0
    };
    (died && copy.began <= i.signalled).then_some((n, ms))
}

fn tally(expected: &BTreeSet<String>, got: &Received, instances: &[Instance]) -> Tally {
    let mut t = Tally {
        received: got.values().map(Vec::len).sum(),
        lost: expected
            .iter()
            .filter(|id| !got.contains_key(*id))
            .cloned()
            .collect(),
        unexpected: got
            .keys()
            .filter(|id| !expected.contains(*id))
            .cloned()
            .collect(),
        ..Tally::default()
    };
    let mut per_instance: BTreeMap<usize, usize> = BTreeMap::new();
    for (id, times) in got {
        let mut times = times.clone();
        times.sort();
        for pair in times.windows(2) {
            match kill_window(instances, pair[0]) {
                Some((n, ms)) => {
                    t.in_window += 1;
                    t.offsets_ms.push(ms);
                    *per_instance.entry(n).or_default() += 1;
                }
                None => t.outside_window.push(id.clone()),
            }
        }
    }
    t.several_per_kill = per_instance
        .into_iter()
        .filter(|&(_, dups)| dups > 1)
        .map(|(n, _)| n)
        .collect();
    t
}

/// `min..max` of `ms`, to one decimal.
fn span(ms: &[f64]) -> String {
    let min = ms.iter().copied().fold(f64::INFINITY, f64::min);
    let max = ms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if ms.is_empty() {
        "-".into()
    } else {
        format!("{min:+.1}..{max:+.1}")
    }
}

/// Starts the daemon, waits `up`, signals it and reaps it (bounded).
async fn one_instance(cfg: &Path, log: &Path, up: Duration, stop: Stop) -> Instance {
    let mut daemon = Daemon::start(cfg, log);
    let started = Instant::now();
    tokio::time::sleep(up).await;
    let signalled = Instant::now();
    let status = match stop {
        Stop::Kill => {
            daemon.child.start_kill().expect("SIGKILL");
            daemon.child.wait().await.expect("reap")
        }
        Stop::Term => {
            send_signal(daemon.pid(), libc::SIGTERM);
            match tokio::time::timeout(TERM_EXIT_BOUND, daemon.child.wait()).await {
                Ok(status) => status.expect("reap"),
                Err(_) => panic!(
                    "the daemon did not exit within {TERM_EXIT_BOUND:?} of SIGTERM; log: {}",
                    log.display()
                ),
            }
        }
    };
    Instance {
        started,
        signalled,
        reaped: Instant::now(),
        stop,
        code: status.code(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs for minutes: scripts/crash-harness"]
async fn sigkill_and_sigterm_at_random_moments_lose_nothing_and_duplicate_only_in_the_window() {
    let seed = env_u64("FEEDWATCH_CRASH_SEED", {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.map(|d| d.as_secs()).unwrap_or(0)
    });
    let kills = env_u64("FEEDWATCH_CRASH_KILLS", 50);
    let terms = env_u64("FEEDWATCH_CRASH_TERMS", 50);
    let budget = Duration::from_secs(env_u64("FEEDWATCH_CRASH_BUDGET_S", 600));
    eprintln!(
        "crash harness: seed {seed} (FEEDWATCH_CRASH_SEED={seed} replays the schedule), {kills} SIGKILLs, {terms} SIGTERMs, budget {budget:?}"
    );
    let began = Instant::now();
    let mut rng = Rng::seeded(seed);

    let feeds = FeedServer::start().await;
    let smtp = SmtpServer::start();
    let hook = WebhookReceiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let farm = Farm::new(feeds.clone(), FEEDS);
    let cfg = farm.config(dir.path(), "state/fw.db", &smtp, &hook);
    let log = dir.path().join("daemon.log");
    let farm = Arc::new(Mutex::new(farm));

    // The farm grows on its own schedule (its own generator, seeded from the same seed)
    // until the signals stop.
    let growing = tokio_util::sync::CancellationToken::new();
    let grower = {
        let (farm, growing) = (farm.clone(), growing.clone());
        let mut rng = Rng::seeded(seed ^ 0x5eed);
        tokio::spawn(async move {
            // Bounded: the budget ends the signals, and with them the growth, long before.
            for _ in 0..100_000 {
                let pause = NEW_ITEM_EVERY / 2 + rng.duration_below(NEW_ITEM_EVERY);
                tokio::select! {
                    () = growing.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
                let f = usize::try_from(rng.below(FEEDS as u64)).expect("small");
                let matching = rng.below(NON_MATCHING_ONE_IN) != 0;
                farm.lock().expect("lock").add(f, matching);
            }
        })
    };

    // The signals, in a seeded random order.
    let mut plan: Vec<Stop> = std::iter::repeat_n(Stop::Kill, kills as usize)
        .chain(std::iter::repeat_n(Stop::Term, terms as usize))
        .collect();
    for i in (1..plan.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).expect("small");
        plan.swap(i, j);
    }
    let signals_until = budget.saturating_sub(DRAIN + Duration::from_secs(30));
    let mut instances = Vec::with_capacity(plan.len());
    for stop in plan {
        assert!(
            began.elapsed() < signals_until,
            "out of time after {} of {} signals (budget {budget:?}); seed {seed}",
            instances.len(),
            kills + terms
        );
        let up = rng.duration_below(MAX_UP);
        instances.push(one_instance(&cfg, &log, up, stop).await);
        tokio::time::sleep(rng.duration_below(MAX_DOWN)).await;
    }
    growing.cancel();
    grower.await.expect("the farm's task ends");
    let signals_took = began.elapsed();

    // The last instance delivers what is left; the farm no longer changes.
    let (expected, items) = {
        let farm = farm.lock().expect("lock");
        (farm.expected(), farm.total())
    };
    let mut last = Daemon::start(&cfg, &log);
    let last_started = Instant::now();
    let everything_in = || {
        let (m, h) = (received_mail(&smtp), received_hooks(&hook));
        expected
            .iter()
            .all(|id| m.contains_key(id) && h.contains_key(id))
    };
    let db = dir.path().join("state/fw.db");
    // Everything received, and every delivery recorded.
    while !(everything_in() && unsent(&db) == 0) && last_started.elapsed() < DRAIN {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drain_took = last_started.elapsed();
    let last_signalled = Instant::now();
    send_signal(last.pid(), libc::SIGTERM);
    let last_code = tokio::time::timeout(TERM_EXIT_BOUND, last.child.wait())
        .await
        .expect("the last instance stops")
        .expect("reap")
        .code();
    let signalled = instances.len();
    // The last instance too, so that a copy it sent is told apart from one a killed instance
    // sent.
    instances.push(Instance {
        started: last_started,
        signalled: last_signalled,
        reaped: Instant::now(),
        stop: Stop::Term,
        code: last_code,
    });
    let (unsent, integrity) = (unsent(&db), integrity(&db));

    let by_kill = instances.iter().filter(|i| i.stop == Stop::Kill).count();
    let by_term = signalled - by_kill;
    let term_codes: BTreeMap<String, usize> = instances[..signalled]
        .iter()
        .filter(|i| i.stop == Stop::Term)
        .fold(BTreeMap::new(), |mut m, i| {
            let key = i
                .code
                .map_or("killed by SIGTERM (before its handlers)".into(), |c| {
                    format!("exit {c}")
                });
            *m.entry(key).or_default() += 1;
            m
        });
    let mean_up = instances[..signalled]
        .iter()
        .map(|i| i.signalled - i.started)
        .sum::<Duration>()
        / u32::try_from(instances.len().max(1)).expect("small");
    let slowest_term = instances[..signalled]
        .iter()
        .filter(|i| i.stop == Stop::Term)
        .map(|i| i.reaped - i.signalled)
        .max()
        .unwrap_or_default();
    let mail = tally(&expected, &received_mail(&smtp), &instances);
    let hooks = tally(&expected, &received_hooks(&hook), &instances);
    eprintln!(
        "crash harness: seed {seed}; {by_kill} SIGKILLs and {by_term} SIGTERMs in {signals_took:.0?} \
         (mean time up {mean_up:.2?}); SIGTERM outcomes {term_codes:?}, slowest exit {slowest_term:.2?}; \
         farm: {items} items in {FEEDS} feeds, {} matching; drain {drain_took:.1?}; last exit {last_code:?}",
        expected.len()
    );
    for (name, t) in [("email", &mail), ("webhook", &hooks)] {
        eprintln!(
            "crash harness: {name}: expected {}, received {} messages, lost {}, unexpected {}, \
             duplicates {} in the one-message window (first copy accepted {} ms from the SIGKILL), \
             {} outside it",
            expected.len(),
            t.received,
            t.lost.len(),
            t.unexpected.len(),
            t.in_window,
            span(&t.offsets_ms),
            t.outside_window.len()
        );
    }
    eprintln!(
        "crash harness: database: {unsent} alerts not sent, integrity_check {integrity}; total {:.0?}",
        began.elapsed()
    );

    let tail = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    for (name, t) in [("email", &mail), ("webhook", &hooks)] {
        assert!(
            t.lost.is_empty(),
            "seed {seed}: {name}: lost {:?}\n{}",
            t.lost,
            tail()
        );
        assert!(
            t.unexpected.is_empty(),
            "seed {seed}: {name}: unexpected {:?}",
            t.unexpected
        );
        assert!(
            t.outside_window.is_empty(),
            "seed {seed}: {name}: duplicates no SIGKILL explains: {:?}",
            t.outside_window
        );
        assert!(
            t.several_per_kill.is_empty(),
            "seed {seed}: {name}: one SIGKILL duplicated several messages: instances {:?}",
            t.several_per_kill
        );
    }
    assert_eq!(last_code, Some(0), "seed {seed}: {}", tail());
    assert_eq!(unsent, 0, "seed {seed}: every alert recorded as sent");
    assert_eq!(integrity, "ok", "seed {seed}");
    assert!(!expected.is_empty(), "the farm grew");
}

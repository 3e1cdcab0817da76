//! Load benchmark: `feedwatch once` against a local feed farm of N feeds.
//!
//! Run with `cargo bench --bench farm` (sizes 1,000 and 10,000), or pick sizes and knobs:
//! `cargo bench --bench farm -- 1000 --concurrency 16 --repeat 3`.
//!
//! The farm is a real HTTP/1.1 server (axum) inside this process, listening on 100 loopback
//! addresses, 127.0.0.2 … 127.0.0.101 (Linux routes all of 127/8 to `lo`), so the N feeds are
//! spread over 100 hosts and feedwatch's per-host limit (`[poll] per_host`, default 2) applies
//! as it does against real publishers. Feed `n` lives on host `n % 100`. Each feed is a distinct
//! RSS 2.0 document of ten items (~5 KB) with a strong ETag; a request whose `If-None-Match`
//! carries the current ETag gets `304 Not Modified`. A feed "gains items" by bumping its version:
//! two new items at the top, two old ones drop off the bottom, a new ETag.
//!
//! feedwatch runs as it does in production: the release binary, as a child process, once per
//! round, on a config (no rules, so no notifiers) and a database in a temp dir on the same disk
//! as `/tmp` (fsyncs are real). Rounds per size: round 0 is the first fetch (every feed 200,
//! populating the database); then, with `--log-level info` and again with `--log-level warn`,
//! `--repeat` times: an all-304 round and a round where 10 % of feeds gained items. For each
//! round the child is reaped with `wait4`, which gives its own user and system CPU time and peak
//! RSS (`ru_maxrss`), unpolluted by the farm's CPU in this process. The farm counts the statuses
//! it served, so a round that was not what it claims (a 200 in an all-304 round) fails loudly,
//! as does `once` exiting non-zero (some feed failed).
//!
//! Concurrency: `[poll] concurrency = 64` by default (`--concurrency N` to change). The shipped
//! default, 16, suits a few hundred feeds; a 10,000-feed deployment against real servers, at
//! 0.2–1 s per request (TLS handshakes, slow publishers), waits up to 10,000 × 1 s / 16 ≈ 10 min
//! per round with 16 in flight and ≈ 2.6 min with 64, which is still well under the 200 the
//! per-host limit allows over 100 hosts. On loopback a request takes well under a millisecond,
//! so here the value matters little (compare with `--concurrency 16`).
//!
//! The farm's runtime has one worker thread, so on the 2-core target machine it cannot take more
//! than one core from feedwatch; its CPU is not counted in feedwatch's figures.
//!
//! The binary: `$FEEDWATCH_BIN` when set (to compare builds), else `CARGO_BIN_EXE_feedwatch`,
//! which Cargo sets for benches and for which `cargo bench` builds the binary with the `bench`
//! profile (it inherits `release`), else the `feedwatch` next to this bench's `deps/` folder.
//!
//! Targets (issue #5), stated for N = 10,000 and checked for every size: an all-304 round under
//! 10 s wall, peak RSS under 150 MB, and under 0.5 ms of CPU (user + system) per unchanged feed.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};

/// Loopback hosts the feeds are spread over: 127.0.0.2 … 127.0.0.(1 + HOSTS).
const HOSTS: usize = 100;
/// Items in every feed document.
const ITEMS_PER_FEED: u32 = 10;
/// Items a changed feed gains per version bump.
const NEW_ITEMS_PER_CHANGE: u32 = 2;
/// Share of feeds that gain items in a "changed" round.
const CHANGED_PERCENT: usize = 10;
/// Default `[poll] concurrency` for the benchmark (see the module docs for why).
const DEFAULT_CONCURRENCY: usize = 64;
/// Default repetitions of each measured round pair, per log level.
const DEFAULT_REPEAT: usize = 3;
/// Default sizes.
const DEFAULT_SIZES: [usize; 2] = [1_000, 10_000];

/// Targets from issue #5, for N = 10,000.
const TARGET_WALL_304: Duration = Duration::from_secs(10);
const TARGET_RSS_BYTES: u64 = 150 * 1000 * 1000;
const TARGET_CPU_PER_UNCHANGED_FEED: Duration = Duration::from_micros(500);

/// The farm's shared state: each feed's version and what was served.
struct Farm {
    /// Feed `n`'s current version; its ETag and items derive from it.
    versions: Vec<AtomicU32>,
    /// Responses served since the last [`Farm::take_counts`]: 200, 304, anything else.
    ok: AtomicU64,
    not_modified: AtomicU64,
    other: AtomicU64,
    /// `http://127.0.0.X:PORT` for each host.
    origins: Vec<String>,
}

impl Farm {
    fn url(&self, n: usize) -> String {
        format!("{}/feed/{n}.xml", self.origins[n % HOSTS])
    }

    fn etag(n: usize, version: u32) -> String {
        // Strong validator (no W/ prefix): exact bytes of this version of this feed.
        format!("\"f{n:x}-v{version}\"")
    }

    fn take_counts(&self) -> (u64, u64, u64) {
        (
            self.ok.swap(0, Ordering::Relaxed),
            self.not_modified.swap(0, Ordering::Relaxed),
            self.other.swap(0, Ordering::Relaxed),
        )
    }

    /// Bumps the version of every feed in slice `slice` (of 100 / CHANGED_PERCENT slices).
    fn change(&self, slice: usize) -> usize {
        let slices = 100 / CHANGED_PERCENT;
        let mut changed = 0;
        for (n, v) in self.versions.iter().enumerate() {
            if n % slices == slice % slices {
                v.fetch_add(1, Ordering::Relaxed);
                changed += 1;
            }
        }
        changed
    }
}

/// Feed `n` at `version`: a distinct RSS 2.0 document of [`ITEMS_PER_FEED`] items, ~5 KB.
fn feed_document(origin: &str, n: usize, version: u32) -> String {
    const WORDS: &[&str] = &[
        "ministry",
        "council",
        "reported",
        "talks",
        "regional",
        "markets",
        "energy",
        "delegation",
        "statement",
        "agreement",
        "officials",
        "weather",
        "election",
        "festival",
        "harbour",
        "railway",
        "budget",
        "hospital",
        "university",
        "court",
    ];
    let base = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("2026-01-01 is valid");
    let mut s = String::with_capacity(6 * 1024);
    let _ = write!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>Farm feed {n}</title><link>{origin}/</link>\
         <description>Synthetic feed {n} of the feedwatch load benchmark</description>\n"
    );
    let newest = version * NEW_ITEMS_PER_CHANGE + ITEMS_PER_FEED;
    for k in (newest - ITEMS_PER_FEED..newest).rev() {
        let published = base + chrono::Duration::hours(i64::from(k));
        let word = |i: usize| WORDS[(n * 7 + k as usize * 13 + i * 3) % WORDS.len()];
        let _ = write!(
            s,
            "<item><title>Story {k} from feed {n}: {} {} {}</title>\
             <link>{origin}/feed/{n}/story/{k}</link>\
             <guid isPermaLink=\"false\">farm-{n}-{k}</guid>\
             <pubDate>{}</pubDate><description>",
            word(0),
            word(1),
            word(2),
            published.to_rfc2822()
        );
        for i in 0..48 {
            s.push_str(word(i));
            s.push(' ');
        }
        s.push_str("</description></item>\n");
    }
    s.push_str("</channel></rss>\n");
    s
}

fn serve(farm: &Farm, req: &Request<Body>) -> Response<Body> {
    let path = req.uri().path();
    let n = path
        .strip_prefix("/feed/")
        .and_then(|p| p.strip_suffix(".xml"))
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|n| *n < farm.versions.len());
    let Some(n) = n else {
        farm.other.fetch_add(1, Ordering::Relaxed);
        let mut r = Response::new(Body::from("not found"));
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    };
    let version = farm.versions[n].load(Ordering::Relaxed);
    let etag = Farm::etag(n, version);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let builder = Response::builder().header(header::ETAG, &etag);
    let resp = if fresh {
        farm.not_modified.fetch_add(1, Ordering::Relaxed);
        builder.status(StatusCode::NOT_MODIFIED).body(Body::empty())
    } else {
        farm.ok.fetch_add(1, Ordering::Relaxed);
        builder
            .header(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")
            .body(Body::from(feed_document(
                &farm.origins[n % HOSTS],
                n,
                version,
            )))
    };
    resp.expect("static headers are valid")
}

/// Binds the 100 loopback hosts and starts serving `feeds` feeds on them. The servers stop
/// when the returned handles are aborted.
async fn start_farm(feeds: usize) -> (Arc<Farm>, Vec<tokio::task::JoinHandle<()>>) {
    let mut listeners = Vec::with_capacity(HOSTS);
    let mut origins = Vec::with_capacity(HOSTS);
    for h in 0..HOSTS {
        let ip = Ipv4Addr::new(127, 0, 0, 2 + u8::try_from(h).expect("at most 253 hosts"));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((ip, 0)))
            .await
            .unwrap_or_else(|e| panic!("cannot bind {ip}: {e} (is 127.0.0.0/8 routed to lo?)"));
        origins.push(format!(
            "http://{}",
            listener.local_addr().expect("bound address")
        ));
        listeners.push(listener);
    }
    let farm = Arc::new(Farm {
        versions: (0..feeds).map(|_| AtomicU32::new(0)).collect(),
        ok: AtomicU64::new(0),
        not_modified: AtomicU64::new(0),
        other: AtomicU64::new(0),
        origins,
    });
    let mut servers = Vec::with_capacity(HOSTS);
    for listener in listeners {
        let f = farm.clone();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let f = f.clone();
            async move { serve(&f, &req) }
        });
        servers.push(tokio::spawn(async move {
            axum::serve(listener, app).await.expect("farm host serves");
        }));
    }
    (farm, servers)
}

/// What one `feedwatch once` run cost.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Duration,
    user: Duration,
    sys: Duration,
    /// Peak resident set size of the child, bytes.
    max_rss: u64,
    /// Responses the farm served: 200, 304, other.
    served: (u64, u64, u64),
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
}

/// Runs `feedwatch --config CONFIG --log-level LEVEL once`, logs to `log`, and reaps it with
/// `wait4` for its own rusage. Panics (with the log's tail) unless it exits 0.
fn run_once(bin: &Path, config: &Path, level: &str, log: &Path, farm: &Farm) -> Run {
    let stderr = std::fs::File::create(log).expect("create log file");
    farm.take_counts();
    let started = Instant::now();
    #[expect(
        clippy::zombie_processes,
        reason = "reaped below with wait4, which also gives its rusage"
    )]
    let child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(["--log-level", level, "once"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    let mut status: libc::c_int = 0;
    // SAFETY: zeroed rusage is a valid value for this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own un-reaped child; status and usage are valid out-pointers.
    // (std's `Child` does not wait on drop, so reaping it here is sound.)
    let reaped = loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let wall = started.elapsed();
    assert_eq!(
        reaped,
        pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    let exited_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !exited_ok {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        panic!(
            "feedwatch once failed (wait status {status:#x}); last log lines:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let (user, sys) = (timeval(usage.ru_utime), timeval(usage.ru_stime));
    Run {
        wall,
        cpu: user + sys,
        user,
        sys,
        // Linux reports ru_maxrss in kibibytes.
        max_rss: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        served: farm.take_counts(),
    }
}

/// One row of the table: a kind of round, measured `runs.len()` times.
struct Row {
    label: &'static str,
    level: &'static str,
    runs: Vec<Run>,
}

fn best_median(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort_unstable();
    (v[0], v[v.len() / 2])
}

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

fn print_table(feeds: usize, concurrency: usize, rows: &[Row]) {
    println!();
    println!(
        "N = {feeds} feeds on {HOSTS} hosts · concurrency {concurrency} · per_host 2 (default) · \
         best / median of the runs"
    );
    println!(
        "{:<26} {:<5} {:>4} {:>15} {:>15} {:>13} {:>10} {:>9} {:>15}",
        "round",
        "log",
        "runs",
        "wall s",
        "cpu u+s s",
        "cpu/feed ms",
        "user s",
        "sys s",
        "peak RSS MB"
    );
    for row in rows {
        let (wb, wm) = best_median(row.runs.iter().map(|r| r.wall).collect());
        let (cb, cm) = best_median(row.runs.iter().map(|r| r.cpu).collect());
        let best_cpu = row
            .runs
            .iter()
            .min_by_key(|r| r.cpu)
            .expect("at least one run");
        let rss_max = row.runs.iter().map(|r| r.max_rss).max().unwrap_or(0);
        let rss_min = row.runs.iter().map(|r| r.max_rss).min().unwrap_or(0);
        println!(
            "{:<26} {:<5} {:>4} {:>15} {:>15} {:>13} {:>10} {:>9} {:>15}",
            row.label,
            row.level,
            row.runs.len(),
            format!("{} / {}", secs(wb), secs(wm)),
            format!("{} / {}", secs(cb), secs(cm)),
            format!("{:.3}", cb.as_secs_f64() * 1000.0 / feeds as f64),
            secs(best_cpu.user),
            secs(best_cpu.sys),
            format!("{:.1} – {:.1}", rss_min as f64 / 1e6, rss_max as f64 / 1e6),
        );
    }
}

/// Runs every round for one farm size; returns the table rows.
fn bench_size(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    feeds: usize,
    concurrency: usize,
    repeat: usize,
) -> Vec<Row> {
    let (farm, servers) = rt.block_on(start_farm(feeds));
    let dir = tempfile::Builder::new()
        .prefix("feedwatch-farm-")
        .tempdir()
        .expect("temp dir");
    let config = dir.path().join("feedwatch.toml");
    let mut toml = format!(
        "# feedwatch load benchmark: {feeds} feeds on {HOSTS} loopback hosts\n\
         [storage]\npath = \"feedwatch.db\"\n\n[poll]\nconcurrency = {concurrency}\n\
         timeout = \"30s\"\n"
    );
    for n in 0..feeds {
        let _ = write!(
            toml,
            "\n[[feed]]\nname = \"farm-{n}\"\nurl = \"{}\"\n",
            farm.url(n)
        );
    }
    std::fs::write(&config, toml).expect("write config");
    let log = dir.path().join("feedwatch.log");

    let expect = |run: &Run, ok: usize, not_modified: usize, what: &str| {
        let want = (ok as u64, not_modified as u64, 0);
        assert_eq!(run.served, want, "{what}: farm served (200, 304, other)");
    };

    let first = run_once(bin, &config, "info", &log, &farm);
    expect(&first, feeds, 0, "round 0");
    eprintln!("  N={feeds}: round 0 (all 200) {} s", secs(first.wall));
    let mut rows = vec![Row {
        label: "0 first fetch (all 200)",
        level: "info",
        runs: vec![first],
    }];
    let mut slice = 0;
    for level in ["info", "warn"] {
        let mut unchanged = Vec::new();
        let mut changed = Vec::new();
        for _ in 0..repeat {
            let run = run_once(bin, &config, level, &log, &farm);
            expect(&run, 0, feeds, "all-304 round");
            unchanged.push(run);
            let n_changed = farm.change(slice);
            slice += 1;
            let run = run_once(bin, &config, level, &log, &farm);
            expect(&run, n_changed, feeds - n_changed, "10 % round");
            changed.push(run);
            eprintln!(
                "  N={feeds} log={level}: all-304 {} s, 10% changed {} s",
                secs(unchanged.last().expect("pushed").wall),
                secs(run.wall)
            );
        }
        rows.push(Row {
            label: "1 unchanged (all 304)",
            level,
            runs: unchanged,
        });
        rows.push(Row {
            label: "2 10% gained items",
            level,
            runs: changed,
        });
    }
    servers.iter().for_each(tokio::task::JoinHandle::abort);
    rows
}

fn check_targets(feeds: usize, rows: &[Row]) {
    let unchanged: Vec<&Run> = rows
        .iter()
        .filter(|r| r.label.starts_with('1'))
        .flat_map(|r| &r.runs)
        .collect();
    let wall = unchanged.iter().map(|r| r.wall).min().unwrap_or_default();
    let cpu = unchanged.iter().map(|r| r.cpu).min().unwrap_or_default() / feeds as u32;
    let rss = rows
        .iter()
        .flat_map(|r| &r.runs)
        .map(|r| r.max_rss)
        .max()
        .unwrap_or(0);
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!(
        "targets (N = {feeds}): all-304 wall {} s < {} s: {} · peak RSS {:.1} MB < {} MB: {} · \
         CPU per unchanged feed {:.3} ms < {} ms: {}",
        secs(wall),
        TARGET_WALL_304.as_secs(),
        verdict(wall < TARGET_WALL_304),
        rss as f64 / 1e6,
        TARGET_RSS_BYTES / 1_000_000,
        verdict(rss < TARGET_RSS_BYTES),
        cpu.as_secs_f64() * 1000.0,
        TARGET_CPU_PER_UNCHANGED_FEED.as_secs_f64() * 1000.0,
        verdict(cpu < TARGET_CPU_PER_UNCHANGED_FEED),
    );
}

fn feedwatch_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FEEDWATCH_BIN") {
        return PathBuf::from(p);
    }
    if let Some(p) = option_env!("CARGO_BIN_EXE_feedwatch") {
        return PathBuf::from(p);
    }
    // target/release/deps/farm-HASH → target/release/feedwatch
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .map(|d| d.join("feedwatch"))
        .expect("bench binary lives in target/PROFILE/deps")
}

fn main() {
    let mut sizes = Vec::new();
    let mut concurrency = DEFAULT_CONCURRENCY;
    let mut repeat = DEFAULT_REPEAT;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match a.as_str() {
            "--concurrency" => concurrency = value("--concurrency"),
            "--repeat" => repeat = value("--repeat").max(1),
            // cargo bench passes --bench; libtest-style filters are not used here.
            s if s.starts_with('-') => {}
            s => sizes.push(
                s.replace(['_', ','], "")
                    .parse()
                    .unwrap_or_else(|_| panic!("not a size: {s}")),
            ),
        }
    }
    if sizes.is_empty() {
        sizes = DEFAULT_SIZES.to_vec();
    }
    let bin = feedwatch_binary();
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --release --bin feedwatch` or set FEEDWATCH_BIN",
        bin.display()
    );
    eprintln!("feedwatch binary: {}", bin.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("farm runtime");
    for feeds in sizes {
        let rows = bench_size(&rt, &bin, feeds, concurrency, repeat);
        print_table(feeds, concurrency, &rows);
        check_targets(feeds, &rows);
    }
}

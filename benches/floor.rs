//! The floor for issue 13's first poll: what parsing the farm's documents with feed-rs and
//! inserting their items into SQLite costs on one core, with nothing else feedwatch does
//! (no HTTP, no HTML-to-text, no folding, no matching, no keys). `benches/farm.rs` serves the
//! same documents (`benches/support/farm_docs.rs`); its first poll is to stay within 2× of
//! this floor.
//!
//! Run with `cargo bench --bench floor` (2,000 feeds of 20 items, half RSS half Atom, as the
//! farm's `--issue13`), or `cargo bench --bench floor -- FEEDS ITEMS ATOM_PERCENT`.
//!
//! Steps, each timed by the thread's own CPU clock (so other load on the machine does not
//! count) and by the wall clock:
//! 1. parse: `feed_rs::parser::parse` of every document;
//! 2. insert: every parsed entry as a row (feed, key, title, link, summary, published) into a
//!    file database in WAL mode with `synchronous = NORMAL`, one transaction per feed with a
//!    cached prepared statement — the way feedwatch writes a first poll.

#[path = "support/farm_docs.rs"]
mod farm_docs;

use std::time::{Duration, Instant};

/// The CPU time this thread has used.
fn thread_cpu() -> Duration {
    // SAFETY: a zeroed timespec is valid, and clock_gettime only writes it.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: valid clock id and out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Runs `f`, returning its result with the thread CPU and wall time it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (cpu, wall) = (thread_cpu(), Instant::now());
    let out = f();
    (out, thread_cpu() - cpu, wall.elapsed())
}

struct Row {
    feed: i64,
    key: String,
    title: Option<String>,
    link: Option<String>,
    summary: Option<String>,
    published: Option<i64>,
}

fn main() {
    let nums: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.replace(['_', ','], "").parse().ok())
        .collect();
    let feeds = nums.first().copied().unwrap_or(2_000);
    let items = u32::try_from(nums.get(1).copied().unwrap_or(20)).expect("items fit u32");
    let atom = nums.get(2).copied().unwrap_or(50);
    let shape = farm_docs::Shape::new(items, atom);
    let docs: Vec<String> = (0..feeds)
        .map(|n| shape.document("http://127.0.0.2:8080", n, 0).1)
        .collect();
    let bytes: usize = docs.iter().map(String::len).sum();

    let (parsed, parse_cpu, parse_wall) = timed(|| {
        docs.iter()
            .map(|d| feed_rs::parser::parse(d.as_bytes()).expect("farm documents parse"))
            .collect::<Vec<_>>()
    });
    let rows: Vec<Vec<Row>> = parsed
        .iter()
        .enumerate()
        .map(|(n, f)| {
            f.entries
                .iter()
                .map(|e| Row {
                    feed: i64::try_from(n).expect("fits"),
                    key: e.id.clone(),
                    title: e.title.as_ref().map(|t| t.content.clone()),
                    link: e.links.first().map(|l| l.href.clone()),
                    summary: e.summary.as_ref().map(|t| t.content.clone()),
                    published: e.published.or(e.updated).map(|t| t.timestamp()),
                })
                .collect()
        })
        .collect();
    let total: usize = rows.iter().map(Vec::len).sum();

    let dir = tempfile::tempdir().expect("temp dir");
    let mut conn = rusqlite::Connection::open(dir.path().join("floor.db")).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("normal");
    conn.execute_batch(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, feed_id INTEGER NOT NULL, key TEXT NOT NULL,
            title TEXT, link TEXT, summary TEXT, published_at INTEGER, UNIQUE (feed_id, key))",
    )
    .expect("schema");
    let ((), insert_cpu, insert_wall) = timed(|| {
        for feed in &rows {
            let tx = conn.transaction().expect("begin");
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO items (feed_id, key, title, link, summary, published_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                    )
                    .expect("prepare");
                for r in feed {
                    stmt.execute(rusqlite::params![
                        r.feed,
                        r.key,
                        r.title,
                        r.link,
                        r.summary,
                        r.published
                    ])
                    .expect("insert");
                }
            }
            tx.commit().expect("commit");
        }
    });

    let per = |d: Duration| d.as_secs_f64() * 1e6 / total as f64;
    let floor = parse_cpu + insert_cpu;
    println!(
        "floor data: {feeds} feeds × {items} items ({atom} % Atom), {total} items, {:.1} KB per \
         document on average",
        bytes as f64 / feeds as f64 / 1000.0
    );
    println!(
        "parse  (feed-rs)        cpu {:>7.3} s  wall {:>7.3} s  {:>6.1} µs/item  {:>6.0} feeds/s",
        parse_cpu.as_secs_f64(),
        parse_wall.as_secs_f64(),
        per(parse_cpu),
        feeds as f64 / parse_cpu.as_secs_f64()
    );
    println!(
        "insert (SQLite, 1 tx/feed) cpu {:>4.3} s  wall {:>7.3} s  {:>6.1} µs/item  {:>6.0} rows/s",
        insert_cpu.as_secs_f64(),
        insert_wall.as_secs_f64(),
        per(insert_cpu),
        total as f64 / insert_cpu.as_secs_f64()
    );
    println!(
        "floor  (parse + insert) cpu {:>7.3} s  {:>6.1} µs/item · target for the farm's first poll \
         (issue 13, 2× the floor): {:.3} s CPU",
        floor.as_secs_f64(),
        per(floor),
        2.0 * floor.as_secs_f64()
    );
}

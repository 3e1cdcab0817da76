//! `parse_feed` over every feed file of the third-party corpora in `../shared/corpus` (feedparser,
//! feed-rs, rss2email, rust-rss test suites; about 2,200 files): it must never panic, neither
//! out of this test nor caught inside (`ParseError::Panicked`), and a few real feeds must come
//! out right. The corpus lives beside the repository, not in it (see its README for licences);
//! a missing corpus fails this test rather than skipping it, so CI cannot pass by accident.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use feedwatch::parse::{ParseError, ParsedFeed, parse_feed};
use url::Url;

/// Feed files as `shared/corpus/parse_check.py` selects them.
const FEED_EXTENSIONS: &[&str] = &["xml", "rss", "atom", "rdf", "json", "opml", "feed"];
/// Expected-result and metadata files that are not feeds.
const NOT_FEEDS: &[&str] = &[".serde.json", ".expected", ".config"];
/// Fewer files than this means the corpus was not copied completely.
const MIN_FILES: usize = 2_000;

/// The corpus: `$FEEDWATCH_CORPUS`, else `shared/corpus` beside the repository (where CI and
/// the project's machines have it).
fn corpus_root() -> PathBuf {
    let root = std::env::var_os("FEEDWATCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    assert!(
        root.join("README.md").is_file(),
        "the feed corpus is missing: expected {} (a copy of shared/ beside the repository, \
         or set FEEDWATCH_CORPUS); this test fails rather than skips without it",
        root.display()
    );
    root
}

fn feed_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            feed_files(&path, out);
        } else if FEED_EXTENSIONS
            .iter()
            .any(|ext| path.extension().is_some_and(|e| e == *ext))
            && !NOT_FEEDS.iter().any(|suffix| name.ends_with(suffix))
            && !["README", "LICENSE", "COPYING"]
                .iter()
                .any(|p| name.starts_with(p))
        {
            out.push(path);
        }
    }
}

/// The `Content-type` a feedparser test file asks its harness to serve it with
/// (`Header: Content-type: text/xml; charset=…` in its leading comment).
fn served_content_type(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]);
    head.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("Header:")?.trim();
        let (name, value) = rest.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-type")
            .then(|| value.trim().to_string())
    })
}

#[derive(Default, Debug)]
struct Tally {
    ok: usize,
    invalid: usize,
    rejected: Vec<String>,
    panicked: Vec<String>,
}

fn parse_file(root: &Path, rel: &str) -> ParsedFeed {
    let path = root.join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let base = Url::from_file_path(&path).expect("absolute path");
    parse_feed(&bytes, None, &base).unwrap_or_else(|e| panic!("{rel}: {e:?}"))
}

#[test]
fn parse_feed_never_panics_on_the_shared_corpus() {
    let root = corpus_root();
    let mut files = Vec::new();
    feed_files(&root, &mut files);
    assert!(
        files.len() >= MIN_FILES,
        "only {} feed files under {}",
        files.len(),
        root.display()
    );

    let started = Instant::now();
    let mut by_corpus: BTreeMap<String, Tally> = BTreeMap::new();
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        let corpus = rel.split('/').next().unwrap_or_default().to_string();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {rel}: {e}"));
        let content_type = served_content_type(&bytes);
        let base = Url::from_file_path(path).expect("absolute path");
        let tally = by_corpus.entry(corpus).or_default();
        match catch_unwind(AssertUnwindSafe(|| {
            parse_feed(&bytes, content_type.as_deref(), &base)
        })) {
            Ok(Ok(_)) => tally.ok += 1,
            Ok(Err(ParseError::Invalid(e))) => {
                tally.invalid += 1;
                tally.rejected.push(format!("{rel}: {e:?}"));
            }
            Ok(Err(ParseError::Panicked(msg))) => tally.panicked.push(format!("{rel}: {msg}")),
            Err(_) => tally.panicked.push(format!("{rel}: escaped catch_unwind")),
        }
    }
    let took = started.elapsed();

    let mut total = Tally::default();
    for (corpus, t) in &by_corpus {
        println!(
            "{corpus:>10}: {:>5} parsed, {:>4} rejected, {} panicked",
            t.ok,
            t.invalid,
            t.panicked.len()
        );
        total.ok += t.ok;
        total.invalid += t.invalid;
        total.panicked.extend(t.panicked.iter().cloned());
    }
    println!(
        "{:>10}: {:>5} parsed, {:>4} rejected, {} panicked, {} files in {took:.1?}",
        "total",
        total.ok,
        total.invalid,
        total.panicked.len(),
        files.len()
    );
    assert!(
        total.panicked.is_empty(),
        "parse_feed panicked on:\n{}",
        total.panicked.join("\n")
    );
    // feed-rs' own fixtures that come with an expected result parse here too (the `xml/`
    // samples are not feeds, and `rss_2.0_invalid_1` is truncated on purpose).
    let feed_rs_regressions: Vec<&String> = by_corpus["feed-rs"]
        .rejected
        .iter()
        .filter(|r| {
            let rel = r.split(':').next().unwrap_or_default();
            let path = root.join(rel);
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            path.with_file_name(format!("{stem}.serde.json")).is_file()
        })
        .collect();
    assert!(feed_rs_regressions.is_empty(), "{feed_rs_regressions:#?}");
    // The real captured feeds of rss2email and the rss crate all parse.
    for corpus in ["rss2email", "rust-rss"] {
        assert!(
            by_corpus[corpus].rejected.is_empty(),
            "{corpus}: {:#?}",
            by_corpus[corpus].rejected
        );
    }
    if std::env::var_os("CORPUS_LIST_REJECTED").is_some() {
        for t in by_corpus.values() {
            for r in &t.rejected {
                println!("rejected {r}");
            }
        }
    }
}

#[test]
fn real_windows_1251_feed_declared_in_xml_is_cyrillic() {
    let feed = parse_file(&corpus_root(), "rust-rss/tests/data/pikabu.xml");
    assert_eq!(feed.encoding, "windows-1251");
    assert_eq!(feed.title.as_deref(), Some("pikabu.ru"));
    assert_eq!(feed.items.len(), 40);
    assert_eq!(feed.items[0].title, "Будни Кошкиного Дома");
}

#[test]
fn real_iso_8859_1_feed_on_one_line_is_decoded() {
    let feed = parse_file(&corpus_root(), "rust-rss/tests/data/record-pt.rss");
    assert_eq!(feed.encoding, "windows-1252");
    assert_eq!(feed.title.as_deref(), Some("Record"));
    assert_eq!(feed.items.len(), 20);
    assert!(
        feed.items
            .iter()
            .all(|i| !i.title.contains('\u{FFFD}') && !i.title.contains('Ã')),
        "{:?}",
        feed.items.iter().map(|i| &i.title).collect::<Vec<_>>()
    );
}

#[test]
fn undeclared_koi8r_feed_is_sniffed() {
    let feed = parse_file(
        &corpus_root(),
        "feedparser/tests/illformed/chardet/koi8r.xml",
    );
    // chardetng names KOI8-U, the superset of KOI8-R: Russian text decodes identically.
    assert_eq!(feed.encoding, "KOI8-U");
    assert_eq!(feed.items[0].title, "Как пережить новогоднюю ночь");
}

//! `parse_feed` over every feed file of the third-party corpora vendored in `tests/corpus/`
//! (the feedparser, feed-rs and rust-rss test suites: 2,200 files; origins and licences in
//! `tests/corpus/SOURCES.md`): it must never panic, neither out of this test nor caught inside
//! (`ParseError::Panicked`), each corpus must parse and reject exactly as many files as stated
//! below, and a few real feeds must come out right.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use feedwatch::parse::{ParseError, ParsedFeed, parse_feed};
use url::Url;

/// Extensions of feed files (expected results and licences are skipped by name).
const FEED_EXTENSIONS: &[&str] = &["xml", "rss", "atom", "rdf", "json", "opml", "feed"];
/// Expected-result and metadata files that are not feeds.
const NOT_FEEDS: &[&str] = &[".serde.json", ".expected", ".config"];

/// Per corpus: how many feed files parse and how many are rejected (`ParseError::Invalid`);
/// together, every file. A change here is a change of parser behaviour (or of the corpus):
/// update the figures only on purpose. The rejected are feedparser's encoding, ill-formed, CDF
/// and base64-content cases and feed-rs' plain-XML samples and truncated feed; list them with
/// `CORPUS_LIST_REJECTED=1 cargo test --test corpus -- --nocapture`.
const EXPECTED: &[(&str, Tally)] = &[
    ("feed-rs", Tally::new(64, 4)),
    ("feedparser", Tally::new(2019, 88)),
    ("rust-rss", Tally::new(25, 0)),
];

/// The vendored corpus; nothing outside the repository is read.
fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
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

/// Outcomes of the files of one corpus.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Tally {
    parsed: usize,
    rejected: usize,
}

impl Tally {
    const fn new(parsed: usize, rejected: usize) -> Tally {
        Tally { parsed, rejected }
    }
}

/// What happened to the files of one corpus, by name.
#[derive(Default, Debug)]
struct Outcomes {
    parsed: Vec<String>,
    rejected: Vec<String>,
    panicked: Vec<String>,
}

impl Outcomes {
    fn tally(&self) -> Tally {
        Tally::new(self.parsed.len(), self.rejected.len())
    }
}

fn parse_file(root: &Path, rel: &str) -> ParsedFeed {
    let path = root.join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let base = Url::from_file_path(&path).expect("absolute path");
    parse_feed(&bytes, None, &base).unwrap_or_else(|e| panic!("{rel}: {e:?}"))
}

#[test]
fn parse_feed_never_panics_on_the_vendored_corpus() {
    let root = corpus_root();
    let mut files = Vec::new();
    feed_files(&root, &mut files);

    let started = Instant::now();
    let mut by_corpus: BTreeMap<String, Outcomes> = BTreeMap::new();
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
        let outcomes = by_corpus.entry(corpus).or_default();
        match catch_unwind(AssertUnwindSafe(|| {
            parse_feed(&bytes, content_type.as_deref(), &base)
        })) {
            Ok(Ok(_)) => outcomes.parsed.push(rel),
            Ok(Err(ParseError::Invalid(e))) => outcomes.rejected.push(format!("{rel}: {e:?}")),
            Ok(Err(ParseError::Panicked(msg))) => outcomes.panicked.push(format!("{rel}: {msg}")),
            // parse_feed has no time budget and no stop flag.
            Ok(Err(e @ (ParseError::TooSlow { .. } | ParseError::Stopped))) => {
                panic!("{rel}: parse_feed stopped by itself: {e}")
            }
            Err(_) => outcomes
                .panicked
                .push(format!("{rel}: escaped catch_unwind")),
        }
    }
    let took = started.elapsed();

    let mut panicked = Vec::new();
    for (corpus, o) in &by_corpus {
        println!(
            "{corpus:>10}: {:>5} parsed, {:>4} rejected, {} panicked",
            o.parsed.len(),
            o.rejected.len(),
            o.panicked.len()
        );
        panicked.extend(o.panicked.iter().cloned());
        if std::env::var_os("CORPUS_LIST_REJECTED").is_some() {
            for r in &o.rejected {
                println!("rejected {r}");
            }
        }
    }
    println!("{} files in {took:.1?}", files.len());
    assert!(
        panicked.is_empty(),
        "parse_feed panicked on:\n{}",
        panicked.join("\n")
    );
    let got: Vec<(&str, Tally)> = by_corpus
        .iter()
        .map(|(corpus, o)| (corpus.as_str(), o.tally()))
        .collect();
    assert_eq!(got, EXPECTED, "files parsed and rejected per corpus");
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
    // The rss crate's files, real captures among them, all parse.
    assert!(
        by_corpus["rust-rss"].rejected.is_empty(),
        "{:#?}",
        by_corpus["rust-rss"].rejected
    );
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

//! Entry points for the fuzz targets in `fuzz/` and for the regression tests that replay what
//! they found (`tests/fuzz_regressions.rs`): one definition of what each target exercises, so a
//! saved crashing input is replayed through exactly the code that crashed. Each function takes
//! arbitrary bytes, must never panic, and checks the invariants its target is there to hold.
//! Not part of the supported API.

use std::path::Path;

use crate::config::Config;
use crate::parse::parse_feed;
use crate::rules::{Document, Query, RuleSet};
use crate::text::{fold, html_to_text};

/// Feed parsing + normalization (+ HTML-to-text of every field): the first byte picks the HTTP
/// charset the body is served with (none, or one of a few labels), the rest is the body.
pub fn feed(data: &[u8]) {
    const CHARSETS: [Option<&str>; 4] = [
        None,
        Some("text/xml; charset=utf-8"),
        Some("application/rss+xml; charset=windows-1251"),
        Some("text/xml; charset=utf-16"),
    ];
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let content_type = CHARSETS[usize::from(pick) % CHARSETS.len()];
    let base = url::Url::parse("http://127.0.0.1/feed.xml").expect("static URL is valid");
    if let Ok(feed) = parse_feed(body, content_type, &base) {
        for item in &feed.items {
            assert!(!item.key.as_str().is_empty(), "every item has a key");
            assert!(
                item.title.len() <= crate::text::MAX_TEXT_BYTES,
                "fields are clipped"
            );
        }
    }
}

/// HTML-to-text and the matching form of text: bounded output, idempotent folding.
pub fn html(data: &[u8]) {
    let html = String::from_utf8_lossy(data);
    let text = html_to_text(&html);
    assert!(text.len() <= crate::text::MAX_TEXT_BYTES, "text is clipped");
    assert_eq!(text.trim(), text, "text is trimmed");
    let folded = fold(&text);
    assert_eq!(fold(&folded), folded, "folding is idempotent");
}

/// The query parser and matcher: the input up to the first newline is the query, the rest the
/// document's title, summary and content (split at further newlines). A query that parses is
/// matched; each hit's highlight must lie on char boundaries of its snippet.
pub fn query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let Ok(query) = Query::parse(parts.next().unwrap_or_default()) else {
        return;
    };
    let mut field = || parts.next().unwrap_or_default().to_string();
    let doc = Document {
        title: field(),
        summary: field(),
        content: field(),
        authors: vec!["Zamir Kabulov".to_string()],
        categories: vec!["politics".to_string()],
        link: "http://127.0.0.1/news/1".to_string(),
        feed: "fuzz".to_string(),
        article: field(),
    };
    for hit in RuleSet::new(vec![query]).matches(&doc) {
        for term in &hit.terms {
            assert!(
                term.snippet.get(term.highlight.clone()).is_some(),
                "highlight {:?} is inside snippet {:?}",
                term.highlight,
                term.snippet
            );
        }
    }
}

/// Config loading: the input as a config file in an empty folder, without environment
/// overrides. Inputs naming device or kernel files are skipped: a config may name any file
/// for a secret, and reading `/dev/zero` is the administrator's doing, not a bug.
pub fn config(data: &[u8], empty_dir: &Path) {
    let text = String::from_utf8_lossy(data);
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return;
    }
    let _ = Config::from_text(&text, &empty_dir.join("feedwatch.toml"), empty_dir, &[]);
}

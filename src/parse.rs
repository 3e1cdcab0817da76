//! Feed bytes → normalized [`Item`]s with stable keys. Pure: no I/O, no clock.
//!
//! feed-rs does the parsing (RSS 0.9x/1.0/2.0, Atom, JSON Feed). Around it this module:
//! - decodes the bytes to UTF-8 first (BOM, then XML declaration, then HTTP charset), because
//!   feed-rs only honours an encoding named in the XML declaration;
//! - runs the parser under `catch_unwind`, because quick-xml can panic on hostile input (a second
//!   XML declaration, see shared/reference/dependencies.md §2);
//! - retries once with bare `&` escaped, the most common way real feeds break XML;
//! - computes its own stable key per entry (GUID → canonical link → content hash), since feed-rs
//!   invents random ids for entries without one;
//! - turns every text field into plain text (HTML removed, entities decoded).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use encoding_rs::{Encoding, UTF_8};
use feed_rs::model;
use regex::Regex;
use url::Url;

use crate::domain::{Item, ItemKey};
use crate::text::html_to_text;

/// A parsed feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFeed {
    /// Feed title (plain text), if any.
    pub title: Option<String>,
    /// Entries in document order, deduplicated by key (first occurrence wins).
    pub items: Vec<Item>,
}

/// Why a body could not be parsed as a feed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not a feed, or malformed beyond repair.
    #[error("not a valid RSS, Atom or JSON feed")]
    Invalid(#[source] feed_rs::parser::ParseFeedError),
    /// The XML parser panicked on this input (a bug in a dependency, contained here).
    #[error("the feed parser crashed on this input: {0}")]
    Panicked(String),
}

/// Parses `body` fetched from `base` (used to resolve relative links). `content_type` is the
/// HTTP `Content-Type` header, whose charset is used when the document does not name its own.
pub fn parse_feed(
    body: &[u8],
    content_type: Option<&str>,
    base: &Url,
) -> Result<ParsedFeed, ParseError> {
    let text = decode(body, content_type);
    let feed = match parse_guarded(&text, base) {
        Ok(feed) => feed,
        Err(first) => {
            let repaired = escape_bare_ampersands(&text);
            if repaired == text {
                return Err(first);
            }
            parse_guarded(&repaired, base).map_err(|_| first)?
        }
    };
    Ok(normalize(feed))
}

fn parse_guarded(text: &str, base: &Url) -> Result<model::Feed, ParseError> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        // An empty id means "the feed gave none": we compute our own key instead of trusting
        // feed-rs' generated ids (random UUIDs when there is no link).
        .id_generator(|_, _, _| String::new())
        .build();
    match catch_unwind(AssertUnwindSafe(|| parser.parse(text.as_bytes()))) {
        Ok(Ok(feed)) => Ok(feed),
        Ok(Err(e)) => Err(ParseError::Invalid(e)),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(ParseError::Panicked(msg))
        }
    }
}

static XML_DECL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^\s*<\?xml[^>]*?\?>"#).expect("static regex is valid"));
static DECL_ENCODING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']"#).expect("static regex is valid")
});
static BARE_AMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"&([^#A-Za-z]|[A-Za-z][A-Za-z0-9]*[^A-Za-z0-9;]|#[0-9]*[^0-9;]|#x[0-9a-fA-F]*[^0-9a-fA-F;])")
        .expect("static regex is valid")
});

/// Decodes to UTF-8 and drops the XML declaration so the parser sees one consistent encoding.
/// Order: byte-order mark, the document's own declaration, the HTTP charset, then UTF-8.
fn decode(body: &[u8], content_type: Option<&str>) -> String {
    if let Some((enc, bom_len)) = Encoding::for_bom(body) {
        let (text, _) = enc.decode_without_bom_handling(&body[bom_len..]);
        return strip_declaration(&text);
    }
    // The declaration is ASCII in every ASCII-compatible encoding; look at the first bytes only.
    let head = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let declared = XML_DECL
        .find(&head)
        .and_then(|m| DECL_ENCODING.captures(m.as_str()))
        .and_then(|c| Encoding::for_label(c[1].as_bytes()));
    let from_header = content_type
        .and_then(charset_param)
        .and_then(|c| Encoding::for_label(c.as_bytes()));
    let enc = declared.or(from_header).unwrap_or(UTF_8);
    // UTF-16 labels without a BOM are almost always mislabelled UTF-8 in practice.
    let enc = enc.output_encoding();
    let (text, _) = enc.decode_without_bom_handling(body);
    strip_declaration(&text)
}

fn strip_declaration(text: &str) -> String {
    match XML_DECL.find(text) {
        Some(m) => text[m.end()..].to_string(),
        None => text.to_string(),
    }
}

fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

fn escape_bare_ampersands(text: &str) -> String {
    // Two passes: adjacent bare ampersands (`&&`) overlap the pattern.
    let once = BARE_AMP.replace_all(text, "&amp;$1");
    BARE_AMP.replace_all(&once, "&amp;$1").into_owned()
}

fn normalize(feed: model::Feed) -> ParsedFeed {
    let mut seen = std::collections::HashSet::new();
    let mut items = Vec::with_capacity(feed.entries.len());
    for entry in feed.entries {
        let item = normalize_entry(entry);
        if seen.insert(item.key.clone()) {
            items.push(item);
        }
    }
    ParsedFeed {
        title: feed
            .title
            .map(|t| html_to_text(&t.content))
            .filter(|t| !t.is_empty()),
        items,
    }
}

fn normalize_entry(entry: model::Entry) -> Item {
    let title = entry
        .title
        .as_ref()
        .map(|t| html_to_text(&t.content))
        .unwrap_or_default();
    let summary = entry
        .summary
        .as_ref()
        .map(|t| html_to_text(&t.content))
        .unwrap_or_default();
    let content = entry
        .content
        .as_ref()
        .and_then(|c| c.body.as_deref())
        .map(html_to_text)
        .unwrap_or_default();
    let link = pick_link(&entry.links);
    let guid = entry.id.trim();
    let key = if !guid.is_empty() {
        ItemKey::from_guid(guid)
    } else if let Some(link) = link.as_deref() {
        ItemKey::from_link(&canonical_link(link))
    } else {
        ItemKey::from_content(&[&title, &summary, &content])
    };
    Item {
        key: key.as_str().to_string(),
        title,
        link,
        summary,
        content,
        authors: entry
            .authors
            .iter()
            .filter_map(|p| p.name.as_deref().map(str::trim))
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect(),
        categories: entry
            .categories
            .iter()
            .map(|c| c.label.as_deref().unwrap_or(&c.term).trim().to_string())
            .filter(|c| !c.is_empty())
            .collect(),
        published: entry.published.or(entry.updated),
    }
}

/// The story's link: `rel="alternate"` (or no rel) first, then any link.
fn pick_link(links: &[model::Link]) -> Option<String> {
    links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or_else(|| links.first())
        .map(|l| l.href.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// A link with its fragment and tracking parameters (`utm_*`, `fbclid`, `gclid`) removed, so
/// the same story gets the same key however it was linked.
pub fn canonical_link(link: &str) -> String {
    let Ok(mut url) = Url::parse(link) else {
        return link.to_string();
    };
    url.set_fragment(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !(k.starts_with("utm_") || k == "fbclid" || k == "gclid"))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://127.0.0.1/feed.xml").expect("valid")
    }

    const RSS_NO_GUID: &str = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
        <item><title>Linked</title><link>http://example.org/a?utm_source=x#top</link></item>
        <item><title>Bare</title><description>no link at all</description></item>
        </channel></rss>"#;

    #[test]
    fn keys_without_guid_are_stable_across_parses() {
        let a = parse_feed(RSS_NO_GUID.as_bytes(), None, &base()).expect("parses");
        let b = parse_feed(RSS_NO_GUID.as_bytes(), None, &base()).expect("parses");
        assert_eq!(a.items.len(), 2);
        assert_eq!(a.items[0].key, "link:http://example.org/a");
        assert!(a.items[1].key.starts_with("hash:"), "{}", a.items[1].key);
        assert_eq!(
            a.items.iter().map(|i| &i.key).collect::<Vec<_>>(),
            b.items.iter().map(|i| &i.key).collect::<Vec<_>>()
        );
    }

    #[test]
    fn guid_wins_over_link() {
        let xml = r#"<rss version="2.0"><channel><item><guid isPermaLink="false">abc-1</guid>
            <link>http://example.org/x</link><title>x</title></item></channel></rss>"#;
        let f = parse_feed(xml.as_bytes(), None, &base()).expect("parses");
        assert_eq!(f.items[0].key, "guid:abc-1");
    }

    #[test]
    fn windows_1251_declared_in_xml_is_decoded() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(
            "<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss version=\"2.0\"><channel><item><guid>1</guid><title>Кабулов в Москве</title></item></channel></rss>",
        );
        let f = parse_feed(&bytes, None, &base()).expect("parses");
        assert_eq!(f.items[0].title, "Кабулов в Москве");
    }

    #[test]
    fn koi8r_named_only_in_http_charset_is_decoded() {
        let (bytes, _, _) = encoding_rs::KOI8_R.encode(
            "<rss version=\"2.0\"><channel><item><guid>1</guid><title>Московский формат</title></item></channel></rss>",
        );
        let f = parse_feed(&bytes, Some("application/rss+xml; charset=KOI8-R"), &base())
            .expect("parses");
        assert_eq!(f.items[0].title, "Московский формат");
    }

    #[test]
    fn bare_ampersand_is_repaired() {
        let xml = r#"<rss version="2.0"><channel><item><guid>1</guid><title>Tom & Jerry &amp; friends</title></item></channel></rss>"#;
        let f = parse_feed(xml.as_bytes(), None, &base()).expect("repaired");
        assert_eq!(f.items[0].title, "Tom & Jerry & friends");
    }

    #[test]
    fn second_xml_declaration_is_an_error_not_a_panic() {
        let (mut bytes, _, _) = encoding_rs::KOI8_R.encode(
            "<?xml version=\"1.0\" encoding=\"koi8-r\"?><rss version=\"2.0\"><channel><item><guid>1</guid><title>x</title></item>",
        );
        bytes
            .to_mut()
            .extend_from_slice(b"<?xml version=\"1.0\" encoding=\"utf-8\"?></channel></rss>");
        // Whatever the parser makes of it, it must come back as a value.
        let _ = parse_feed(&bytes, None, &base());
    }

    #[test]
    fn html_entities_and_tags_become_plain_text() {
        let xml = r#"<rss version="2.0"><channel><item><guid>1</guid><title>A&amp;B</title>
            <description>&lt;p&gt;so-called &lt;b&gt;Moscow&lt;/b&gt;&amp;nbsp;format&lt;/p&gt;</description></item></channel></rss>"#;
        let f = parse_feed(xml.as_bytes(), None, &base()).expect("parses");
        assert_eq!(f.items[0].summary, "so-called Moscow format");
    }

    #[test]
    fn garbage_is_an_error() {
        for body in [
            &b""[..],
            b"<html><body>hi</body></html>",
            b"<rss><channel><item>",
        ] {
            assert!(parse_feed(body, None, &base()).is_err());
        }
    }

    #[test]
    fn canonical_link_drops_tracking_and_fragment() {
        assert_eq!(
            canonical_link("https://x.org/a?id=3&utm_medium=rss&fbclid=z#c"),
            "https://x.org/a?id=3"
        );
        assert_eq!(canonical_link("not a url"), "not a url");
    }
}

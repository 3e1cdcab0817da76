//! OPML 1.0/2.0 import and export of feed subscriptions: OPML text → [`OpmlFeed`]s → `[[feed]]`
//! TOML for the config file, and feeds → OPML for other readers.
//!
//! Pure: text in, values or text out, no I/O and no clock (so no `dateCreated` on export).
//! Reading files, decoding non-UTF-8 input and merging into an existing config belong to the
//! caller. URLs are kept as written; `config` is what validates them.
//!
//! Mapping (OPML 2.0, <http://opml.org/spec2.opml>): an `<outline>` with `xmlUrl` is a feed; an
//! outline without it that contains outlines is a folder ("category"), and every enclosing
//! folder's name becomes one of the feed's tags. `text` (what the reader displays, possibly
//! renamed by the user) is the name, `title` the fallback; `htmlUrl` and the `category`
//! attribute are ignored.

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use serde::Serialize;

use crate::domain::same_tag;
use crate::text::collapse_whitespace;

/// One subscription read from or written to OPML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// The feed URL (`xmlUrl`), trimmed, otherwise as written.
    pub url: String,
    /// Display name (`text`, else `title`) with whitespace collapsed; `None` when both are
    /// missing or blank.
    pub name: Option<String>,
    /// Names of the enclosing folders, outermost first, without duplicates. A feed listed in
    /// several folders is returned once, with the folders of every listing.
    pub tags: Vec<String>,
}

/// Why an OPML document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    /// The text is not well-formed XML (or an attribute holds an undefined entity).
    #[error("malformed XML at line {line}")]
    Xml {
        /// 1-based line where the parser gave up.
        line: usize,
        /// The parser's complaint.
        #[source]
        source: quick_xml::Error,
    },
    /// There is no element at all.
    #[error("not an OPML document: no root element")]
    Empty,
    /// The root element is something else, e.g. `<rss>` when a feed was given by mistake.
    #[error("not an OPML document: the root element is <{found}>, expected <opml>")]
    NotOpml {
        /// The root element's name.
        found: String,
    },
    /// `<opml>` has no `<body>`.
    #[error("not an OPML document: <opml> has no <body>")]
    NoBody,
    /// An outline declares itself a feed (`type="rss"` or `"atom"`) but has no `xmlUrl`.
    #[error("line {line}: outline {text:?} has type=\"{kind}\" but no xmlUrl")]
    MissingXmlUrl {
        /// 1-based line of the outline.
        line: usize,
        /// Its `text` or `title`, to find it in the file.
        text: String,
        /// Its `type` attribute.
        kind: String,
    },
}

/// What the parser is inside of.
enum Frame {
    /// `<opml>`.
    Opml,
    /// `<body>` or an outline whose children are subscriptions; `Some` names the folder.
    Outlines(Option<String>),
    /// Anything else (`<head>`, unknown elements): outlines in here are not subscriptions.
    Other,
}

/// Parses OPML 1.0 or 2.0 into the feeds it lists, in document order.
///
/// Outlines without `xmlUrl` and without children (empty folders, `type="link"` bookmarks) are
/// skipped; one that says it is a feed but has no `xmlUrl` is an error, as silently dropping a
/// subscription would be. Attribute names are matched ignoring ASCII case because some exporters
/// write `xmlurl`.
pub fn parse_opml(text: &str) -> Result<Vec<OpmlFeed>, OpmlError> {
    // A byte-order mark survives decoding to `str`; the XML parser would call it text before
    // the root element.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut seen_root = false;
    let mut seen_body = false;
    let mut feeds: Vec<OpmlFeed> = Vec::new();
    // Normalized URL → index in `feeds`, to merge a feed listed in several folders.
    let mut index: HashMap<String, usize> = HashMap::new();
    let xml_error = |reader: &Reader<&[u8]>, source| OpmlError::Xml {
        line: line_at(text, reader.error_position()),
        source,
    };

    loop {
        let start = reader.buffer_position();
        let event = reader.read_event().map_err(|e| xml_error(&reader, e))?;
        let (element, has_children) = match &event {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = element.local_name();
        let name = name.as_ref();
        let frame = match stack.last() {
            None if seen_root => Frame::Other,
            None => {
                seen_root = true;
                if name != "opml" {
                    return Err(OpmlError::NotOpml {
                        found: name.to_string(),
                    });
                }
                Frame::Opml
            }
            Some(Frame::Opml) if name == "body" => {
                seen_body = true;
                Frame::Outlines(None)
            }
            Some(Frame::Outlines(_)) if name == "outline" => {
                let outline = read_outline(element).map_err(|e| xml_error(&reader, e))?;
                match outline.url {
                    Some(url) => {
                        let tags = folders(&stack);
                        add_feed(&mut feeds, &mut index, url, outline.name, tags);
                        Frame::Outlines(None)
                    }
                    None if outline.kind.as_deref().is_some_and(is_feed_type) => {
                        return Err(OpmlError::MissingXmlUrl {
                            line: line_at(text, start),
                            text: outline.name.unwrap_or_default(),
                            kind: outline.kind.unwrap_or_default(),
                        });
                    }
                    None => Frame::Outlines(outline.name),
                }
            }
            Some(_) => Frame::Other,
        };
        if has_children {
            stack.push(frame);
        }
    }
    match (seen_root, seen_body) {
        (false, _) => Err(OpmlError::Empty),
        (true, false) => Err(OpmlError::NoBody),
        (true, true) => Ok(feeds),
    }
}

/// The attributes of one `<outline>` that matter here.
struct Outline {
    url: Option<String>,
    name: Option<String>,
    kind: Option<String>,
}

fn read_outline(element: &BytesStart<'_>) -> Result<Outline, quick_xml::Error> {
    let (mut url, mut text, mut title, mut kind) = (None, None, None, None);
    for attr in element.attributes() {
        let attr = attr?;
        let key = attr.key.local_name();
        let slot = match key.as_ref().to_ascii_lowercase().as_str() {
            "xmlurl" => &mut url,
            "text" => &mut text,
            "title" => &mut title,
            "type" => &mut kind,
            _ => continue,
        };
        let value = collapse_whitespace(&attr.normalized_value(XmlVersion::Implicit1_0)?);
        if !value.is_empty() {
            *slot = Some(value);
        }
    }
    Ok(Outline {
        url,
        name: text.or(title),
        kind,
    })
}

/// `type` values that promise an `xmlUrl`. OPML 2.0 defines `rss` for every feed format; some
/// exporters write `atom`.
fn is_feed_type(kind: &str) -> bool {
    kind.eq_ignore_ascii_case("rss") || kind.eq_ignore_ascii_case("atom")
}

/// Folder names from the enclosing outlines, outermost first, without duplicates.
fn folders(stack: &[Frame]) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for frame in stack {
        if let Frame::Outlines(Some(name)) = frame
            && !tags.iter().any(|t| same_tag(t, name))
        {
            tags.push(name.clone());
        }
    }
    tags
}

fn add_feed(
    feeds: &mut Vec<OpmlFeed>,
    index: &mut HashMap<String, usize>,
    url: String,
    name: Option<String>,
    tags: Vec<String>,
) {
    match index.get(&url_key(&url)) {
        Some(&i) => {
            let feed = &mut feeds[i];
            for tag in tags {
                if !feed.tags.iter().any(|t| same_tag(t, &tag)) {
                    feed.tags.push(tag);
                }
            }
            if feed.name.is_none() {
                feed.name = name;
            }
        }
        None => {
            index.insert(url_key(&url), feeds.len());
            feeds.push(OpmlFeed { url, name, tags });
        }
    }
}

/// Two spellings of one URL (`HTTP://Example.com` and `http://example.com/`) are one feed, as
/// they are in the config, which compares parsed URLs.
fn url_key(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| url.to_string(), String::from)
}

/// 1-based line of byte offset `pos` in `text`.
fn line_at(text: &str, pos: u64) -> usize {
    let end = usize::try_from(pos).unwrap_or(usize::MAX).min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Writes feeds as an OPML 2.0 document titled `title`.
///
/// Untagged feeds come first, at the top level; then one folder per tag, in order of first use,
/// holding every feed with that tag. A feed with several tags is therefore listed in several
/// folders, which readers show as one subscription in each (and [`parse_opml`] merges back).
/// A feed without a name is labelled with its URL, since `text` is required.
pub fn to_opml(feeds: &[OpmlFeed], title: &str) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n");
    out.push_str(&format!(
        "  <head>\n    <title>{}</title>\n  </head>\n  <body>\n",
        xml_escape(title)
    ));
    for feed in feeds.iter().filter(|f| f.tags.is_empty()) {
        push_outline(&mut out, feed, "    ");
    }
    let mut tags: Vec<&str> = Vec::new();
    for tag in feeds.iter().flat_map(|f| &f.tags) {
        if !tags.iter().any(|t| same_tag(t, tag)) {
            tags.push(tag);
        }
    }
    for tag in tags {
        let tag_xml = xml_escape(tag);
        out.push_str(&format!(
            "    <outline text=\"{tag_xml}\" title=\"{tag_xml}\">\n"
        ));
        for feed in feeds
            .iter()
            .filter(|f| f.tags.iter().any(|t| same_tag(t, tag)))
        {
            push_outline(&mut out, feed, "      ");
        }
        out.push_str("    </outline>\n");
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

fn push_outline(out: &mut String, feed: &OpmlFeed, indent: &str) {
    let name = xml_escape(feed.name.as_deref().unwrap_or(&feed.url));
    out.push_str(&format!(
        "{indent}<outline type=\"rss\" text=\"{name}\" title=\"{name}\" xmlUrl=\"{}\"/>\n",
        xml_escape(&feed.url)
    ));
}

/// Escapes for element text and double- or single-quoted attributes, dropping the characters
/// XML 1.0 cannot carry at all (§2.2: most C0 controls, U+FFFE, U+FFFF) and turning line
/// breaks and tabs into spaces, which attribute-value normalization would do anyway (§3.3.3).
fn xml_escape(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => None,
            c => Some(c),
        })
        .collect();
    quick_xml::escape::escape(clean.as_str()).into_owned()
}

/// One `[[feed]]` table as the config reads it.
#[derive(Serialize)]
struct TomlFeed<'a> {
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
}

/// The whole snippet: `feed` serializes as an array of tables.
#[derive(Serialize)]
struct TomlFeeds<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    feed: Vec<TomlFeed<'a>>,
}

/// Writes feeds as `[[feed]]` tables (`url`, `name`, `tags`) to append to a config file; empty
/// for no feeds.
///
/// The config requires unique names, so a given name already `taken` (by a configured feed, or
/// an earlier one here) gets `" (2)"`, `" (3)"`, … appended. A feed without a name is left
/// without one: the config gives it a readable default that is unique even among feeds of one
/// host. URLs are expected to be unique already, as [`parse_opml`] returns them.
pub fn to_toml_feeds(feeds: &[OpmlFeed], taken: &[String]) -> String {
    let mut taken: Vec<String> = taken.to_vec();
    let feed = feeds
        .iter()
        .map(|f| {
            let name = f.name.as_ref().map(|given| {
                let mut unique = given.clone();
                let mut n = 2;
                while taken.contains(&unique) {
                    unique = format!("{given} ({n})");
                    n += 1;
                }
                taken.push(unique.clone());
                unique
            });
            TomlFeed {
                url: &f.url,
                name,
                tags: &f.tags,
            }
        })
        .collect();
    toml::to_string(&TomlFeeds { feed })
        .expect("tables of strings and arrays of strings always serialize to TOML")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATEGORIES: &str = include_str!("../tests/fixtures/opml_nested_categories.opml");
    const CYRILLIC: &str = include_str!("../tests/fixtures/opml_escaped_cyrillic.opml");
    const FLAT_V1: &str = include_str!("../tests/fixtures/opml_v1_flat_no_type.opml");
    const MALFORMED: &str = include_str!("../tests/fixtures/opml_malformed_unclosed_outline.opml");

    fn feed(url: &str, name: Option<&str>, tags: &[&str]) -> OpmlFeed {
        OpmlFeed {
            url: url.to_string(),
            name: name.map(str::to_string),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn nested_folders_become_tags_and_duplicates_merge() {
        let feeds = parse_opml(CATEGORIES).expect("valid OPML");
        assert_eq!(
            feeds,
            vec![
                feed(
                    "https://www.themoscowtimes.com/rss/news",
                    Some("The Moscow Times"),
                    &["News", "Russia"]
                ),
                feed(
                    "https://feeds.bbci.co.uk/news/world/rss.xml",
                    Some("BBC News - World"),
                    &["News"]
                ),
                feed(
                    "https://blog.rust-lang.org/feed.xml",
                    Some("Rust Blog"),
                    &["Tech", "Rust"]
                ),
                feed(
                    "https://this-week-in-rust.org/atom.xml",
                    Some("This Week in Rust"),
                    &["Tech", "Rust"]
                ),
                feed("https://lwn.net/headlines/rss", Some("LWN.net"), &["Tech"]),
                feed("https://xkcd.com/atom.xml", Some("xkcd"), &[]),
            ]
        );
    }

    #[test]
    fn entities_and_cyrillic_are_decoded() {
        let feeds = parse_opml(CYRILLIC).expect("valid OPML");
        assert_eq!(
            feeds,
            vec![
                feed(
                    "https://lenta.ru/rss/news",
                    Some("Лента.ру — Новости"),
                    &["Россия & мир"]
                ),
                feed(
                    "https://example.org/feed?lang=ru&format=rss",
                    Some("\"Quotes\" & <angles> 'apostrophes'"),
                    &["Россия & мир"]
                ),
                feed(
                    "https://example.org/ПРИМЕР.xml",
                    Some("Пример"),
                    &["Россия & мир"]
                ),
                feed("https://example.net/untitled.xml", Some("Title only"), &[]),
                feed("https://example.net/nameless.xml", None, &[]),
            ]
        );
    }

    #[test]
    fn opml_1_outlines_without_type_are_feeds() {
        let feeds = parse_opml(FLAT_V1).expect("valid OPML");
        let urls: Vec<&str> = feeds.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://scripting.com/rss.xml",
                "https://daringfireball.net/feeds/main",
            ]
        );
        assert!(feeds.iter().all(|f| f.tags.is_empty()));
    }

    #[test]
    fn malformed_opml_names_the_line() {
        match parse_opml(MALFORMED) {
            Err(OpmlError::Xml { line, .. }) => assert_eq!(line, 12),
            other => panic!("expected an XML error, got {other:?}"),
        }
    }

    #[test]
    fn documents_that_are_not_opml_are_rejected() {
        /// (case name, document, is this the expected error?)
        type Case = (&'static str, &'static str, fn(&OpmlError) -> bool);
        let cases: &[Case] = &[
            ("empty", "", |e| matches!(e, OpmlError::Empty)),
            ("only a declaration", "<?xml version=\"1.0\"?>\n", |e| {
                matches!(e, OpmlError::Empty)
            }),
            (
                "an RSS feed",
                "<rss version=\"2.0\"><channel/></rss>",
                |e| matches!(e, OpmlError::NotOpml { found } if found == "rss"),
            ),
            (
                "no body",
                "<opml version=\"2.0\"><head><title>x</title></head></opml>",
                |e| matches!(e, OpmlError::NoBody),
            ),
            (
                "outline in head is not a body",
                "<opml><head><outline xmlUrl=\"http://a/\"/></head></opml>",
                |e| matches!(e, OpmlError::NoBody),
            ),
            (
                "feed outline without xmlUrl",
                "<opml version=\"2.0\">\n<body>\n<outline text=\"Broken\" type=\"rss\" htmlUrl=\"https://a/\"/>\n</body></opml>",
                |e| {
                    matches!(e, OpmlError::MissingXmlUrl { line: 3, text, kind }
                        if text == "Broken" && kind == "rss")
                },
            ),
            (
                "undefined entity",
                "<opml><body><outline text=\"a&nbsp;b\" xmlUrl=\"http://a/\"/></body></opml>",
                |e| matches!(e, OpmlError::Xml { line: 1, .. }),
            ),
            (
                "mismatched end tag",
                "<opml>\n<body>\n</head>\n</opml>",
                |e| matches!(e, OpmlError::Xml { line: 3, .. }),
            ),
        ];
        for (name, text, want) in cases {
            match parse_opml(text) {
                Err(e) => assert!(want(&e), "case {name:?}: unexpected error {e:?}"),
                Ok(f) => panic!("case {name:?}: parsed as {f:?}"),
            }
        }
    }

    #[test]
    fn quirks_that_are_accepted() {
        let cases: &[(&str, &str, Vec<OpmlFeed>)] = &[
            (
                "byte-order mark",
                "\u{feff}<?xml version=\"1.0\"?><opml><body><outline text=\"A\" xmlUrl=\"http://a/\"/></body></opml>",
                vec![feed("http://a/", Some("A"), &[])],
            ),
            (
                "lower-case xmlurl and padded values",
                "<opml><body><outline text=\"  A \n B  \" xmlurl=\" http://a/ \"/></body></opml>",
                vec![feed("http://a/", Some("A B"), &[])],
            ),
            (
                "empty folder and bookmark are skipped",
                "<opml><body><outline text=\"Empty\"/><outline text=\"Empty2\"></outline><outline type=\"link\" text=\"L\" url=\"http://l/\"/></body></opml>",
                vec![],
            ),
            (
                "same URL spelled twice merges",
                "<opml><body><outline text=\"A\"><outline xmlUrl=\"HTTP://Example.com\"/></outline><outline text=\"B\"><outline text=\"Named\" xmlUrl=\"http://example.com/\"/></outline></body></opml>",
                vec![feed("HTTP://Example.com", Some("Named"), &["A", "B"])],
            ),
            (
                "empty body",
                "<opml version=\"1.0\"><head/><body/></opml>",
                vec![],
            ),
        ];
        for (name, text, want) in cases {
            let got = parse_opml(text).unwrap_or_else(|e| panic!("case {name:?}: {e:?}"));
            assert_eq!(&got, want, "case {name:?}");
        }
    }

    #[test]
    fn export_round_trips_through_import() {
        let feeds = vec![
            feed("https://a.example/feed", Some("Plain"), &[]),
            feed(
                "https://b.example/feed?x=1&y=<2>",
                Some("Tom & \"Jerry\" <'quoted'>"),
                &["Cartoons & More"],
            ),
            feed("https://c.example/rss", Some("Лента"), &["Россия"]),
            feed(
                "https://d.example/rss",
                Some("Two tags"),
                &["Россия", "Extra"],
            ),
        ];
        let xml = to_opml(&feeds, "feedwatch <export> & co");
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">")
        );
        assert!(
            xml.contains("<title>feedwatch &lt;export&gt; &amp; co</title>"),
            "{xml}"
        );
        assert_eq!(parse_opml(&xml).expect("our own OPML parses"), feeds);
    }

    #[test]
    fn export_drops_characters_xml_cannot_carry() {
        let feeds = vec![
            feed("https://a.example/", Some("bell\u{7}\ttab\nline"), &[]),
            feed("https://b.example/", None, &[]),
        ];
        let xml = to_opml(&feeds, "t\u{0}");
        assert!(!xml.contains('\u{7}') && !xml.contains('\u{0}'));
        let back = parse_opml(&xml).expect("well-formed");
        assert_eq!(back[0].name.as_deref(), Some("bell tab line"));
        // text is required, so a nameless feed is labelled with its URL.
        assert_eq!(back[1].name.as_deref(), Some("https://b.example/"));
    }

    #[test]
    fn toml_feeds_are_valid_config_tables() {
        let feeds = vec![
            feed(
                "https://lenta.ru/rss/news",
                Some("Лента \"ру\""),
                &["Россия & мир", "news"],
            ),
            feed("https://example.org/a.xml", None, &[]),
        ];
        let text = to_toml_feeds(&feeds, &[]);
        let parsed: toml::Table = toml::from_str(&text).expect("valid TOML");
        let tables = parsed["feed"].as_array().expect("[[feed]] array");
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0]["url"].as_str(), Some("https://lenta.ru/rss/news"));
        assert_eq!(tables[0]["name"].as_str(), Some("Лента \"ру\""));
        let tags: Vec<&str> = tables[0]["tags"]
            .as_array()
            .expect("tags array")
            .iter()
            .filter_map(|t| t.as_str())
            .collect();
        assert_eq!(tags, ["Россия & мир", "news"]);
        // No name and no tags: both keys left out, the config's defaults apply.
        assert_eq!(
            tables[1]
                .as_table()
                .expect("a table")
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["url"]
        );
        assert!(text.starts_with("[[feed]]\n"), "{text}");
    }

    #[test]
    fn toml_feed_names_are_made_unique() {
        let feeds = vec![
            feed("https://a.example/1", Some("News"), &[]),
            feed("https://a.example/2", Some("News"), &[]),
            feed("https://a.example/3", None, &[]),
            feed("https://a.example/4", None, &[]),
            feed("https://a.example/5", Some("News"), &[]),
            feed("https://a.example/6", Some("Configured"), &[]),
        ];
        let taken = ["Configured".to_string()];
        let parsed: toml::Table =
            toml::from_str(&to_toml_feeds(&feeds, &taken)).expect("valid TOML");
        let names: Vec<Option<&str>> = parsed["feed"]
            .as_array()
            .expect("[[feed]] array")
            .iter()
            .map(|t| t.get("name").and_then(|n| n.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                Some("News"),
                Some("News (2)"),
                // The config names these two "a.example/3" and "a.example/4".
                None,
                None,
                Some("News (3)"),
                Some("Configured (2)"),
            ]
        );
    }

    #[test]
    fn no_feeds_is_an_empty_snippet() {
        assert_eq!(to_toml_feeds(&[], &[]), "");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC*") {
            let _ = parse_opml(&text);
        }

        #[test]
        fn parse_never_panics_on_opml_like_input(
            text in "(<opml>|<body>|</body>|</opml>|<outline|/>|>|</outline>| xmlUrl=\"|\"|text='|'|&amp;|&#|[a-zА-я:/.]){0,40}"
        ) {
            let _ = parse_opml(&text);
        }

        #[test]
        fn names_and_tags_round_trip(
            name in "[^\\x00-\\x1f\\u{fffe}\\u{ffff}]{1,30}",
            tag in "[^\\x00-\\x1f\\u{fffe}\\u{ffff}]{1,20}",
        ) {
            let name = collapse_whitespace(&name);
            let tag = collapse_whitespace(&tag);
            proptest::prop_assume!(!name.is_empty() && !tag.is_empty());
            let feeds = vec![feed("https://a.example/", Some(&name), &[&tag])];
            let back = parse_opml(&to_opml(&feeds, &name)).expect("our own OPML parses");
            proptest::prop_assert_eq!(back, feeds);
        }
    }
}

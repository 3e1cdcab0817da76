//! Feed bytes → normalized [`Item`]s with stable keys. Pure: no I/O, no clock.
//!
//! feed-rs does the parsing (RSS 0.9x/1.0/2.0, Atom, JSON Feed). Around it this module:
//! - decodes the bytes to UTF-8 first (BOM, UTF-8 validity, XML declaration, HTTP charset, then
//!   a guess; see `decode`), because feed-rs only honours an encoding named in the XML
//!   declaration and labels are often wrong;
//! - runs the parser under `catch_unwind`, because quick-xml can panic on hostile input (a second
//!   XML declaration, see shared/reference/dependencies.md §2);
//! - retries once with bare `&` escaped (the most common way real feeds break XML) and a missing
//!   or unknown `version` set on an `<rss>` root (feed-rs rejects it otherwise);
//! - recovers what lenient parsers (feedparser, browsers) recover from broken feeds, and says
//!   which recovery applied ([`Recovery`], in [`ParsedFeed::recoveries`]): an undeclared or
//!   UTF-32 encoding, HTML entities XML does not define (`&nbsp;`, `&mdash;`), whitespace, a
//!   stray BOM or a comment before the XML declaration, a second XML declaration;
//! - computes its own stable key per entry (GUID → canonical link and content hash → content
//!   hash), since feed-rs invents random ids for entries without one;
//! - turns every text field into plain text (HTML removed, entities decoded), with bounded work
//!   per field (see [`crate::text::html_to_text`]);
//! - asks its caller between entries and fields whether to go on ([`parse_feed_within`]), so a
//!   poll can bound the time one feed takes and stop it at shutdown; this module reads no clock.

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use feed_rs::model;
use regex::Regex;
use url::Url;

use crate::domain::{Item, ItemKey, canonical_link};
use crate::text::html_to_text;

mod dates;

/// A parsed feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFeed {
    /// Feed title (plain text), if any.
    pub title: Option<String>,
    /// Entries in document order, deduplicated by key (first occurrence wins).
    pub items: Vec<Item>,
    /// The character encoding the body was decoded from (an encoding_rs name such as
    /// `"windows-1251"`), for diagnostics: garbled titles usually mean a wrong guess here.
    pub encoding: &'static str,
    /// The document repeats a GUID on items with different links: its items were keyed by
    /// link instead (see [`rekey_by_link`]).
    pub guids_unreliable: bool,
    /// RSS `<ttl>`: how long the feed may be cached.
    pub ttl: Option<std::time::Duration>,
    /// RSS `<skipHours>`: hours (0–23, UTC) in which the publisher asks not to be polled.
    pub skip_hours: Vec<u32>,
    /// RSS `<skipDays>`.
    pub skip_days: Vec<chrono::Weekday>,
    /// What was repaired to read this feed, in the order applied; empty for a well-formed,
    /// correctly labelled document.
    pub recoveries: Vec<Recovery>,
}

/// A repair applied to a broken feed so that it could be read, as lenient parsers do. Each is
/// reported by `feedwatch parse` and counted over the corpus in CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Recovery {
    /// No usable encoding label and invalid UTF-8: the encoding was guessed from the bytes.
    EncodingGuessed,
    /// UTF-32 (by its BOM or its first bytes), which encoding_rs does not decode.
    Utf32,
    /// Whitespace, a byte-order mark or a comment came before the XML declaration (which must
    /// be the very first thing in a document: XML 1.0 §2.8).
    TextBeforeDeclaration,
    /// A second XML declaration later in the document was dropped (quick-xml panics on one).
    LaterDeclaration,
    /// HTML entity references XML does not define (`&nbsp;`, `&mdash;`, …) were replaced by
    /// the characters they name.
    HtmlEntities,
    /// `&` not starting a reference was escaped.
    BareAmpersands,
    /// An `<rss>` root without a `version` (or with one feed-rs does not know, such as 0.93
    /// or 2.01) was read as RSS 2.0.
    RssVersion,
}

impl Recovery {
    /// Every recovery, in the order of [`Ord`].
    pub const ALL: [Recovery; 7] = [
        Recovery::EncodingGuessed,
        Recovery::Utf32,
        Recovery::TextBeforeDeclaration,
        Recovery::LaterDeclaration,
        Recovery::HtmlEntities,
        Recovery::BareAmpersands,
        Recovery::RssVersion,
    ];

    /// Stable name, as `feedwatch parse` prints it (also in `--json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Recovery::EncodingGuessed => "encoding-guessed",
            Recovery::Utf32 => "utf-32",
            Recovery::TextBeforeDeclaration => "text-before-declaration",
            Recovery::LaterDeclaration => "later-declaration",
            Recovery::HtmlEntities => "html-entities",
            Recovery::BareAmpersands => "bare-ampersands",
            Recovery::RssVersion => "rss-version",
        }
    }
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// Parsing and normalizing took longer than the time one feed is allowed.
    #[error(
        "parsing took longer than the {} allowed per feed (huge or deeply nested HTML?); none of its items were read",
        humantime::format_duration(*.limit)
    )]
    TooSlow {
        /// The time allowed.
        limit: std::time::Duration,
    },
    /// Parsing was stopped because feedwatch is shutting down.
    #[error("parsing stopped: feedwatch is shutting down")]
    Stopped,
}

/// Asked by [`parse_feed_within`] between entries and between fields: `Err` stops parsing
/// with that error. The caller decides (a deadline, a shutdown flag).
pub type GoOn<'a> = &'a dyn Fn() -> Result<(), ParseError>;

/// Parses `body` fetched from `base` (used to resolve relative links). `content_type` is the
/// HTTP `Content-Type` header, whose charset is used when the document does not name its own
/// encoding and the bytes are not UTF-8.
pub fn parse_feed(
    body: &[u8],
    content_type: Option<&str>,
    base: &Url,
) -> Result<ParsedFeed, ParseError> {
    parse_feed_within(body, content_type, base, &|| Ok(()))
}

/// [`parse_feed`], asking `go_on` before each costly step (each parse attempt, each entry,
/// each text field) and stopping with its error. Each step's work is bounded, so the time past
/// a refusal is too.
pub fn parse_feed_within(
    body: &[u8],
    content_type: Option<&str>,
    base: &Url,
    go_on: GoOn<'_>,
) -> Result<ParsedFeed, ParseError> {
    let mut recoveries = Vec::new();
    let (text, encoding) = decode(body, content_type, &mut recoveries);
    let text = match replace_html_entities(&text) {
        Some(replaced) => {
            recoveries.push(Recovery::HtmlEntities);
            replaced
        }
        None => text,
    };
    go_on()?;
    let feed = match parse_guarded(&text, base) {
        Ok(feed) => feed,
        Err(first) => {
            let versioned = set_rss_version(&text);
            let repaired = escape_bare_ampersands(&versioned);
            if matches!(versioned, Cow::Owned(_)) {
                recoveries.push(Recovery::RssVersion);
            }
            if repaired != *versioned {
                recoveries.push(Recovery::BareAmpersands);
            }
            if repaired == text {
                return Err(first);
            }
            go_on()?;
            parse_guarded(&repaired, base).map_err(|_| first)?
        }
    };
    let mut parsed = normalize(feed, encoding, go_on)?;
    (parsed.skip_hours, parsed.skip_days) = skip_hints(&text);
    recoveries.sort_unstable();
    parsed.recoveries = recoveries;
    Ok(parsed)
}

static SKIP_HOURS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)<skipHours>(.*?)</skipHours>").expect("static regex is valid")
});
static SKIP_DAYS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)<skipDays>(.*?)</skipDays>").expect("static regex is valid")
});
static HOUR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)<hour>\s*(\d{1,2})\s*</hour>").expect("static regex is valid")
});
static DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)<day>\s*([A-Za-z]+)\s*</day>").expect("static regex is valid")
});

/// The first word [`HOUR_OR_DAY`] looks for: its patterns are this word's case forms, then
/// `day`'s.
const HOUR_WORD: &str = "hour";
/// How many case forms [`ascii_case_forms`] gives [`HOUR_WORD`]: one per upper/lower choice of
/// each letter.
const HOUR_FORMS: usize = 1 << HOUR_WORD.len();

/// `hour` and `day` in every ASCII case (the [`HOUR_FORMS`] forms of `hour` first): what
/// [`skip_hints`] looks for before it runs its regexes. Spelled out rather than
/// `ascii_case_insensitive`, which leaves aho-corasick without its SIMD prefilter: that scan
/// cost more than the regexes it was to spare.
static HOUR_OR_DAY: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    // Leftmost-first: the SIMD ("packed") prefilter serves leftmost searches only.
    aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .build([HOUR_WORD, "day"].iter().flat_map(|w| ascii_case_forms(w)))
        .expect("static patterns are valid")
});

/// Every upper/lower-case form of the ASCII word `word`, all lower case first.
fn ascii_case_forms(word: &str) -> Vec<String> {
    let bytes = word.as_bytes();
    (0..1u32 << bytes.len())
        .map(|mask| {
            (bytes.iter().enumerate())
                .map(|(i, b)| match mask & (1 << i) {
                    0 => char::from(b.to_ascii_lowercase()),
                    _ => char::from(b.to_ascii_uppercase()),
                })
                .collect()
        })
        .collect()
}

/// Whether `text` has `hour`, and whether it has `day`, in any ASCII case.
fn hour_or_day(text: &str) -> (bool, bool) {
    let (mut hour, mut day) = (false, false);
    for m in HOUR_OR_DAY.find_iter(text) {
        let is_hour = m.pattern().as_usize() < HOUR_FORMS;
        hour |= is_hour;
        day |= !is_hour;
        if hour && day {
            break;
        }
    }
    (hour, day)
}

/// RSS 2.0 `<skipHours>` / `<skipDays>` (feed-rs does not model them). Hours are GMT, 0–23.
fn skip_hints(text: &str) -> (Vec<u32>, Vec<chrono::Weekday>) {
    // Two case-insensitive regex passes over every document cost more than the hints are
    // worth when there are none: a document without `hour` (in any case) has no `<skipHours>`,
    // one without `day` no `<skipDays>`. (`s` and `k` also match `ſ` and the Kelvin sign under
    // Unicode case folding; `hour` and `day` have no such letters.)
    let (has_hour, has_day) = hour_or_day(text);
    let hours = has_hour
        .then(|| SKIP_HOURS.captures(text))
        .flatten()
        .map(|c| {
            HOUR.captures_iter(&c[1])
                .filter_map(|h| h[1].parse::<u32>().ok())
                .filter(|h| *h < 24)
                .collect()
        })
        .unwrap_or_default();
    let days = has_day
        .then(|| SKIP_DAYS.captures(text))
        .flatten()
        .map(|c| {
            DAY.captures_iter(&c[1])
                .filter_map(|d| d[1].parse::<chrono::Weekday>().ok())
                .collect()
        })
        .unwrap_or_default();
    (hours, days)
}

/// Re-keys items by their canonical link (items without a link keep their key), for feeds
/// whose GUIDs cannot be trusted.
pub fn rekey_by_link(items: &mut [Item]) {
    for item in items {
        if let Some(link) = item.link.as_deref() {
            item.key = ItemKey::from_link(&canonical_link(link));
        }
    }
}

fn parse_guarded(text: &str, base: &Url) -> Result<model::Feed, ParseError> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(base.as_str()))
        // An empty id means "the feed gave none": we compute our own key instead of trusting
        // feed-rs' generated ids (random UUIDs when there is no link).
        .id_generator(|_, _, _| String::new())
        // feed-rs' own reading of dates, quicker for the usual shapes (see `dates`).
        .timestamp_parser(dates::parse_timestamp)
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

/// The XML declaration, which may follow whitespace and comments (not well-formed, but common
/// enough: every feedparser test file starts with a comment). `<?xml-stylesheet` is not one.
static XML_DECL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^(?:\s|\x{FEFF}|<!--(?s:.*?)-->)*<\?xml\s[^>]*?\?>"#)
        .expect("static regex is valid")
});
/// An entity reference (group 2: its name) outside CDATA sections and comments (group 1, kept
/// as is: a reference quoted there is text).
static ENTITY_REF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?s)(<!\[CDATA\[.*?\]\]>|<!--.*?-->)|&([A-Za-z][A-Za-z0-9]{1,31});"#)
        .expect("static regex is valid")
});
/// A later `<?xml … ?>` declaration in markup (group 0 only), or a CDATA section or comment
/// (group 1), which is kept as is: a declaration quoted there is content, not markup.
static LATER_DECL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?s)(<!\[CDATA\[.*?\]\]>|<!--.*?-->)|<\?xml\s[^>]*?\?>"#)
        .expect("static regex is valid")
});
static DECL_ENCODING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']"#).expect("static regex is valid")
});
/// The first `<rss …>` start tag (group 1: its attributes).
static RSS_ROOT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<rss(\s[^>]*)?>").expect("static regex is valid"));
/// The `version` attribute among a start tag's attributes (group 2: its value).
static RSS_VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\sversion\s*=\s*(["'])([^"']*)["']"#).expect("static regex is valid")
});
static BARE_AMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"&([^#A-Za-z]|[A-Za-z][A-Za-z0-9]*[^A-Za-z0-9;]|#[0-9]*[^0-9;]|#x[0-9a-fA-F]*[^0-9a-fA-F;])")
        .expect("static regex is valid")
});

/// How far into the body the XML declaration is looked for (it may follow a comment).
const DECLARATION_WINDOW: usize = 2048;

/// Decodes to UTF-8 and drops the XML declaration so the parser sees one consistent encoding.
/// Returns the text and the encoding used.
///
/// Labels are often wrong in practice (a server default `charset=ISO-8859-1` on a UTF-8 file, a
/// copied `encoding="utf-8"` on a windows-1251 one), so the bytes get a say:
/// 1. a byte-order mark wins; UTF-16 without one is recognised by `<?` (XML 1.0 Appendix F);
/// 2. bytes that are valid UTF-8 and not pure ASCII are UTF-8 whatever the labels say: legacy
///    text is practically never valid UTF-8 beyond a few characters;
/// 3. otherwise the first label that names an encoding: the document's own declaration, then
///    the HTTP charset (the document is more specific than a server-wide default);
/// 4. no usable label and invalid UTF-8: UTF-8 if the valid multi-byte sequences outnumber the
///    broken ones (a damaged UTF-8 feed), else chardetng's guess (see [`sniff_legacy`]).
fn decode(
    body: &[u8],
    content_type: Option<&str>,
    recoveries: &mut Vec<Recovery>,
) -> (String, &'static Encoding) {
    // Before the BOM check: the UTF-32LE BOM begins with the UTF-16LE one.
    if let Some(text) = decode_utf32(body) {
        recoveries.push(Recovery::Utf32);
        // Reported as UTF-16: encoding_rs has no UTF-32 to name (diagnostics only).
        return (strip_declarations(&text, recoveries), UTF_16LE);
    }
    let (enc, skip) = match Encoding::for_bom(body) {
        Some((enc, bom_len)) => (enc, bom_len),
        None if body.starts_with(&[0, b'<', 0, b'?']) => (UTF_16BE, 0),
        None if body.starts_with(&[b'<', 0, b'?', 0]) => (UTF_16LE, 0),
        None => choose_encoding(body, content_type, recoveries),
    };
    let (text, _) = enc.decode_without_bom_handling(&body[skip..]);
    (strip_declarations(&text, recoveries), enc)
}

/// UTF-32 recognised by its BOM or by a `<` as the first code unit (XML 1.0 Appendix F), as
/// feedparser does; `None` for anything else. Invalid code points become U+FFFD.
fn decode_utf32(body: &[u8]) -> Option<String> {
    let big_endian = match body {
        [0, 0, 0xFE, 0xFF, ..] | [0, 0, 0, b'<', ..] => true,
        [0xFF, 0xFE, 0, 0, ..] | [b'<', 0, 0, 0, ..] => false,
        _ => return None,
    };
    let text = body
        .chunks_exact(4)
        .map(|c| {
            let unit = [c[0], c[1], c[2], c[3]];
            let code = if big_endian {
                u32::from_be_bytes(unit)
            } else {
                u32::from_le_bytes(unit)
            };
            char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
        })
        .collect::<String>();
    Some(text.trim_start_matches('\u{FEFF}').to_string())
}

/// The encoding of a body without a BOM, and how many bytes to skip (none).
fn choose_encoding(
    body: &[u8],
    content_type: Option<&str>,
    recoveries: &mut Vec<Recovery>,
) -> (&'static Encoding, usize) {
    let head = String::from_utf8_lossy(&body[..body.len().min(DECLARATION_WINDOW)]);
    let declared = XML_DECL
        .find(&head)
        .and_then(|m| DECL_ENCODING.captures(m.as_str()))
        .and_then(|c| Encoding::for_label(c[1].as_bytes()));
    let from_header = content_type
        .and_then(charset_param)
        .and_then(|c| Encoding::for_label(c.as_bytes()));
    // A UTF-16 label on a body without a BOM or `<\0?\0` is a mislabelled ASCII-based file.
    let mut labels = [declared, from_header]
        .into_iter()
        .flatten()
        .map(Encoding::output_encoding);
    let enc = match std::str::from_utf8(body) {
        // Pure ASCII reads the same in every ASCII-based label; only a 7-bit encoding such as
        // ISO-2022-JP decodes it differently, so the label is still honoured.
        Ok(_) if body.is_ascii() => labels.next().unwrap_or(UTF_8),
        Ok(_) => UTF_8,
        Err(_) => labels.find(|e| *e != UTF_8).unwrap_or_else(|| {
            recoveries.push(Recovery::EncodingGuessed);
            if mostly_utf8(body) {
                UTF_8
            } else {
                sniff_legacy(body)
            }
        }),
    };
    (enc, 0)
}

/// Invalid UTF-8 that still has more valid multi-byte characters than broken sequences.
fn mostly_utf8(body: &[u8]) -> bool {
    let (mut good, mut bad) = (0usize, 0usize);
    for chunk in body.utf8_chunks() {
        good += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        bad += usize::from(!chunk.invalid().is_empty());
    }
    good > bad
}

/// A guess for unlabelled, non-UTF-8 bytes, by chardetng (the detector Firefox uses for
/// unlabelled legacy pages): it tells windows-1251 from KOI8-R, and Greek, Hebrew, CJK and Thai
/// from Western text; the fallback is windows-1252, which decodes every byte (never an error).
fn sniff_legacy(body: &[u8]) -> &'static Encoding {
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(body, true);
    detector.guess(None, chardetng::Utf8Detection::Deny)
}

/// Drops the declaration (the text is UTF-8 now, whatever it said) and any later one, on which
/// quick-xml panics (shared/reference/dependencies.md §2); a declaration anywhere but at the
/// start is not well-formed XML anyway. Whitespace and stray BOMs before the root go too.
fn strip_declarations(text: &str, recoveries: &mut Vec<Recovery>) -> String {
    let rest = match XML_DECL.find(text) {
        Some(m) => {
            if !m.as_str().starts_with("<?xml") {
                recoveries.push(Recovery::TextBeforeDeclaration);
            }
            &text[m.end()..]
        }
        None => text,
    };
    let mut later = false;
    let stripped = drop_later_declarations(rest, &mut later);
    if later {
        recoveries.push(Recovery::LaterDeclaration);
    }
    stripped
        .trim_start_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}')
        .to_string()
}

/// `text` without its XML declarations (CDATA sections and comments are content); sets `later`
/// if it had any.
fn drop_later_declarations<'a>(text: &'a str, later: &mut bool) -> Cow<'a, str> {
    // Almost every document has none: one substring search instead of a regex pass that
    // copies each CDATA section and comment it meets (issue 13's profile). Without `<?xml`
    // the regex finds nothing to drop (a test checks it).
    if !text.contains("<?xml") {
        return Cow::Borrowed(text);
    }
    LATER_DECL.replace_all(text, |c: &regex::Captures<'_>| match c.get(1) {
        Some(kept) => kept.as_str().to_string(),
        None => {
            *later = true;
            String::new()
        }
    })
}

/// Replaces references to entities HTML defines and XML does not (`&nbsp;`, `&mdash;`,
/// `&eacute;`, …) with numeric character references, as a browser or feedparser would read
/// them. Without this feed-rs keeps them as literal text (and as literal text in attributes
/// such as link URLs). Names neither language defines are left alone.
fn replace_html_entities(text: &str) -> Option<String> {
    if !maybe_html_entity(text) {
        return None;
    }
    replace_html_entities_slowly(text)
}

/// The entities XML defines itself: left as they are.
const XML_ENTITIES: [&str; 5] = ["amp", "lt", "gt", "quot", "apos"];

/// [`replace_html_entities`] without its quick scan: the regex pass over the whole document.
fn replace_html_entities_slowly(text: &str) -> Option<String> {
    let mut replaced = false;
    let out = ENTITY_REF.replace_all(text, |c: &regex::Captures<'_>| {
        let whole = c.get(0).map_or("", |m| m.as_str());
        let Some(name) = c.get(2).map(|m| m.as_str()) else {
            return whole.to_string();
        };
        if XML_ENTITIES.contains(&name) {
            return whole.to_string();
        }
        let chars = match markup5ever::data::NAMED_ENTITIES.get(&*format!("{name};")) {
            Some(&(first, 0)) if first != 0 => format!("&#{first};"),
            Some(&(first, second)) if first != 0 => format!("&#{first};&#{second};"),
            _ => return whole.to_string(),
        };
        replaced = true;
        chars
    });
    replaced.then(|| out.into_owned())
}

/// Whether `text` may hold an entity reference [`replace_html_entities`] replaces: a `&name;`
/// whose name is not one of [`XML_ENTITIES`]. A quick scan first, because feeds escape their
/// HTML (`&lt;p&gt;`), and a regex pass that matches every one of those rebuilt the whole
/// document for nothing (issue 13's profile). Over-approximates (CDATA and comments are not
/// skipped, any name length counts), never under (a test checks it): a `true` is decided by
/// the regex.
fn maybe_html_entity(text: &str) -> bool {
    // memchr's iterator rather than `match_indices('&')`: an escaped summary has a `&` every
    // few dozen bytes, and the str searcher's set-up per match cost more than the scan.
    memchr::memchr_iter(b'&', text.as_bytes()).any(|at| {
        let after = &text[at + 1..];
        let name_len = after.bytes().take_while(u8::is_ascii_alphanumeric).count();
        let name = &after[..name_len];
        name.starts_with(|c: char| c.is_ascii_alphabetic())
            && after[name_len..].starts_with(';')
            && !XML_ENTITIES.contains(&name)
    })
}

fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// feed-rs only recognises `<rss>` with `version="2.0"` (or 0.91/0.92); an `<rss>` root
/// without the attribute is common in hand-made feeds, and other versions (0.93, 0.94, 2.01)
/// are RSS 2.0 in all but name: both are read as RSS 2.0, as feedparser does.
fn set_rss_version(text: &str) -> Cow<'_, str> {
    let Some(c) = RSS_ROOT.captures(text) else {
        return Cow::Borrowed(text);
    };
    let root = c.get(0).expect("group 0 always matches");
    let attrs = c.get(1).map_or("", |a| a.as_str());
    match RSS_VERSION.captures(attrs) {
        None => {
            let at = root.start() + "<rss".len();
            Cow::Owned(format!("{} version=\"2.0\"{}", &text[..at], &text[at..]))
        }
        Some(v) if !["2.0", "0.91", "0.92", ""].contains(&&v[2]) => {
            let value = v.get(2).expect("group 2 always matches");
            // Offsets of the value in `text`: attributes start after `<rss`.
            let attrs_start = c.get(1).map_or(root.end(), |a| a.start());
            let (from, to) = (attrs_start + value.start(), attrs_start + value.end());
            Cow::Owned(format!("{}2.0{}", &text[..from], &text[to..]))
        }
        Some(_) => Cow::Borrowed(text),
    }
}

fn escape_bare_ampersands(text: &str) -> String {
    // Two passes: adjacent bare ampersands (`&&`) overlap the pattern.
    let once = BARE_AMP.replace_all(text, "&amp;$1");
    BARE_AMP.replace_all(&once, "&amp;$1").into_owned()
}

fn normalize(
    feed: model::Feed,
    encoding: &'static Encoding,
    go_on: GoOn<'_>,
) -> Result<ParsedFeed, ParseError> {
    let mut all: Vec<Item> = feed
        .entries
        .into_iter()
        .map(|e| normalize_entry(e, go_on))
        .collect::<Result<_, _>>()?;
    // The same GUID on items with different links: a CMS that stamps one id on everything.
    let mut links_by_guid: std::collections::HashMap<&ItemKey, &Option<String>> =
        std::collections::HashMap::new();
    let guids_unreliable = all.iter().any(|i| {
        i.key.is_guid()
            && links_by_guid
                .insert(&i.key, &i.link)
                .is_some_and(|prev| prev != &i.link)
    });
    if guids_unreliable {
        rekey_by_link(&mut all);
    }
    let mut seen = std::collections::HashSet::new();
    let items = all
        .into_iter()
        .filter(|i| seen.insert(i.key.clone()))
        .collect();
    go_on()?;
    Ok(ParsedFeed {
        guids_unreliable,
        ttl: feed
            .ttl
            .map(|m| std::time::Duration::from_secs(u64::from(m) * 60)),
        skip_hours: Vec::new(),
        skip_days: Vec::new(),
        recoveries: Vec::new(),
        encoding: encoding.name(),
        title: feed
            .title
            .map(|t| html_to_text(&t.content))
            .filter(|t| !t.is_empty()),
        items,
    })
}

fn normalize_entry(entry: model::Entry, go_on: GoOn<'_>) -> Result<Item, ParseError> {
    // Each conversion is bounded (text::MAX_HTML_BYTES, MAX_HTML_DEPTH); asking before each
    // bounds the time past a refusal to one field's worth.
    let text = |html: Option<&str>| -> Result<String, ParseError> {
        go_on()?;
        Ok(html.map(html_to_text).unwrap_or_default())
    };
    let title = text(entry.title.as_ref().map(|t| t.content.as_str()))?;
    let summary = text(entry.summary.as_ref().map(|t| t.content.as_str()))?;
    let content = text(entry.content.as_ref().and_then(|c| c.body.as_deref()))?;
    let link = pick_link(&entry.links);
    let guid = entry.id.trim();
    let key = if !guid.is_empty() {
        ItemKey::from_guid(guid)
    } else if let Some(link) = link.as_deref() {
        ItemKey::from_link_and_content(&canonical_link(link), &[&title, &summary, &content])
    } else {
        ItemKey::from_content(&[&title, &summary, &content])
    };
    Ok(Item {
        key,
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
        // Filled in by the pipeline for a feed with `fetch_article = true`.
        article: String::new(),
    })
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
        assert!(
            a.items[0]
                .key
                .as_str()
                .starts_with("link:http://example.org/a#"),
            "{}",
            a.items[0].key
        );
        assert!(
            a.items[1].key.as_str().starts_with("hash:"),
            "{}",
            a.items[1].key
        );
        assert_eq!(
            a.items.iter().map(|i| &i.key).collect::<Vec<_>>(),
            b.items.iter().map(|i| &i.key).collect::<Vec<_>>()
        );
    }

    /// A status page without GUIDs: every entry links to the one page.
    fn status_page(titles: &[&str]) -> String {
        let items: String = titles
            .iter()
            .map(|t| format!("<item><title>{t}</title><link>http://status.test/</link></item>"))
            .collect();
        format!(r#"<rss version="2.0"><channel><title>S</title>{items}</channel></rss>"#)
    }

    #[test]
    fn entries_without_guid_sharing_a_link_keep_their_own_stable_keys() {
        let key_of = |titles: &[&str], title: &str| {
            let f = parse_feed(status_page(titles).as_bytes(), None, &base()).expect("parses");
            assert_eq!(
                f.items.len(),
                titles.len(),
                "no entry is dropped as a duplicate"
            );
            f.items
                .into_iter()
                .find(|i| i.title == title)
                .map(|i| i.key)
                .expect("the entry is there")
        };
        let alone = key_of(&["all fine"], "all fine");
        let with_others = key_of(&["database down", "all fine"], "all fine");
        let last = key_of(&["login broken", "database down", "all fine"], "all fine");
        assert_eq!(alone, with_others, "other entries do not change a key");
        assert_eq!(alone, last);
        assert_ne!(
            key_of(&["database down", "all fine"], "database down"),
            alone
        );
    }

    #[test]
    fn entries_without_guid_sharing_a_link_and_title_differ_by_text() {
        let xml = r#"<rss version="2.0"><channel>
            <item><title>Update</title><link>http://live.test/</link><description>one</description></item>
            <item><title>Update</title><link>http://live.test/</link><description>two</description></item>
            <item><title>Update</title><link>http://live.test/</link><description>two</description></item>
            </channel></rss>"#;
        let f = parse_feed(xml.as_bytes(), None, &base()).expect("parses");
        let texts: Vec<&str> = f.items.iter().map(|i| i.summary.as_str()).collect();
        assert_eq!(texts, ["one", "two"], "an exact repeat is one entry");
    }

    #[test]
    fn guid_wins_over_link() {
        let xml = r#"<rss version="2.0"><channel><item><guid isPermaLink="false">abc-1</guid>
            <link>http://example.org/x</link><title>x</title></item></channel></rss>"#;
        let f = parse_feed(xml.as_bytes(), None, &base()).expect("parses");
        assert_eq!(f.items[0].key.as_str(), "guid:abc-1");
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
    fn second_xml_declaration_is_dropped_not_a_panic() {
        let (mut bytes, _, _) = encoding_rs::KOI8_R.encode(
            "<?xml version=\"1.0\" encoding=\"koi8-r\"?><rss version=\"2.0\"><channel><item><guid>1</guid><title>Кабул</title></item>",
        );
        bytes
            .to_mut()
            .extend_from_slice(b"<?xml version=\"1.0\" encoding=\"utf-8\"?></channel></rss>");
        let f =
            parse_feed(&bytes, None, &base()).expect("parses once the stray declaration is gone");
        assert_eq!(f.items[0].title, "Кабул");
    }

    #[test]
    fn declarations_in_cdata_and_comments_are_content() {
        let xml = r#"<?xml version="1.0"?><rss><!-- <?xml version="1.0"?> --><d><![CDATA[a <?xml version="1.0"?> b]]></d><?xml version="1.0" encoding="koi8-r"?></rss>"#;
        let mut recoveries = Vec::new();
        assert_eq!(
            strip_declarations(xml, &mut recoveries),
            r#"<rss><!-- <?xml version="1.0"?> --><d><![CDATA[a <?xml version="1.0"?> b]]></d></rss>"#
        );
        assert_eq!(recoveries, [Recovery::LaterDeclaration]);
    }

    fn utf32(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let bom = bom.then_some('\u{FEFF}');
        bom.into_iter()
            .chain(text.chars())
            .flat_map(|c| {
                let c = u32::from(c);
                if big_endian {
                    c.to_be_bytes()
                } else {
                    c.to_le_bytes()
                }
            })
            .collect()
    }

    /// One row per broken-but-readable shape: the body, the title that must come out, and the
    /// recoveries that must be reported.
    #[test]
    fn broken_feeds_are_recovered_and_the_recovery_is_reported() {
        let item = |title: &str| {
            format!("<channel><item><guid>1</guid><title>{title}</title></item></channel></rss>")
        };
        let rss2 = |title: &str| format!("<rss version=\"2.0\">{}", item(title));
        let decl = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";
        let cp1251 = encoding_rs::WINDOWS_1251
            .encode(&rss2(CYRILLIC))
            .0
            .into_owned();
        let cases: Vec<(&str, Vec<u8>, &str, Vec<Recovery>)> = vec![
            ("well-formed", rss2("plain").into_bytes(), "plain", vec![]),
            (
                "html entities undefined in xml",
                rss2("A&nbsp;B &mdash; caf&eacute;").into_bytes(),
                "A B — café",
                vec![Recovery::HtmlEntities],
            ),
            (
                "html entity in cdata is html, not a recovery",
                rss2("<![CDATA[a&nbsp;b &mdash; c]]>").into_bytes(),
                "a b — c",
                vec![],
            ),
            (
                "whitespace before the declaration",
                format!("\n  \t{decl}{}", rss2("ws")).into_bytes(),
                "ws",
                vec![Recovery::TextBeforeDeclaration],
            ),
            (
                "a bom after whitespace before the declaration",
                format!("\n\u{FEFF}{decl}{}", rss2("bom")).into_bytes(),
                "bom",
                vec![Recovery::TextBeforeDeclaration],
            ),
            (
                "a second declaration",
                format!("{decl}{}{decl}", rss2("twice")).into_bytes(),
                "twice",
                vec![Recovery::LaterDeclaration],
            ),
            (
                "rss 0.93",
                format!("<rss version='0.93'>{}", item("old")).into_bytes(),
                "old",
                vec![Recovery::RssVersion],
            ),
            (
                "rss without version and a bare ampersand",
                format!("<rss>{}", item("Tom & Jerry")).into_bytes(),
                "Tom & Jerry",
                vec![Recovery::BareAmpersands, Recovery::RssVersion],
            ),
            (
                "undeclared windows-1251",
                cp1251,
                CYRILLIC,
                vec![Recovery::EncodingGuessed],
            ),
            (
                "utf-32 little-endian with a bom",
                utf32(&format!("{decl}{}", rss2(CYRILLIC)), false, true),
                CYRILLIC,
                vec![Recovery::Utf32],
            ),
            (
                "utf-32 big-endian without a bom",
                utf32(&rss2(CYRILLIC), true, false),
                CYRILLIC,
                vec![Recovery::Utf32],
            ),
        ];
        for (name, body, title, recoveries) in cases {
            let f = parse_feed(&body, None, &base()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(f.items[0].title, title, "{name}");
            assert_eq!(f.recoveries, recoveries, "{name}");
        }
    }

    #[test]
    fn html_entities_in_attributes_are_resolved() {
        let xml = r#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><title>t</title>
            <link href="http://example.org/caf&eacute;?a=1&amp;b=2"/></entry></feed>"#;
        let f = parse_feed(xml.as_bytes(), None, &base()).expect("parses");
        assert_eq!(
            f.items[0].link.as_deref(),
            Some("http://example.org/caf%C3%A9?a=1&b=2")
        );
        assert_eq!(f.recoveries, [Recovery::HtmlEntities]);
    }

    #[test]
    fn unknown_entity_names_are_left_alone() {
        for text in [
            "&bogus; &amp; &lt;",
            "no entities",
            "<![CDATA[&nbsp;]]><!-- &mdash; -->",
        ] {
            assert_eq!(replace_html_entities(text), None, "{text}");
        }
    }

    const CYRILLIC: &str = "Будни Кошкиного Дома: московский формат";

    fn rss_with_title(title: &str) -> String {
        format!(
            "<rss version=\"2.0\"><channel><title>Лента</title><item><guid>1</guid><title>{title}</title>\
             <description>Ещё немного текста о переговорах в Москве</description></item></channel></rss>"
        )
    }

    /// One row per way the encoding can be stated (or misstated). Each case: the body's real
    /// encoding, a prefix (declaration or comment) to encode with it, the HTTP Content-Type,
    /// and the encoding `decode` must pick.
    #[test]
    fn encoding_is_found_from_bytes_and_labels() {
        use encoding_rs::{KOI8_R, SHIFT_JIS, WINDOWS_1251};
        let cases: [(&str, &'static Encoding, &str, Option<&str>, &str); 10] = [
            (
                "windows-1251 named only by the http charset",
                WINDOWS_1251,
                "",
                Some("application/rss+xml; charset=windows-1251"),
                "windows-1251",
            ),
            (
                "windows-1251 with a quoted http charset",
                WINDOWS_1251,
                "",
                Some("text/xml; Charset=\"cp1251\""),
                "windows-1251",
            ),
            (
                // chardetng names KOI8-U, the superset: Russian text decodes identically.
                "koi8-r without any label is sniffed",
                KOI8_R,
                "",
                None,
                "KOI8-U",
            ),
            (
                "shift_jis without any label is sniffed",
                SHIFT_JIS,
                "",
                None,
                "Shift_JIS",
            ),
            (
                "windows-1251 without any label is sniffed",
                WINDOWS_1251,
                "",
                None,
                "windows-1251",
            ),
            (
                "windows-1251 wrongly declared utf-8, http charset right",
                WINDOWS_1251,
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
                Some("text/xml; charset=windows-1251"),
                "windows-1251",
            ),
            (
                "windows-1251 wrongly declared utf-8, no header: sniffed",
                WINDOWS_1251,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                None,
                "windows-1251",
            ),
            (
                "utf-8 body beats a server-default latin-1 charset",
                UTF_8,
                "",
                Some("text/xml; charset=ISO-8859-1"),
                "UTF-8",
            ),
            (
                "declaration after a leading comment",
                KOI8_R,
                "<!-- generated -->\n<?xml version=\"1.0\" encoding=\"koi8-r\"?>",
                Some("text/xml; charset=utf-8"),
                "KOI8-R",
            ),
            (
                "shift_jis label honoured for non-utf-8 bytes",
                SHIFT_JIS,
                "<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>",
                None,
                "Shift_JIS",
            ),
        ];
        for (name, real, prefix, content_type, want) in cases {
            let title = if real == SHIFT_JIS {
                "東京の天気は晴れ、午後から雨が降るでしょう。外務省は本日、会談の日程を発表した。"
            } else {
                CYRILLIC
            };
            let text = format!("{prefix}{}", rss_with_title(title));
            let (bytes, _, unmappable) = real.encode(&text);
            assert!(!unmappable, "{name}: test text fits {}", real.name());
            let f =
                parse_feed(&bytes, content_type, &base()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(f.encoding, want, "{name}");
            assert_eq!(f.items[0].title, title, "{name}");
        }
    }

    #[test]
    fn unlabelled_latin_text_falls_back_to_windows_1252() {
        // The Cyrillic description becomes numeric character references, which is still valid XML.
        let text = rss_with_title("Café crème à Zürich – “quoted”");
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
        let f = parse_feed(&bytes, None, &base()).expect("parses");
        assert_eq!(f.encoding, "windows-1252");
        assert_eq!(f.items[0].title, "Café crème à Zürich – “quoted”");
    }

    #[test]
    fn damaged_utf8_stays_utf8() {
        let mut bytes = rss_with_title(CYRILLIC).into_bytes();
        let at = bytes.len() - 40;
        bytes.insert(at, 0xFF);
        let f = parse_feed(&bytes, None, &base()).expect("parses");
        assert_eq!(f.encoding, "UTF-8");
        assert_eq!(f.items[0].title, CYRILLIC);
    }

    #[test]
    fn utf16_without_bom_is_recognised_by_its_first_bytes() {
        let text = format!(
            "<?xml version=\"1.0\" encoding=\"utf-16\"?>{}",
            rss_with_title(CYRILLIC)
        );
        for (name, big_endian) in [("big-endian", true), ("little-endian", false)] {
            let bytes: Vec<u8> = text
                .encode_utf16()
                .flat_map(|u| {
                    if big_endian {
                        u.to_be_bytes()
                    } else {
                        u.to_le_bytes()
                    }
                })
                .collect();
            let f = parse_feed(&bytes, None, &base()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(f.items[0].title, CYRILLIC, "{name}");
        }
    }

    #[test]
    fn rss_root_without_version_is_read_as_rss_2() {
        let xml = r#"<!-- hand-made --><rss><channel><item><guid>1</guid><title>x</title></item></channel></rss>"#;
        let f = parse_feed(xml.as_bytes(), None, &base()).expect("repaired");
        assert_eq!(f.items[0].title, "x");
    }

    #[test]
    fn html_entities_and_tags_become_plain_text() {
        let xml = r#"<rss version="2.0"><channel><item><guid>1</guid><title>A&amp;B</title>
            <description>&lt;p&gt;so-called &lt;b&gt;Moscow&lt;/b&gt;&amp;nbsp;format&lt;/p&gt;</description></item></channel></rss>"#;
        let f = parse_feed(xml.as_bytes(), None, &base()).expect("parses");
        assert_eq!(f.items[0].summary, "so-called Moscow format");
    }

    #[test]
    fn parsing_stops_at_the_first_refusal_with_that_error() {
        let items: String = (0..5)
            .map(|i| {
                format!(
                    "<item><guid>{i}</guid><title>t{i}</title><description>d</description></item>"
                )
            })
            .collect();
        let xml = format!("<rss version=\"2.0\"><channel>{items}</channel></rss>");
        let asked = std::cell::Cell::new(0);
        let unlimited = parse_feed_within(xml.as_bytes(), None, &base(), &|| {
            asked.set(asked.get() + 1);
            Ok(())
        })
        .expect("parses");
        assert_eq!(unlimited.items.len(), 5);
        // Once before the parse, once per field of each entry, once at the end.
        assert_eq!(asked.get(), 1 + 5 * 3 + 1);
        for stop_at in [1, 2, 9, 17] {
            let asked = std::cell::Cell::new(0);
            let limit = std::time::Duration::from_secs(7);
            let refused = parse_feed_within(xml.as_bytes(), None, &base(), &|| {
                asked.set(asked.get() + 1);
                if asked.get() >= stop_at {
                    Err(ParseError::TooSlow { limit })
                } else {
                    Ok(())
                }
            });
            assert!(
                matches!(refused, Err(ParseError::TooSlow { .. })),
                "stop at {stop_at}: {refused:?}"
            );
            assert_eq!(asked.get(), stop_at, "nothing is asked after a refusal");
        }
        assert_eq!(
            ParseError::TooSlow {
                limit: std::time::Duration::from_secs(7)
            }
            .to_string(),
            "parsing took longer than the 7s allowed per feed (huge or deeply nested HTML?); none of its items were read"
        );
    }

    #[test]
    fn a_hundred_thousand_items_are_all_read_with_their_own_keys() {
        let items: String = (0..100_000)
            .map(|i| format!("<item><guid>g{i}</guid><title>Item {i}</title></item>"))
            .collect();
        let xml = format!("<rss version=\"2.0\"><channel>{items}</channel></rss>");
        let feed = parse_feed(xml.as_bytes(), None, &base()).expect("parses");
        assert_eq!(feed.items.len(), 100_000);
        let keys: std::collections::HashSet<_> = feed.items.iter().map(|i| &i.key).collect();
        assert_eq!(keys.len(), 100_000, "every item keeps its own key");
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
    fn the_quick_entity_scan_says_which_documents_may_hold_html_entities() {
        let cases = [
            (
                "escaped markup only",
                "&lt;p&gt;a &amp; b&lt;/p&gt; &quot;&apos;",
                false,
            ),
            ("an HTML entity", "a&nbsp;b", true),
            (
                "an HTML entity after escaped markup",
                "&lt;p&gt;caf&eacute;",
                true,
            ),
            ("a numeric reference", "&#233; &#xE9;", false),
            ("no semicolon", "AT&T and &nbsp", false),
            ("a name starting with a digit", "&1abc;", false),
            ("an unknown name (decided by the regex)", "&bogus;", true),
        ];
        for (name, text, may) in cases {
            assert_eq!(maybe_html_entity(text), may, "{name}");
        }
    }

    proptest::proptest! {
        /// The quick scans never skip work the regexes would do.
        #[test]
        fn the_quick_scans_skip_only_what_the_regexes_would_not_change(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "&", ";", "lt", "nbsp", "amp", "eacute", "x", "1", " ", "<![CDATA[", "]]>",
                    "<!--", "-->", "<?xml", "<?xml ", "?>", "<skip", "<ſkip", "<SKIP", "\u{212A}",
                    "Hours>", "hours>", "HOUR", "Days>", "DAYS>", "day", "</skip", "é",
                ]),
                0..24,
            )
        ) {
            let text = parts.concat();
            if !maybe_html_entity(&text) {
                proptest::prop_assert_eq!(replace_html_entities_slowly(&text), None);
            }
            if !text.contains("<?xml") {
                let mut later = false;
                let kept = LATER_DECL.replace_all(&text, |c: &regex::Captures<'_>| {
                    c.get(1).map_or_else(|| { later = true; String::new() }, |k| k.as_str().into())
                });
                proptest::prop_assert_eq!(&kept, &text);
                proptest::prop_assert!(!later);
            }
            let (hour, day) = hour_or_day(&text);
            proptest::prop_assert!(hour || !SKIP_HOURS.is_match(&text));
            proptest::prop_assert!(day || !SKIP_DAYS.is_match(&text));
        }
    }

    #[test]
    fn ttl_and_skip_hints_are_read() {
        let xml = r#"<rss version="2.0"><channel><title>t</title><ttl>90</ttl>
            <skipHours><hour>0</hour><hour>1</hour><hour>23</hour><hour>99</hour></skipHours>
            <skipDays><day>Saturday</day><day>Sunday</day><day>Caturday</day></skipDays>
            <item><guid>1</guid><title>x</title></item></channel></rss>"#;
        let f = parse_feed(
            xml.as_bytes(),
            None,
            &Url::parse("http://127.0.0.1/f").expect("url"),
        )
        .expect("parses");
        assert_eq!(f.ttl, Some(std::time::Duration::from_secs(90 * 60)));
        assert_eq!(f.skip_hours, vec![0, 1, 23], "out-of-range hours dropped");
        assert_eq!(
            f.skip_days,
            vec![chrono::Weekday::Sat, chrono::Weekday::Sun]
        );
    }
}

//! Plain types shared by every pipeline stage: identities of feeds, items and alerts, a parsed
//! item, and the alert payload. No I/O and no behaviour beyond construction and hashing.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

/// A feed's identity: its configured URL as written (normalized by `url`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeedId(String);

impl FeedId {
    /// The identity of the feed configured at `url`.
    pub fn from_url(url: &Url) -> FeedId {
        FeedId(url.as_str().to_string())
    }

    /// As stored in the database.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// From a database row.
    pub fn from_stored(s: String) -> FeedId {
        FeedId(s)
    }
}

impl fmt::Display for FeedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An item's stable identity within its feed: the same story gives the same key on every poll.
///
/// Built from, in order of preference: the entry's own GUID/id, its canonical link with a hash
/// of its title and text, or that hash alone. Never from an id the parser invented. It stays this type until it
/// reaches SQL (the store converts it), so a key is never confused with other text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ItemKey(String);

impl ItemKey {
    /// `guid:<id>` from the entry's own identifier.
    pub fn from_guid(guid: &str) -> ItemKey {
        ItemKey(format!("guid:{guid}"))
    }

    /// `link:<url>` from the canonical link.
    pub fn from_link(link: &str) -> ItemKey {
        ItemKey(format!("link:{link}"))
    }

    /// `link:<url>#<sha256>`: the canonical link and a hash of the title and text, for an entry
    /// without a GUID. The link alone cannot tell apart the entries of a status page or a live
    /// blog, which all link to one page; the hash can, and it depends on nothing but the entry,
    /// so the same entry gets the same key on every poll whatever else the feed carries.
    /// (A canonical link has no fragment, so the `#` cannot be part of it.)
    pub fn from_link_and_content(link: &str, parts: &[&str]) -> ItemKey {
        ItemKey(format!("link:{link}#{}", hash_hex(parts)))
    }

    /// `hash:<sha256>` over the given parts (title, text).
    pub fn from_content(parts: &[&str]) -> ItemKey {
        ItemKey(format!("hash:{}", hash_hex(parts)))
    }

    /// From a database row.
    pub fn from_stored(s: String) -> ItemKey {
        ItemKey(s)
    }

    /// Built from the entry's own GUID/id (which a feed may reuse wrongly).
    pub fn is_guid(&self) -> bool {
        self.0.starts_with("guid:")
    }

    /// As stored in the database.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hex SHA-256 over parts separated by a byte that cannot occur in UTF-8 text.
pub fn hash_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0xff]);
    }
    let digest = h.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// One normalized feed entry, ready for matching and storage. All text is plain text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Stable key within the feed.
    pub key: ItemKey,
    /// Plain-text title.
    pub title: String,
    /// Absolute link to the story, if any.
    pub link: Option<String>,
    /// Plain-text summary / description.
    pub summary: String,
    /// Plain-text full content, when the feed carries it.
    pub content: String,
    /// Author names.
    pub authors: Vec<String>,
    /// Category / tag labels.
    pub categories: Vec<String>,
    /// Publication time (or last update when no publication time is given).
    pub published: Option<DateTime<Utc>>,
    /// The main text of the page `link` leads to, fetched for a feed with
    /// `fetch_article = true`; empty when not fetched or the fetch failed.
    #[serde(default)]
    pub article: String,
}

/// Longest item title an alert carries, in characters; a longer one is cut with `…`.
pub const ALERT_TITLE_CHARS: usize = 300;
/// Longest item summary an alert carries, in characters; a longer one is cut with `…`.
pub const ALERT_SUMMARY_CHARS: usize = 500;
/// Longest snippet an alert carries, in characters: a rule's snippet is about 120
/// (`rules::SNIPPET_CHARS`), a feed-health alert's is an error message; this is the backstop.
pub const ALERT_SNIPPET_CHARS: usize = 1000;
/// Longest item link an alert carries, in bytes. A longer link is left out, not cut: a cut
/// link leads nowhere, and one this long is a `data:` blob, not a page.
pub const ALERT_LINK_BYTES: usize = 8 * 1024;

/// One matched term of a rule and the excerpt it was found in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TermSnippet {
    /// The term as written in the query.
    pub term: String,
    /// About 120 chars of the item's text around the first occurrence.
    pub snippet: String,
    /// Byte ranges inside `snippet` to highlight: this term's occurrence, and those of the
    /// rule's other terms found in the same excerpt.
    #[serde(default)]
    pub highlights: Vec<(usize, usize)>,
}

/// One rule that matched a story, and every term of it that matched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleMatch {
    /// Rule name.
    pub rule: String,
    /// The rule's query as written.
    pub query: String,
    /// Each matched term with its excerpt, in the order the matcher reported them.
    pub terms: Vec<TermSnippet>,
}

impl RuleMatch {
    /// The matched terms, each once, as written in the query.
    pub fn matched(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in &self.terms {
            if !out.contains(&t.term) {
                out.push(t.term.clone());
            }
        }
        out
    }

    /// The excerpts to show, each once: terms found in the same excerpt share one line, with
    /// every highlight. Out-of-range highlights are dropped (the payload is read back from
    /// the database, not trusted).
    pub fn excerpts(&self) -> Vec<Excerpt<'_>> {
        let mut out: Vec<Excerpt<'_>> = Vec::new();
        for t in self.terms.iter().filter(|t| !t.snippet.is_empty()) {
            match out.iter_mut().find(|e| e.text == t.snippet) {
                Some(e) => {
                    e.terms.push(&t.term);
                    e.highlights.extend(t.highlights.iter().copied());
                }
                None => out.push(Excerpt {
                    text: &t.snippet,
                    terms: vec![&t.term],
                    highlights: t.highlights.clone(),
                }),
            }
        }
        out
    }
}

/// One excerpt of a story as a notifier shows it: the text, the terms found in it, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Excerpt<'a> {
    /// The excerpt.
    pub text: &'a str,
    /// The terms that matched in it, as written in the query.
    pub terms: Vec<&'a str>,
    /// Byte ranges to highlight.
    pub highlights: Vec<(usize, usize)>,
}

impl<'a> Excerpt<'a> {
    /// The text split into (text, highlighted) runs.
    pub fn runs(&self) -> Vec<(&'a str, bool)> {
        highlight_runs(self.text, &self.highlights)
    }
}

/// Another feed that carried the same story (the alert names it instead of alerting again).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Feed display name.
    pub feed_name: String,
    /// Feed URL (credentials masked).
    pub feed_url: String,
    /// The title that feed gave the story.
    pub title: String,
    /// That feed's link to the story.
    pub link: Option<String>,
}

/// How a notifier's alerts are grouped (`group = …` on a notifier).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grouping {
    /// `group = "story"` (the default): one alert per story, listing every rule that matched.
    #[default]
    Story,
    /// `group = "rule"`: one alert per story and rule, for people who file mail by rule.
    Rule,
}

impl Grouping {
    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::Story => "story",
            Grouping::Rule => "rule",
        }
    }
}

/// Everything a notifier needs to tell the user about one story. Stored as JSON in the outbox
/// row so delivery never has to look at feeds or items again. Built through
/// [`AlertPayload::clipped`], so an alert stays small whatever the feed sends.
///
/// `rule`, `query`, `matched`, `snippet` and `highlights` are the first rule's (all an alert
/// had before alerts were grouped by story, and what feed-health alerts still use); `rules`
/// holds every rule that matched, and is empty in alerts stored by older versions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertPayload {
    /// Rule name (the first rule's, when several matched).
    pub rule: String,
    /// The rule's query as written.
    pub query: String,
    /// The terms that matched, as written in the query (every rule's).
    pub matched: Vec<String>,
    /// Feed display name.
    pub feed_name: String,
    /// Feed URL.
    pub feed_url: String,
    /// Item title.
    pub title: String,
    /// Item link.
    pub link: Option<String>,
    /// Item publication time.
    pub published: Option<DateTime<Utc>>,
    /// A short plain-text excerpt around the first match.
    pub snippet: String,
    /// Byte ranges of matched terms inside `snippet`, for highlighting.
    #[serde(default)]
    pub highlights: Vec<(usize, usize)>,
    /// The item's plain-text summary (its lead), at most a few hundred characters.
    #[serde(default)]
    pub summary: String,
    /// Every rule that matched the story, with its terms and excerpts (empty: only `rule`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleMatch>,
    /// Other feeds that carried the story after it was queued.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
}

/// Rule name on feed-health alerts (a feed failing for too long, and its recovery): they are
/// about a feed, not an item, and have their own template.
pub const HEALTH_RULE: &str = "feed-health";

impl AlertPayload {
    /// Whether this is a feed-health alert rather than a rule's match.
    pub fn is_feed_health(&self) -> bool {
        self.rule == HEALTH_RULE && self.rules.is_empty()
    }

    /// This payload with the feed's text bounded: title, summary and snippet cut to
    /// [`ALERT_TITLE_CHARS`], [`ALERT_SUMMARY_CHARS`] and [`ALERT_SNIPPET_CHARS`], and a link
    /// longer than [`ALERT_LINK_BYTES`] left out (a 10 MB title must not make a 10 MB alert).
    pub fn clipped(mut self) -> AlertPayload {
        clip_chars(&mut self.title, ALERT_TITLE_CHARS);
        clip_chars(&mut self.summary, ALERT_SUMMARY_CHARS);
        if let Some(kept) = clip_chars(&mut self.snippet, ALERT_SNIPPET_CHARS) {
            self.highlights.retain(|&(_, end)| end <= kept);
        }
        for t in self.rules.iter_mut().flat_map(|r| r.terms.iter_mut()) {
            if let Some(kept) = clip_chars(&mut t.snippet, ALERT_SNIPPET_CHARS) {
                t.highlights.retain(|&(_, end)| end <= kept);
            }
        }
        if self
            .link
            .as_ref()
            .is_some_and(|l| l.len() > ALERT_LINK_BYTES)
        {
            self.link = None;
        }
        self
    }

    /// The item link if it is a web address (`http`/`https`): the only links notifiers make
    /// clickable. A feed's `javascript:` or `data:` "link" is shown, if at all, as text.
    pub fn web_link(&self) -> Option<&str> {
        let link = self.link.as_deref()?;
        Url::parse(link)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(|_| link)
    }

    /// The snippet split into (text, highlighted) runs; out-of-range or overlapping highlights
    /// are ignored rather than trusted.
    pub fn snippet_runs(&self) -> Vec<(&str, bool)> {
        highlight_runs(&self.snippet, &self.highlights)
    }

    /// Every rule that matched, with its terms: `rules`, or for an alert stored before alerts
    /// were grouped by story (and feed-health alerts) the one rule it names.
    pub fn rule_matches(&self) -> Vec<RuleMatch> {
        if !self.rules.is_empty() {
            return self.rules.clone();
        }
        let terms = if self.snippet.is_empty() && self.matched.is_empty() {
            Vec::new()
        } else {
            vec![TermSnippet {
                term: self.matched.join(", "),
                snippet: self.snippet.clone(),
                highlights: self.highlights.clone(),
            }]
        };
        vec![RuleMatch {
            rule: self.rule.clone(),
            query: self.query.clone(),
            terms,
        }]
    }

    /// The names of the rules that matched, in order.
    pub fn rule_names(&self) -> Vec<&str> {
        if self.rules.is_empty() {
            vec![self.rule.as_str()]
        } else {
            self.rules.iter().map(|r| r.rule.as_str()).collect()
        }
    }

    /// The payload for one story matched by `rules` (at least one; the first fills the
    /// single-rule fields). Not yet clipped.
    pub fn for_rules(base: AlertPayload, rules: Vec<RuleMatch>) -> AlertPayload {
        let mut p = base;
        if let Some(first) = rules.first() {
            p.rule = first.rule.clone();
            p.query = first.query.clone();
            if let Some(t) = first.terms.first() {
                p.snippet = t.snippet.clone();
                p.highlights = t.highlights.clone();
            }
        }
        p.matched = Vec::new();
        for term in rules.iter().flat_map(RuleMatch::matched) {
            if !p.matched.contains(&term) {
                p.matched.push(term);
            }
        }
        p.rules = rules;
        p
    }

    /// Adds what `other` (the same story, matched again: by other rules, or in another feed)
    /// knows that this alert does not: its rules, and its feed as another source. Returns
    /// whether anything was added.
    pub fn absorb(&mut self, other: &AlertPayload) -> bool {
        let mut rules = self.rule_matches();
        let before = (rules.len(), self.sources.len());
        for r in other.rule_matches() {
            if !rules.iter().any(|have| have.rule == r.rule) {
                rules.push(r);
            }
        }
        let source = Source {
            feed_name: other.feed_name.clone(),
            feed_url: other.feed_url.clone(),
            title: other.title.clone(),
            link: other.link.clone(),
        };
        let known = other.feed_url == self.feed_url
            || self.sources.iter().any(|s| s.feed_url == source.feed_url);
        if !known {
            self.sources.push(source);
        }
        let changed = (rules.len(), self.sources.len()) != before;
        if changed {
            let sources = std::mem::take(&mut self.sources);
            *self = AlertPayload::for_rules(self.clone(), rules);
            self.sources = sources;
        }
        changed
    }
}

/// `text` split into (text, highlighted) runs; out-of-range or overlapping highlights are
/// ignored rather than trusted.
fn highlight_runs<'a>(text: &'a str, highlights: &[(usize, usize)]) -> Vec<(&'a str, bool)> {
    let mut ranges: Vec<(usize, usize)> = highlights
        .iter()
        .copied()
        .filter(|&(a, b)| {
            a < b && b <= text.len() && text.is_char_boundary(a) && text.is_char_boundary(b)
        })
        .collect();
    ranges.sort_unstable();
    let mut out = Vec::new();
    let mut pos = 0;
    for (a, b) in ranges {
        if a < pos {
            continue;
        }
        if a > pos {
            out.push((&text[pos..a], false));
        }
        out.push((&text[a..b], true));
        pos = b;
    }
    if pos < text.len() {
        out.push((&text[pos..], false));
    }
    out
}

/// Cuts `s` to `max` chars, the last being `…`, when it is longer. Returns the byte length of
/// what was kept of the original (before the `…`), or `None` when nothing was cut.
fn clip_chars(s: &mut String, max: usize) -> Option<usize> {
    let (cut, _) = s.char_indices().nth(max)?;
    let kept = s[..cut]
        .char_indices()
        .nth(max.saturating_sub(1))
        .map_or(cut, |(i, _)| i);
    s.truncate(kept);
    s.push('…');
    Some(kept)
}

/// An alert as read back from the outbox, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Row id in the outbox.
    pub id: i64,
    /// Stable unique id (hex), used for Message-ID and idempotency keys.
    pub uid: String,
    /// Notifier name this alert goes to.
    pub notifier: String,
    /// How many delivery attempts have been made so far.
    pub attempts: u32,
    /// Unix seconds when the alert was queued.
    pub created_at: i64,
    /// Digest schedule label, when this alert is delivered in a digest.
    pub digest: Option<String>,
    /// What to say.
    pub payload: AlertPayload,
}

/// Where an alert is in the outbox. The store keeps it as text (`as_str`), which the schema
/// constrains to these four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// Queued, not yet attempted (or waiting for its digest).
    Pending,
    /// Failed transiently; another attempt is scheduled.
    Retry,
    /// Given up.
    Dead,
    /// Delivered.
    Sent,
}

impl AlertStatus {
    /// Every status, in the order listings and `--help` show them.
    pub const ALL: [AlertStatus; 4] = [
        AlertStatus::Pending,
        AlertStatus::Retry,
        AlertStatus::Dead,
        AlertStatus::Sent,
    ];

    /// The stored (and displayed) name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Pending => "pending",
            AlertStatus::Retry => "retry",
            AlertStatus::Dead => "dead",
            AlertStatus::Sent => "sent",
        }
    }

    /// The status named `s`, if it is one.
    pub fn from_name(s: &str) -> Option<AlertStatus> {
        AlertStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Not delivered yet and still to be attempted (`pending` or `retry`).
    pub fn is_undelivered(self) -> bool {
        matches!(self, AlertStatus::Pending | AlertStatus::Retry)
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new alert decided by the rules, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// Index of the item within the batch being ingested.
    pub item: usize,
    /// Notifier name.
    pub notifier: String,
    /// The story's identity across feeds (canonical link, else feed + item key): a rule alerts
    /// a notifier about one story once, however many feeds carry it.
    pub story: String,
    /// Digest schedule label when this alert waits for a digest instead of going out alone.
    pub digest: Option<String>,
    /// One alert for the story (with every rule in `payload.rules`), or one per rule.
    pub grouping: Grouping,
    /// The story's title and lead as a sketch, to recognise copies under other links
    /// (`None`: not compared, e.g. feed-health alerts or `[stories] window = "0s"`).
    pub sketch: Option<crate::similar::Sketch>,
    /// What to say.
    pub payload: AlertPayload,
}

/// An error and all its causes on one line: `fetch failed: request failed: connection refused`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let msg = c.to_string();
        // reqwest repeats its cause in its own message; do not print it twice.
        if !s.ends_with(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = c.source();
    }
    s
}

/// Whether `link` is certainly what [`canonical_link`] makes of it, decided without parsing:
/// `http(s)://` + a lowercase host name (or a dotted-quad IPv4 address) + an optional
/// non-default port + a non-empty path of characters the URL parser keeps as they are, with
/// no `.`/`..` segment (spelt plainly or percent-encoded) and no query or fragment. Anything
/// else takes the parser's way; a test checks both ways agree on what this accepts.
fn plainly_canonical(link: &str) -> bool {
    // Bytes and slice splits throughout, nothing allocated: this runs for every new item,
    // twice (issue 13's profile had it at 5 % of a first poll with a `Vec` of labels, a
    // lowercased copy of the path and `str` searches).
    let (rest, default_port) = if let Some(r) = link.strip_prefix("https://") {
        (r.as_bytes(), &b"443"[..])
    } else if let Some(r) = link.strip_prefix("http://") {
        (r.as_bytes(), &b"80"[..])
    } else {
        return false;
    };
    let Some(slash) = rest.iter().position(|&b| b == b'/') else {
        return false;
    };
    let (authority, path) = rest.split_at(slash);
    let (host, port) = match authority.iter().position(|&b| b == b':') {
        Some(colon) => (&authority[..colon], Some(&authority[colon + 1..])),
        None => (authority, None),
    };
    if let Some(p) = port {
        let plain_number = !p.is_empty()
            && p.len() <= 5
            && p.iter().all(u8::is_ascii_digit)
            && !p.starts_with(b"0")
            && p.iter()
                .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'))
                .le(&65_535);
        if !plain_number || p == default_port {
            return false;
        }
    }
    plain_host(host) && plain_path(path)
}

/// A lowercase DNS name of plain labels (no punycode, which the parser checks), or a plain
/// dotted-quad IPv4 address: a numeric last label makes the parser read an IPv4 address.
fn plain_host(host: &[u8]) -> bool {
    let plain_label = |l: &[u8]| {
        !l.is_empty()
            && !l.starts_with(b"xn--")
            && l.iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let labels = || host.split(|&b| b == b'.');
    if !labels().all(plain_label) {
        return false;
    }
    let last = labels().next_back().unwrap_or_default();
    if last.iter().all(u8::is_ascii_digit) {
        return labels().count() == 4
            && labels().all(|l| {
                l.iter().all(u8::is_ascii_digit)
                    && (l.len() == 1 || !l.starts_with(b"0"))
                    && l.len() <= 3
                    && l.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')) <= 255
            });
    }
    // `0x…` is a hexadecimal IPv4 part to the parser.
    !last.starts_with(b"0x")
}

/// The bytes a path keeps as they are besides `%`: letters, digits, `/` and RFC 3986's
/// unreserved and sub-delims characters, `:` and `@`. A table, read once per byte.
const PATH_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"-._~!$&'()*+,;=:@/";
    let mut i = 0;
    while i < others.len() {
        table[others[i] as usize] = true;
        i += 1;
    }
    table
};

/// A path the URL parser leaves as it is.
fn plain_path(path: &[u8]) -> bool {
    let chars_ok = path.iter().enumerate().all(|(i, &b)| {
        PATH_BYTES[usize::from(b)]
            // `%2e` (either case) is a percent-encoded `.`, which the parser reads as one.
            || (b == b'%'
                && path.get(i + 1..i + 3).is_some_and(|h| {
                    h.iter().all(u8::is_ascii_hexdigit) && !h.eq_ignore_ascii_case(b"2e")
                }))
    });
    chars_ok
        && path
            .split(|&b| b == b'/')
            .all(|seg| seg != b"." && seg != b"..")
}

/// Whether two tags are the same tag. Tags are case-insensitive everywhere (`tag:russia`
/// selects a feed tagged "Russia", as OPML folder names are typed by people): compared by their
/// lowercase forms, char by char so nothing is allocated on the config's hot loop.
pub fn same_tag(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Builders for tests of the stages that store and deliver items and alerts.
/// A link with its fragment and tracking parameters (`utm_*`, `fbclid`, `gclid`) removed, so
/// the same story gets the same key however it was linked.
pub fn canonical_link(link: &str) -> String {
    // Called several times per new item (known-item lookup, shared pages, story keys, the
    // stored link key); most links are already canonical, and URL parsing was 6 % of a first
    // poll's CPU (issue 13's profile).
    if plainly_canonical(link) {
        return link.to_string();
    }
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
pub(crate) mod fixtures {
    use chrono::{DateTime, Utc};

    use super::{AlertPayload, Item, ItemKey, NewAlert};

    /// The instant written as RFC 3339 (`2024-01-01T12:00:00Z`).
    pub fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("a valid RFC 3339 test time")
            .with_timezone(&Utc)
    }

    /// An undated item keyed `key`, linked to `http://example.org/KEY`, titled `title KEY`.
    pub fn item(key: &str) -> Item {
        Item {
            key: ItemKey::from_stored(key.to_string()),
            title: format!("title {key}"),
            link: Some(format!("http://example.org/{key}")),
            summary: String::new(),
            content: String::new(),
            authors: vec!["A".into()],
            categories: vec![],
            published: None,
            article: String::new(),
        }
    }

    /// An alert of rule `r` for batch item number `item`, to `notifier`, as its own story.
    pub fn alert(item: usize, notifier: &str) -> NewAlert {
        NewAlert {
            item,
            notifier: notifier.to_string(),
            story: format!("story-{item}"),
            digest: None,
            grouping: super::Grouping::Story,
            sketch: None,
            payload: AlertPayload {
                rule: "r".into(),
                query: "q".into(),
                matched: vec!["q".into()],
                feed_name: "f".into(),
                feed_url: "http://f/".into(),
                title: "t".into(),
                link: None,
                published: None,
                snippet: String::new(),
                highlights: vec![],
                summary: String::new(),
                rules: vec![],
                sources: vec![],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload_with(title: String, link: &str, snippet: &str) -> AlertPayload {
        let mut p = fixtures::alert(0, "n").payload;
        p.title = title;
        p.link = Some(link.to_string());
        p.snippet = snippet.to_string();
        p.highlights = vec![(0, 3), (snippet.len().saturating_sub(3), snippet.len())];
        p
    }

    #[test]
    fn a_ten_megabyte_title_gives_a_bounded_payload() {
        let huge = "Заголовок ".repeat(1_000_000);
        let p = payload_with(huge.clone(), "http://x/", &"word ".repeat(2_000)).clipped();
        assert_eq!(p.title.chars().count(), ALERT_TITLE_CHARS);
        assert!(p.title.ends_with('…') && huge.starts_with(p.title.trim_end_matches('…')));
        assert_eq!(p.snippet.chars().count(), ALERT_SNIPPET_CHARS);
        // The highlight past the cut is dropped, the one inside kept.
        assert_eq!(p.highlights, vec![(0, 3)]);
        assert!(serde_json::to_string(&p).expect("serializes").len() < 16 * 1024);
        let long_link = format!("data:text/html,{}", "a".repeat(ALERT_LINK_BYTES));
        assert_eq!(
            payload_with("t".into(), &long_link, "s").clipped().link,
            None
        );
    }

    #[test]
    fn short_fields_are_kept_as_they_are() {
        let p = payload_with("Title".into(), "http://x/a", "abc def ghi");
        assert_eq!(p.clone().clipped(), p);
    }

    #[test]
    fn only_http_and_https_links_are_web_links() {
        let cases: &[(&str, bool)] = &[
            ("http://news.test/a?x=1&y=2", true),
            ("HTTPS://news.test/", true),
            ("javascript:alert(document.cookie)", false),
            ("JavaScript:alert(1)", false),
            ("java\tscript:alert(1)", false),
            (" javascript:alert(1)", false),
            ("data:text/html;base64,PHNjcmlwdD4=", false),
            ("vbscript:msgbox(1)", false),
            ("file:///etc/passwd", false),
            ("/relative/path", false),
            ("mailto:a@b.c", false),
        ];
        for (link, web) in cases {
            let p = payload_with("t".into(), link, "s");
            assert_eq!(p.web_link().is_some(), *web, "{link:?}");
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

    /// What the URL parser makes of a link without query or fragment (the slow way of
    /// [`canonical_link`] for the links [`plainly_canonical`] may accept).
    fn parsed_way(link: &str) -> String {
        Url::parse(link).map_or_else(|_| link.to_string(), |u| u.to_string())
    }

    #[test]
    fn links_taken_as_already_canonical_are_what_the_parser_makes_of_them() {
        let cases = [
            "https://news.test/a/b-c_d.html",
            "http://127.0.0.2:8080/feed/1/story/2",
            "http://news.test:80/a",
            "https://news.test:443/a",
            "http://News.test/a",
            "http://news.test",
            "http://news.test/a/../b",
            "http://news.test/a/%2e%2E/b",
            "http://news.test/a/./b",
            "http://news.test/%7euser/%41",
            "http://news.test/a b",
            "http://127.1/a",
            "http://127.000.0.1/a",
            "http://0x7f.0.0.1/a",
            "http://news.123/a",
            "http://xn--80ak6aa92e.test/a",
            "http://news.test:0080/a",
            "http://news.test:99999/a",
            "http://news..test/a",
            "http://user@news.test/a",
            "http://news.test/a%zz",
            "http://news.test/a\\b",
            "http://news.test/é",
        ];
        for link in cases {
            if plainly_canonical(link) {
                assert_eq!(parsed_way(link), link, "{link}");
            }
        }
        assert!(plainly_canonical("https://news.test/a/b-c_d.html"));
        assert!(plainly_canonical("http://127.0.0.2:8080/feed/1/story/2"));
    }

    proptest::proptest! {
        #[test]
        fn the_fast_way_agrees_with_the_parser(
            link in "https?://[a-z0-9.:x-]{0,14}(/[a-zA-Z0-9%._~:@!$&'()*+,;=/-]{0,14})?"
        ) {
            if plainly_canonical(&link) {
                proptest::prop_assert_eq!(parsed_way(&link), link);
            }
        }
    }
}

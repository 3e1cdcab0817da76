//! From the decoded file (`raw`) to a validated [`Config`]: defaults, ranges, URLs, addresses,
//! secrets read from their files, queries compiled, rules' feeds and notifiers resolved. One
//! pass over the typed values that reports each problem at the value it is about.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::redact::{Redacted, redact_text};

use super::de::{self, At, Lenient, Sink};
use super::raw::{
    Headers, NOTIFIERS, RawConfig, RawDelivery, RawEmail, RawFeed, RawIncluded, RawNotifier,
    RawPoll, RawRule, RawStorage, RawStories, RawWebhook, Strings, Tables, Text,
};
use super::{
    ArticleSettings, Config, DEFAULT_BACKLOG, DEFAULT_CONCURRENCY, DEFAULT_DB_PATH,
    DEFAULT_GIVE_UP_AFTER, DEFAULT_HEALTH_ALERT_AFTER, DEFAULT_INTERVAL, DEFAULT_MAX_BODY,
    DEFAULT_MIN_INTERVAL, DEFAULT_PER_HOST, DEFAULT_RETRY_BASE, DEFAULT_RETRY_CAP,
    DEFAULT_SEND_TIMEOUT, DEFAULT_STORY_WINDOW, DEFAULT_TIMEOUT, Delivery, Email, Feed,
    MIN_INTERVAL, Notifier, NotifierKind, Poll, Problem, Rule, Secret, SmtpTls, Storage, Stories,
    Webhook, WebhookFormat, default_user_agent,
};
use crate::rules::{Language, MatchOptions, Query};

/// Longest send timeout for a notifier (the outbox waits for it).
const MAX_SEND_TIMEOUT: Duration = Duration::from_secs(300);
/// Shortest `[storage] keep`: item keys are kept forever anyway, bodies at least a day.
const MIN_KEEP: Duration = Duration::from_secs(24 * 3600);

/// Decodes `text` (with `env` overrides and included files) and checks it. `base` is the
/// folder relative paths start from.
pub(super) fn load(
    text: &str,
    base: &Path,
    env: &[(String, String)],
) -> Result<Config, Vec<Problem>> {
    let mut root = de::parse(text).map_err(|(line, message)| {
        let key = String::new();
        vec![Problem {
            file: None,
            key,
            line,
            message,
        }]
    })?;
    de::apply_env(&mut root, env);
    let mut sink = Sink::default();
    sink.files.push(de::File::new(None, text));
    de::retag(&mut root, &mut sink, &NOTIFIERS, de::keys_of::<RawConfig>());
    let raw = match sink.decode::<RawConfig>(root, 0) {
        Lenient::Valid(raw, _) => raw,
        _ => RawConfig::default(),
    };
    let included = include(&mut sink, &raw.include, base);
    let cx = Cx {
        sink: &sink,
        base,
        env,
    };
    let config = check(&cx, &raw, &included);
    let problems = sink.into_problems();
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(problems),
    }
}

/// What the checks need besides the values: where problems go, the config's folder (relative
/// paths start there) and the process environment (for `password_env` and systemd credentials).
struct Cx<'a> {
    sink: &'a Sink,
    base: &'a Path,
    env: &'a [(String, String)],
}

impl Cx<'_> {
    fn err<T>(&self, value: &Lenient<T>, message: impl Into<String>) {
        self.sink.err(value, message);
    }

    /// A required key's value; its absence is a problem of `table`.
    fn required<'v, T, U>(
        &self,
        table: &Lenient<T>,
        v: &'v Lenient<U>,
        key: &str,
    ) -> Option<&'v U> {
        if matches!(v, Lenient::Absent) {
            self.err(table, format!("missing required key `{key}`"));
        }
        v.get()
    }

    /// The value, with `message` reported when it fails `ok`.
    fn check<'v, T>(
        &self,
        v: &'v Lenient<T>,
        ok: impl Fn(&T) -> bool,
        message: &str,
    ) -> Option<&'v T> {
        let value = v.get()?;
        if !ok(value) {
            self.err(v, message);
        }
        Some(value)
    }

    /// A duration, with `message` reported when it fails `ok`.
    fn duration(
        &self,
        v: &Lenient<Text<Duration>>,
        ok: fn(Duration) -> bool,
        message: &str,
    ) -> Option<Duration> {
        self.check(v, |d| ok(d.0), message).map(|d| d.0)
    }

    fn env(&self, name: &str) -> Option<&str> {
        let found = self.env.iter().find(|(k, _)| k == name);
        found.map(|(_, v)| v.as_str())
    }
}

fn check(cx: &Cx<'_>, raw: &RawConfig, included: &[Lenient<RawIncluded>]) -> Option<Config> {
    let storage = storage(cx, &raw.storage);
    let poll = poll(cx, &raw.poll);
    let default_interval = poll.as_ref().map_or(DEFAULT_INTERVAL, |p| p.interval);
    // Included feeds and rules come after the main file's, in file-name order.
    let included = included.iter().filter_map(Lenient::get);
    let raw_feeds = tables(&raw.feed).chain(included.clone().flat_map(|i| tables(&i.feed)));
    let raw_rules = tables(&raw.rule).chain(included.flat_map(|i| tables(&i.rule)));

    let mut built: Vec<(usize, &Lenient<RawFeed>, Feed)> = Vec::new();
    for (i, raw_feed) in raw_feeds.enumerate() {
        if let Some(feed) = self::feed(cx, raw_feed, default_interval) {
            built.push((i, raw_feed, feed));
        }
    }
    default_names(&mut built);
    let mut feeds: Vec<Feed> = Vec::with_capacity(built.len());
    let mut seen = SeenFeeds::default();
    for (i, raw_feed, feed) in built {
        duplicate_feed(cx, raw_feed, &feed, i, &mut seen);
        feeds.push(feed);
    }

    let named = raw.notify.get().map(|n| n.0.as_slice()).unwrap_or_default();
    let notifiers = (named.iter())
        .filter_map(|(name, raw)| Some((name.clone(), notifier(cx, name, raw)?)))
        .collect();
    // Every [notify.NAME] table, valid or not: a rule naming a broken notifier should not get a
    // second error saying the notifier does not exist.
    let declared: BTreeSet<&str> = named.iter().map(|(name, _)| name.as_str()).collect();
    if let Some(p) = raw.poll.get() {
        unknown_notifiers(cx, &p.health_notify, &declared);
    }
    let defaults = raw.matching.get().map_or_else(MatchOptions::default, |m| {
        match_options(cx, &m.languages, &m.transliterate, MatchOptions::default())
    });
    let mut rules: Vec<Rule> = Vec::new();
    for raw_rule in raw_rules {
        let Some(rule) = self::rule(cx, raw_rule, &feeds, &declared, defaults) else {
            continue;
        };
        if let Some(r) = raw_rule
            .get()
            .filter(|_| rules.iter().any(|r| r.name == rule.name))
        {
            cx.err(&r.name, format!("duplicate rule name {:?}", rule.name));
        }
        rules.push(rule);
    }
    if rules.iter().any(|r| r.enabled) && declared.is_empty() {
        let at = cx
            .sink
            .place(&raw.notify)
            .unwrap_or_else(|| At::main("notify"));
        let message = "rules are configured but no notifier is: add a [notify.NAME] table";
        cx.sink.report(&at, message);
    }

    let delivery = delivery(cx, &raw.delivery);
    let metrics = raw.metrics.get().and_then(|m| {
        let listen = cx.required(&raw.metrics, &m.listen, "listen")?;
        let problem = format!(r#"invalid address {listen:?}; write it like "127.0.0.1:9187""#);
        listen.parse().map_err(|_| cx.err(&m.listen, problem)).ok()
    });
    Some(Config {
        source: PathBuf::new(),
        storage: storage?,
        poll: poll?,
        feeds,
        rules,
        notifiers,
        delivery: delivery?,
        stories: stories(cx, &raw.stories)?,
        metrics,
        matching: defaults,
    })
}

/// The tables of an array of tables (none if it is not one).
fn tables<T>(t: &Lenient<Tables<T>>) -> impl Iterator<Item = &Lenient<T>> + Clone {
    t.get().into_iter().flat_map(|t| t.0.iter())
}

/// The valid strings of a list, each with its place.
fn strings(list: &Lenient<Strings>) -> impl Iterator<Item = (&Lenient<String>, &String)> {
    let items = list.get().into_iter().flat_map(|l| l.0.iter());
    items.filter_map(|item| Some((item, item.get()?)))
}

/// A section's table: all defaults when the file has none, `None` when it is not a table.
fn section<'a, T>(raw: &'a Lenient<T>, default: &'a T) -> Option<&'a T> {
    match raw {
        Lenient::Invalid => None,
        _ => Some(raw.get().unwrap_or(default)),
    }
}

/// `include = ["rules.d/*.toml", …]`: decodes the included files, sorted by name within each
/// pattern, relative to the config's folder.
fn include(sink: &mut Sink, patterns: &Lenient<Strings>, base: &Path) -> Vec<Lenient<RawIncluded>> {
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for (item, pat) in strings(patterns) {
        // Checked on its own, so a mistake's position is in the pattern as written.
        if let Err(e) = glob::Pattern::new(pat) {
            sink.err(item, format!("invalid pattern {pat:?}: {e}"));
            continue;
        }
        let Some(base) = base.to_str() else {
            sink.err(
                item,
                format!("cannot expand {pat:?}: the config's folder is not UTF-8"),
            );
            continue;
        };
        let full = Path::new(&glob::Pattern::escape(base)).join(pat);
        let mut found = Vec::new();
        for entry in glob::glob(&full.to_string_lossy()).into_iter().flatten() {
            match entry {
                Ok(p) if p.is_file() => found.push(p),
                Ok(_) => {}
                Err(e) => sink.err(item, format!("cannot read {}: {e}", e.path().display())),
            }
        }
        found.sort();
        for f in found {
            match std::fs::read_to_string(&f) {
                Ok(t) => files.push((f, t)),
                Err(e) => sink.err(item, format!("cannot read {}: {e}", f.display())),
            }
        }
    }
    let mut out = Vec::new();
    for (path, text) in files {
        let file = sink.files.len();
        sink.files.push(de::File::new(Some(path), &text));
        match de::parse(&text) {
            Ok(root) => out.push(sink.decode(root, file)),
            Err((line, message)) => {
                let mut at = sink.at(file, String::new(), 0, Vec::new());
                at.line = line;
                sink.report(&at, message);
            }
        }
    }
    out
}

fn storage(cx: &Cx<'_>, raw: &Lenient<RawStorage>) -> Option<Storage> {
    let default = RawStorage::default();
    let s = section(raw, &default)?;
    let path = match s.path.get() {
        Some(p) if p.trim().is_empty() => {
            cx.err(&s.path, "must not be empty");
            return None;
        }
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(DEFAULT_DB_PATH),
    };
    let keep_message = "must be at least 1d (item keys are kept forever anyway)";
    Some(Storage {
        path: cx.base.join(path),
        keep: cx.duration(&s.keep, |k| k >= MIN_KEEP, keep_message),
    })
}

fn poll(cx: &Cx<'_>, raw: &Lenient<RawPoll>) -> Option<Poll> {
    let default = RawPoll::default();
    let p = section(raw, &default)?;
    let at_least_1s = |d| d >= MIN_INTERVAL;
    let any = |_| true;
    let proxy = p.proxy.get().and_then(|u| match Url::parse(u.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") => Some(url),
        _ => {
            // A proxy URL may carry credentials: shown redacted, like every URL.
            let u = redact_text(u);
            let problem = format!("invalid proxy URL {u:?}; use http://, https:// or socks5://");
            cx.err(&p.proxy, problem);
            None
        }
    });
    let poll = Poll {
        interval: (cx.duration(&p.interval, at_least_1s, "must be at least 1s"))
            .unwrap_or(DEFAULT_INTERVAL),
        timeout: (cx.duration(&p.timeout, |d| !d.is_zero(), "must be more than 0s"))
            .unwrap_or(DEFAULT_TIMEOUT),
        max_body: (cx.check(&p.max_body, |n| n.0 > 0, "must be more than 0 bytes"))
            .map_or(DEFAULT_MAX_BODY, |n| n.0),
        backlog: cx.duration(&p.backlog, any, "").unwrap_or(DEFAULT_BACKLOG),
        concurrency: count(cx, &p.concurrency, 10_000).unwrap_or(DEFAULT_CONCURRENCY),
        user_agent: (cx
            .check(&p.user_agent, |ua| single_line(ua), NOT_ONE_LINE)
            .cloned())
        .unwrap_or_else(default_user_agent),
        min_interval: (cx.duration(&p.min_interval, at_least_1s, "must be at least 1s"))
            .unwrap_or(DEFAULT_MIN_INTERVAL),
        per_host: count(cx, &p.per_host, 1000).unwrap_or(DEFAULT_PER_HOST),
        health_alert_after: (cx.duration(&p.health_alert_after, any, ""))
            .unwrap_or(DEFAULT_HEALTH_ALERT_AFTER),
        // Names are checked against the notifiers in `check`, once those are read.
        health_notify: match p.health_notify {
            Lenient::Absent => None,
            _ => Some(strings(&p.health_notify).map(|(_, n)| n.clone()).collect()),
        },
        proxy,
    };
    cx.sink.clean(raw).then_some(poll)
}

/// A count between 1 and `max`.
fn count(cx: &Cx<'_>, value: &Lenient<u64>, max: u64) -> Option<usize> {
    let message = format!("must be between 1 and {max}");
    let n = cx.check(value, |n| (1..=max).contains(n), &message)?;
    usize::try_from(*n).ok()
}

const NOT_ONE_LINE: &str = "must be a non-empty single line";

fn single_line(s: &str) -> bool {
    !s.trim().is_empty() && !s.contains(['\r', '\n'])
}

/// An `http://` or `https://` URL with a host; `unsupported` says why another is refused,
/// given the URL's display form (`Redacted`: a URL in a config may hold a credential).
/// An unparseable value is not echoed at all: which part of it is secret cannot be known,
/// and the key path and line already point at it.
fn http_url(cx: &Cx<'_>, v: &Lenient<String>, unsupported: impl Fn(&Url) -> String) -> Option<Url> {
    let u = v.get()?;
    match Url::parse(u.trim()) {
        Ok(url) if super::fetchable(&url) => Some(url),
        Ok(url) => {
            cx.err(v, unsupported(&url));
            None
        }
        Err(e) => {
            cx.err(v, format!("invalid URL: {e}"));
            None
        }
    }
}

fn feed(cx: &Cx<'_>, raw: &Lenient<RawFeed>, default_interval: Duration) -> Option<Feed> {
    let f = raw.get()?;
    cx.required(raw, &f.url, "url");
    let url = http_url(cx, &f.url, |url| {
        let (u, scheme) = (Redacted::url(url).to_string(), url.scheme());
        format!(
            "unsupported URL {u:?}: only http:// and https:// with a host are fetched (scheme was {scheme:?})"
        )
    });
    let name = cx.check(&f.name, |n| !n.trim().is_empty(), "must not be empty");
    let interval = cx.duration(&f.interval, |d| d >= MIN_INTERVAL, "must be at least 1s");
    let headers = headers(cx, &f.headers);
    let user_agent = f.user_agent.get().and_then(|ua| {
        let value = HeaderValue::from_str(ua).ok().filter(|_| single_line(ua));
        if value.is_none() && !single_line(ua) {
            cx.err(&f.user_agent, NOT_ONE_LINE);
        } else if value.is_none() {
            cx.err(
                &f.user_agent,
                "must not hold control characters (it is sent as an HTTP header)",
            );
        }
        value
    });
    let article = article_settings(cx, f);
    // A feed with other problems is still returned (with defaults) when its URL is valid, so
    // rules that select it do not report a second, misleading error; the config as a whole is
    // rejected anyway because a problem was recorded.
    let url = url?;
    Some(Feed {
        name: (name.cloned()).unwrap_or_else(|| url.host_str().unwrap_or(url.as_str()).into()),
        url,
        interval: interval.unwrap_or(default_interval),
        tags: strings(&f.tags).map(|(_, t)| t.clone()).collect(),
        headers,
        user_agent,
        article,
    })
}

/// `fetch_article` and its companions; the companions without `fetch_article = true` are an
/// error (they would silently do nothing).
fn article_settings(cx: &Cx<'_>, f: &RawFeed) -> Option<ArticleSettings> {
    let selector = cx.check(
        &f.article_selector,
        |s| crate::article::valid_selector(s),
        "must be a valid CSS selector (e.g. \"div.article-body\")",
    );
    let max = count(cx, &f.max_articles, 1000);
    let on = f.fetch_article.get().copied().unwrap_or(false);
    if !on {
        let orphan = "only applies with fetch_article = true";
        if f.article_selector.get().is_some() {
            cx.err(&f.article_selector, orphan);
        }
        if f.max_articles.get().is_some() {
            cx.err(&f.max_articles, orphan);
        }
        return None;
    }
    Some(ArticleSettings {
        selector: selector.cloned(),
        allow_private: f.allow_private.get().copied(),
        max_per_poll: max.unwrap_or(crate::article::DEFAULT_MAX_ARTICLES_PER_POLL),
    })
}

/// Names the feeds written without a `name`, readably and uniquely (issue 12: several feeds of
/// one site should not need invented names). A feed is named after its host, as it always was
/// (so rules selecting a feed by that name keep working) when no other unnamed feed shares the
/// host; otherwise after its URL without the scheme (`example.org/world/rss`, query values
/// masked as everywhere a feed URL is shown); and when even that is shared (`http://` and
/// `https://`, or query values only) it is numbered in file order (`example.org/rss (2)`).
/// A default name never takes an explicit `name` of another feed. Only the display name
/// changes: the database knows a feed by its URL, so renaming loses none of its state.
fn default_names(feeds: &mut [(usize, &Lenient<RawFeed>, Feed)]) {
    let unnamed =
        |raw: &Lenient<RawFeed>| raw.get().is_some_and(|f| matches!(f.name, Lenient::Absent));
    let explicit: HashSet<String> = (feeds.iter())
        .filter(|(_, raw, _)| !unnamed(raw))
        .map(|(_, _, f)| f.name.clone())
        .collect();
    let mut pending: Vec<usize> = (0..feeds.len()).filter(|&k| unnamed(feeds[k].1)).collect();
    let forms: [fn(&Url) -> String; 2] = [
        |url| url.host_str().unwrap_or(url.as_str()).to_string(),
        |url| {
            let shown = Redacted::url(url).to_string();
            let rest = shown.split_once("://").map_or(shown.as_str(), |(_, r)| r);
            rest.trim_end_matches('/').to_string()
        },
    ];
    for form in forms {
        let names: Vec<String> = pending.iter().map(|&k| form(&feeds[k].2.url)).collect();
        let mut uses: HashMap<&str, usize> = HashMap::new();
        for n in &names {
            *uses.entry(n).or_default() += 1;
        }
        let mut next = Vec::new();
        for (&k, name) in pending.iter().zip(&names) {
            if uses[name.as_str()] == 1 && !explicit.contains(name) {
                feeds[k].2.name = name.clone();
            } else {
                next.push(k);
            }
        }
        pending = next;
    }
    let mut numbers: HashMap<String, usize> = HashMap::new();
    for k in pending {
        let base = forms[1](&feeds[k].2.url);
        let n = numbers.entry(base.clone()).or_default();
        *n += 1;
        feeds[k].2.name = format!("{base} ({n})");
    }
}

/// The latest feed (by its index in the file) with each URL and each name seen so far. A map,
/// not a scan of the earlier feeds: with 10,000 feeds a scan compared 50 million pairs on every
/// load (it dominated `once`'s CPU in the farm benchmark).
#[derive(Default)]
struct SeenFeeds {
    urls: HashMap<String, usize>,
    names: HashMap<String, usize>,
}

/// Feeds must differ in URL and in name. As before, a duplicate names the latest feed like it.
fn duplicate_feed(
    cx: &Cx<'_>,
    raw: &Lenient<RawFeed>,
    feed: &Feed,
    index: usize,
    seen: &mut SeenFeeds,
) {
    let same_url = seen.urls.insert(feed.url.as_str().to_string(), index);
    let same_name = seen.names.insert(feed.name.clone(), index);
    let Some(f) = raw.get() else { return };
    if let Some(first) = same_url {
        let url = Redacted::url(&feed.url).to_string();
        cx.err(
            &f.url,
            format!("duplicate feed url {url:?} (also feed[{first}])"),
        );
    }
    if let Some(first) = same_name {
        let name = &feed.name;
        let problem = format!("duplicate feed name {name:?} (also feed[{first}]");
        match f.name {
            Lenient::Absent => cx.err(raw, format!("{problem}; give the feed a `name`)")),
            _ => cx.err(&f.name, format!("{problem})")),
        }
    }
}

/// `headers = { Name = "value" }`, parsed once for every request. Values are marked sensitive
/// (they are often credentials): `Debug` hides them and HTTP/2 never indexes them.
fn headers(cx: &Cx<'_>, raw: &Lenient<Headers>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in raw.get().map(|h| h.0.as_slice()).unwrap_or_default() {
        let Some(text) = value.get() else { continue };
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            cx.err(value, format!("invalid header name {name:?}"));
            continue;
        };
        // Leading and trailing whitespace is not part of a field value (RFC 9110 §5.5).
        let Ok(mut v) = HeaderValue::from_str(text.trim()) else {
            let problem =
                "invalid header value: line breaks and control characters are not allowed";
            cx.err(value, problem);
            continue;
        };
        v.set_sensitive(true);
        map.append(header, v);
    }
    map
}

/// `languages` and `transliterate` of a rule or of `[matching]`, each overriding `defaults`
/// where given.
fn match_options(
    cx: &Cx<'_>,
    languages: &Lenient<Strings>,
    transliterate: &Lenient<bool>,
    defaults: MatchOptions,
) -> MatchOptions {
    let mut options = defaults;
    if languages.get().is_some() {
        options.en = false;
        options.ru = false;
        for (item, code) in strings(languages) {
            match Language::from_code(code) {
                Some(l) => options = options.with_language(l),
                None => {
                    let known: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
                    let message =
                        format!("unknown language {code:?} (known: {})", known.join(", "));
                    cx.err(item, message);
                }
            }
        }
    }
    if let Some(&t) = transliterate.get() {
        options.transliterate = t;
    }
    options
}

fn rule(
    cx: &Cx<'_>,
    raw: &Lenient<RawRule>,
    feeds: &[Feed],
    declared: &BTreeSet<&str>,
    defaults: MatchOptions,
) -> Option<Rule> {
    let r = raw.get()?;
    let name = cx.required(raw, &r.name, "name");
    cx.check(&r.name, |n| !n.trim().is_empty(), "must not be empty");
    let options = match_options(cx, &r.languages, &r.transliterate, defaults);
    let query_text = cx.required(raw, &r.query, "query");
    let query = query_text.and_then(|q| {
        let parsed = Query::parse_with(q, options).map_err(|e| {
            let caret: Vec<String> = e.caret(q).lines().map(|l| format!("      {l}")).collect();
            cx.err(
                &r.query,
                format!("invalid query: {e}\n{}", caret.join("\n")),
            );
        });
        parsed.ok()
    });
    let max_per_hour = cx.check(
        &r.max_per_hour,
        |n| *n > 0 && u32::try_from(*n).is_ok(),
        "must be between 1 and 4294967295",
    );
    let mut selected = BTreeSet::new();
    for (item, sel) in strings(&r.feeds) {
        let hits: Vec<usize> = (0..feeds.len())
            .filter(|&n| selects(sel, &feeds[n]))
            .collect();
        if hits.is_empty() {
            // A selector that is a URL (with a host: `tag:x` parses too) may hold a token.
            let sel = match Url::parse(sel) {
                Ok(url) if url.has_host() => Redacted::url(&url).to_string(),
                _ => sel.clone(),
            };
            cx.err(
                item,
                format!(
                    "{sel:?} matches no configured feed (use a feed name, a feed URL or tag:NAME)"
                ),
            );
        }
        selected.extend(hits);
    }
    unknown_notifiers(cx, &r.notify, declared);
    if !cx.sink.clean(raw) {
        return None;
    }
    Some(Rule {
        name: name?.clone(),
        query_text: query_text?.clone(),
        query: query?,
        // No `feeds`: every feed; no `notify`: every notifier.
        feeds: match r.feeds {
            Lenient::Absent => (0..feeds.len()).collect(),
            _ => selected.into_iter().collect(),
        },
        notify: match r.notify {
            Lenient::Absent => declared.iter().map(|n| n.to_string()).collect(),
            _ => strings(&r.notify).map(|(_, n)| n.clone()).collect(),
        },
        enabled: r.enabled.get().copied().unwrap_or(true),
        digest: r.digest.get().map(|d| d.0),
        max_per_hour: max_per_hour.and_then(|n| u32::try_from(*n).ok()),
    })
}

/// Reports each name in `list` that is not a `[notify.NAME]` table.
fn unknown_notifiers(cx: &Cx<'_>, list: &Lenient<Strings>, declared: &BTreeSet<&str>) {
    let known: Vec<&str> = declared.iter().copied().collect();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    for (item, n) in strings(list).filter(|(_, n)| !declared.contains(n.as_str())) {
        cx.err(
            item,
            format!("no notifier named {n:?} (configured: {known})"),
        );
    }
}

/// Does a rule's `feeds` selector pick this feed? Names, URLs and `tag:NAME`.
fn selects(selector: &str, feed: &Feed) -> bool {
    if let Some(tag) = selector.strip_prefix("tag:") {
        return feed.tags.iter().any(|t| crate::domain::same_tag(t, tag));
    }
    feed.name == selector || Url::parse(selector).is_ok_and(|u| u == feed.url)
}

fn notifier(cx: &Cx<'_>, name: &str, raw: &Lenient<RawNotifier>) -> Option<Notifier> {
    let (kind, digest, quiet_hours, group, timezone) = match raw.get()? {
        RawNotifier::Email(e) => (
            email(cx, raw, e).map(NotifierKind::Email),
            &e.digest,
            &e.quiet_hours,
            &e.group,
            &e.timezone,
        ),
        RawNotifier::Webhook(w) => (
            webhook(cx, raw, w).map(NotifierKind::Webhook),
            &w.digest,
            &w.quiet_hours,
            &w.group,
            &w.timezone,
        ),
        RawNotifier::Stdout(s) => (
            Some(NotifierKind::Stdout),
            &s.digest,
            &s.quiet_hours,
            &s.group,
            &s.timezone,
        ),
    };
    let digest = digest.get().map(|d| d.0);
    Some(Notifier {
        name: name.to_string(),
        kind: kind?,
        digest,
        quiet_hours: quiet_hours.get().map(|q| q.0),
        group: group.get().map(|g| g.0).unwrap_or_default(),
        timezone: timezone
            .get()
            .map_or_else(|| machine_zone(cx.env("TZ")), |z| z.0),
    })
}

/// The machine's time zone: `$TZ` when it names a zone (`Europe/Moscow`, `:Europe/Moscow`,
/// or a path into a zoneinfo folder), else the zone the system is set to (`/etc/localtime`),
/// else UTC.
fn machine_zone(tz_env: Option<&str>) -> Tz {
    let named = |s: &str| -> Option<Tz> {
        let s = s.trim().trim_start_matches(':');
        let s = s.rsplit_once("zoneinfo/").map_or(s, |(_, name)| name);
        s.parse().ok()
    };
    tz_env
        .and_then(named)
        .or_else(|| iana_time_zone::get_timezone().ok().and_then(|s| named(&s)))
        .unwrap_or(Tz::UTC)
}

fn email(cx: &Cx<'_>, table: &Lenient<RawNotifier>, e: &RawEmail) -> Option<Email> {
    let endpoint = cx.required(table, &e.smtp, "smtp").and_then(|s| {
        parse_smtp_url(s)
            .map_err(|message| cx.err(&e.smtp, message))
            .ok()
    });
    let mut password = secret_file(cx, &e.password_file);
    if let Some(var) = e.password_env.get() {
        if password.is_some() {
            cx.err(
                &e.password_env,
                "set password_file or password_env, not both",
            );
        }
        match cx.env(var) {
            Some(v) if !v.is_empty() => password = Some(Secret(v.to_string())),
            _ => cx.err(
                &e.password_env,
                format!("environment variable {var} is not set or empty"),
            ),
        }
    }
    if password.is_some() && e.username.get().is_none() {
        cx.err(table, "a password is set but username is not");
    }
    let ca_pem = ca_file(cx, &e.ca_file);
    let from = cx
        .required(table, &e.from, "from")
        .and_then(|s| mailbox(cx, &e.from, s));
    cx.required(table, &e.to, "to");
    let to: Vec<_> = strings(&e.to)
        .filter_map(|(item, s)| mailbox(cx, item, s))
        .collect();
    if e.to.get().is_some_and(|t| t.0.is_empty()) && cx.sink.clean(table) {
        cx.err(&e.to, "needs at least one address");
    }
    let timeout = send_timeout(cx, &e.timeout);
    let (host, port, tls) = endpoint.filter(|_| cx.sink.clean(table))?;
    let username = e.username.get().cloned();
    let tls = match (&username, &password) {
        (Some(_), Some(_)) => tls.for_login(),
        _ => tls,
    };
    Some(Email {
        host,
        port,
        tls,
        username,
        password,
        from: from?,
        to,
        timeout,
        subject: e.subject.get().map(|s| s.0.clone()).unwrap_or_default(),
        ca_pem,
    })
}

fn mailbox(cx: &Cx<'_>, at: &Lenient<String>, s: &str) -> Option<lettre::message::Mailbox> {
    let parsed = s.parse().map_err(|e| format!("invalid address {s:?}: {e}"));
    parsed.map_err(|problem| cx.err(at, problem)).ok()
}

fn webhook(cx: &Cx<'_>, table: &Lenient<RawNotifier>, w: &RawWebhook) -> Option<Webhook> {
    cx.required(table, &w.url, "url");
    let url = http_url(cx, &w.url, |url| {
        let u = Redacted::webhook(url).to_string();
        format!("unsupported URL {u:?}: use http:// or https://")
    });
    let webhook = Webhook {
        url: url?,
        headers: headers(cx, &w.headers),
        secret: secret_file(cx, &w.secret_file),
        format: w.format.get().map_or(WebhookFormat::Json, |f| f.0),
        timeout: send_timeout(cx, &w.timeout),
        ca_pem: ca_file(cx, &w.ca_file),
    };
    cx.sink.clean(table).then_some(webhook)
}

/// A notifier's `timeout`: more than 0 and at most 5 minutes.
fn send_timeout(cx: &Cx<'_>, value: &Lenient<Text<Duration>>) -> Duration {
    let ok = |d: Duration| !d.is_zero() && d <= MAX_SEND_TIMEOUT;
    let timeout = cx.duration(value, ok, "must be more than 0s and at most 5m");
    timeout.filter(|d| ok(*d)).unwrap_or(DEFAULT_SEND_TIMEOUT)
}

/// Reads the file a key names (relative to the config's folder).
fn read(cx: &Cx<'_>, value: &Lenient<String>, file: &str) -> Option<(PathBuf, Vec<u8>)> {
    let full = cx.base.join(file);
    match std::fs::read(&full) {
        Ok(bytes) => Some((full, bytes)),
        Err(e) => {
            cx.err(value, format!("cannot read {}: {e}", full.display()));
            None
        }
    }
}

/// A secret from the file a key names.
fn secret_file(cx: &Cx<'_>, value: &Lenient<String>) -> Option<Secret> {
    let file = value.get()?;
    // systemd's LoadCredential= puts secrets in $CREDENTIALS_DIRECTORY, whose path the
    // config cannot know in advance: `password_file = "$CREDENTIALS_DIRECTORY/smtp"`.
    let file = match file.strip_prefix("$CREDENTIALS_DIRECTORY/") {
        Some(rest) => match cx.env("CREDENTIALS_DIRECTORY") {
            Some(dir) => format!("{dir}/{rest}"),
            None => {
                cx.err(value, "uses $CREDENTIALS_DIRECTORY, which is not set (it is set by systemd's LoadCredential=)");
                return None;
            }
        },
        None => file.clone(),
    };
    let (full, bytes) = read(cx, value, &file)?;
    warn_if_others_can_read(cx, value, &full);
    let Ok(text) = String::from_utf8(bytes) else {
        let problem = format!(
            "cannot read {}: stream did not contain valid UTF-8",
            full.display()
        );
        cx.err(value, problem);
        return None;
    };
    // A trailing newline from `echo secret > file` is not part of the secret.
    Some(Secret(text.trim_end_matches(['\r', '\n']).to_string()))
}

/// Warns when users other than the owner (group or others) may read the secret file `full`:
/// whoever reads it can send mail or sign webhooks as feedwatch. A warning, not an error: the
/// file works, and a group-readable one may be deliberate.
fn warn_if_others_can_read(cx: &Cx<'_>, value: &Lenient<String>, full: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(full) else {
        return; // just read: it went away since, and the next load will say so
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o044 != 0 {
        let key = cx.sink.place(value).map(|at| at.key).unwrap_or_default();
        tracing::warn!(
            key,
            file = %full.display(),
            mode = format!("{mode:o}"),
            "secret file is readable by other users; make it readable by its owner only (chmod 600)"
        );
    }
}

/// `ca_file`: PEM with one or more CA certificates to trust in addition to the system's.
fn ca_file(cx: &Cx<'_>, value: &Lenient<String>) -> Option<Vec<u8>> {
    let (full, pem) = read(cx, value, value.get()?)?;
    if lettre::transport::smtp::client::Certificate::from_pem(&pem).is_err() {
        cx.err(
            value,
            format!("{} holds no PEM certificate", full.display()),
        );
        return None;
    }
    Some(pem)
}

fn delivery(cx: &Cx<'_>, raw: &Lenient<RawDelivery>) -> Option<Delivery> {
    let default = RawDelivery::default();
    let d = section(raw, &default)?;
    let base = cx.duration(&d.retry_base, |b| !b.is_zero(), "must be more than 0s");
    let delivery = Delivery {
        retry_base: base.unwrap_or(DEFAULT_RETRY_BASE),
        retry_cap: d.retry_cap.get().map_or(DEFAULT_RETRY_CAP, |c| c.0),
        give_up_after: d.give_up_after.get().map_or(DEFAULT_GIVE_UP_AFTER, |g| g.0),
    };
    if delivery.retry_cap < delivery.retry_base {
        match d.retry_cap {
            Lenient::Absent => cx.err(
                &d.retry_base,
                "must not be longer than retry_cap (1h by default)",
            ),
            _ => cx.err(&d.retry_cap, "must not be shorter than retry_base"),
        }
    }
    cx.sink.clean(raw).then_some(delivery)
}

fn stories(cx: &Cx<'_>, raw: &Lenient<RawStories>) -> Option<Stories> {
    let default = RawStories::default();
    let s = section(raw, &default)?;
    let similarity = cx.check(
        &s.similarity,
        |v| *v > 0.0 && *v <= 1.0,
        "must be more than 0 and at most 1 (the share of shingles in common)",
    );
    let stories = Stories {
        window: s.window.get().map_or(DEFAULT_STORY_WINDOW, |w| w.0),
        similarity: similarity
            .copied()
            .unwrap_or(crate::similar::DEFAULT_SIMILARITY),
    };
    cx.sink.clean(raw).then_some(stories)
}

/// `smtp://host[:port][?tls=required|opportunistic|none]` or `smtps://host[:port]`.
pub(super) fn parse_smtp_url(s: &str) -> Result<(String, u16, SmtpTls), String> {
    // Not echoed: a password typed into the URL would be shown with it.
    let url = Url::parse(s.trim()).map_err(|e| format!("invalid SMTP URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("put credentials in `username` and `password_file`, not in the URL".into());
    }
    let host = (url.host_str().filter(|h| !h.is_empty()))
        .ok_or_else(|| format!("SMTP URL {:?} has no host", Redacted::url(&url).to_string()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v);
    let (tls, default_port) = match (url.scheme(), tls.as_deref()) {
        ("smtp", None | Some("opportunistic")) => (SmtpTls::Opportunistic, 25),
        ("smtp", Some("required")) => (SmtpTls::Required, 587),
        ("smtp", Some("none")) => (SmtpTls::None, 25),
        ("smtps", None) => (SmtpTls::Wrapper, 465),
        ("smtp" | "smtps", Some(other)) => {
            return Err(format!(
                "unknown tls={other:?} in SMTP URL; use required, opportunistic or none (smtp:// only)"
            ));
        }
        (scheme, _) => {
            return Err(format!(
                "unsupported scheme {scheme:?}; use smtp:// (STARTTLS when offered) or smtps:// (implicit TLS)"
            ));
        }
    };
    Ok((host, url.port().unwrap_or(default_port), tls))
}

//! The checks a value's type cannot make alone, over the [`Config`] the file was read into:
//! required keys, ranges, a URL's scheme, references between tables (a rule's feeds and
//! notifiers), queries compiled with their rule's word-form options, default feed names.
//! One pass that reports each problem at the value it is about, by its key path; a value that
//! could not be read holds its default and gets no second problem.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess};
use url::Url;

use super::de::{self, At, Bad, Fields, Read, Sink, Tagged, read_table, table};
use super::{
    ArticleSettings, Config, Email, Feed, MIN_INTERVAL, Notifier, NotifierKind, Poll, Problem,
    Rule, Secret, Webhook, fetchable, match_options,
};
use crate::redact::Redacted;
use crate::rules::{MatchOptions, Query};

#[cfg(test)]
pub(super) use super::values::parse_smtp_url;

/// Longest send timeout for a notifier (the outbox waits for it).
const MAX_SEND_TIMEOUT: Duration = Duration::from_secs(300);
/// Shortest `[storage] keep`: item keys are kept forever anyway, bodies at least a day.
const MIN_KEEP: Duration = Duration::from_secs(24 * 3600);
/// A User-Agent that is empty or more than one line.
pub(super) const NOT_ONE_LINE: &str = "must be a non-empty single line";

/// `[notify.NAME]` tables by their `type`, each with the settings of [`NotifierKind`].
const NOTIFIERS: Tagged = Tagged {
    section: "notify",
    tag: ["type", "notifier"],
    variants: &["email", "webhook", "stdout"],
};

/// The keys of each notifier type's table (in [`NOTIFIERS`] order): `type`, the type's own
/// keys, and the keys every notifier has ([`Notifier`]'s), which sit before `ca_file`, where
/// the reference lists them.
pub(super) static NOTIFIER_KEYS: LazyLock<[Vec<&'static str>; 3]> = LazyLock::new(|| {
    [Email::KEYS, Webhook::KEYS, <()>::KEYS].map(|own| {
        let common = own.iter().position(|k| *k == "ca_file");
        let (before, after) = own.split_at(common.unwrap_or(own.len()));
        [&["type"][..], before, Notifier::KEYS, after].concat()
    })
});

table! {
    /// An included file: more feeds and rules, nothing else.
    pub struct Included {
        /// `[[feed]]`.
        feeds as "feed": Vec<Feed> = Vec::new(),
        /// `[[rule]]`.
        rules as "rule": Vec<Rule> = Vec::new(),
    }
}

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
    let from_env = de::apply_env(&mut root, env);
    let mut sink = Sink::new(base, env);
    sink.from_env = from_env;
    sink.files.push(de::File::new(None, text));
    de::retag(&mut root, &mut sink, &NOTIFIERS, Config::KEYS);
    let mut config = sink.decode::<Config>(root, 0).unwrap_or_default();
    let included = include(&mut sink, &config.include, base);
    check(&sink, &mut config, included);
    let problems = sink.into_problems();
    match problems.is_empty() {
        true => Ok(config),
        false => Err(problems),
    }
}

/// A table by its file and key path, to check its values by their keys.
struct Scope<'a> {
    sink: &'a Sink,
    file: usize,
    key: String,
}

impl<'a> Scope<'a> {
    fn new(sink: &'a Sink, file: usize, key: String) -> Scope<'a> {
        Scope { sink, file, key }
    }

    /// The key path of `key` in this table (`""`: the table itself; `"feeds[1]"`: an item).
    fn path(&self, key: &str) -> String {
        match (self.key.as_str(), key) {
            (table, "") => table.to_string(),
            ("", key) => key.to_string(),
            (table, key) if key.starts_with('[') => format!("{table}{key}"),
            (table, key) => format!("{table}.{key}"),
        }
    }

    /// Reports a problem at a valid value (nothing if it is absent or could not be read).
    fn err(&self, key: &str, message: impl Into<String>) {
        self.sink.err(self.file, &self.path(key), message);
    }

    /// Reports `message` at `key` unless `ok`.
    fn check(&self, key: &str, ok: bool, message: &str) {
        if !ok {
            self.err(key, message);
        }
    }

    fn valid(&self, key: &str) -> bool {
        self.sink.valid(self.file, &self.path(key))
    }

    fn present(&self, key: &str) -> bool {
        self.sink.present(self.file, &self.path(key))
    }

    /// Whether nothing in this table has a problem (but an unknown key).
    fn clean(&self) -> bool {
        self.sink.clean(self.file, &self.key)
    }

    /// A required key's absence is a problem of its table.
    fn require(&self, key: &str) {
        if !self.present(key) {
            self.err("", format!("missing required key `{key}`"));
        }
    }

    /// A table in this one.
    fn at(&self, key: &str) -> Scope<'a> {
        Scope::new(self.sink, self.file, self.path(key))
    }
}

fn check(sink: &Sink, c: &mut Config, included: Vec<(usize, Included)>) {
    let root = Scope::new(sink, 0, String::new());
    let keep_ok = c.storage.keep.is_none_or(|k| k >= MIN_KEEP);
    let keep_message = "must be at least 1d (item keys are kept forever anyway)";
    root.at("storage").check("keep", keep_ok, keep_message);
    poll(&root.at("poll"), &c.poll);

    // Included feeds and rules come after the main file's, in file-name order.
    let mut feeds = vec![(0, std::mem::take(&mut c.feeds))];
    let mut rules = vec![(0, std::mem::take(&mut c.rules))];
    for (file, i) in included {
        feeds.push((file, i.feeds));
        rules.push((file, i.rules));
    }
    let mut built: Vec<(usize, Scope<'_>, Feed)> = Vec::new();
    for (i, (s, mut feed)) in items(sink, "feed", feeds).enumerate() {
        if s.valid("") && self::feed(&s, &mut feed, c.poll.interval) {
            built.push((i, s, feed));
        }
    }
    default_names(&mut built);
    let mut seen = SeenFeeds::default();
    for (i, s, feed) in built {
        duplicate_feed(&s, &feed, i, &mut seen);
        c.feeds.push(feed);
    }

    // Every [notify.NAME] table, valid or not: a rule naming a broken notifier should not get a
    // second error saying the notifier does not exist.
    let declared: BTreeSet<String> = c.notifiers.keys().cloned().collect();
    for (name, n) in &mut c.notifiers {
        let s = root.at(&format!("notify.{name}"));
        match &mut n.kind {
            NotifierKind::Email(e) => email(&s, e),
            NotifierKind::Webhook(w) => webhook(&s, w),
            NotifierKind::Stdout => {}
        }
    }
    if let Some(names) = &c.poll.health_notify {
        unknown_notifiers(&root.at("poll"), "health_notify", names, &declared);
    }
    for (s, mut r) in items(sink, "rule", rules) {
        if !s.valid("") || !rule(&s, &mut r, &c.feeds, &declared, c.matching) {
            continue;
        }
        if c.rules.iter().any(|b| b.name == r.name) {
            s.err("name", format!("duplicate rule name {:?}", r.name));
        }
        c.rules.push(r);
    }
    if c.rules.iter().any(|r| r.enabled) && declared.is_empty() {
        let at = (sink.place(0, "notify").filter(|(_, valid)| *valid))
            .map_or_else(|| At::main("notify"), |(at, _)| at);
        let message = "rules are configured but no notifier is: add a [notify.NAME] table";
        sink.report(&at, message);
    }

    let d = root.at("delivery");
    let delivery = &c.delivery;
    d.check(
        "retry_base",
        !delivery.retry_base.is_zero(),
        "must be more than 0s",
    );
    if delivery.retry_cap < delivery.retry_base {
        match d.present("retry_cap") {
            true => d.err("retry_cap", "must not be shorter than retry_base"),
            false => d.err(
                "retry_base",
                "must not be longer than retry_cap (1h by default)",
            ),
        }
    }
    root.at("metrics").require("listen");
    let similarity = c.stories.similarity;
    root.at("stories").check(
        "similarity",
        similarity > 0.0 && similarity <= 1.0,
        "must be more than 0 and at most 1 (the share of shingles in common)",
    );
}

/// The tables of an array of tables in each file, with their place (`feed[2]` of its file).
fn items<'a, T>(
    sink: &'a Sink,
    key: &'a str,
    files: Vec<(usize, Vec<T>)>,
) -> impl Iterator<Item = (Scope<'a>, T)> {
    files.into_iter().flat_map(move |(file, list)| {
        let scope = move |j| Scope::new(sink, file, format!("{key}[{j}]"));
        list.into_iter()
            .enumerate()
            .map(move |(j, t)| (scope(j), t))
    })
}

/// `include = ["rules.d/*.toml", …]`: decodes the included files, sorted by name within each
/// pattern, relative to the config's folder.
fn include(sink: &mut Sink, patterns: &[String], base: &Path) -> Vec<(usize, Included)> {
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for (i, pat) in patterns.iter().enumerate() {
        let item = format!("include[{i}]");
        if !sink.valid(0, &item) {
            continue;
        }
        // Checked on its own, so a mistake's position is in the pattern as written.
        if let Err(e) = glob::Pattern::new(pat) {
            sink.err(0, &item, format!("invalid pattern {pat:?}: {e}"));
            continue;
        }
        let Some(base) = base.to_str() else {
            let problem = format!("cannot expand {pat:?}: the config's folder is not UTF-8");
            sink.err(0, &item, problem);
            continue;
        };
        let full = Path::new(&glob::Pattern::escape(base)).join(pat);
        let mut found = Vec::new();
        for entry in glob::glob(&full.to_string_lossy()).into_iter().flatten() {
            match entry {
                Ok(p) if p.is_file() => found.push(p),
                Ok(_) => {}
                Err(e) => sink.err(0, &item, format!("cannot read {}: {e}", e.path().display())),
            }
        }
        found.sort();
        for f in found {
            match std::fs::read_to_string(&f) {
                Ok(t) => files.push((f, t)),
                Err(e) => sink.err(0, &item, format!("cannot read {}: {e}", f.display())),
            }
        }
    }
    let mut out = Vec::new();
    for (path, text) in files {
        let file = sink.files.len();
        sink.files.push(de::File::new(Some(path), &text));
        match de::parse(&text) {
            Ok(root) => out.extend(sink.decode(root, file).map(|i| (file, i))),
            Err((line, message)) => {
                let mut at = sink.at(file, String::new(), 0, Vec::new());
                at.line = line;
                sink.report(&at, message);
            }
        }
    }
    out
}

fn poll(p: &Scope<'_>, poll: &Poll) {
    p.check(
        "interval",
        poll.interval >= MIN_INTERVAL,
        "must be at least 1s",
    );
    p.check("timeout", !poll.timeout.is_zero(), "must be more than 0s");
    p.check("max_body", poll.max_body > 0, "must be more than 0 bytes");
    count(p, "concurrency", poll.concurrency, 10_000);
    let ua = &poll.user_agent;
    p.check(
        "user_agent",
        !ua.trim().is_empty() && !ua.contains(['\r', '\n']),
        NOT_ONE_LINE,
    );
    let min = poll.min_interval;
    p.check("min_interval", min >= MIN_INTERVAL, "must be at least 1s");
    count(p, "per_host", poll.per_host, 1000);
}

/// A count between 1 and `max`.
fn count(s: &Scope<'_>, key: &str, n: usize, max: usize) {
    if !(1..=max).contains(&n) {
        s.err(key, format!("must be between 1 and {max}"));
    }
}

/// Checks a feed and fills in what it does not say; whether it is one to poll (its URL is
/// valid). A feed with other problems still is, so rules that select it do not report a
/// second, misleading error; the config as a whole is rejected anyway.
fn feed(s: &Scope<'_>, f: &mut Feed, default_interval: Duration) -> bool {
    s.require("url");
    if !fetchable(&f.url) {
        let (u, scheme) = (Redacted::url(&f.url).to_string(), f.url.scheme());
        s.err(
            "url",
            format!(
                "unsupported URL {u:?}: only http:// and https:// with a host are fetched (scheme was {scheme:?})"
            ),
        );
    }
    s.check("name", !f.name.trim().is_empty(), "must not be empty");
    if !s.valid("name") {
        f.name = f.url.host_str().unwrap_or(f.url.as_str()).into();
    }
    s.check(
        "interval",
        f.interval >= MIN_INTERVAL,
        "must be at least 1s",
    );
    if !s.valid("interval") {
        f.interval = default_interval;
    }
    let selector = f.article_selector.as_deref();
    let message = "must be a valid CSS selector (e.g. \"div.article-body\")";
    s.check(
        "article_selector",
        selector.is_none_or(crate::article::valid_selector),
        message,
    );
    count(s, "max_articles", f.max_articles.unwrap_or(1), 1000);
    f.article = f.fetch_article.then(|| ArticleSettings {
        selector: f.article_selector.clone(),
        allow_private: f.allow_private,
        max_per_poll: (f.max_articles).unwrap_or(crate::article::DEFAULT_MAX_ARTICLES_PER_POLL),
        user_agent: f.user_agent.clone(),
    });
    // The companions without `fetch_article = true` would silently do nothing.
    if !f.fetch_article && (f.article_selector.is_some() || f.max_articles.is_some()) {
        let orphan = "only applies with fetch_article = true";
        s.err("article_selector", orphan);
        s.err("max_articles", orphan);
    }
    s.valid("url") && fetchable(&f.url)
}

/// Names the feeds written without a `name`, readably and uniquely (issue 12: several feeds of
/// one site should not need invented names). A feed is named after its host, as it always was
/// (so rules selecting a feed by that name keep working) when no other unnamed feed shares the
/// host; otherwise after its URL without the scheme (`example.org/world/rss`, query values
/// masked as everywhere a feed URL is shown); and when even that is shared (`http://` and
/// `https://`, or query values only) it is numbered in file order (`example.org/rss (2)`).
/// A default name never takes an explicit `name` of another feed. Only the display name
/// changes: the database knows a feed by its URL, so renaming loses none of its state.
fn default_names(feeds: &mut [(usize, Scope<'_>, Feed)]) {
    let explicit: HashSet<String> = (feeds.iter())
        .filter(|(_, s, _)| s.present("name"))
        .map(|(_, _, f)| f.name.clone())
        .collect();
    let mut pending: Vec<usize> = (0..feeds.len())
        .filter(|&k| !feeds[k].1.present("name"))
        .collect();
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
fn duplicate_feed(s: &Scope<'_>, feed: &Feed, index: usize, seen: &mut SeenFeeds) {
    let same_url = seen.urls.insert(feed.url.as_str().to_string(), index);
    let same_name = seen.names.insert(feed.name.clone(), index);
    if let Some(first) = same_url {
        let url = Redacted::url(&feed.url).to_string();
        s.err(
            "url",
            format!("duplicate feed url {url:?} (also feed[{first}])"),
        );
    }
    if let Some(first) = same_name {
        let name = &feed.name;
        let problem = format!("duplicate feed name {name:?} (also feed[{first}]");
        match s.present("name") {
            false => s.err("", format!("{problem}; give the feed a `name`)")),
            true => s.err("name", format!("{problem})")),
        }
    }
}

/// Checks a rule, compiles its query and resolves its feeds and notifiers; whether it is
/// usable (nothing in it has a problem).
fn rule(
    s: &Scope<'_>,
    r: &mut Rule,
    feeds: &[Feed],
    declared: &BTreeSet<String>,
    defaults: MatchOptions,
) -> bool {
    s.require("name");
    s.check("name", !r.name.trim().is_empty(), "must not be empty");
    let options = match_options(&r.languages, r.transliterate, defaults);
    s.require("query");
    if s.valid("query") {
        match Query::parse_with(&r.query_text, options) {
            Ok(query) => r.query = query,
            Err(e) => {
                let caret: Vec<String> = (e.caret(&r.query_text).lines())
                    .map(|l| format!("      {l}"))
                    .collect();
                let rule = match r.name.trim() {
                    "" => String::new(),
                    name => format!(" in rule {name:?}"),
                };
                let caret = caret.join("\n");
                s.err("query", format!("invalid query{rule}: {e}\n{caret}"));
            }
        }
    }
    let per_hour = r.max_per_hour != Some(0);
    s.check("max_per_hour", per_hour, "must be between 1 and 4294967295");
    let mut selected = BTreeSet::new();
    for (i, sel) in r.selectors.iter().enumerate() {
        let item = format!("feeds[{i}]");
        if !s.valid(&item) {
            continue;
        }
        let hits: Vec<usize> = (0..feeds.len())
            .filter(|&n| selects(sel, &feeds[n]))
            .collect();
        if hits.is_empty() {
            // A selector that is a URL (with a host: `tag:x` parses too) may hold a token.
            let sel = match Url::parse(sel) {
                Ok(url) if url.has_host() => Redacted::url(&url).to_string(),
                _ => sel.clone(),
            };
            let problem = format!(
                "{sel:?} matches no configured feed (use a feed name, a feed URL or tag:NAME)"
            );
            s.err(&item, problem);
        }
        selected.extend(hits);
    }
    unknown_notifiers(s, "notify", &r.notify, declared);
    // No `feeds`: every feed; no `notify`: every notifier.
    r.feeds = match s.present("feeds") {
        true => selected.into_iter().collect(),
        false => (0..feeds.len()).collect(),
    };
    if !s.present("notify") {
        r.notify = declared.iter().cloned().collect();
    }
    s.clean()
}

/// Reports each name in the list at `key` that is not a `[notify.NAME]` table.
fn unknown_notifiers(s: &Scope<'_>, key: &str, names: &[String], declared: &BTreeSet<String>) {
    let known: Vec<&str> = declared.iter().map(String::as_str).collect();
    let known = match known.is_empty() {
        true => "none".to_string(),
        false => known.join(", "),
    };
    for (i, n) in names.iter().enumerate() {
        if !declared.contains(n) {
            let problem = format!("no notifier named {n:?} (configured: {known})");
            s.err(&format!("{key}[{i}]"), problem);
        }
    }
}

/// Does a rule's `feeds` selector pick this feed? Names, URLs and `tag:NAME`.
fn selects(selector: &str, feed: &Feed) -> bool {
    if let Some(tag) = selector.strip_prefix("tag:") {
        return feed.tags.iter().any(|t| crate::domain::same_tag(t, tag));
    }
    feed.name == selector || Url::parse(selector).is_ok_and(|u| u == feed.url)
}

fn email(s: &Scope<'_>, e: &mut Email) {
    s.require("smtp");
    if let Some(var) = &e.password_env {
        if e.password.is_some() {
            s.err(
                "password_env",
                "set password_file or password_env, not both",
            );
        }
        match s.sink.env(var) {
            Some(v) if !v.is_empty() => e.password = Some(Secret(v.to_string())),
            _ => s.err(
                "password_env",
                format!("environment variable {var} is not set or empty"),
            ),
        }
    }
    if e.password.is_some() && e.username.is_none() {
        s.err("", "a password is set but username is not");
    }
    s.require("from");
    s.require("to");
    if e.to.is_empty() && s.clean() {
        s.err("to", "needs at least one address");
    }
    send_timeout(s, e.timeout);
    (e.host, e.port) = (e.smtp.host.clone(), e.smtp.port);
    e.tls = match e.logs_in() {
        true => e.smtp.tls.for_login(),
        false => e.smtp.tls,
    };
}

fn webhook(s: &Scope<'_>, w: &Webhook) {
    s.require("url");
    if !fetchable(&w.url) {
        let u = Redacted::webhook(&w.url).to_string();
        s.err(
            "url",
            format!("unsupported URL {u:?}: use http:// or https://"),
        );
    }
    send_timeout(s, w.timeout);
}

/// A notifier's `timeout`: more than 0 and at most 5 minutes.
fn send_timeout(s: &Scope<'_>, timeout: Duration) {
    let ok = !timeout.is_zero() && timeout <= MAX_SEND_TIMEOUT;
    s.check("timeout", ok, "must be more than 0s and at most 5m");
}

/// `[notify.NAME]` tables, each read by its `type` (which `de::retag` has put first). An
/// invalid one is still there, so rules naming it get no second problem.
pub(super) struct Notifiers(BTreeMap<String, Notifier>);

impl From<Notifiers> for BTreeMap<String, Notifier> {
    fn from(n: Notifiers) -> Self {
        n.0
    }
}

impl Read for Notifiers {
    const EXPECTING: &'static str = "tables like [notify.NAME]";

    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Result<Self, Bad>, A::Error> {
        let read = BTreeMap::<String, Typed>::from_map(map)?;
        Ok(read.map(|tables| {
            let named = tables.into_iter().map(|(name, Typed(mut n))| {
                n.name = name.clone();
                (name, n)
            });
            Notifiers(named.collect())
        }))
    }
}

/// One `[notify.NAME]` table, as `{ TYPE = { … } }`.
struct Typed(Notifier);

impl Read for Typed {
    const EXPECTING: &'static str = "a table";

    fn placeholder() -> Option<Self> {
        Some(Typed(Notifier::default()))
    }

    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Result<Self, Bad>, A::Error> {
        let Some(kind) = map.next_key::<String>()? else {
            return Ok(Err(Bad::Reported));
        };
        Ok(match kind.as_str() {
            "email" => map
                .next_value_seed(Seed::<Kind<Email, 0>>::new())?
                .map(Typed::from),
            "webhook" => map
                .next_value_seed(Seed::<Kind<Webhook, 1>>::new())?
                .map(Typed::from),
            _ => map
                .next_value_seed(Seed::<Kind<(), 2>>::new())?
                .map(Typed::from),
        })
    }
}

/// A notifier table of one type: the common keys go to the notifier, the others to `K`, whose
/// settings are its kind.
struct Kind<K, const I: usize>(Notifier, PhantomData<K>);

impl<K: Fields + Into<NotifierKind>, const I: usize> Read for Kind<K, I> {
    const EXPECTING: &'static str = "a table";

    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Result<Self, Bad>, A::Error> {
        let (mut notifier, mut own) = (Notifier::default(), K::default());
        read_table(map, &NOTIFIER_KEYS[I], |key, map| match key {
            "type" => map.next_value::<IgnoredAny>().map(drop),
            key if Notifier::KEYS.contains(&key) => notifier.read_field(key, map),
            key => own.read_field(key, map),
        })?;
        notifier.kind = own.into();
        Ok(Ok(Kind(notifier, PhantomData)))
    }
}

impl<K, const I: usize> From<Kind<K, I>> for Typed {
    fn from(Kind(notifier, _): Kind<K, I>) -> Self {
        Typed(notifier)
    }
}

impl From<Email> for NotifierKind {
    fn from(e: Email) -> Self {
        NotifierKind::Email(e)
    }
}

impl From<Webhook> for NotifierKind {
    fn from(w: Webhook) -> Self {
        NotifierKind::Webhook(w)
    }
}

impl From<()> for NotifierKind {
    fn from((): ()) -> Self {
        NotifierKind::Stdout
    }
}

/// `type = "stdout"` has no keys of its own.
impl Fields for () {
    const KEYS: &'static [&'static str] = &[];

    fn read_field<'de, A: MapAccess<'de>>(&mut self, _: &str, map: &mut A) -> Result<(), A::Error> {
        map.next_value::<IgnoredAny>().map(drop)
    }
}

/// Reads a value of `T` where a map's own reader wants one (a tagged variant).
struct Seed<T>(PhantomData<T>);

impl<T> Seed<T> {
    fn new() -> Self {
        Seed(PhantomData)
    }
}

impl<'de, T: Read> DeserializeSeed<'de> for Seed<T> {
    type Value = Result<T, Bad>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        T::read(d)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Each value is checked on its own, so a problem no longer hides another one (before the
    /// tables were read into their types, these second problems went unreported).
    #[test]
    fn a_problem_does_not_hide_another_in_an_unrelated_key() {
        let cases = [
            (
                "stories beside a poll problem",
                "[poll]\ntimeout = \"0s\"\n[stories]\nsimilarity = 1.5\n",
                ["poll.timeout", "stories.similarity"],
            ),
            (
                "keep beside an empty path",
                "[storage]\npath = \"\"\nkeep = \"1h\"\n",
                ["storage.path", "storage.keep"],
            ),
            (
                "a webhook's timeout beside its bad URL",
                "[notify.hook]\ntype = \"webhook\"\nurl = \"ftp://x/\"\ntimeout = \"0s\"\n",
                ["notify.hook.url", "notify.hook.timeout"],
            ),
        ];
        for (case, text, keys) in cases {
            let p = super::load(text, Path::new("/nonexistent"), &[]).expect_err(case);
            let got: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(got, keys, "{case}: {p:#?}");
        }
    }
}

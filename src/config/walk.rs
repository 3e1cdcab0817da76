//! The validating walk over the merged config tree.
//!
//! The `config` crate merges the TOML text with environment overrides into one tree; this walk
//! checks every key against the schema and collects *all* problems instead of stopping at the
//! first. Line numbers come from a second, span-keeping parse of the TOML text.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};
use toml::de::{DeTable, DeValue};
use url::Url;

use super::{
    Config, DEFAULT_BACKLOG, DEFAULT_CONCURRENCY, DEFAULT_DB_PATH, DEFAULT_HEALTH_ALERT_AFTER,
    DEFAULT_INTERVAL, DEFAULT_MAX_BODY, DEFAULT_MIN_INTERVAL, DEFAULT_PER_HOST,
    DEFAULT_SEND_TIMEOUT, DEFAULT_SUBJECT, DEFAULT_TIMEOUT, Delivery, DigestSchedule, Email, Feed,
    MIN_INTERVAL, Notifier, NotifierKind, Poll, Rule, Secret, SmtpTls, Storage, Webhook,
    WebhookFormat, default_user_agent,
};
use crate::rules::Query;

/// Longest duration any key accepts: generous, but far from where timestamp arithmetic
/// overflows.
const MAX_DURATION: Duration = Duration::from_secs(1000 * 365 * 24 * 3600);
/// Longest send timeout for a notifier (the outbox waits for it).
const MAX_SEND_TIMEOUT: Duration = Duration::from_secs(300);

/// Prefix of environment overrides: `FEEDWATCH_POLL__INTERVAL=5m` sets `[poll] interval`.
/// Only variables with a `__` section separator are overrides, so `FEEDWATCH_CONFIG` and
/// `FEEDWATCH_LOG` stay plain settings of the program.
const ENV_PREFIX: &str = "FEEDWATCH_";
const ENV_SEPARATOR: &str = "__";

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The included file the problem is in (`None`: the main config file).
    pub file: Option<PathBuf>,
    /// Key path such as `feed[2].url` (empty for the whole file).
    pub key: String,
    /// 1-based line in the file, when the key came from the file.
    pub line: Option<usize>,
    /// What is wrong, lowercase, without the key.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Clone, Debug, Default)]
struct KeyPath(Vec<Seg>);

impl KeyPath {
    fn key(&self, k: &str) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        KeyPath(v)
    }
    fn index(&self, i: usize) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if n == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// One parsed TOML text: the main config or an included file.
struct Source<'t> {
    /// `None` for the main config.
    file: Option<PathBuf>,
    text: &'t str,
    root: DeTable<'t>,
}

/// Finds the file and line of a key path. `[[feed]]` and `[[rule]]` entries may come from
/// included files: `origins` maps their merged index to (source, index in that source).
struct Lines<'t> {
    sources: Vec<Source<'t>>,
    origins: BTreeMap<(&'static str, usize), (usize, usize)>,
}

impl<'t> Lines<'t> {
    /// (file, line, key path as written in that file).
    fn locate(&self, path: &KeyPath) -> (Option<PathBuf>, Option<usize>, String) {
        let mut local = path.clone();
        let mut source = 0;
        if let [Seg::Key(table), Seg::Index(i), ..] = path.0.as_slice() {
            let key = match table.as_str() {
                "feed" => Some("feed"),
                "rule" => Some("rule"),
                _ => None,
            };
            if let Some(&(src, li)) = key.and_then(|k| self.origins.get(&(k, *i))) {
                source = src;
                local.0[1] = Seg::Index(li);
            }
        }
        let Some(src) = self.sources.get(source) else {
            return (None, None, path.to_string());
        };
        (src.file.clone(), line_in(src, &local), local.to_string())
    }
}

fn line_in(src: &Source<'_>, path: &KeyPath) -> Option<usize> {
    let mut span: Option<std::ops::Range<usize>> = None;
    let mut table: Option<&DeTable<'_>> = Some(&src.root);
    let mut array: Option<&[toml::Spanned<DeValue<'_>>]> = None;
    for seg in &path.0 {
        let value = match seg {
            Seg::Key(k) => {
                let (key, value) = table?.iter().find(|(key, _)| key.get_ref() == k)?;
                span = Some(key.span());
                value
            }
            Seg::Index(i) => {
                let value = array?.get(*i)?;
                span = Some(value.span());
                value
            }
        };
        table = None;
        array = None;
        match value.get_ref() {
            DeValue::Table(t) => table = Some(t),
            DeValue::Array(a) => array = Some(a.as_ref()),
            _ => {}
        }
    }
    let start = span?.start.min(src.text.len());
    Some(src.text[..start].matches('\n').count() + 1)
}

struct Walk<'t> {
    lines: Lines<'t>,
    problems: Vec<Problem>,
    /// The process environment (for `password_env`).
    env: &'t [(String, String)],
}

impl Walk<'_> {
    fn err(&mut self, path: &KeyPath, message: impl Into<String>) {
        let (file, line, key) = self.lines.locate(path);
        self.problems.push(Problem {
            file,
            key,
            line,
            message: message.into(),
        });
    }

    /// Checks that `value` is a table with only `allowed` keys; reports unknown ones.
    fn table<'v>(
        &mut self,
        path: &KeyPath,
        value: &'v Value,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Value::Object(map) = value else {
            self.err(path, format!("expected a table, found {}", kind(value)));
            return None;
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let hint = closest(key, allowed)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                self.err(
                    &path.key(key),
                    format!("unknown key{hint}; expected one of: {}", allowed.join(", ")),
                );
            }
        }
        Some(map)
    }

    fn string(&mut self, path: &KeyPath, map: &Map<String, Value>, key: &str) -> Option<String> {
        match map.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.err(
                    &path.key(key),
                    format!("expected a string, found {}", kind(other)),
                );
                None
            }
        }
    }

    fn required_string(
        &mut self,
        path: &KeyPath,
        map: &Map<String, Value>,
        key: &str,
    ) -> Option<String> {
        if !map.contains_key(key) {
            self.err(path, format!("missing required key `{key}`"));
            return None;
        }
        self.string(path, map, key)
    }

    fn bool(&mut self, path: &KeyPath, map: &Map<String, Value>, key: &str) -> Option<bool> {
        match map.get(key)? {
            Value::Bool(b) => Some(*b),
            // Environment overrides arrive as strings.
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            other => {
                self.err(
                    &path.key(key),
                    format!("expected true or false, found {}", kind(other)),
                );
                None
            }
        }
    }

    fn uint(&mut self, path: &KeyPath, map: &Map<String, Value>, key: &str) -> Option<u64> {
        let parsed = match map.get(key)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.err(&path.key(key), "expected a whole number of 0 or more");
        }
        parsed
    }

    fn duration(
        &mut self,
        path: &KeyPath,
        map: &Map<String, Value>,
        key: &str,
    ) -> Option<Duration> {
        let text = self.string(path, map, key)?;
        match humantime::parse_duration(text.trim()) {
            // Every duration is added to timestamps somewhere; an absurd one must be a config
            // error here, not an overflow at run time.
            Ok(d) if d > MAX_DURATION => {
                self.err(
                    &path.key(key),
                    format!("{text:?} is too long; at most 1000 years"),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.err(
                    &path.key(key),
                    format!("invalid duration {text:?} ({e}); write it like \"15m\", \"1h 30m\" or \"20s\""),
                );
                None
            }
        }
    }

    /// A notifier's `timeout`: more than 0 and at most 5 minutes.
    fn send_timeout(&mut self, path: &KeyPath, map: &Map<String, Value>) -> Duration {
        match self.duration(path, map, "timeout") {
            Some(d) if d.is_zero() || d > MAX_SEND_TIMEOUT => {
                self.err(&path.key("timeout"), "must be more than 0s and at most 5m");
                DEFAULT_SEND_TIMEOUT
            }
            Some(d) => d,
            None => DEFAULT_SEND_TIMEOUT,
        }
    }

    fn size(&mut self, path: &KeyPath, map: &Map<String, Value>, key: &str) -> Option<u64> {
        let parsed = match map.get(key)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<bytesize::ByteSize>().ok().map(|b| b.0),
            _ => None,
        };
        if parsed.is_none() {
            self.err(
                &path.key(key),
                "invalid size; write it like \"15MiB\", \"500KB\" or a number of bytes",
            );
        }
        parsed
    }

    fn string_list(
        &mut self,
        path: &KeyPath,
        map: &Map<String, Value>,
        key: &str,
    ) -> Option<Vec<String>> {
        match map.get(key)? {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        other => self.err(
                            &path.key(key).index(i),
                            format!("expected a string, found {}", kind(other)),
                        ),
                    }
                }
                Some(out)
            }
            // A single string is accepted where a list is expected (`to = "a@b"`).
            Value::String(s) => Some(vec![s.clone()]),
            other => {
                self.err(
                    &path.key(key),
                    format!("expected a list of strings, found {}", kind(other)),
                );
                None
            }
        }
    }

    /// `headers = { Name = "value" }`: valid header names with string values.
    fn header_table(&mut self, path: &KeyPath, map: &Map<String, Value>) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        let Some(v) = map.get("headers") else {
            return headers;
        };
        let hp = path.key("headers");
        match v {
            Value::Object(h) => {
                for (k, v) in h {
                    let valid_name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_ok();
                    match v {
                        Value::String(s)
                            if valid_name && reqwest::header::HeaderValue::from_str(s).is_ok() =>
                        {
                            headers.push((k.clone(), s.clone()));
                        }
                        _ => self.err(
                            &hp.key(k),
                            "expected a valid header name with a string value",
                        ),
                    }
                }
            }
            other => self.err(
                &hp,
                format!(
                    "expected a table of header = \"value\", found {}",
                    kind(other)
                ),
            ),
        }
        headers
    }

    fn digest(&mut self, path: &KeyPath, map: &Map<String, Value>) -> Option<DigestSchedule> {
        let text = self.string(path, map, "digest")?;
        match DigestSchedule::parse(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(&path.key("digest"), e);
                None
            }
        }
    }

    /// Reads a secret from a file named by `key` (relative to `base`).
    fn secret_file(
        &mut self,
        path: &KeyPath,
        map: &Map<String, Value>,
        key: &str,
        base: &Path,
    ) -> Option<Secret> {
        let file = self.string(path, map, key)?;
        // systemd's LoadCredential= puts secrets in $CREDENTIALS_DIRECTORY, whose path the
        // config cannot know in advance: `password_file = "$CREDENTIALS_DIRECTORY/smtp"`.
        let file = match file.strip_prefix("$CREDENTIALS_DIRECTORY/") {
            Some(rest) => match self.env.iter().find(|(k, _)| k == "CREDENTIALS_DIRECTORY") {
                Some((_, dir)) => format!("{dir}/{rest}"),
                None => {
                    self.err(
                        &path.key(key),
                        "uses $CREDENTIALS_DIRECTORY, which is not set (it is set by systemd's LoadCredential=)",
                    );
                    return None;
                }
            },
            None => file,
        };
        let full = base.join(&file);
        match std::fs::read_to_string(&full) {
            // A trailing newline from `echo secret > file` is not part of the secret.
            Ok(s) => Some(Secret(s.trim_end_matches(['\r', '\n']).to_string())),
            Err(e) => {
                self.err(
                    &path.key(key),
                    format!("cannot read {}: {e}", full.display()),
                );
                None
            }
        }
    }

    /// `ca_file`: PEM with one or more CA certificates to trust in addition to the system's.
    fn ca_file(
        &mut self,
        path: &KeyPath,
        map: &Map<String, Value>,
        base: &Path,
    ) -> Option<Vec<u8>> {
        let file = self.string(path, map, "ca_file")?;
        let full = base.join(&file);
        match std::fs::read(&full) {
            Ok(pem) if lettre::transport::smtp::client::Certificate::from_pem(&pem).is_ok() => {
                Some(pem)
            }
            Ok(_) => {
                self.err(
                    &path.key("ca_file"),
                    format!("{} holds no PEM certificate", full.display()),
                );
                None
            }
            Err(e) => {
                self.err(
                    &path.key("ca_file"),
                    format!("cannot read {}: {e}", full.display()),
                );
                None
            }
        }
    }

    fn array<'v>(&mut self, path: &KeyPath, value: &'v Value) -> &'v [Value] {
        match value {
            Value::Array(items) => items,
            other => {
                self.err(
                    path,
                    format!(
                        "expected an array of tables ([[{path}]]), found {}",
                        kind(other)
                    ),
                );
                &[]
            }
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

/// The allowed key closest to a misspelt one, if any is close.
fn closest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (strsim::levenshtein(key, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

const TOP_KEYS: &[&str] = &[
    "storage", "poll", "feed", "rule", "notify", "delivery", "include", "metrics",
];
/// What an included file may contain.
const INCLUDED_KEYS: &[&str] = &["feed", "rule"];
const METRICS_KEYS: &[&str] = &["listen"];
const DELIVERY_KEYS: &[&str] = &["retry_base", "retry_cap", "give_up_after"];
const STORAGE_KEYS: &[&str] = &["path", "keep"];
const POLL_KEYS: &[&str] = &[
    "interval",
    "timeout",
    "max_body",
    "backlog",
    "concurrency",
    "user_agent",
    "min_interval",
    "per_host",
    "health_alert_after",
    "proxy",
];
const FEED_KEYS: &[&str] = &["url", "name", "interval", "tags", "headers", "user_agent"];
const RULE_KEYS: &[&str] = &[
    "name",
    "query",
    "feeds",
    "notify",
    "enabled",
    "digest",
    "max_per_hour",
];
const EMAIL_KEYS: &[&str] = &[
    "type",
    "smtp",
    "username",
    "password_file",
    "from",
    "to",
    "timeout",
    "password_env",
    "subject",
    "digest",
    "ca_file",
];
const STDOUT_KEYS: &[&str] = &["type", "digest"];
const WEBHOOK_KEYS: &[&str] = &[
    "type",
    "url",
    "headers",
    "secret_file",
    "format",
    "timeout",
    "digest",
    "ca_file",
];

/// Every key the schema accepts, by table (`notify.email` etc. for notifier types), so docs
/// and tests can be checked against the code.
pub fn schema_keys() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("", TOP_KEYS),
        ("storage", STORAGE_KEYS),
        ("poll", POLL_KEYS),
        ("delivery", DELIVERY_KEYS),
        ("feed", FEED_KEYS),
        ("rule", RULE_KEYS),
        ("notify.email", EMAIL_KEYS),
        ("notify.webhook", WEBHOOK_KEYS),
        ("notify.stdout", STDOUT_KEYS),
        ("metrics", METRICS_KEYS),
    ]
}

/// Merges file and environment, then validates. `base` is the folder relative paths start from.
pub(super) fn load(
    text: &str,
    base: &Path,
    env: &[(String, String)],
) -> Result<Config, Vec<Problem>> {
    // Syntax first, with a line number from the span-keeping parser.
    let root = match DeTable::parse(text) {
        Ok(t) => t.into_inner(),
        Err(e) => return Err(vec![syntax_problem(None, text, &e)]),
    };
    let overrides: config::Map<String, String> = env
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix(ENV_PREFIX)
                .is_some_and(|rest| rest.contains(ENV_SEPARATOR))
        })
        .cloned()
        .collect();
    let merged = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("FEEDWATCH")
                .prefix_separator("_")
                .separator(ENV_SEPARATOR)
                .source(Some(overrides)),
        )
        .build()
        .and_then(|c| c.try_deserialize::<Value>());
    let tree = match merged {
        Ok(v) => v,
        Err(e) => {
            return Err(vec![Problem {
                file: None,
                key: String::new(),
                line: None,
                message: format!("cannot merge config and environment: {e}"),
            }]);
        }
    };

    // `include = [globs]`: more [[feed]] and [[rule]] tables from other files, appended in
    // file-name order. Read here; parsed below, where their texts can be borrowed.
    let mut problems = Vec::new();
    let mut included: Vec<(PathBuf, String)> = Vec::new();
    let mut tree = tree;
    if let Value::Object(top) = &mut tree
        && let Some(inc) = top.remove("include")
    {
        read_includes(&inc, base, &mut included, &mut problems);
    }
    let mut sources = vec![Source {
        file: None,
        text,
        root,
    }];
    let mut origins = BTreeMap::new();
    for (name, key) in [("feed", "feed"), ("rule", "rule")] {
        if let Some(Value::Array(a)) = tree.get(key) {
            for i in 0..a.len() {
                origins.insert((name, i), (0, i));
            }
        }
    }
    for (path, inc_text) in &included {
        let root = match DeTable::parse(inc_text) {
            Ok(t) => t.into_inner(),
            Err(e) => {
                problems.push(syntax_problem(Some(path.clone()), inc_text, &e));
                continue;
            }
        };
        let value: Value = match toml::from_str(inc_text) {
            Ok(v) => v,
            Err(e) => {
                problems.push(syntax_problem(Some(path.clone()), inc_text, &e));
                continue;
            }
        };
        let src = sources.len();
        sources.push(Source {
            file: Some(path.clone()),
            text: inc_text,
            root,
        });
        let Value::Object(map) = value else { continue };
        for (key, v) in map {
            let name = match key.as_str() {
                "feed" => "feed",
                "rule" => "rule",
                _ => {
                    problems.push(Problem {
                        file: Some(path.clone()),
                        line: line_in(&sources[src], &KeyPath::default().key(&key)),
                        key: key.clone(),
                        message: format!(
                            "not allowed in an included file; included files hold only {}",
                            INCLUDED_KEYS
                                .iter()
                                .map(|k| format!("[[{k}]]"))
                                .collect::<Vec<_>>()
                                .join(" and ")
                        ),
                    });
                    continue;
                }
            };
            let Value::Array(items) = v else {
                problems.push(Problem {
                    file: Some(path.clone()),
                    line: line_in(&sources[src], &KeyPath::default().key(&key)),
                    key: key.clone(),
                    message: format!("expected an array of tables ([[{key}]])"),
                });
                continue;
            };
            let Value::Object(top) = &mut tree else {
                continue;
            };
            let target = top
                .entry(key.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(target) = target {
                for (li, item) in items.into_iter().enumerate() {
                    origins.insert((name, target.len()), (src, li));
                    target.push(item);
                }
            }
        }
    }

    let mut w = Walk {
        lines: Lines { sources, origins },
        problems,
        env,
    };
    let config = walk_root(&mut w, &tree, base);
    if w.problems.is_empty() {
        config.ok_or_else(Vec::new)
    } else {
        let mut problems = w.problems;
        problems.sort_by(|a, b| {
            (a.file.is_some(), &a.file, a.line.unwrap_or(usize::MAX)).cmp(&(
                b.file.is_some(),
                &b.file,
                b.line.unwrap_or(usize::MAX),
            ))
        });
        Err(problems)
    }
}

fn syntax_problem(file: Option<PathBuf>, text: &str, e: &toml::de::Error) -> Problem {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    Problem {
        file,
        key: String::new(),
        line,
        message: format!("TOML syntax error: {}", e.message().trim()),
    }
}

/// Expands `include = ["rules.d/*.toml", …]` (relative to the config's folder) and reads the
/// files, sorted by name within each pattern.
fn read_includes(
    inc: &Value,
    base: &Path,
    out: &mut Vec<(PathBuf, String)>,
    problems: &mut Vec<Problem>,
) {
    let problem = |message: String| Problem {
        file: None,
        key: "include".to_string(),
        line: None,
        message,
    };
    let patterns: Vec<&str> = match inc {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => {
            if a.iter().any(|v| !v.is_string()) {
                problems.push(problem(
                    "every entry must be a file pattern (a string)".into(),
                ));
            }
            a.iter().filter_map(Value::as_str).collect()
        }
        _ => {
            problems.push(problem("expected a list of file patterns".into()));
            return;
        }
    };
    for pat in patterns {
        let full = base.join(pat);
        let Some(full) = full.to_str() else {
            problems.push(problem(format!("pattern {pat:?} is not valid UTF-8")));
            continue;
        };
        let paths = match glob::glob(full) {
            Ok(p) => p,
            Err(e) => {
                problems.push(problem(format!("invalid pattern {pat:?}: {e}")));
                continue;
            }
        };
        let mut files = Vec::new();
        for entry in paths {
            match entry {
                Ok(p) if p.is_file() => files.push(p),
                Ok(_) => {}
                Err(e) => {
                    problems.push(problem(format!("cannot read {}: {e}", e.path().display())))
                }
            }
        }
        files.sort();
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(t) => out.push((f, t)),
                Err(e) => problems.push(problem(format!("cannot read {}: {e}", f.display()))),
            }
        }
    }
}

fn walk_root(w: &mut Walk<'_>, tree: &Value, base: &Path) -> Option<Config> {
    let root = KeyPath::default();
    let empty = Map::new();
    let top = match tree {
        // An empty file deserializes to an empty table or to nothing.
        Value::Null => &empty,
        other => w.table(&root, other, TOP_KEYS)?,
    };

    let storage = walk_storage(w, top.get("storage"), base);
    let poll = walk_poll(w, top.get("poll"));
    let default_interval = poll.as_ref().map_or(DEFAULT_INTERVAL, |p| p.interval);

    let feeds = match top.get("feed") {
        Some(v) => {
            let path = root.key("feed");
            let items = w.array(&path, v);
            items
                .iter()
                .enumerate()
                .filter_map(|(i, f)| walk_feed(w, &path.index(i), f, default_interval))
                .collect::<Vec<_>>()
        }
        None => Vec::new(),
    };
    check_unique(w, &root.key("feed"), &feeds, "url", |f| f.url.to_string());
    check_unique(w, &root.key("feed"), &feeds, "name", |f| f.name.clone());

    let notifiers = match top.get("notify") {
        Some(v) => walk_notifiers(w, &root.key("notify"), v, base),
        None => BTreeMap::new(),
    };
    // Every [notify.NAME] table, valid or not: a rule naming a broken notifier should not get
    // a second error saying the notifier does not exist.
    let declared: BTreeSet<String> = match top.get("notify") {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => BTreeSet::new(),
    };

    let mut rules = Vec::new();
    if let Some(v) = top.get("rule") {
        let path = root.key("rule");
        let items = w.array(&path, v);
        let mut names = BTreeSet::new();
        for (i, r) in items.iter().enumerate() {
            let p = path.index(i);
            if let Some(rule) = walk_rule(w, &p, r, &feeds, &declared) {
                if !names.insert(rule.name.clone()) {
                    w.err(
                        &p.key("name"),
                        format!("duplicate rule name {:?}", rule.name),
                    );
                }
                rules.push(rule);
            }
        }
    }
    if rules.iter().any(|r| r.enabled) && declared.is_empty() {
        w.err(
            &root.key("notify"),
            "rules are configured but no notifier is: add a [notify.NAME] table",
        );
    }

    let delivery = walk_delivery(w, top.get("delivery"));
    let metrics = match top.get("metrics") {
        None => None,
        Some(v) => {
            let path = root.key("metrics");
            w.table(&path, v, METRICS_KEYS).and_then(|m| {
                let listen = w.required_string(&path, m, "listen")?;
                match listen.parse::<std::net::SocketAddr>() {
                    Ok(a) => Some(a),
                    Err(_) => {
                        w.err(
                            &path.key("listen"),
                            format!("invalid address {listen:?}; write it like \"127.0.0.1:9187\""),
                        );
                        None
                    }
                }
            })
        }
    };
    Some(Config {
        metrics,
        delivery: delivery?,
        source: PathBuf::new(),
        storage: storage?,
        poll: poll?,
        feeds,
        rules,
        notifiers,
    })
}

fn check_unique<T>(
    w: &mut Walk<'_>,
    path: &KeyPath,
    items: &[T],
    key: &str,
    f: impl Fn(&T) -> String,
) {
    let mut seen = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let v = f(item);
        if let Some(first) = seen.insert(v.clone(), i) {
            w.err(
                &path.index(i).key(key),
                format!("duplicate feed {key} {v:?} (also feed[{first}])"),
            );
        }
    }
}

fn walk_delivery(w: &mut Walk<'_>, value: Option<&Value>) -> Option<Delivery> {
    let path = KeyPath::default().key("delivery");
    let mut d = Delivery::default();
    let Some(v) = value else {
        return Some(d);
    };
    let map = w.table(&path, v, DELIVERY_KEYS)?;
    let before = w.problems.len();
    if let Some(x) = w.duration(&path, map, "retry_base") {
        if x.is_zero() {
            w.err(&path.key("retry_base"), "must be more than 0s");
        }
        d.retry_base = x;
    }
    if let Some(x) = w.duration(&path, map, "retry_cap") {
        d.retry_cap = x;
    }
    if let Some(x) = w.duration(&path, map, "give_up_after") {
        d.give_up_after = x;
    }
    if d.retry_cap < d.retry_base {
        w.err(
            &path.key("retry_cap"),
            "must not be shorter than retry_base",
        );
    }
    (w.problems.len() == before).then_some(d)
}

fn walk_storage(w: &mut Walk<'_>, value: Option<&Value>, base: &Path) -> Option<Storage> {
    let path = KeyPath::default().key("storage");
    let mut db = PathBuf::from(DEFAULT_DB_PATH);
    let mut keep = None;
    if let Some(v) = value {
        let map = w.table(&path, v, STORAGE_KEYS)?;
        if let Some(p) = w.string(&path, map, "path") {
            if p.trim().is_empty() {
                w.err(&path.key("path"), "must not be empty");
                return None;
            }
            db = PathBuf::from(p);
        }
        keep = w.duration(&path, map, "keep");
        if keep.is_some_and(|k| k < Duration::from_secs(24 * 3600)) {
            w.err(
                &path.key("keep"),
                "must be at least 1d (item keys are kept forever anyway)",
            );
        }
    }
    Some(Storage {
        path: if db.is_absolute() { db } else { base.join(db) },
        keep,
    })
}

fn walk_poll(w: &mut Walk<'_>, value: Option<&Value>) -> Option<Poll> {
    let path = KeyPath::default().key("poll");
    let mut poll = Poll {
        interval: DEFAULT_INTERVAL,
        timeout: DEFAULT_TIMEOUT,
        max_body: DEFAULT_MAX_BODY,
        backlog: DEFAULT_BACKLOG,
        concurrency: DEFAULT_CONCURRENCY,
        user_agent: default_user_agent(),
        min_interval: DEFAULT_MIN_INTERVAL,
        per_host: DEFAULT_PER_HOST,
        health_alert_after: DEFAULT_HEALTH_ALERT_AFTER,
        proxy: None,
    };
    let Some(v) = value else {
        return Some(poll);
    };
    let map = w.table(&path, v, POLL_KEYS)?;
    let before = w.problems.len();
    if let Some(d) = w.duration(&path, map, "interval") {
        if d < MIN_INTERVAL {
            w.err(&path.key("interval"), "must be at least 1s");
        }
        poll.interval = d;
    }
    if let Some(d) = w.duration(&path, map, "timeout") {
        if d.is_zero() {
            w.err(&path.key("timeout"), "must be more than 0s");
        }
        poll.timeout = d;
    }
    if let Some(n) = w.size(&path, map, "max_body") {
        if n == 0 {
            w.err(&path.key("max_body"), "must be more than 0 bytes");
        }
        poll.max_body = n;
    }
    if let Some(d) = w.duration(&path, map, "backlog") {
        poll.backlog = d;
    }
    if let Some(n) = w.uint(&path, map, "concurrency") {
        if n == 0 || n > 10_000 {
            w.err(&path.key("concurrency"), "must be between 1 and 10000");
        }
        poll.concurrency = usize::try_from(n).unwrap_or(DEFAULT_CONCURRENCY);
    }
    if let Some(ua) = w.string(&path, map, "user_agent") {
        if ua.trim().is_empty() || ua.contains(['\r', '\n']) {
            w.err(&path.key("user_agent"), "must be a non-empty single line");
        }
        poll.user_agent = ua;
    }
    if let Some(d) = w.duration(&path, map, "min_interval") {
        if d < MIN_INTERVAL {
            w.err(&path.key("min_interval"), "must be at least 1s");
        }
        poll.min_interval = d;
    }
    if let Some(n) = w.uint(&path, map, "per_host") {
        if n == 0 || n > 1000 {
            w.err(&path.key("per_host"), "must be between 1 and 1000");
        }
        poll.per_host = usize::try_from(n).unwrap_or(DEFAULT_PER_HOST);
    }
    if let Some(d) = w.duration(&path, map, "health_alert_after") {
        poll.health_alert_after = d;
    }
    if let Some(p) = w.string(&path, map, "proxy") {
        match Url::parse(p.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h") => {
                poll.proxy = Some(u);
            }
            _ => w.err(
                &path.key("proxy"),
                format!("invalid proxy URL {p:?}; use http://, https:// or socks5://"),
            ),
        }
    }
    (w.problems.len() == before).then_some(poll)
}

fn walk_feed(
    w: &mut Walk<'_>,
    path: &KeyPath,
    value: &Value,
    default_interval: Duration,
) -> Option<Feed> {
    let map = w.table(path, value, FEED_KEYS)?;
    let url = w.required_string(path, map, "url").and_then(|u| {
        match Url::parse(u.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            Ok(url) => {
                w.err(
                    &path.key("url"),
                    format!(
                        "unsupported URL {u:?}: only http:// and https:// with a host are fetched (scheme was {:?})",
                        url.scheme()
                    ),
                );
                None
            }
            Err(e) => {
                w.err(&path.key("url"), format!("invalid URL {u:?}: {e}"));
                None
            }
        }
    });
    let name = w.string(path, map, "name");
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        w.err(&path.key("name"), "must not be empty");
    }
    let interval = w.duration(path, map, "interval");
    if interval.is_some_and(|d| d < MIN_INTERVAL) {
        w.err(&path.key("interval"), "must be at least 1s");
    }
    let tags = w.string_list(path, map, "tags").unwrap_or_default();
    let headers = w.header_table(path, map);
    let user_agent = w.string(path, map, "user_agent");
    if user_agent
        .as_deref()
        .is_some_and(|ua| ua.trim().is_empty() || ua.contains(['\r', '\n']))
    {
        w.err(&path.key("user_agent"), "must be a non-empty single line");
    }
    // A feed with other problems is still returned (with defaults) when its URL is valid, so
    // rules that select it do not report a second, misleading error; the config as a whole is
    // rejected anyway because a problem was recorded.
    let url = url?;
    Some(Feed {
        name: name.unwrap_or_else(|| url.host_str().unwrap_or(url.as_str()).to_string()),
        url,
        interval: interval.unwrap_or(default_interval),
        tags,
        headers,
        user_agent,
    })
}

fn walk_rule(
    w: &mut Walk<'_>,
    path: &KeyPath,
    value: &Value,
    feeds: &[Feed],
    notifiers: &BTreeSet<String>,
) -> Option<Rule> {
    let map = w.table(path, value, RULE_KEYS)?;
    let before = w.problems.len();
    let name = w.required_string(path, map, "name");
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        w.err(&path.key("name"), "must not be empty");
    }
    let query_text = w.required_string(path, map, "query");
    let query = query_text.as_deref().and_then(|q| match Query::parse(q) {
        Ok(query) => Some(query),
        Err(e) => {
            w.err(
                &path.key("query"),
                format!("invalid query: {e}\n{}", indent(&e.caret(q))),
            );
            None
        }
    });
    let enabled = w.bool(path, map, "enabled").unwrap_or(true);
    let digest = w.digest(path, map);
    let max_per_hour = w
        .uint(path, map, "max_per_hour")
        .and_then(|n| match u32::try_from(n) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                w.err(
                    &path.key("max_per_hour"),
                    "must be between 1 and 4294967295",
                );
                None
            }
        });

    let selected = match w.string_list(path, map, "feeds") {
        None => (0..feeds.len()).collect(),
        Some(selectors) => {
            let mut out = BTreeSet::new();
            for (i, sel) in selectors.iter().enumerate() {
                let hits: Vec<usize> = feeds
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| selects(sel, f))
                    .map(|(n, _)| n)
                    .collect();
                if hits.is_empty() {
                    w.err(
                        &path.key("feeds").index(i),
                        format!("{sel:?} matches no configured feed (use a feed name, a feed URL or tag:NAME)"),
                    );
                }
                out.extend(hits);
            }
            out.into_iter().collect()
        }
    };
    let notify = match w.string_list(path, map, "notify") {
        None => notifiers.iter().cloned().collect(),
        Some(names) => {
            for (i, n) in names.iter().enumerate() {
                if !notifiers.contains(n) {
                    let known: Vec<&str> = notifiers.iter().map(String::as_str).collect();
                    w.err(
                        &path.key("notify").index(i),
                        format!(
                            "no notifier named {n:?} (configured: {})",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    );
                }
            }
            names
        }
    };
    if w.problems.len() != before {
        return None;
    }
    Some(Rule {
        name: name?,
        query_text: query_text?,
        query: query?,
        feeds: selected,
        notify,
        enabled,
        digest,
        max_per_hour,
    })
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("      {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Does a rule's `feeds` selector pick this feed? Names, URLs and `tag:NAME`.
fn selects(selector: &str, feed: &Feed) -> bool {
    if let Some(tag) = selector.strip_prefix("tag:") {
        return feed.tags.iter().any(|t| t == tag);
    }
    if feed.name == selector {
        return true;
    }
    Url::parse(selector).is_ok_and(|u| u == feed.url)
}

fn walk_notifiers(
    w: &mut Walk<'_>,
    path: &KeyPath,
    value: &Value,
    base: &Path,
) -> BTreeMap<String, Notifier> {
    let mut out = BTreeMap::new();
    let Value::Object(map) = value else {
        w.err(
            path,
            format!("expected tables like [notify.NAME], found {}", kind(value)),
        );
        return out;
    };
    for (name, v) in map {
        let p = path.key(name);
        let Value::Object(table) = v else {
            w.err(&p, format!("expected a table, found {}", kind(v)));
            continue;
        };
        let kind = match table.get("type") {
            None => {
                w.err(&p, "missing required key `type` (\"email\" or \"stdout\")");
                continue;
            }
            Some(Value::String(t)) => t.as_str(),
            Some(other) => {
                w.err(
                    &p.key("type"),
                    format!("expected a string, found {}", kind(other)),
                );
                continue;
            }
        };
        let parsed = match kind {
            "email" => walk_email(w, &p, v, base).map(NotifierKind::Email),
            "stdout" => w.table(&p, v, STDOUT_KEYS).map(|_| NotifierKind::Stdout),
            "webhook" => walk_webhook(w, &p, v, base).map(NotifierKind::Webhook),
            other => {
                w.err(
                    &p.key("type"),
                    format!(
                        "unknown notifier type {other:?}; expected \"email\", \"webhook\" or \"stdout\""
                    ),
                );
                None
            }
        };
        let digest = w.digest(&p, table);
        if let Some(kind) = parsed {
            out.insert(
                name.clone(),
                Notifier {
                    name: name.clone(),
                    kind,
                    digest,
                },
            );
        }
    }
    out
}

fn walk_email(w: &mut Walk<'_>, path: &KeyPath, value: &Value, base: &Path) -> Option<Email> {
    let map = w.table(path, value, EMAIL_KEYS)?;
    let before = w.problems.len();
    let endpoint = w
        .required_string(path, map, "smtp")
        .and_then(|s| match parse_smtp_url(&s) {
            Ok(e) => Some(e),
            Err(msg) => {
                w.err(&path.key("smtp"), msg);
                None
            }
        });
    let username = w.string(path, map, "username");
    let mut password = w.secret_file(path, map, "password_file", base);
    if let Some(var) = w.string(path, map, "password_env") {
        if password.is_some() {
            w.err(
                &path.key("password_env"),
                "set password_file or password_env, not both",
            );
        }
        match w.env.iter().find(|(k, _)| *k == var) {
            Some((_, v)) if !v.is_empty() => password = Some(Secret(v.clone())),
            _ => w.err(
                &path.key("password_env"),
                format!("environment variable {var} is not set or empty"),
            ),
        }
    }
    if password.is_some() && username.is_none() {
        w.err(path, "a password is set but username is not");
    }
    let subject = w
        .string(path, map, "subject")
        .unwrap_or_else(|| DEFAULT_SUBJECT.to_string());
    if let Err(e) = crate::notify::render::check_subject_template(&subject) {
        w.err(&path.key("subject"), e);
    }
    let ca_pem = w.ca_file(path, map, base);
    let from = w.required_string(path, map, "from").and_then(|s| {
        match s.parse::<lettre::message::Mailbox>() {
            Ok(m) => Some(m),
            Err(e) => {
                w.err(&path.key("from"), format!("invalid address {s:?}: {e}"));
                None
            }
        }
    });
    let mut to = Vec::new();
    if !map.contains_key("to") {
        w.err(path, "missing required key `to`");
    }
    for (i, s) in w
        .string_list(path, map, "to")
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        match s.parse::<lettre::message::Mailbox>() {
            Ok(m) => to.push(m),
            Err(e) => w.err(
                &path.key("to").index(i),
                format!("invalid address {s:?}: {e}"),
            ),
        }
    }
    if map.contains_key("to") && to.is_empty() && w.problems.len() == before {
        w.err(&path.key("to"), "needs at least one address");
    }
    let timeout = w.send_timeout(path, map);
    if w.problems.len() != before {
        return None;
    }
    let (host, port, tls) = endpoint?;
    Some(Email {
        host,
        port,
        tls,
        username,
        password,
        from: from?,
        to,
        timeout,
        subject,
        ca_pem,
    })
}

fn walk_webhook(w: &mut Walk<'_>, path: &KeyPath, value: &Value, base: &Path) -> Option<Webhook> {
    let map = w.table(path, value, WEBHOOK_KEYS)?;
    let before = w.problems.len();
    let url = w
        .required_string(path, map, "url")
        .and_then(|u| match Url::parse(u.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(url)
            }
            Ok(_) => {
                w.err(
                    &path.key("url"),
                    format!("unsupported URL {u:?}: use http:// or https://"),
                );
                None
            }
            Err(e) => {
                w.err(&path.key("url"), format!("invalid URL {u:?}: {e}"));
                None
            }
        });
    let headers = w.header_table(path, map);
    let secret = w.secret_file(path, map, "secret_file", base);
    let ca_pem = w.ca_file(path, map, base);
    let format = match w.string(path, map, "format").as_deref() {
        None | Some("json") => WebhookFormat::Json,
        Some("slack") => WebhookFormat::Slack,
        Some("discord") => WebhookFormat::Discord,
        Some("ntfy") => WebhookFormat::Ntfy,
        Some(other) => {
            w.err(
                &path.key("format"),
                format!("unknown format {other:?}; expected json, slack, discord or ntfy"),
            );
            WebhookFormat::Json
        }
    };
    let timeout = w.send_timeout(path, map);
    if w.problems.len() != before {
        return None;
    }
    Some(Webhook {
        url: url?,
        headers,
        secret,
        format,
        timeout,
        ca_pem,
    })
}

/// `smtp://host[:port][?tls=required|opportunistic|none]` or `smtps://host[:port]`.
pub(crate) fn parse_smtp_url(s: &str) -> Result<(String, u16, SmtpTls), String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("invalid SMTP URL {s:?}: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("put credentials in `username` and `password_file`, not in the URL".into());
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("SMTP URL {s:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tls_param = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let (tls, default_port) = match (url.scheme(), tls_param.as_deref()) {
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

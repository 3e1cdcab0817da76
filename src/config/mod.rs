//! Configuration: the TOML file (plus `FEEDWATCH_*__*` environment overrides) turned into a
//! validated [`Config`] with parsed URLs, durations, sizes and compiled rules.
//!
//! Loading never stops at the first mistake: every problem is collected with its key path
//! (`feed[2].url`) and, when it came from the file, its line, so `feedwatch check` can list them
//! all at once. Nothing here performs network I/O; the only file reads are the config itself,
//! its included files and the secret and CA files it names.
//!
//! The way there: the types below are the file format, each key a field declared once with its
//! type, default and doc comment (`de::table!`); `de` reads the TOML text and the environment
//! into them, recording each value's place and every problem; `values` is how each kind of
//! value is parsed; `check` makes the checks a value's type cannot make alone, fills in what
//! is resolved across the file (a rule's feeds, its compiled query) and reports every problem.

mod check;
mod de;
mod diff;
mod schedule;
mod subject;
mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use url::Url;

use crate::domain::{FeedId, Grouping};
use crate::rules::{Language, MatchOptions, Query};
use de::{Fields, table};

pub use diff::{Changes, Delta};
pub use schedule::{DigestSchedule, QuietHours, TimeOfDay};
pub use subject::{DEFAULT_SUBJECT, SubjectField, SubjectPiece, SubjectTemplate};

/// Where the config lives when neither `--config` nor `$FEEDWATCH_CONFIG` says otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/feedwatch/feedwatch.toml";
/// Default `[storage] path`.
pub const DEFAULT_DB_PATH: &str = "/var/lib/feedwatch/feedwatch.db";
/// Default `[poll] interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Default `[poll] timeout`: the whole request, headers and body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// Default `[poll] max_body`: 15 MiB.
pub const DEFAULT_MAX_BODY: u64 = 15 * 1024 * 1024;
/// Default `[poll] backlog`.
pub const DEFAULT_BACKLOG: Duration = Duration::from_secs(24 * 3600);
/// Default `[poll] concurrency`: feeds fetched at the same time.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Smallest accepted polling interval; anything faster is impolite to publishers.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Default `[poll] min_interval`.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(60);
/// Default `[poll] per_host`.
pub const DEFAULT_PER_HOST: usize = 2;
/// Default `[poll] health_alert_after`.
pub const DEFAULT_HEALTH_ALERT_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Default SMTP/notifier send timeout.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `[delivery] retry_base`.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(30);
/// Default `[delivery] retry_cap`.
pub const DEFAULT_RETRY_CAP: Duration = Duration::from_secs(3600);
/// Default `[delivery] give_up_after`.
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);

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

/// Every key the schema accepts, by table (`notify.email` etc. for notifier types), so docs
/// and tests can be checked against the code.
pub fn schema_keys() -> Vec<(&'static str, &'static [&'static str])> {
    let [email, webhook, stdout] = &*check::NOTIFIER_KEYS;
    vec![
        ("", Config::KEYS),
        ("storage", Storage::KEYS),
        ("poll", Poll::KEYS),
        ("delivery", Delivery::KEYS),
        ("feed", Feed::KEYS),
        ("rule", Rule::KEYS),
        ("notify.email", email),
        ("notify.webhook", webhook),
        ("notify.stdout", stdout),
        ("metrics", Metrics::KEYS),
        ("matching", Matching::KEYS),
        ("stories", Stories::KEYS),
    ]
}

/// Errors from loading a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read at all.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but has one or more problems (syntax, unknown keys, bad values).
    #[error("{} in {}:\n{}", plural(problems.len()), path.display(), list(problems))]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Every problem found, in file order where known.
        problems: Vec<Problem>,
    },
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 problem".to_string()
    } else {
        format!("{n} problems")
    }
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

table! {
    /// A validated configuration. Every value here has been checked; nothing downstream
    /// re-validates. It is also what the file is read into: each key below is a field, with its
    /// type, default and meaning (README.md's configuration reference says more).
    #[derive(Debug, Clone)]
    pub struct Config {
        /// `[storage]`.
        storage: Storage = Storage::default(),
        /// `[poll]`.
        poll: Poll = Poll::default(),
        /// `[[feed]]`, in file order, then those of the included files.
        feeds as "feed": Vec<Feed> = Vec::new(),
        /// `[[rule]]`, in file order, then those of the included files (disabled rules
        /// included, with `enabled = false`).
        rules as "rule": Vec<Rule> = Vec::new(),
        /// `[notify.NAME]`, by name.
        notifiers as "notify": BTreeMap<String, Notifier> = BTreeMap::new() => check::Notifiers,
        /// `[delivery]`: retry policy of the outbox.
        delivery: Delivery = Delivery::default(),
        /// `include`: file patterns of included files, relative to the config's folder.
        include: Vec<String> = Vec::new(),
        /// `[metrics] listen`: where to serve Prometheus metrics and `/healthz`.
        metrics: Option<SocketAddr> = None => Metrics,
        /// `[matching]`: the word-form options of a rule that sets none (and of `backtest
        /// --query`).
        matching: MatchOptions = MatchOptions::default() => Matching,
        /// `[stories]`: when copies in other feeds are the same story.
        stories: Stories = Stories::default(),
        ;
        /// The file this came from (relative paths in it are relative to its folder).
        source: PathBuf = PathBuf::new(),
    }
}

table! {
    /// `[metrics]`.
    pub struct Metrics {
        /// Address of `/metrics` and `/healthz` (required).
        listen: Option<SocketAddr> = None,
    }
}

impl From<Metrics> for Option<SocketAddr> {
    fn from(m: Metrics) -> Self {
        m.listen
    }
}

table! {
    /// `[matching]`: the word-form options of a rule that sets none.
    pub struct Matching {
        /// Languages whose word forms match (`["ru", "en"]`).
        languages: Option<Vec<Language>> = None,
        /// Match Latin words in Cyrillic and the reverse.
        transliterate: Option<bool> = None,
    }
}

/// The word-form options `languages` and `transliterate` (of a rule or of `[matching]`) over
/// `defaults`, each overriding them where given.
fn match_options(
    languages: &Option<Vec<Language>>,
    transliterate: Option<bool>,
    defaults: MatchOptions,
) -> MatchOptions {
    let mut options = defaults;
    if let Some(languages) = languages {
        options.en = false;
        options.ru = false;
        for &l in languages {
            options = options.with_language(l);
        }
    }
    if let Some(t) = transliterate {
        options.transliterate = t;
    }
    options
}

impl From<Matching> for MatchOptions {
    fn from(m: Matching) -> Self {
        match_options(&m.languages, m.transliterate, MatchOptions::default())
    }
}

/// Default `[stories] window`: copies of a story this close in time are one story.
pub const DEFAULT_STORY_WINDOW: Duration = Duration::from_secs(48 * 3600);

table! {
    /// `[stories]`: syndicated copies of one story (other feeds, other URLs) alert once.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Stories {
        /// How long after a story's first alert its copies are recognised; zero: never.
        window: Duration = DEFAULT_STORY_WINDOW,
        /// Share (0–1] of title and lead shingles two items must share to be one story.
        similarity: f64 = crate::similar::DEFAULT_SIMILARITY,
    }
}

table! {
    /// `[delivery]`: how the outbox retries.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Delivery {
        /// First retry delay after a transient failure (doubles each attempt).
        retry_base: Duration = DEFAULT_RETRY_BASE,
        /// Longest delay between two attempts.
        retry_cap: Duration = DEFAULT_RETRY_CAP,
        /// An alert still undelivered this long after it was queued is given up (dead).
        give_up_after: Duration = DEFAULT_GIVE_UP_AFTER,
    }
}

table! {
    /// `[storage]`.
    #[derive(Debug, Clone)]
    pub struct Storage {
        /// SQLite database file (written relative to the config's folder), absolute.
        path: PathBuf = PathBuf::from(DEFAULT_DB_PATH),
        /// Item bodies older than this are pruned (their keys stay, so nothing re-alerts).
        keep: Option<Duration> = None,
    }
}

table! {
    /// `[poll]`.
    #[derive(Debug, Clone)]
    pub struct Poll {
        /// Default interval between polls of one feed.
        interval: Duration = DEFAULT_INTERVAL,
        /// Total time allowed for one fetch, headers and body.
        timeout: Duration = DEFAULT_TIMEOUT,
        /// Largest accepted (decompressed) body, in bytes.
        max_body: u64 = DEFAULT_MAX_BODY => values::Size,
        /// On a feed's first poll only items published within this window alert.
        backlog: Duration = DEFAULT_BACKLOG,
        /// How many feeds are fetched at the same time.
        concurrency: usize = DEFAULT_CONCURRENCY,
        /// User-Agent sent with every request.
        user_agent: String = default_user_agent(),
        /// No feed is polled more often than this.
        min_interval: Duration = DEFAULT_MIN_INTERVAL,
        /// At most this many polls run against one host at once.
        per_host: usize = DEFAULT_PER_HOST,
        /// A feed failing continuously for longer than this raises one feed-health alert.
        health_alert_after: Duration = DEFAULT_HEALTH_ALERT_AFTER,
        /// Notifiers that get feed-health alerts; `None`: every notifier.
        health_notify: Option<Vec<String>> = None,
        /// Proxy for every request (`http://`, `https://` or `socks5://`); the standard proxy
        /// environment variables apply when unset.
        proxy: Option<Url> = None => values::ProxyUrl,
    }
}

/// Whether a URL is one feedwatch fetches: `http://` or `https://` with a host. The config
/// rejects any other, and `import-opml` skips any other rather than write it into a file the
/// config then refuses.
pub fn fetchable(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https") && url.host().is_some()
}

/// What a required URL holds until its key is read (a missing one is a problem); parsed once,
/// as every feed starts with it.
fn placeholder_url() -> Url {
    static PLACEHOLDER: std::sync::LazyLock<Url> =
        std::sync::LazyLock::new(|| Url::parse("http://localhost/").expect("a valid URL"));
    PLACEHOLDER.clone()
}

table! {
    /// One `[[feed]]`.
    #[derive(Debug, Clone)]
    pub struct Feed {
        /// The feed URL (required); also its identity in the database.
        url: Url = placeholder_url(),
        /// Display name; without a `name`, the URL's host, or more of the URL when other
        /// unnamed feeds share the host (see `check::default_names`).
        name: String = String::new(),
        /// Polling interval for this feed (default: `[poll] interval`).
        interval: Duration = DEFAULT_INTERVAL,
        /// Tags rules can select with `tag:NAME`.
        tags: Vec<String> = Vec::new(),
        /// Extra request headers for this feed (values marked sensitive).
        headers: HeaderMap = HeaderMap::new(),
        /// User-Agent for this feed instead of `[poll] user_agent`.
        user_agent: Option<HeaderValue> = None,
        /// Fetch each new item's link and match rules on its main text (`article:`).
        fetch_article: bool = false,
        /// CSS selector for the article text instead of readability.
        article_selector: Option<String> = None,
        /// Article fetches per poll.
        max_articles: Option<usize> = None,
        /// Whether article links may reach loopback/private/link-local addresses.
        allow_private: Option<bool> = None,
        ;
        /// With `fetch_article = true`, its settings: each new item's link is fetched and its
        /// main text matched as the `article` field. `None`: off.
        article: Option<ArticleSettings> = None,
    }
}

/// A feed's `fetch_article` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleSettings {
    /// `article_selector`: the elements whose text is the article, instead of readability.
    pub selector: Option<String>,
    /// `allow_private`: `Some(true)` lets links reach non-public addresses, `Some(false)`
    /// refuses them even for a feed on such an address; `None` decides by the feed's address.
    pub allow_private: Option<bool>,
    /// `max_articles`: article fetches per poll (default
    /// [`crate::article::DEFAULT_MAX_ARTICLES_PER_POLL`]).
    pub max_per_poll: usize,
    /// The feed's own `user_agent`, sent for its articles as for the feed (`None`: `[poll]
    /// user_agent`).
    pub user_agent: Option<HeaderValue>,
}

impl Feed {
    /// The feed's identity in the store.
    pub fn id(&self) -> FeedId {
        FeedId::from_url(&self.url)
    }
}

table! {
    /// One `[[rule]]`, compiled.
    #[derive(Debug, Clone)]
    pub struct Rule {
        /// Unique rule name (required).
        name: String = String::new(),
        /// The query as written (`query`, required).
        query_text as "query": String = String::new(),
        /// `feeds`: feed names, URLs or `tag:NAME` (none: every feed).
        selectors as "feeds": Vec<String> = Vec::new(),
        /// Notifier names this rule sends to (none written: every notifier).
        notify: Vec<String> = Vec::new(),
        /// `enabled = false` keeps the rule in the file without matching.
        enabled: bool = true,
        /// `digest = …`: this rule's alerts are collected and sent together on this schedule.
        digest: Option<DigestSchedule> = None,
        /// `max_per_hour = N`: beyond N alerts in an hour, further ones fold into a digest.
        max_per_hour: Option<u32> = None,
        /// Languages whose word forms match (`["ru", "en"]`); overrides `[matching]`.
        languages: Option<Vec<Language>> = None,
        /// Match Latin words in Cyrillic and the reverse; overrides `[matching]`.
        transliterate: Option<bool> = None,
        ;
        /// The compiled query.
        query: Query = Query::default(),
        /// Indices into [`Config::feeds`] this rule watches.
        feeds: Vec<usize> = Vec::new(),
    }
}

table! {
    /// One `[notify.NAME]`: the keys every type has, and its type's own settings.
    #[derive(Debug, Clone)]
    pub struct Notifier {
        /// `timezone = …`: the zone alerts show times in, and the zone of the `digest` times
        /// and `quiet_hours` (default: the machine's).
        timezone: chrono_tz::Tz = values::machine_zone(),
        /// `group = …`: one alert per story (default) or per story and rule.
        group: Grouping = Grouping::default(),
        /// `digest = …`: every alert to this notifier is collected into digests.
        digest: Option<DigestSchedule> = None,
        /// `quiet_hours = "22:00-07:00"`: alerts that would go out at once during these hours
        /// are held and sent as one digest when they end.
        quiet_hours: Option<QuietHours> = None,
        ;
        /// The table's name.
        name: String = String::new(),
        /// What kind of notifier (`type`), with its settings.
        kind: NotifierKind = NotifierKind::Stdout,
    }
}

impl Notifier {
    /// The hold for an alert decided at the unix time `now` that would otherwise go out at
    /// once (or in the flood guard's hourly digest): until the end of the quiet hours, while
    /// they last in the notifier's zone.
    pub fn quiet_digest(&self, now: i64) -> Option<DigestSchedule> {
        self.quiet_hours
            .filter(|q| q.contains(now, self.timezone))
            .map(DigestSchedule::QuietUntil)
    }
}

/// Notifier types.
#[derive(Debug, Clone)]
pub enum NotifierKind {
    /// `type = "email"`: SMTP.
    Email(Email),
    /// `type = "stdout"`: print each alert to standard output (needs no server).
    Stdout,
    /// `type = "webhook"`: POST each alert to a URL.
    Webhook(Webhook),
}

/// Payload shapes a webhook can post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// feedwatch's own versioned JSON schema (the default).
    Json,
    /// A Slack incoming-webhook message (`{"text": …}`).
    Slack,
    /// A Discord webhook message (`{"content": …}`).
    Discord,
    /// An ntfy publish (plain-text body with Title/Click/Tags headers).
    Ntfy,
}

table! {
    /// `type = "webhook"` settings.
    #[derive(Clone)]
    pub struct Webhook {
        /// Where to POST (required).
        url: Url = placeholder_url(),
        /// Extra request headers (values marked sensitive).
        headers: HeaderMap = HeaderMap::new(),
        /// HMAC key read from `secret_file`; signs every request when set.
        secret as "secret_file": Option<Secret> = None,
        /// Payload shape.
        format: WebhookFormat = WebhookFormat::Json,
        /// Time allowed for one request.
        timeout: Duration = DEFAULT_SEND_TIMEOUT,
        /// Extra trusted CA certificates (PEM) from `ca_file`, for receivers with a private CA.
        ca_pem as "ca_file": Option<Vec<u8>> = None => values::CaFile,
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field(
                "url",
                &crate::redact::Redacted::webhook(&self.url).to_string(),
            )
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("format", &self.format)
            .finish()
    }
}

impl NotifierKind {
    /// The `type` value as written in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            NotifierKind::Email(_) => "email",
            NotifierKind::Stdout => "stdout",
            NotifierKind::Webhook(_) => "webhook",
        }
    }
}

/// How to talk TLS to the SMTP server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://`: STARTTLS when the server offers it, plain otherwise.
    #[default]
    Opportunistic,
    /// `smtp://…?tls=required`: STARTTLS or fail.
    Required,
    /// `smtp://…?tls=none`: never TLS (local relays and tests).
    None,
    /// `smtps://`: implicit TLS from the first byte.
    Wrapper,
}

impl SmtpTls {
    /// The mode in force when feedwatch logs in: a password never goes out in clear unless
    /// `?tls=none` says so, so opportunistic STARTTLS becomes required. Otherwise a server
    /// without STARTTLS, or an attacker who strips it from the EHLO reply, would receive the
    /// password in clear (RFC 3207 §6 warns that the offer itself is not protected).
    pub fn for_login(self) -> SmtpTls {
        match self {
            SmtpTls::Opportunistic => SmtpTls::Required,
            other => other,
        }
    }
}

/// `smtp = "smtp://host:port?tls=…"`: the SMTP server and how to talk TLS to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpServer {
    /// Host name or address.
    pub host: String,
    /// Port (25, 587 with `?tls=required`, 465 for `smtps://` unless written).
    pub port: u16,
    /// TLS mode.
    pub tls: SmtpTls,
}

/// What a required mailbox holds until its key is read (a missing one is a problem).
fn nobody() -> lettre::message::Mailbox {
    "feedwatch@localhost".parse().expect("a valid address")
}

table! {
    /// `type = "email"` settings.
    #[derive(Clone)]
    pub struct Email {
        /// The SMTP server (required).
        smtp: SmtpServer = SmtpServer::default(),
        /// Optional SMTP AUTH user name.
        username: Option<String> = None,
        /// Password read from `password_file` (or `password_env`); never printed.
        password as "password_file": Option<Secret> = None,
        /// `From:` mailbox (required).
        from: lettre::message::Mailbox = nobody(),
        /// `To:` mailboxes (required, at least one).
        to: Vec<lettre::message::Mailbox> = Vec::new(),
        /// Time allowed for one delivery attempt as a whole, connect to last answer.
        timeout: Duration = DEFAULT_SEND_TIMEOUT,
        /// The environment variable holding the password, instead of `password_file`.
        password_env: Option<String> = None,
        /// Subject template with `{rule}`, `{title}`, `{feed}`, `{matched}`, `{link}` fields.
        subject: SubjectTemplate = SubjectTemplate::default(),
        /// Extra trusted CA certificates (PEM) from `ca_file`, for servers with a private CA.
        ca_pem as "ca_file": Option<Vec<u8>> = None => values::CaFile,
        ;
        /// SMTP host name or address (of `smtp`).
        host: String = String::new(),
        /// SMTP port.
        port: u16 = 0,
        /// TLS mode derived from the URL; with a login, opportunistic is already upgraded to
        /// required ([`SmtpTls::for_login`]).
        tls: SmtpTls = SmtpTls::Opportunistic,
    }
}

impl Email {
    /// Does feedwatch log in (SMTP AUTH)?
    pub fn logs_in(&self) -> bool {
        self.username.is_some() && self.password.is_some()
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from.to_string())
            .field("to", &self.to.len())
            .finish()
    }
}

/// A secret string: `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Config {
    /// Loads and validates the config at `path`, applying `FEEDWATCH_SECTION__KEY` environment
    /// overrides from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &env)
    }

    /// Like [`Config::load`] with an explicit environment (for tests).
    pub fn load_with_env(path: &Path, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let base = std::path::absolute(&base).unwrap_or(base);
        Self::from_text(&text, path, &base, env)
    }

    /// Decodes and validates `text` as the contents of the config file `path` in the folder
    /// `base` (where includes and secret files resolve), with `env` as the environment. No
    /// file is read but those the text names: the fuzz target `config` enters here.
    pub fn from_text(
        text: &str,
        path: &Path,
        base: &Path,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        check::load(text, base, env)
            .map(|mut c| {
                c.source = path.to_path_buf();
                c
            })
            .map_err(|problems| ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
    }

    /// Enabled rules only, with their index in [`Config::rules`].
    pub fn enabled_rules(&self) -> impl Iterator<Item = (usize, &Rule)> {
        self.rules.iter().enumerate().filter(|(_, r)| r.enabled)
    }
}

/// The User-Agent feedwatch sends: names the program, its version and where to learn more.
pub fn default_user_agent() -> String {
    format!(
        "feedwatch/{} (+https://github.com/feedwatch/feedwatch)",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests;

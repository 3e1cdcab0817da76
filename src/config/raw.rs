//! The config file's format as serde types. Every key the file accepts is a field here, named
//! once, with its doc comment (the key's meaning is in README.md's configuration reference);
//! defaults and the checks a value's type cannot make are in `check`.
//!
//! Every field is [`Lenient`]: a bad value is recorded by `de` and the rest of its table is
//! still read, so one run of `check` lists every mistake. How each type is read from TOML is
//! its [`Read`] impl below.

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{IgnoredAny, MapAccess, SeqAccess};
use serde::{Deserialize, Deserializer};

use super::de::{Bad, Lenient, Read, Seed, Table, Tagged, items, kind, leaf, named, one, text};
use super::{DigestSchedule, QuietHours, SubjectTemplate, WebhookFormat};
use chrono_tz::Tz;

use crate::domain::Grouping;

/// Longest duration any key accepts: generous, but far from where timestamp arithmetic
/// overflows.
const MAX_DURATION: Duration = Duration::from_secs(1000 * 365 * 24 * 3600);

/// `[notify.NAME]` tables by their `type`, each value a variant of [`RawNotifier`].
pub(super) const NOTIFIERS: Tagged = Tagged {
    section: "notify",
    tag: ["type", "notifier"],
    variants: &["email", "webhook", "stdout"],
};

/// The main config file.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawConfig {
    pub storage: Lenient<RawStorage>,
    pub poll: Lenient<RawPoll>,
    pub feed: Lenient<Tables<RawFeed>>,
    pub rule: Lenient<Tables<RawRule>>,
    pub notify: Lenient<Notifiers>,
    pub delivery: Lenient<RawDelivery>,
    /// File patterns of included files, relative to the config's folder.
    pub include: Lenient<Strings>,
    pub metrics: Lenient<RawMetrics>,
    pub matching: Lenient<RawMatching>,
    pub stories: Lenient<RawStories>,
}

/// An included file: more feeds and rules, nothing else.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawIncluded {
    pub feed: Lenient<Tables<RawFeed>>,
    pub rule: Lenient<Tables<RawRule>>,
}

/// `[storage]`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawStorage {
    /// SQLite file, relative to the config's folder.
    pub path: Lenient<String>,
    /// Prune item bodies older than this.
    pub keep: Lenient<Text<Duration>>,
}

/// `[poll]`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawPoll {
    /// Default time between polls of a feed.
    pub interval: Lenient<Text<Duration>>,
    /// Time allowed for one whole request.
    pub timeout: Lenient<Text<Duration>>,
    /// Largest accepted (decompressed) body.
    pub max_body: Lenient<Size>,
    /// On a feed's first poll, only items this recent alert.
    pub backlog: Lenient<Text<Duration>>,
    /// Feeds fetched at the same time.
    pub concurrency: Lenient<u64>,
    /// User-Agent of every request.
    pub user_agent: Lenient<String>,
    /// No feed is polled more often than this.
    pub min_interval: Lenient<Text<Duration>>,
    /// Polls at once against one host.
    pub per_host: Lenient<u64>,
    /// Failing this long raises a feed-health alert.
    pub health_alert_after: Lenient<Text<Duration>>,
    /// Notifiers that get feed-health alerts.
    pub health_notify: Lenient<Strings>,
    /// Proxy for every request.
    pub proxy: Lenient<String>,
}

/// One `[[feed]]`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawFeed {
    /// The feed's URL (required).
    pub url: Lenient<String>,
    /// Display name.
    pub name: Lenient<String>,
    /// Time between polls of this feed.
    pub interval: Lenient<Text<Duration>>,
    /// Labels rules select with `tag:NAME`.
    pub tags: Lenient<Strings>,
    /// Extra request headers.
    pub headers: Lenient<Headers>,
    /// User-Agent for this feed.
    pub user_agent: Lenient<String>,
    /// Fetch each new item's link and match rules on its main text (`article:`).
    pub fetch_article: Lenient<bool>,
    /// CSS selector for the article text instead of readability.
    pub article_selector: Lenient<String>,
    /// Article fetches per poll.
    pub max_articles: Lenient<u64>,
    /// Whether article links may reach loopback/private/link-local addresses.
    pub allow_private: Lenient<bool>,
}

/// One `[[rule]]`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawRule {
    /// Unique name (required).
    pub name: Lenient<String>,
    /// What to match (required).
    pub query: Lenient<String>,
    /// Feed names, URLs or `tag:NAME`.
    pub feeds: Lenient<Strings>,
    /// Notifier names.
    pub notify: Lenient<Strings>,
    /// `false` keeps the rule without matching.
    pub enabled: Lenient<bool>,
    /// Collect this rule's alerts into digests.
    pub digest: Lenient<Text<DigestSchedule>>,
    /// Flood guard: alerts per hour before folding into a digest.
    pub max_per_hour: Lenient<u64>,
    /// Languages whose word forms match (`["ru", "en"]`); overrides `[matching]`.
    pub languages: Lenient<Strings>,
    /// Match Latin words in Cyrillic and the reverse; overrides `[matching]`.
    pub transliterate: Lenient<bool>,
}

/// One `[notify.NAME]`, by its `type`.
pub(super) enum RawNotifier {
    Email(RawEmail),
    Webhook(RawWebhook),
    Stdout(RawStdout),
}

/// `type = "email"`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEmail {
    /// The notifier's kind (it selected this table).
    pub r#type: Lenient<IgnoredAny>,
    /// `smtp://` or `smtps://` server (required).
    pub smtp: Lenient<String>,
    /// SMTP AUTH user name.
    pub username: Lenient<String>,
    /// File holding the SMTP password.
    pub password_file: Lenient<String>,
    /// `From:` address (required).
    pub from: Lenient<String>,
    /// Recipients (required).
    pub to: Lenient<Strings>,
    /// Time allowed for one send.
    pub timeout: Lenient<Text<Duration>>,
    /// Environment variable holding the SMTP password.
    pub password_env: Lenient<String>,
    /// Subject template.
    pub subject: Lenient<Text<SubjectTemplate>>,
    /// IANA time zone the alerts' times are shown in.
    pub timezone: Lenient<Text<Tz>>,
    /// One alert per story (`"story"`) or per story and rule (`"rule"`).
    pub group: Lenient<Text<Grouping>>,
    /// Collect alerts into digests.
    pub digest: Lenient<Text<DigestSchedule>>,
    /// Hold immediate alerts during these hours and send them as one digest at their end.
    pub quiet_hours: Lenient<Text<QuietHours>>,
    /// Extra trusted CA certificates (PEM).
    pub ca_file: Lenient<String>,
}

/// `type = "webhook"`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawWebhook {
    /// The notifier's kind (it selected this table).
    pub r#type: Lenient<IgnoredAny>,
    /// Endpoint (required).
    pub url: Lenient<String>,
    /// Extra request headers.
    pub headers: Lenient<Headers>,
    /// File holding the HMAC key that signs requests.
    pub secret_file: Lenient<String>,
    /// Payload shape.
    pub format: Lenient<Text<WebhookFormat>>,
    /// Time allowed for one request.
    pub timeout: Lenient<Text<Duration>>,
    /// IANA time zone the alerts' times are shown in.
    pub timezone: Lenient<Text<Tz>>,
    /// One alert per story (`"story"`) or per story and rule (`"rule"`).
    pub group: Lenient<Text<Grouping>>,
    /// Collect alerts into digests.
    pub digest: Lenient<Text<DigestSchedule>>,
    /// Hold immediate alerts during these hours and send them as one digest at their end.
    pub quiet_hours: Lenient<Text<QuietHours>>,
    /// Extra trusted CA certificates (PEM).
    pub ca_file: Lenient<String>,
}

/// `type = "stdout"`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawStdout {
    /// The notifier's kind (it selected this table).
    pub r#type: Lenient<IgnoredAny>,
    /// IANA time zone the alerts' times are shown in.
    pub timezone: Lenient<Text<Tz>>,
    /// One alert per story (`"story"`) or per story and rule (`"rule"`).
    pub group: Lenient<Text<Grouping>>,
    /// Collect alerts into digests.
    pub digest: Lenient<Text<DigestSchedule>>,
    /// Hold immediate alerts during these hours and send them as one digest at their end.
    pub quiet_hours: Lenient<Text<QuietHours>>,
}

/// `[delivery]`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawDelivery {
    /// First retry delay.
    pub retry_base: Lenient<Text<Duration>>,
    /// Longest delay between attempts.
    pub retry_cap: Lenient<Text<Duration>>,
    /// Give an alert up this long after it was queued.
    pub give_up_after: Lenient<Text<Duration>>,
}

/// `[matching]`: defaults for every rule's word-form options.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawMatching {
    /// Languages whose word forms match, for rules that do not say.
    pub languages: Lenient<Strings>,
    /// Transliteration, for rules that do not say.
    pub transliterate: Lenient<bool>,
}

/// `[stories]`.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawStories {
    /// Copies of a story in other feeds within this long are the same story (`"0s"`: off).
    pub window: Lenient<Text<Duration>>,
    /// Share of title and lead shingles two items must share to be one story.
    pub similarity: Lenient<f64>,
}

/// `[metrics]`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawMetrics {
    /// Address of `/metrics` and `/healthz` (required).
    pub listen: Lenient<String>,
}

/// A value written as a string and parsed by its type, whose message is the problem.
pub(super) trait FromText: Sized {
    /// What the value looks like, for "expected …, found a number".
    const EXPECTING: &'static str;
    /// Parses the text, or says what is wrong with it.
    fn from_text(s: &str) -> Result<Self, String>;
}

/// A [`FromText`] value.
pub(super) struct Text<T>(pub T);

impl<T: FromText> Read for Text<T> {
    const EXPECTING: &'static str = T::EXPECTING;

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Self, Bad>, D::Error> {
        text(d, |s| T::from_text(s).map(Text))
    }
}

impl FromText for Duration {
    const EXPECTING: &'static str = r#"a duration like "15m" or "1h 30m""#;

    fn from_text(s: &str) -> Result<Duration, String> {
        match humantime::parse_duration(s.trim()) {
            // Every duration is added to timestamps somewhere; an absurd one must be a config
            // error here, not an overflow at run time.
            Ok(d) if d > MAX_DURATION => Err(format!("{s:?} is too long; at most 1000 years")),
            Ok(d) => Ok(d),
            Err(e) => Err(format!(
                r#"invalid duration {s:?} ({e}); write it like "15m", "1h 30m" or "20s""#
            )),
        }
    }
}

impl FromText for DigestSchedule {
    const EXPECTING: &'static str = r#"a digest schedule like "1h" or "daily 08:00""#;

    fn from_text(s: &str) -> Result<DigestSchedule, String> {
        DigestSchedule::parse(s)
    }
}

impl FromText for QuietHours {
    const EXPECTING: &'static str = r#"quiet hours like "22:00-07:00""#;

    fn from_text(s: &str) -> Result<QuietHours, String> {
        QuietHours::parse(s)
    }
}

impl FromText for SubjectTemplate {
    const EXPECTING: &'static str = "a string";

    fn from_text(s: &str) -> Result<SubjectTemplate, String> {
        SubjectTemplate::parse(s)
    }
}

impl FromText for Tz {
    const EXPECTING: &'static str = r#"an IANA time zone like "Europe/Moscow""#;

    fn from_text(s: &str) -> Result<Tz, String> {
        s.trim().parse::<Tz>().map_err(|_| {
            // The closest known name, when one is close: a typo is the usual cause.
            let near = chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| {
                    (
                        strsim::jaro_winkler(&s.to_lowercase(), &tz.name().to_lowercase()),
                        tz,
                    )
                })
                .filter(|(score, _)| *score > 0.9)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let hint = near.map_or(String::new(), |(_, tz)| {
                format!(" (did you mean {:?}?)", tz.name())
            });
            format!(
                r#"unknown time zone {s:?}{hint}; use an IANA name like "Europe/Moscow" or "UTC""#
            )
        })
    }
}

impl FromText for Grouping {
    const EXPECTING: &'static str = r#""story" or "rule""#;

    fn from_text(s: &str) -> Result<Grouping, String> {
        [Grouping::Story, Grouping::Rule]
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| format!(r#"unknown group {s:?}; expected "story" or "rule""#))
    }
}

impl FromText for WebhookFormat {
    const EXPECTING: &'static str = "a string";

    fn from_text(s: &str) -> Result<WebhookFormat, String> {
        const FORMATS: [(&str, WebhookFormat); 4] = [
            ("json", WebhookFormat::Json),
            ("slack", WebhookFormat::Slack),
            ("discord", WebhookFormat::Discord),
            ("ntfy", WebhookFormat::Ntfy),
        ];
        let found = FORMATS.iter().find(|(name, _)| *name == s);
        found.map(|(_, f)| *f).ok_or_else(|| {
            let names: Vec<&str> = FORMATS.iter().map(|(n, _)| *n).collect();
            let (last, rest) = names.split_last().expect("formats are listed");
            format!(
                "unknown format {s:?}; expected {} or {last}",
                rest.join(", ")
            )
        })
    }
}

/// A size in bytes: `"15MiB"`, `"500KB"` or a number.
pub(super) struct Size(pub u64);

impl Read for Size {
    const EXPECTING: &'static str = r#"a size like "15MiB", "500KB" or a number of bytes"#;

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Self, Bad>, D::Error> {
        leaf(d, |v| {
            let s = match v {
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::String(s) => s,
                other => return Err(Bad::Found(kind(other.type_str()))),
            };
            match s.trim().parse::<bytesize::ByteSize>() {
                Ok(b) => Ok(Size(b.0)),
                Err(_) => Err(Bad::Says(format!(
                    r#"invalid size {s:?}; write it like "15MiB", "500KB" or a number of bytes"#
                ))),
            }
        })
    }
}

/// A list of strings; a single string is a list of one.
pub(super) struct Strings(pub Vec<Lenient<String>>);

impl Read for Strings {
    const EXPECTING: &'static str = "a list of strings";

    fn from_seq<'de, A: SeqAccess<'de>>(seq: A) -> Result<Result<Self, Bad>, A::Error> {
        items(seq).map(|items| Ok(Strings(items)))
    }

    fn from_str(s: &str) -> Result<Self, Bad> {
        Ok(Strings(vec![one(s.to_string())]))
    }
}

/// `[[NAME]]`: an array of tables; one bad table does not hide the others.
pub(super) struct Tables<T>(pub Vec<Lenient<T>>);

impl<T: Read> Read for Tables<T> {
    const EXPECTING: &'static str = "an array of tables ([[{key}]])";

    fn from_seq<'de, A: SeqAccess<'de>>(seq: A) -> Result<Result<Self, Bad>, A::Error> {
        items(seq).map(|items| Ok(Tables(items)))
    }
}

/// `headers = { Name = "value" }`.
pub(super) struct Headers(pub Vec<(String, Lenient<String>)>);

impl Read for Headers {
    const EXPECTING: &'static str = r#"a table of header = "value""#;

    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Result<Self, Bad>, A::Error> {
        named(map).map(|entries| Ok(Headers(entries)))
    }
}

/// `[notify.NAME]` tables.
pub(super) struct Notifiers(pub Vec<(String, Lenient<RawNotifier>)>);

impl Read for Notifiers {
    const EXPECTING: &'static str = "tables like [notify.NAME]";

    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Result<Self, Bad>, A::Error> {
        named(map).map(|entries| Ok(Notifiers(entries)))
    }
}

/// `de::retag` has put the table under its `type`, or emptied it after recording why.
impl Read for RawNotifier {
    const EXPECTING: &'static str = "a table";

    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Result<Self, Bad>, A::Error> {
        Ok(match map.next_key::<String>()?.as_deref() {
            Some("email") => map
                .next_value_seed(Seed(PhantomData))?
                .map(RawNotifier::Email),
            Some("webhook") => map
                .next_value_seed(Seed(PhantomData))?
                .map(RawNotifier::Webhook),
            Some("stdout") => map
                .next_value_seed(Seed(PhantomData))?
                .map(RawNotifier::Stdout),
            _ => Err(Bad::Reported),
        })
    }
}

impl Table for RawConfig {}
impl Table for RawIncluded {}
impl Table for RawStorage {}
impl Table for RawPoll {}
impl Table for RawFeed {}
impl Table for RawRule {}
impl Table for RawEmail {}
impl Table for RawWebhook {}
impl Table for RawStdout {}
impl Table for RawDelivery {}
impl Table for RawMetrics {}
impl Table for RawMatching {}
impl Table for RawStories {}

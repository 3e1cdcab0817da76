//! How each kind of value is read from the file: durations, sizes, URLs, addresses, header
//! maps, time zones, schedules, subject templates, and the secret and CA files a key names
//! (read relative to the config's folder). Each parse's message is the problem `check` shows
//! under the key; the checks that need more than the value itself are in `check`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;
use lettre::message::Mailbox;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserializer;
use serde::de::MapAccess;
use url::Url;

use super::WebhookFormat;
use super::de::{Bad, Read, env_var, kind, leaf, named, text, with};
use super::{DigestSchedule, QuietHours, Secret, SmtpServer, SmtpTls, SubjectTemplate};
use crate::domain::Grouping;
use crate::redact::{Redacted, redact_text};
use crate::rules::Language;

/// Longest duration any key accepts: generous, but far from where timestamp arithmetic
/// overflows.
const MAX_DURATION: Duration = Duration::from_secs(1000 * 365 * 24 * 3600);

/// `Read` for a type written as a string: what it looks like, and its parse.
macro_rules! by_text {
    ($($ty:ty, $expecting:expr, $parse:expr;)*) => {$(
        impl Read for $ty {
            const EXPECTING: &'static str = $expecting;

            fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Self, Bad>, D::Error> {
                text(d, $parse)
            }
        }
    )*};
}

by_text! {
    Duration, r#"a duration like "15m" or "1h 30m""#, duration;
    DigestSchedule, r#"a digest schedule like "1h" or "daily 08:00""#, DigestSchedule::parse;
    QuietHours, r#"quiet hours like "22:00-07:00""#, QuietHours::parse;
    SubjectTemplate, "a string", SubjectTemplate::parse;
    Tz, r#"an IANA time zone like "Europe/Moscow""#, zone;
    Grouping, r#""story" or "rule""#, grouping;
    WebhookFormat, "a string", webhook_format;
    Url, "a string", |s: &str| Url::parse(s.trim()).map_err(|e| format!("invalid URL: {e}"));
    ProxyUrl, "a string", proxy;
    SocketAddr, "a string", |s: &str| s.parse().map_err(|_| {
        format!(r#"invalid address {s:?}; write it like "127.0.0.1:9187""#)
    });
    Mailbox, "a string", |s: &str| s.parse().map_err(|e| format!("invalid address {s:?}: {e}"));
    SmtpServer, "a string", |s: &str| parse_smtp_url(s).map(|(host, port, tls)| {
        SmtpServer { host, port, tls }
    });
    PathBuf, "a string", path;
    Secret, "a string", secret_file;
    CaFile, "a string", ca_file;
    HeaderValue, "a string", user_agent;
    Language, "a string", language;
}

fn duration(s: &str) -> Result<Duration, String> {
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

fn zone(s: &str) -> Result<Tz, String> {
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
        format!(r#"unknown time zone {s:?}{hint}; use an IANA name like "Europe/Moscow" or "UTC""#)
    })
}

/// The machine's time zone, the default `timezone`: `$TZ` when it names a zone
/// (`Europe/Moscow`, `:Europe/Moscow`, or a path into a zoneinfo folder), else the zone the
/// system is set to (`/etc/localtime`), else UTC.
pub(super) fn machine_zone() -> Tz {
    let named = |s: &str| -> Option<Tz> {
        let s = s.trim().trim_start_matches(':');
        let s = s.rsplit_once("zoneinfo/").map_or(s, |(_, name)| name);
        s.parse().ok()
    };
    env_var("TZ")
        .and_then(|tz| named(&tz))
        .or_else(|| iana_time_zone::get_timezone().ok().and_then(|s| named(&s)))
        .unwrap_or(Tz::UTC)
}

fn grouping(s: &str) -> Result<Grouping, String> {
    [Grouping::Story, Grouping::Rule]
        .into_iter()
        .find(|g| g.as_str() == s)
        .ok_or_else(|| format!(r#"unknown group {s:?}; expected "story" or "rule""#))
}

fn webhook_format(s: &str) -> Result<WebhookFormat, String> {
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

/// `proxy`: a proxy URL (`http://`, `https://` or `socks5://`).
pub(super) struct ProxyUrl(Url);

impl From<ProxyUrl> for Option<Url> {
    fn from(p: ProxyUrl) -> Self {
        Some(p.0)
    }
}

fn proxy(u: &str) -> Result<ProxyUrl, String> {
    match Url::parse(u.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") => {
            Ok(ProxyUrl(url))
        }
        // A proxy URL may carry credentials: shown redacted, like every URL.
        _ => Err(format!(
            "invalid proxy URL {:?}; use http://, https:// or socks5://",
            redact_text(u)
        )),
    }
}

/// A size in bytes: `"15MiB"`, `"500KB"` or a number.
pub(super) struct Size(u64);

impl From<Size> for u64 {
    fn from(s: Size) -> u64 {
        s.0
    }
}

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

/// `max_per_hour`: beyond `u32` an hourly count means nothing.
impl Read for u32 {
    const EXPECTING: &'static str = u64::EXPECTING;

    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Result<Self, Bad>, D::Error> {
        Ok(u64::read(d)?.and_then(|n| {
            u32::try_from(n).map_err(|_| Bad::Says("must be between 1 and 4294967295".into()))
        }))
    }
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

/// A path relative to the config's folder.
fn path(p: &str) -> Result<PathBuf, String> {
    if p.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(with(|s| s.base.join(p)))
}

/// Reads the file a key names (relative to the config's folder).
fn read_file(file: &str) -> Result<(PathBuf, Vec<u8>), String> {
    let full = with(|s| s.base.join(file));
    match std::fs::read(&full) {
        Ok(bytes) => Ok((full, bytes)),
        Err(e) => Err(format!("cannot read {}: {e}", full.display())),
    }
}

/// A secret from the file a key names.
fn secret_file(file: &str) -> Result<Secret, String> {
    // systemd's LoadCredential= puts secrets in $CREDENTIALS_DIRECTORY, whose path the
    // config cannot know in advance: `password_file = "$CREDENTIALS_DIRECTORY/smtp"`.
    let file = match file.strip_prefix("$CREDENTIALS_DIRECTORY/") {
        Some(rest) => match env_var("CREDENTIALS_DIRECTORY") {
            Some(dir) => format!("{dir}/{rest}"),
            None => return Err("uses $CREDENTIALS_DIRECTORY, which is not set (it is set by systemd's LoadCredential=)".into()),
        },
        None => file.to_string(),
    };
    let (full, bytes) = read_file(&file)?;
    warn_if_others_can_read(&full);
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(format!(
            "cannot read {}: stream did not contain valid UTF-8",
            full.display()
        ));
    };
    // A trailing newline from `echo secret > file` is not part of the secret.
    Ok(Secret(text.trim_end_matches(['\r', '\n']).to_string()))
}

/// Warns when users other than the owner (group or others) may read the secret file `full`:
/// whoever reads it can send mail or sign webhooks as feedwatch. A warning, not an error: the
/// file works, and a group-readable one may be deliberate.
fn warn_if_others_can_read(full: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(full) else {
        return; // just read: it went away since, and the next load will say so
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o044 != 0 {
        let key = with(|s| s.key());
        tracing::warn!(
            key,
            file = %full.display(),
            mode = format!("{mode:o}"),
            "secret file is readable by other users; make it readable by its owner only (chmod 600)"
        );
    }
}

/// `ca_file`: PEM with one or more CA certificates to trust in addition to the system's.
pub(super) struct CaFile(Vec<u8>);

impl From<CaFile> for Option<Vec<u8>> {
    fn from(c: CaFile) -> Self {
        Some(c.0)
    }
}

fn ca_file(file: &str) -> Result<CaFile, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let (full, pem) = read_file(file)?;
    // Each certificate is read as a trust anchor now, as the TLS client will read it, so a
    // file that is not what it should be is a config error, not a failed handshake later.
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{}: malformed PEM: {e}", full.display()))?;
        roots.add(cert).map_err(|e| {
            format!(
                "{} holds a certificate that cannot be read: {e}",
                full.display()
            )
        })?;
    }
    if roots.is_empty() {
        return Err(format!("{} holds no PEM certificate", full.display()));
    }
    Ok(CaFile(pem))
}

/// A User-Agent of a feed's requests.
fn user_agent(ua: &str) -> Result<HeaderValue, String> {
    if ua.trim().is_empty() || ua.contains(['\r', '\n']) {
        return Err(super::check::NOT_ONE_LINE.into());
    }
    HeaderValue::from_str(ua)
        .map_err(|_| "must not hold control characters (it is sent as an HTTP header)".into())
}

fn language(code: &str) -> Result<Language, String> {
    Language::from_code(code).ok_or_else(|| {
        let known: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
        format!("unknown language {code:?} (known: {})", known.join(", "))
    })
}

/// `headers = { Name = "value" }`, parsed once for every request. Values are marked sensitive
/// (they are often credentials): `Debug` hides them and HTTP/2 never indexes them.
impl Read for HeaderMap {
    const EXPECTING: &'static str = r#"a table of header = "value""#;

    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Result<Self, Bad>, A::Error> {
        let mut headers = HeaderMap::new();
        named::<A, String>(map, |name, text| {
            let Some(text) = text else { return Ok(()) };
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name {name:?}"))?;
            // Leading and trailing whitespace is not part of a field value (RFC 9110 §5.5).
            let mut value = HeaderValue::from_str(text.trim()).map_err(
                |_| "invalid header value: line breaks and control characters are not allowed",
            )?;
            value.set_sensitive(true);
            headers.append(header, value);
            Ok(())
        })?;
        Ok(Ok(headers))
    }
}

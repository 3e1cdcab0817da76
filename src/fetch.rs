//! Fetching one feed over HTTP: conditional GET, compression, redirects followed by hand (so the
//! caller learns when a feed moved for good), limits that hold against hostile servers, and the
//! server's scheduling hints. Returns a [`FetchOutcome`] value or a typed [`FetchError`]; it
//! knows nothing about parsing, storage, scheduling policy or rules.
//!
//! Limits, each enforced here and each pinned by `tests/fetch.rs`:
//! - connect timeout ([`CONNECT_TIMEOUT`]) and a read/idle timeout (`read_timeout`) that ends a
//!   stalled connection;
//! - a total deadline (`timeout`) over every redirect hop *and* the body, so a server trickling
//!   bytes just fast enough to beat the read timeout still ends on time;
//! - a cap on the *decompressed* body (`max_body`), checked while streaming, so a gzip bomb fails
//!   after at most `max_body` plus one chunk has been buffered;
//! - at most [`MAX_REDIRECTS`] redirects, and a loop is reported as soon as a URL repeats.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, AGE, CACHE_CONTROL, CONTENT_TYPE, DATE, ETAG, EXPIRES, HeaderMap, HeaderValue,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION, RETRY_AFTER, USER_AGENT,
};
use url::{Origin, Url};

use crate::http_time::{parse_http_date, parse_retry_after};
use crate::redact::{Redacted, redact_text};

pub mod guard;
pub mod resolve;

use guard::{AddressPolicy, Refusal};

/// Redirects followed before giving up (a loop is detected earlier, when a URL repeats).
pub const MAX_REDIRECTS: usize = 10;
/// Longest wait for a TCP/TLS connection, within the total timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence while waiting for the response or between body reads, unless the settings
/// say otherwise (see [`FetchSettings::new`]).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// What feedwatch asks for: feed types first, anything as a last resort.
const ACCEPT_FEEDS: &str = "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5";

/// HTTP cache validators remembered between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// `ETag` of the last 200 response.
    pub etag: Option<String>,
    /// `Last-Modified` of the last 200 response.
    pub last_modified: Option<String>,
}

/// What the server said about when to ask again. Raw facts, unclamped: the scheduler decides
/// how far to trust them (a `max-age` of a year must not silence a feed for a year).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hints {
    /// Remaining freshness: `Cache-Control: max-age` minus the `Age` header (RFC 9111 §4.2.3).
    pub max_age: Option<Duration>,
    /// `Expires` on *our* clock: shifted by the server's `Date` so a skewed server clock does
    /// not matter (RFC 9111 §4.2.1). An unparseable value (`0`, `-1`) gives `None`, not "now":
    /// for a poller "no hint" is the safe reading. `max_age` wins when both are set (§5.3).
    pub expires: Option<DateTime<Utc>>,
    /// `Retry-After` (RFC 9110 §10.2.3), given as seconds or as an HTTP-date; a date is taken
    /// relative to the response's `Date` header, or to our clock when there is none.
    pub retry_after: Option<Duration>,
}

impl Hints {
    /// When the response stops being fresh, from `max_age` (preferred) or `expires`.
    pub fn fresh_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.max_age {
            Some(age) => chrono::Duration::from_std(age)
                .ok()
                .and_then(|d| now.checked_add_signed(d)),
            None => self.expires,
        }
    }
}

/// A successfully fetched body.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The (decompressed) body bytes, at most `max_body` long.
    pub body: Vec<u8>,
    /// `Content-Type` header, if any (carries the charset).
    pub content_type: Option<String>,
    /// Validators to send next time.
    pub validators: Validators,
    /// URL after redirects.
    pub final_url: Url,
    /// `Some(final_url)` when at least one redirect was followed and *every* hop was permanent
    /// (301/308): the caller should poll that URL from now on. `None` otherwise.
    pub permanent_redirect: Option<Url>,
    /// Caching and retry hints for the scheduler.
    pub hints: Hints,
}

/// A 304 answer: the stored items are current.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotModified {
    /// Caching hints sent with the 304.
    pub hints: Hints,
    /// As [`Fetched::permanent_redirect`]: a feed can move for good and still be unchanged.
    pub permanent_redirect: Option<Url>,
}

/// What a fetch produced.
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// 304 Not Modified: nothing changed, keep the stored validators.
    NotModified(NotModified),
    /// 2xx with a body.
    Fetched(Fetched),
}

impl FetchOutcome {
    /// The server's scheduling hints, whichever the outcome.
    pub fn hints(&self) -> &Hints {
        match self {
            FetchOutcome::NotModified(n) => &n.hints,
            FetchOutcome::Fetched(f) => &f.hints,
        }
    }

    /// The feed's new permanent URL, if every redirect followed was permanent.
    pub fn permanent_redirect(&self) -> Option<&Url> {
        match self {
            FetchOutcome::NotModified(n) => n.permanent_redirect.as_ref(),
            FetchOutcome::Fetched(f) => f.permanent_redirect.as_ref(),
        }
    }
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with an error status (other than 410).
    #[error("server answered HTTP {status}")]
    Status {
        /// The status code.
        status: u16,
        /// `Retry-After`, given as seconds or an HTTP-date (see [`Hints::retry_after`]).
        retry_after: Option<Duration>,
    },
    /// 410 Gone: the feed was removed for good; the caller should stop polling it.
    #[error("server says the feed is gone for good (HTTP 410)")]
    Gone,
    /// More than [`MAX_REDIRECTS`] redirects.
    #[error("more than {limit} redirects")]
    TooManyRedirects {
        /// The limit.
        limit: usize,
    },
    /// A redirect led back to a URL already visited in this fetch.
    #[error("redirect loop back to {}", Redacted::url(url))]
    RedirectLoop {
        /// The URL that repeated.
        url: Url,
    },
    /// A redirect without a usable `Location` (missing, unparseable, or not http/https).
    #[error("HTTP {status} redirect to an invalid or unsupported location {}",
        location.as_deref().map_or_else(|| "(none)".to_string(), redact_text))]
    BadRedirect {
        /// The redirect status.
        status: u16,
        /// The `Location` header as sent, if any (shown redacted: it may carry a token).
        location: Option<String>,
    },
    /// The (decompressed) body is larger than `[poll] max_body`.
    #[error("response body exceeds the {limit}-byte limit ([poll] max_body)")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The address guard refused the link or a redirect hop (see [`guard`]); never retried.
    #[error("refused to fetch")]
    Refused(#[source] Refusal),
    /// The whole fetch (every redirect and the body) took longer than `[poll] timeout`.
    #[error("request did not complete within {limit:?} ([poll] timeout)")]
    Timeout {
        /// The total time allowed.
        limit: Duration,
    },
    /// No connection within the connect timeout, or no bytes for the read timeout.
    #[error("server stalled (connect or read timeout)")]
    Stalled(#[source] reqwest::Error),
    /// Connection, TLS, proxy, decompression or protocol failure (or the client could not be
    /// built).
    #[error("request failed")]
    Request(#[source] reqwest::Error),
}

impl FetchError {
    /// Likely to pass by itself (network trouble, 5xx, 408, 429), as opposed to a refusal that
    /// lasts until someone fixes the URL; the scheduler backs off faster from the latter.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            FetchError::Timeout { .. } | FetchError::Stalled(_) | FetchError::Request(_) => true,
            FetchError::Gone
            | FetchError::TooManyRedirects { .. }
            | FetchError::RedirectLoop { .. }
            | FetchError::BadRedirect { .. }
            | FetchError::TooLarge { .. }
            | FetchError::Refused(_) => false,
        }
    }

    /// The server's `Retry-After`, when it sent one with an error status.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Settings for [`Fetcher::new`].
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Total time for one fetch: every redirect hop and the whole body.
    pub timeout: Duration,
    /// Longest silence while waiting for a response or between body reads.
    pub read_timeout: Duration,
    /// Largest accepted decompressed body.
    pub max_body: u64,
    /// User-Agent header (reqwest sends none by default, and some hosts refuse that).
    pub user_agent: String,
    /// Send every request through this proxy (`http://`, `https://` or `socks5://` URL, with
    /// credentials in the URL if needed). `None` keeps reqwest's default: the `HTTP_PROXY`,
    /// `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` environment variables.
    pub proxy: Option<Url>,
}

impl FetchSettings {
    /// Settings with the default read timeout (capped by `timeout`) and no explicit proxy.
    pub fn new(timeout: Duration, max_body: u64, user_agent: impl Into<String>) -> FetchSettings {
        FetchSettings {
            timeout,
            read_timeout: DEFAULT_READ_TIMEOUT.min(timeout),
            max_body,
            user_agent: user_agent.into(),
            proxy: None,
        }
    }
}

/// Per-feed extras for [`Fetcher::fetch_with`], parsed when the config loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// Extra headers, e.g. an API key. Sent only to the feed's own origin (scheme, host,
    /// port): a redirect elsewhere does not get them, as reqwest does for `Authorization`,
    /// because such headers are usually credentials.
    pub headers: HeaderMap,
    /// The feed's own origin for `headers`: the configured URL's. `None` takes the origin of
    /// the URL fetched, which is only right when that *is* the configured URL: a feed polled
    /// at the address a 301 moved it to must not start sending its credentials there.
    pub headers_origin: Option<Origin>,
    /// Replaces the client's User-Agent for this feed (sent on every hop).
    pub user_agent: Option<HeaderValue>,
}

/// A shared HTTP client for all feeds (one connection pool).
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body: u64,
    timeout: Duration,
    /// `Some` for a fetcher of links found *in* feeds (articles): every hop's URL is checked
    /// against it and the client resolves names through [`resolve::GuardedResolver`].
    guard: Option<AddressPolicy>,
}

impl Fetcher {
    /// Builds the client. Fails if the TLS backend cannot initialize or the proxy URL is bad.
    pub fn new(settings: &FetchSettings) -> Result<Fetcher, FetchError> {
        Fetcher::build(settings, None)
    }

    /// A fetcher for links a feed points at (articles), with the same limits as for feeds but
    /// guarded by `policy`: only http/https, and only addresses the policy allows, checked on
    /// every redirect hop and on every address a name resolves to. It ignores proxies (the
    /// settings' and the environment's): through a proxy the guard would see only the proxy's
    /// address, and the proxy would reach the local network on the feed's behalf.
    pub fn for_links(
        settings: &FetchSettings,
        policy: AddressPolicy,
    ) -> Result<Fetcher, FetchError> {
        Fetcher::build(settings, Some(policy))
    }

    fn build(
        settings: &FetchSettings,
        guard: Option<AddressPolicy>,
    ) -> Result<Fetcher, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_FEEDS));
        let mut builder = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .default_headers(headers)
            // No reqwest-level total timeout: `fetch_with` puts one deadline over all hops and
            // the body, so the error is always `Timeout`, whichever part was slow.
            .read_timeout(settings.read_timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
            // Redirects are followed by hand to see each hop's status (see `fetch_with`).
            .redirect(reqwest::redirect::Policy::none());
        if let Some(policy) = guard {
            builder = builder
                .no_proxy()
                .dns_resolver(resolve::GuardedResolver { policy });
        } else if let Some(proxy) = &settings.proxy {
            builder = builder.proxy(reqwest::Proxy::all(proxy.as_str()).map_err(classify)?);
        }
        let client = builder.build().map_err(classify)?;
        Ok(Fetcher {
            client,
            max_body: settings.max_body,
            timeout: settings.timeout,
            guard,
        })
    }

    /// GETs `url`, conditionally when `validators` has anything.
    pub async fn fetch(
        &self,
        url: &Url,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
        self.fetch_with(url, validators, &RequestOptions::default())
            .await
    }

    /// [`Fetcher::fetch`] with per-feed headers and User-Agent.
    pub async fn fetch_with(
        &self,
        url: &Url,
        validators: &Validators,
        options: &RequestOptions,
    ) -> Result<FetchOutcome, FetchError> {
        let user_agent = options.user_agent.as_ref();
        let origin = options
            .headers_origin
            .clone()
            .unwrap_or_else(|| url.origin());
        let work = self.fetch_inner(url, validators, &options.headers, &origin, user_agent);
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_elapsed) => Err(FetchError::Timeout {
                limit: self.timeout,
            }),
        }
    }

    async fn fetch_inner(
        &self,
        url: &Url,
        validators: &Validators,
        extra: &HeaderMap,
        origin: &Origin,
        user_agent: Option<&HeaderValue>,
    ) -> Result<FetchOutcome, FetchError> {
        let mut visited = vec![url.clone()];
        let mut all_permanent = true;
        let mut resp = loop {
            let current = visited.last().expect("starts with the feed URL");
            if let Some(policy) = self.guard {
                policy.check_url(current).map_err(FetchError::Refused)?;
            }
            let mut req = self.client.get(current.clone());
            if current.origin() == *origin {
                req = req.headers(extra.clone());
            }
            if let Some(ua) = user_agent {
                req = req.header(USER_AGENT, ua.clone());
            }
            if let Some(etag) = &validators.etag {
                req = req.header(IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &validators.last_modified {
                req = req.header(IF_MODIFIED_SINCE, lm);
            }
            let resp = req.send().await.map_err(classify)?;
            let status = resp.status();
            if !is_redirect(status) {
                break resp;
            }
            if visited.len() > MAX_REDIRECTS {
                return Err(FetchError::TooManyRedirects {
                    limit: MAX_REDIRECTS,
                });
            }
            // Location may carry raw UTF-8; the url crate percent-encodes it when joining.
            let location = resp
                .headers()
                .get(LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string());
            let next = location
                .as_deref()
                .and_then(|l| current.join(l).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"));
            let Some(mut next) = next else {
                return Err(FetchError::BadRedirect {
                    status: status.as_u16(),
                    location,
                });
            };
            next.set_fragment(None);
            if visited.contains(&next) {
                return Err(FetchError::RedirectLoop { url: next });
            }
            all_permanent &= matches!(
                status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
            );
            visited.push(next);
        };

        let status = resp.status();
        let hints = hints_from(resp.headers(), Utc::now());
        let final_url = resp.url().clone();
        let permanent_redirect = (visited.len() > 1 && all_permanent).then(|| final_url.clone());
        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified(NotModified {
                hints,
                permanent_redirect,
            }));
        }
        if status == StatusCode::GONE {
            return Err(FetchError::Gone);
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                status: status.as_u16(),
                retry_after: hints.retry_after,
            });
        }
        // Content-Length is the compressed size when the body is encoded (reqwest then reports
        // none), so this early refusal never rejects a body that would fit once decoded.
        if resp.content_length().is_some_and(|n| n > self.max_body) {
            return Err(FetchError::TooLarge {
                limit: self.max_body,
            });
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let new_validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        let content_type = header(CONTENT_TYPE);

        // Stream the body so the cap holds on decompressed bytes, whatever Content-Length said:
        // reqwest inflates chunk by chunk, so a gzip bomb stops here after `max_body` bytes.
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            if body.len() as u64 + chunk.len() as u64 > self.max_body {
                return Err(FetchError::TooLarge {
                    limit: self.max_body,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchOutcome::Fetched(Fetched {
            body,
            content_type,
            validators: new_validators,
            final_url,
            permanent_redirect,
            hints,
        }))
    }
}

/// The statuses that carry a `Location` to follow (RFC 9110 §15.4); 300, 304 and 305 do not.
fn is_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

/// reqwest's errors name the URL, query and userinfo included; the caller shows the feed's URL
/// redacted beside the error instead.
fn classify(e: reqwest::Error) -> FetchError {
    let e = e.without_url();
    // The guarded resolver's refusal comes back wrapped in reqwest's and hyper's errors.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(refusal) = err.downcast_ref::<Refusal>() {
            return FetchError::Refused(refusal.clone());
        }
        source = err.source();
    }
    if e.is_timeout() {
        FetchError::Stalled(e)
    } else {
        FetchError::Request(e)
    }
}

/// Reads the scheduling hints from response headers received at `received` (our clock).
fn hints_from(headers: &HeaderMap, received: DateTime<Utc>) -> Hints {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let server_now = text(DATE).and_then(parse_http_date);
    let max_age = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(max_age_directive)
        .map(|max_age| {
            let age = text(AGE)
                .and_then(|a| a.trim().parse::<u64>().ok())
                .unwrap_or(0);
            Duration::from_secs(max_age.saturating_sub(age))
        });
    let expires = text(EXPIRES)
        .and_then(parse_http_date)
        .and_then(|at| match server_now {
            Some(date) => received.checked_add_signed(at.signed_duration_since(date)),
            None => Some(at),
        });
    let retry_after =
        text(RETRY_AFTER).and_then(|v| parse_retry_after(v, server_now.unwrap_or(received)));
    Hints {
        max_age,
        expires,
        retry_after,
    }
}

/// `max-age=N` from one `Cache-Control` value (directive names are case-insensitive, the
/// argument may be quoted: RFC 9111 §5.2).
fn max_age_directive(value: &str) -> Option<u64> {
    value.split(',').find_map(|d| {
        let (name, arg) = d.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| arg.trim().trim_matches('"').parse::<u64>().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::at;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).expect("valid test header"));
        }
        map
    }

    #[test]
    fn max_age_directive_cases() {
        let cases = [
            ("plain", "max-age=300", Some(300)),
            ("among others", "public, no-transform, MAX-AGE=60", Some(60)),
            ("quoted", "max-age=\"30\"", Some(30)),
            ("s-maxage is for shared caches", "s-maxage=10", None),
            ("none", "no-cache", None),
            ("garbage", "max-age=soon", None),
        ];
        for (name, value, want) in cases {
            assert_eq!(max_age_directive(value), want, "{name}");
        }
    }

    #[test]
    fn hints_subtract_age_and_correct_expires_for_server_clock_skew() {
        // The server's clock is an hour behind ours; its Expires is 10 minutes after its Date.
        let received = at("2024-01-01T13:00:00Z");
        let h = hints_from(
            &headers(&[
                ("cache-control", "public, max-age=600"),
                ("age", "100"),
                ("date", "Mon, 01 Jan 2024 12:00:00 GMT"),
                ("expires", "Mon, 01 Jan 2024 12:10:00 GMT"),
                ("retry-after", "Mon, 01 Jan 2024 12:01:00 GMT"),
            ]),
            received,
        );
        assert_eq!(h.max_age, Some(Duration::from_secs(500)));
        assert_eq!(h.expires, Some(at("2024-01-01T13:10:00Z")));
        assert_eq!(h.retry_after, Some(Duration::from_secs(60)));
        assert_eq!(h.fresh_until(received), Some(at("2024-01-01T13:08:20Z")));
    }

    #[test]
    fn hints_without_headers_are_empty() {
        assert_eq!(
            hints_from(&HeaderMap::new(), at("2024-01-01T00:00:00Z")),
            Hints::default()
        );
    }

    #[test]
    fn transient_versus_permanent() {
        let transient = [
            FetchError::Status {
                status: 503,
                retry_after: None,
            },
            FetchError::Status {
                status: 429,
                retry_after: None,
            },
            FetchError::Timeout {
                limit: Duration::from_secs(1),
            },
        ];
        let permanent = [
            FetchError::Gone,
            FetchError::Status {
                status: 404,
                retry_after: None,
            },
            FetchError::TooManyRedirects { limit: 10 },
            FetchError::TooLarge { limit: 1 },
        ];
        assert!(transient.iter().all(FetchError::is_transient));
        assert!(!permanent.iter().any(FetchError::is_transient));
    }
}

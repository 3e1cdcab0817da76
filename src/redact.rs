//! Display forms of URLs that hide the secrets URLs carry: used everywhere a feed, webhook or
//! proxy URL is shown (logs, command output, stored errors, config errors, alert messages).
//! A leaf: it knows only the `url` crate, and nothing here is ever sent over the wire — the
//! real URL is still the one fetched and posted to.
//!
//! What is hidden and why:
//! - userinfo (`user:pass@`) becomes `***@`: it is a credential wherever it appears;
//! - every query value becomes `***` (keys stay, they say what kind of thing was hidden):
//!   feed services put API tokens there (`?token=`, `?key=`);
//! - the fragment is dropped (never sent, but a place people paste tokens);
//! - for webhooks the whole path and query become `/***`: for Slack (`/services/…`), Discord
//!   (`/api/webhooks/ID/TOKEN`) and most others the path *is* the credential.
//!
//! A feed's path stays: it is what tells two feeds of one host apart.

use std::fmt;

use url::{Position, Url};

/// What replaces a hidden part.
pub const MASK: &str = "***";

/// A URL shown without its secrets; see the module doc for what is hidden.
#[derive(Debug, Clone, Copy)]
pub struct Redacted<'a> {
    url: &'a Url,
    /// The path is a credential (webhooks): hide it with the query.
    hide_path: bool,
}

impl<'a> Redacted<'a> {
    /// A feed or proxy URL: scheme, host, port and path, with userinfo and query values masked.
    pub fn url(url: &'a Url) -> Redacted<'a> {
        Redacted {
            url,
            hide_path: false,
        }
    }

    /// A webhook URL: scheme, host and port only; userinfo, path and query masked.
    pub fn webhook(url: &'a Url) -> Redacted<'a> {
        Redacted {
            url,
            hide_path: true,
        }
    }
}

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.url;
        if url.cannot_be_a_base() {
            // `mailto:…`, `data:…`: no host to keep, and the rest may be anything.
            return write!(f, "{}:{MASK}", url.scheme());
        }
        let mut shown = url.clone();
        let had_userinfo = !url.username().is_empty() || url.password().is_some();
        // Cannot fail on a URL that can be a base and has a host; when it has none (`file:`)
        // there is no userinfo to remove either.
        let _ = shown.set_password(None);
        let _ = shown.set_username("");
        shown.set_fragment(None);
        // Everything up to the host (`https://`), then the mask where the userinfo was.
        f.write_str(&shown[..Position::BeforeHost])?;
        if had_userinfo {
            write!(f, "{MASK}@")?;
        }
        if self.hide_path {
            f.write_str(&shown[Position::BeforeHost..Position::AfterPort])?;
            return if matches!(url.path(), "" | "/") && url.query().is_none() {
                f.write_str(url.path())
            } else {
                write!(f, "/{MASK}")
            };
        }
        if url.query().is_some() {
            let keys: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
            shown
                .query_pairs_mut()
                .clear()
                .extend_pairs(keys.iter().map(|k| (k.as_str(), MASK)));
        }
        f.write_str(&shown[Position::BeforeHost..])
    }
}

/// The display form of a URL given as text (a `Location` header, a config value): redacted as
/// a feed URL when it parses; when it does not, nothing of it is shown, since what part of an
/// unparseable string is a secret cannot be known.
pub fn redact_text(raw: &str) -> String {
    match Url::parse(raw.trim()) {
        Ok(url) => Redacted::url(&url).to_string(),
        Err(_) => "(not a valid URL)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_cases() {
        // (name, url, shown as a feed URL, shown as a webhook URL)
        let cases = [
            (
                "plain feed is unchanged",
                "https://example.org/rss/news",
                "https://example.org/rss/news",
                "https://example.org/***",
            ),
            (
                "root path has nothing to hide",
                "https://example.org/",
                "https://example.org/",
                "https://example.org/",
            ),
            (
                "userinfo",
                "https://alice:s3cret@example.org/feed",
                "https://***@example.org/feed",
                "https://***@example.org/***",
            ),
            (
                "user name only",
                "https://alice@example.org/feed",
                "https://***@example.org/feed",
                "https://***@example.org/***",
            ),
            (
                "query values, keys kept",
                "https://example.org/feed?token=s3cret&format=rss&flag",
                "https://example.org/feed?token=***&format=***&flag=***",
                "https://example.org/***",
            ),
            (
                "port kept",
                "http://127.0.0.1:8080/feed?key=s3cret",
                "http://127.0.0.1:8080/feed?key=***",
                "http://127.0.0.1:8080/***",
            ),
            (
                "fragment dropped",
                "https://example.org/feed#access_token=s3cret",
                "https://example.org/feed",
                "https://example.org/***",
            ),
            (
                "slack webhook",
                "https://hooks.slack.com/services/T000/B000/XXXXs3cret",
                "https://hooks.slack.com/services/T000/B000/XXXXs3cret",
                "https://hooks.slack.com/***",
            ),
            (
                "query-only webhook",
                "https://chat.example.org/?key=s3cret",
                "https://chat.example.org/?key=***",
                "https://chat.example.org/***",
            ),
            (
                "ipv6 host",
                "http://u:p@[::1]:9000/f?t=s3cret",
                "http://***@[::1]:9000/f?t=***",
                "http://***@[::1]:9000/***",
            ),
            (
                "socks proxy with credentials",
                "socks5://u:s3cret@proxy.example.org:1080",
                "socks5://***@proxy.example.org:1080",
                "socks5://***@proxy.example.org:1080",
            ),
            (
                "no authority",
                "mailto:ops@example.org",
                "mailto:***",
                "mailto:***",
            ),
            (
                "file URL",
                "file:///etc/passwd",
                "file:///etc/passwd",
                "file:///***",
            ),
        ];
        for (name, raw, feed, webhook) in cases {
            let url = Url::parse(raw).expect("valid test URL");
            assert_eq!(Redacted::url(&url).to_string(), feed, "{name} (feed)");
            assert_eq!(
                Redacted::webhook(&url).to_string(),
                webhook,
                "{name} (webhook)"
            );
        }
    }

    #[test]
    fn text_that_is_not_a_url_is_not_shown() {
        assert_eq!(
            redact_text(" https://u:s3cret@example.org/f?t=s3cret "),
            "https://***@example.org/f?t=***"
        );
        for raw in ["https//hooks.example.org/s3cret", "http://[s3cret", ""] {
            assert!(!redact_text(raw).contains("s3cret"), "{raw:?}");
            assert_eq!(redact_text(raw), "(not a valid URL)", "{raw:?}");
        }
    }
}

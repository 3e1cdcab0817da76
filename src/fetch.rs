//! Fetching one feed over HTTP: conditional GET, compression, a total timeout and a streaming
//! body cap. Returns a [`FetchOutcome`] value; it knows nothing about parsing, storage or rules.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, RETRY_AFTER,
};
use url::Url;

/// Redirects followed before giving up (a loop or a very long chain is an error).
pub const MAX_REDIRECTS: usize = 10;
/// Longest wait for a TCP/TLS connection, within the total timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
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
}

/// What a fetch produced.
#[derive(Debug, Clone)]
pub enum FetchOutcome {
    /// 304 Not Modified: nothing changed, keep the stored validators.
    NotModified,
    /// 200 with a body.
    Fetched(Fetched),
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with an error status.
    #[error("server answered HTTP {status}")]
    Status {
        /// The status code.
        status: u16,
        /// `Retry-After` in seconds, when given as seconds.
        retry_after: Option<u64>,
    },
    /// The body is larger than `[poll] max_body`.
    #[error("response body exceeds the {limit}-byte limit ([poll] max_body)")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The request did not complete within `[poll] timeout`.
    #[error("request timed out")]
    Timeout(#[source] reqwest::Error),
    /// Connection, TLS, redirect or protocol failure.
    #[error("request failed")]
    Request(#[source] reqwest::Error),
}

impl FetchError {
    /// Worth retrying soon (network trouble, 5xx, 408, 429), as opposed to a permanent refusal.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            FetchError::TooLarge { .. } => false,
            FetchError::Timeout(_) | FetchError::Request(_) => true,
        }
    }
}

/// Settings for [`Fetcher::new`].
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Total time for one request including the body.
    pub timeout: Duration,
    /// Largest accepted decompressed body.
    pub max_body: u64,
    /// User-Agent header.
    pub user_agent: String,
}

/// A shared HTTP client for all feeds (one connection pool).
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body: u64,
}

impl Fetcher {
    /// Builds the client. Fails only if the TLS backend cannot initialize.
    pub fn new(settings: &FetchSettings) -> Result<Fetcher, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_FEEDS));
        let client = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .default_headers(headers)
            .timeout(settings.timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(settings.timeout))
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .build()
            .map_err(FetchError::Request)?;
        Ok(Fetcher {
            client,
            max_body: settings.max_body,
        })
    }

    /// GETs `url`, conditionally when `validators` has anything.
    pub async fn fetch(
        &self,
        url: &Url,
        validators: &Validators,
    ) -> Result<FetchOutcome, FetchError> {
        let mut req = self.client.get(url.clone());
        if let Some(etag) = &validators.etag {
            req = req.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            req = req.header(IF_MODIFIED_SINCE, lm);
        }
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutcome::NotModified);
        }
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            return Err(FetchError::Status {
                status: status.as_u16(),
                retry_after,
            });
        }
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
        let final_url = resp.url().clone();

        // Stream the body so the cap holds on decompressed bytes, whatever Content-Length said.
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(classify)?;
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
        }))
    }
}

fn classify(e: reqwest::Error) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout(e)
    } else {
        FetchError::Request(e)
    }
}

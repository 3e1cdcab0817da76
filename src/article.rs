//! Full stories (`fetch_article = true`): the page an item links to, reduced to its main text
//! for the rules' `article:` field. Two parts:
//! - [`extract`] (pure): HTML bytes → the article's plain text, by readability (`dom_smoothie`,
//!   a port of Mozilla's readability.js, the algorithm behind Firefox's reader view) or by the
//!   feed's CSS `article_selector` when set;
//! - [`Articles`]: fetches the links of one poll's new items through the guarded fetcher
//!   (`fetch::guard`), at most `per_host` at once against one host across all feeds, with one
//!   deadline over the whole batch so an alert is never held back longer than `[poll] timeout`.
//!
//! A failed article is a value ([`ArticleError`]), never a failed poll: the item is matched on
//! its feed text as it would be without `fetch_article`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderValue;
use tokio::sync::Semaphore;
use url::Url;

use crate::config::ArticleSettings;
use crate::domain::Item;
use crate::fetch::guard::AddressPolicy;
use crate::fetch::{FetchError, FetchOutcome, FetchSettings, Fetcher, RequestOptions, Validators};

/// Default `max_articles`: article fetches one feed makes per poll. A feed that publishes 500
/// items at once must not become 500 requests at once.
pub const DEFAULT_MAX_ARTICLES_PER_POLL: usize = 20;
/// readability gives up on pages with more elements than this (dom_smoothie's own default is
/// unbounded); a news page has a few thousand.
const MAX_ELEMENTS: usize = 20_000;

/// Why an item's article could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ArticleError {
    /// The fetch failed (timeout, HTTP error, too large, refused by the address guard …).
    #[error("fetch failed")]
    Fetch(#[source] FetchError),
    /// The link answered 304 to a request that sent no validators.
    #[error("the server answered 304 without being asked conditionally")]
    NotModified,
    /// The page yields no text (a paywall shell, a script-only page, an image).
    #[error("the page yields no text")]
    NoText,
    /// The feed's `article_selector` matches nothing on the page.
    #[error("article_selector {selector:?} matches nothing on the page")]
    SelectorMissed {
        /// The selector as configured.
        selector: String,
    },
    /// The batch's deadline (`[poll] timeout`) passed before this article was fetched.
    #[error("not fetched within the poll's timeout")]
    Deadline,
    /// Extraction panicked or was stopped (a bug in the HTML libraries; the item still counts).
    #[error("extraction failed")]
    Extraction,
}

/// Whether `selector` is a CSS selector `article_selector` accepts (checked when the config
/// loads, so a typo is a config error, not a failure on every article).
pub fn valid_selector(selector: &str) -> bool {
    dom_query::Matcher::new(selector).is_ok()
}

/// The article's plain text from a page's bytes: the elements `selector` matches (in document
/// order) when set, readability's main content otherwise. `url` resolves relative links.
pub fn extract(
    body: &[u8],
    content_type: Option<&str>,
    url: &Url,
    selector: Option<&str>,
) -> Result<String, ArticleError> {
    let html = decode(body, content_type);
    let text = match selector {
        Some(selector) => {
            let doc = dom_query::Document::from(html.as_str());
            let matcher =
                dom_query::Matcher::new(selector).map_err(|_| ArticleError::SelectorMissed {
                    selector: selector.to_string(),
                })?;
            let found = doc.select_matcher(&matcher);
            if !found.exists() {
                return Err(ArticleError::SelectorMissed {
                    selector: selector.to_string(),
                });
            }
            crate::text::html_to_text(&found.html())
        }
        None => {
            let cfg = dom_smoothie::Config {
                max_elements_to_parse: MAX_ELEMENTS,
                ..Default::default()
            };
            let mut readability =
                dom_smoothie::Readability::new(html.as_str(), Some(url.as_str()), Some(cfg))
                    .map_err(|_| ArticleError::NoText)?;
            let article = readability.parse().map_err(|_| ArticleError::NoText)?;
            crate::text::html_to_text(&article.content)
        }
    };
    if text.trim().is_empty() {
        return Err(ArticleError::NoText);
    }
    Ok(text)
}

/// The page as text: the charset the `Content-Type` names, else UTF-8 when it is valid UTF-8,
/// else chardetng's guess (the detector Firefox uses for unlabelled pages).
fn decode(body: &[u8], content_type: Option<&str>) -> String {
    let labelled = content_type
        .and_then(|ct| {
            ct.split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
        })
        .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()));
    if let Some(encoding) = labelled {
        return encoding.decode(body).0.into_owned();
    }
    match std::str::from_utf8(body) {
        Ok(text) => text.to_string(),
        Err(_) => {
            let mut detector =
                chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
            detector.feed(body, true);
            let encoding = detector.guess(None, chardetng::Utf8Detection::Allow);
            encoding.decode(body).0.into_owned()
        }
    }
}

/// One article to fetch: the item's index in the poll's batch and its link.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// Index of the item in the poll's new items.
    pub item: usize,
    /// The item's link.
    pub link: String,
}

/// What one feed's article settings are, for [`Articles::fetch_all`].
#[derive(Debug, Clone, Copy)]
pub struct FeedArticles<'a> {
    /// Which addresses links may reach.
    pub policy: AddressPolicy,
    /// `article_selector`, when set.
    pub selector: Option<&'a str>,
    /// The feed's own User-Agent, when it has one (else the fetcher's).
    pub user_agent: Option<&'a HeaderValue>,
}

/// The article fetchers shared by every feed, and the per-host limit across feeds.
#[derive(Debug, Clone)]
pub struct Articles {
    /// For links that must resolve to public addresses.
    public_only: Fetcher,
    /// For feeds whose links may reach non-public addresses.
    any: Fetcher,
    /// One semaphore per link host, each with `per_host` permits: taken for the whole fetch so
    /// article fetches stay as polite to a host as feed polls are.
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    /// `[poll] per_host`.
    per_host: usize,
    /// `[poll] timeout`: each fetch's own limit and the whole batch's deadline.
    timeout: Duration,
}

impl Articles {
    /// Fetchers with the feeds' settings (timeout, max_body, user agent, decompression cap).
    pub fn new(settings: &FetchSettings, per_host: usize) -> Result<Articles, FetchError> {
        Ok(Articles {
            public_only: Fetcher::for_links(settings, AddressPolicy::PUBLIC_ONLY)?,
            any: Fetcher::for_links(settings, AddressPolicy::ANY)?,
            hosts: Arc::default(),
            per_host: per_host.max(1),
            timeout: settings.timeout,
        })
    }

    /// The policy for a feed fetched from `feed_url` (whose host, when a literal address,
    /// tells whether the feed itself is local; a name is resolved here, once per poll).
    pub async fn policy_for(allow_private: Option<bool>, feed_url: &Url) -> AddressPolicy {
        if allow_private.is_some() {
            return AddressPolicy::for_feed(allow_private, []);
        }
        let addrs: Vec<IpAddr> = match feed_url.host() {
            Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(url::Host::Domain(name)) => {
                let lookup = tokio::net::lookup_host((name, 0));
                match tokio::time::timeout(Duration::from_secs(5), lookup).await {
                    Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                    // Unknown: treat the feed as public, the safe reading.
                    _ => Vec::new(),
                }
            }
            None => Vec::new(),
        };
        AddressPolicy::for_feed(None, addrs)
    }

    /// Fetches and extracts every wanted article, concurrently (at most `per_host` per host),
    /// all within one `[poll] timeout`: what is not done by then is [`ArticleError::Deadline`].
    /// Returns one result per wanted article, in order.
    pub async fn fetch_all(
        &self,
        wanted: &[Wanted],
        feed: FeedArticles<'_>,
    ) -> Vec<Result<String, ArticleError>> {
        let fetcher = if feed.policy.allows_non_public() {
            &self.any
        } else {
            &self.public_only
        };
        let mut slots: Vec<Option<Result<String, ArticleError>>> =
            (0..wanted.len()).map(|_| None).collect();
        // Every task is tracked here and aborted when the set is dropped (at the deadline).
        let mut tasks = tokio::task::JoinSet::new();
        for (n, w) in wanted.iter().enumerate() {
            let this = self.clone();
            let fetcher = fetcher.clone();
            let link = w.link.clone();
            let selector = feed.selector.map(str::to_string);
            let options = RequestOptions {
                user_agent: feed.user_agent.cloned(),
                ..RequestOptions::default()
            };
            tasks.spawn(async move {
                let page = this.fetch_one(&fetcher, &link, selector, &options);
                (n, page.await)
            });
        }
        // A little beyond the fetch timeout: a fetch that starts at once ends by its own
        // timeout, and its error is more telling than "deadline".
        let deadline = tokio::time::Instant::now() + self.timeout + Duration::from_millis(250);
        while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
            if let Ok((n, result)) = joined
                && let Some(slot) = slots.get_mut(n)
            {
                *slot = Some(result);
            }
        }
        slots
            .into_iter()
            .map(|s| s.unwrap_or(Err(ArticleError::Deadline)))
            .collect()
    }

    /// A feed's article fetches for `items` (a poll's new items, or `test-rule`'s): the links
    /// of the items `eligible` accepts, at most `settings.max_per_poll` of them, each page's
    /// text put in its item's `article`. Returns each fetch's outcome with the item's index;
    /// a failed one leaves its item as the feed gave it.
    pub async fn fill(
        &self,
        settings: &ArticleSettings,
        feed_url: &Url,
        items: &mut [Item],
        eligible: &(dyn Fn(&Item) -> bool + Sync),
    ) -> Vec<(Wanted, Result<(), ArticleError>)> {
        let wanted: Vec<Wanted> = (items.iter().enumerate())
            .filter(|(_, item)| eligible(item))
            .filter_map(|(n, item)| item.link.clone().map(|link| Wanted { item: n, link }))
            .take(settings.max_per_poll)
            .collect();
        if wanted.is_empty() {
            return Vec::new();
        }
        let feed = FeedArticles {
            policy: Articles::policy_for(settings.allow_private, feed_url).await,
            selector: settings.selector.as_deref(),
            user_agent: settings.user_agent.as_ref(),
        };
        let results = self.fetch_all(&wanted, feed).await;
        wanted
            .into_iter()
            .zip(results)
            .map(|(w, result)| {
                let result = result.map(|text| {
                    if let Some(item) = items.get_mut(w.item) {
                        item.article = text;
                    }
                });
                (w, result)
            })
            .collect()
    }

    async fn fetch_one(
        &self,
        fetcher: &Fetcher,
        link: &str,
        selector: Option<String>,
        options: &RequestOptions,
    ) -> Result<String, ArticleError> {
        let url = Url::parse(link).map_err(|_| {
            ArticleError::Fetch(FetchError::Refused(crate::fetch::guard::Refusal::NoHost))
        })?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let semaphore = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            hosts
                .entry(host)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        let _permit = semaphore
            .acquire_owned()
            .await
            .map_err(|_| ArticleError::Deadline)?;
        let fetched = match fetcher
            .fetch_with(&url, &Validators::default(), options)
            .await
        {
            Ok(FetchOutcome::Fetched(f)) => f,
            Ok(FetchOutcome::NotModified(_)) => return Err(ArticleError::NotModified),
            Err(e) => return Err(ArticleError::Fetch(e)),
        };
        // HTML parsing is CPU work: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            extract(
                &fetched.body,
                fetched.content_type.as_deref(),
                &fetched.final_url,
                selector.as_deref(),
            )
        })
        .await
        .map_err(|_| ArticleError::Extraction)?
    }
}

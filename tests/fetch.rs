//! The fetcher against real HTTP servers on loopback (`support`): the feed server for what a
//! well-behaved (or merely unhelpful) server says, and the raw TCP responder for what a
//! framework will not fake (a stalled or trickling body, a body without Content-Length). Every
//! server and every loop here is bounded; timeouts are small so the suite stays fast.

mod support;

use std::time::{Duration, Instant};

use feedwatch::fetch::guard::AddressPolicy;
use feedwatch::fetch::{
    FetchError, FetchOutcome, FetchSettings, Fetched, Fetcher, MAX_REDIRECTS, RequestOptions,
    Validators,
};
use feedwatch::parse::parse_feed;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use support::{FeedServer, RawBody, Route, Seen, raw_server, read_fixture};
use url::Url;

const TOTAL_TIMEOUT: Duration = Duration::from_secs(3);
const READ_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_BODY: u64 = 1024 * 1024;
const USER_AGENT: &str = "feedwatch-test/1 (+https://example.org/feedwatch)";
const RSS: &str = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><guid>1</guid><title>Hello</title></item></channel></rss>"#;

fn settings() -> FetchSettings {
    FetchSettings {
        timeout: TOTAL_TIMEOUT,
        read_timeout: READ_TIMEOUT,
        max_body: MAX_BODY,
        user_agent: USER_AGENT.to_string(),
        proxy: None,
    }
}

fn fetcher() -> Fetcher {
    Fetcher::new(&settings()).expect("client builds")
}

fn fetched(outcome: FetchOutcome) -> Fetched {
    match outcome {
        FetchOutcome::Fetched(f) => f,
        other => panic!("expected a body, got {other:?}"),
    }
}

/// A GET of `url` without validators.
async fn get_url(url: &Url) -> Result<FetchOutcome, FetchError> {
    fetcher().fetch(url, &Validators::default()).await
}

/// A GET of `path` on `server` without validators.
async fn get(server: &FeedServer, path: &str) -> Result<FetchOutcome, FetchError> {
    get_url(&server.parsed_url(path)).await
}

/// A GET of `path` on `server` that must return a body.
async fn get_body(server: &FeedServer, path: &str) -> Fetched {
    fetched(get(server, path).await.expect("fetch"))
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers.get(name).and_then(|v| v.to_str().ok())
}

// --- conditional GET and hints ---------------------------------------------------------------

#[tokio::test]
async fn not_modified_sends_validators_and_returns_cache_hints() {
    let server = FeedServer::start().await;
    server.set(
        "/feed.xml",
        Route::status(304)
            .header("etag", "\"v1\"")
            .header("cache-control", "public, max-age=600")
            .header("date", "Mon, 01 Jan 2024 12:00:00 GMT")
            .header("expires", "Mon, 01 Jan 2024 12:30:00 GMT"),
    );
    let validators = Validators {
        etag: Some("\"v1\"".into()),
        last_modified: Some("Thu, 07 Oct 2021 10:00:00 GMT".into()),
    };
    let before = chrono::Utc::now();
    let outcome = fetcher()
        .fetch(&server.parsed_url("/feed.xml"), &validators)
        .await
        .expect("fetch");
    let FetchOutcome::NotModified(nm) = outcome else {
        panic!("expected 304, got {outcome:?}");
    };
    assert_eq!(nm.hints.max_age, Some(Duration::from_secs(600)));
    // Expires is 30 minutes after the server's Date, so 30 minutes after *our* receipt time.
    let expires = nm.hints.expires.expect("expires hint");
    let ahead = expires - before;
    assert!(
        ahead >= chrono::Duration::minutes(29) && ahead <= chrono::Duration::minutes(31),
        "{ahead}"
    );
    assert_eq!(nm.permanent_redirect, None);
    let seen = server.seen("/feed.xml");
    assert_eq!(header(&seen[0], "if-none-match"), Some("\"v1\""));
    assert_eq!(
        header(&seen[0], "if-modified-since"),
        Some("Thu, 07 Oct 2021 10:00:00 GMT")
    );
}

#[tokio::test]
async fn ok_returns_body_new_validators_and_max_age_minus_age() {
    let server = FeedServer::start().await;
    server.set(
        "/feed.xml",
        Route::feed(RSS)
            .header("etag", "W/\"v2\"")
            .header("last-modified", "Fri, 08 Oct 2021 10:00:00 GMT")
            .header("cache-control", "max-age=300")
            .header("age", "60"),
    );
    let f = get_body(&server, "/feed.xml").await;
    assert_eq!(f.body, RSS.as_bytes());
    assert_eq!(f.content_type.as_deref(), Some("application/rss+xml"));
    assert_eq!(f.validators.etag.as_deref(), Some("W/\"v2\""));
    assert_eq!(
        f.validators.last_modified.as_deref(),
        Some("Fri, 08 Oct 2021 10:00:00 GMT")
    );
    assert_eq!(f.hints.max_age, Some(Duration::from_secs(240)));
    assert_eq!(f.final_url, server.parsed_url("/feed.xml"));
    assert_eq!(f.permanent_redirect, None);
    let seen = server.seen("/feed.xml");
    assert!(seen[0].headers.get("if-none-match").is_none());
}

#[tokio::test]
async fn gzip_encoded_body_is_decompressed() {
    let server = FeedServer::start().await;
    let plain = read_fixture("moscow_times_seed.xml");
    server.set(
        "/feed.xml",
        Route::feed(read_fixture("fetch_gzip_feed.xml.gz")).header("content-encoding", "gzip"),
    );
    let f = get_body(&server, "/feed.xml").await;
    assert_eq!(f.body, plain);
    let seen = server.seen("/feed.xml");
    assert!(
        header(&seen[0], "accept-encoding").is_some_and(|v| v.contains("gzip")),
        "{seen:?}"
    );
}

// --- redirects -------------------------------------------------------------------------------

#[tokio::test]
async fn moved_permanently_301_reports_the_new_url() {
    let server = FeedServer::start().await;
    server
        .set("/old.xml", Route::redirect(301, "/new.xml"))
        .set("/new.xml", Route::feed(RSS));
    let f = get_body(&server, "/old.xml").await;
    assert_eq!(f.final_url, server.parsed_url("/new.xml"));
    assert_eq!(f.permanent_redirect, Some(server.parsed_url("/new.xml")));
}

#[tokio::test]
async fn permanent_redirect_chain_of_308_and_301_reports_the_final_url() {
    let server = FeedServer::start().await;
    server
        .set("/a.xml", Route::redirect(308, "/b.xml"))
        .set("/b.xml", Route::redirect(301, &server.url("/c.xml")))
        .set("/c.xml", Route::feed(RSS));
    let f = get_body(&server, "/a.xml").await;
    assert_eq!(f.permanent_redirect, Some(server.parsed_url("/c.xml")));
}

#[tokio::test]
async fn permanent_redirect_to_an_unchanged_feed_is_reported_with_the_304() {
    let server = FeedServer::start().await;
    server
        .set("/old.xml", Route::redirect(301, "/new.xml"))
        .set("/new.xml", Route::status(304));
    let outcome = fetcher()
        .fetch(
            &server.parsed_url("/old.xml"),
            &Validators {
                etag: Some("\"v1\"".into()),
                last_modified: None,
            },
        )
        .await
        .expect("fetch");
    assert!(
        matches!(outcome, FetchOutcome::NotModified(_)),
        "{outcome:?}"
    );
    assert_eq!(
        outcome.permanent_redirect(),
        Some(&server.parsed_url("/new.xml"))
    );
    assert_eq!(
        header(&server.seen("/new.xml")[0], "if-none-match"),
        Some("\"v1\"")
    );
}

#[tokio::test]
async fn found_302_is_followed_but_not_permanent() {
    let server = FeedServer::start().await;
    server
        .set("/feed.xml", Route::redirect(302, "/elsewhere.xml"))
        .set("/elsewhere.xml", Route::feed(RSS));
    let f = get_body(&server, "/feed.xml").await;
    assert_eq!(f.final_url, server.parsed_url("/elsewhere.xml"));
    assert_eq!(f.permanent_redirect, None);
}

#[tokio::test]
async fn permanent_then_temporary_redirect_is_not_permanent() {
    let server = FeedServer::start().await;
    server
        .set("/a.xml", Route::redirect(301, "/b.xml"))
        .set("/b.xml", Route::redirect(307, "/c.xml"))
        .set("/c.xml", Route::feed(RSS));
    let f = get_body(&server, "/a.xml").await;
    assert_eq!(f.final_url, server.parsed_url("/c.xml"));
    assert_eq!(f.permanent_redirect, None);
}

#[tokio::test]
async fn redirect_loop_is_an_error_not_a_hang() {
    let server = FeedServer::start().await;
    server
        .set("/a.xml", Route::redirect(301, "/b.xml"))
        .set("/b.xml", Route::redirect(302, "/a.xml"));
    let err = get(&server, "/a.xml").await.expect_err("a loop fails");
    assert!(
        matches!(&err, FetchError::RedirectLoop { url } if *url == server.parsed_url("/a.xml")),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(server.seen("/a.xml").len(), 1);
}

#[tokio::test]
async fn endless_redirect_chain_stops_after_max_redirects() {
    let server = FeedServer::start().await;
    for n in 0..=MAX_REDIRECTS + 5 {
        server.set(
            &format!("/chain/{n}"),
            Route::redirect(302, &format!("/chain/{}", n + 1)),
        );
    }
    let err = get(&server, "/chain/0")
        .await
        .expect_err("too many redirects");
    assert!(
        matches!(err, FetchError::TooManyRedirects { limit } if limit == MAX_REDIRECTS),
        "{err:?}"
    );
    assert_eq!(
        server.requests(),
        MAX_REDIRECTS + 1,
        "the first request plus each redirect"
    );
}

#[tokio::test]
async fn redirect_without_usable_location_is_bad_redirect() {
    let server = FeedServer::start().await;
    server.set("/none.xml", Route::status(301)).set(
        "/ftp.xml",
        Route::redirect(302, "ftp://example.org/feed.xml"),
    );
    for (path, location) in [
        ("/none.xml", None),
        ("/ftp.xml", Some("ftp://example.org/feed.xml")),
    ] {
        let err = get(&server, path).await.expect_err("unusable redirect");
        assert!(
            matches!(&err, FetchError::BadRedirect { location: l, .. } if l.as_deref() == location),
            "{path}: {err:?}"
        );
    }
}

// --- error statuses --------------------------------------------------------------------------

#[tokio::test]
async fn gone_410_is_a_distinct_permanent_error() {
    let server = FeedServer::start().await;
    server.set("/feed.xml", Route::status(410));
    let err = get(&server, "/feed.xml").await.expect_err("gone");
    assert!(matches!(err, FetchError::Gone), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn too_many_requests_429_with_retry_after_seconds() {
    let server = FeedServer::start().await;
    server.set("/feed.xml", Route::status(429).header("retry-after", "120"));
    let err = get(&server, "/feed.xml").await.expect_err("429");
    assert!(
        matches!(err, FetchError::Status { status: 429, retry_after: Some(d) } if d == Duration::from_secs(120)),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn too_many_requests_429_with_retry_after_http_date_relative_to_server_date() {
    let server = FeedServer::start().await;
    // Both dates are in the past on our clock: only their difference counts.
    server.set(
        "/feed.xml",
        Route::status(429)
            .header("date", "Wed, 21 Oct 2015 07:28:00 GMT")
            .header("retry-after", "Wed, 21 Oct 2015 07:29:30 GMT"),
    );
    let err = get(&server, "/feed.xml").await.expect_err("429");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(90)), "{err:?}");
}

#[tokio::test]
async fn service_unavailable_503_is_transient_with_retry_after() {
    let server = FeedServer::start().await;
    server.set("/feed.xml", Route::status(503).header("retry-after", "30"));
    let err = get(&server, "/feed.xml").await.expect_err("503");
    assert!(
        matches!(err, FetchError::Status { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert!(err.is_transient());
}

// --- limits against hostile servers ----------------------------------------------------------

#[tokio::test]
async fn silent_server_is_stalled_after_the_read_timeout() {
    let url = raw_server("", RawBody::Stall).await;
    let started = Instant::now();
    let err = get_url(&url).await.expect_err("stalls");
    let took = started.elapsed();
    assert!(matches!(err, FetchError::Stalled(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(
        took >= READ_TIMEOUT && took < TOTAL_TIMEOUT,
        "ended after {took:?}"
    );
}

#[tokio::test]
async fn body_that_stops_midway_is_stalled_after_the_read_timeout() {
    let url = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 1000\r\n\r\n<rss>",
        RawBody::Stall,
    )
    .await;
    let started = Instant::now();
    let err = get_url(&url).await.expect_err("stalls");
    let took = started.elapsed();
    assert!(matches!(err, FetchError::Stalled(_)), "{err:?}");
    assert!(
        took >= READ_TIMEOUT && took < TOTAL_TIMEOUT,
        "ended after {took:?}"
    );
}

#[tokio::test]
async fn trickling_body_ends_at_the_total_timeout() {
    // One byte every 300 ms always beats the 1 s read timeout; only the deadline stops it.
    let url = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n",
        RawBody::Trickle(Duration::from_millis(300)),
    )
    .await;
    let started = Instant::now();
    let err = get_url(&url).await.expect_err("times out");
    let took = started.elapsed();
    assert!(
        matches!(err, FetchError::Timeout { limit } if limit == TOTAL_TIMEOUT),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(
        took >= TOTAL_TIMEOUT && took < TOTAL_TIMEOUT + Duration::from_secs(2),
        "ended after {took:?}"
    );
}

#[tokio::test]
async fn gzip_bomb_is_too_large_after_decompression() {
    // 64 KiB on the wire, 64 MiB inflated: the cap must apply to the inflated bytes.
    let server = FeedServer::start().await;
    let bomb = read_fixture("fetch_gzip_bomb.gz");
    assert!(bomb.len() < MAX_BODY as usize);
    server.set(
        "/feed.xml",
        Route::feed(bomb).header("content-encoding", "gzip"),
    );
    let err = get(&server, "/feed.xml").await.expect_err("too large");
    assert!(
        matches!(err, FetchError::TooLarge { limit } if limit == MAX_BODY),
        "{err:?}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn oversize_body_with_content_length_is_too_large() {
    let server = FeedServer::start().await;
    server.set("/feed.xml", Route::feed(vec![b' '; MAX_BODY as usize + 1]));
    let err = get(&server, "/feed.xml").await.expect_err("too large");
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn oversize_body_without_content_length_is_too_large() {
    let url = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nConnection: close\r\n\r\n",
        RawBody::Bytes(vec![b' '; 2 * MAX_BODY as usize]),
    )
    .await;
    let err = get_url(&url).await.expect_err("too large");
    assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn body_exactly_at_the_limit_is_accepted() {
    let url = raw_server(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
        RawBody::Bytes(vec![b' '; MAX_BODY as usize]),
    )
    .await;
    let f = fetched(get_url(&url).await.expect("fits"));
    assert_eq!(f.body.len() as u64, MAX_BODY);
}

// --- character encodings, fetched then parsed ------------------------------------------------

const PIKABU_FIRST_TITLE: &str = "Будни Кошкиного Дома";

#[tokio::test]
async fn windows_1251_body_with_charset_only_in_content_type_parses_to_cyrillic() {
    let server = FeedServer::start().await;
    server.set(
        "/feed.xml",
        Route::status(200)
            .header("content-type", "application/rss+xml; charset=windows-1251")
            .body(read_fixture("enc_windows1251_undeclared.xml")),
    );
    let f = get_body(&server, "/feed.xml").await;
    let feed = parse_feed(&f.body, f.content_type.as_deref(), &f.final_url).expect("parses");
    assert_eq!(feed.encoding, "windows-1251");
    assert_eq!(feed.title.as_deref(), Some("pikabu.ru"));
    assert_eq!(feed.items.len(), 40);
    assert_eq!(feed.items[0].title, PIKABU_FIRST_TITLE);
}

#[tokio::test]
async fn windows_1251_body_without_any_label_is_sniffed_as_cyrillic() {
    let server = FeedServer::start().await;
    server.set(
        "/feed.xml",
        Route::status(200)
            .header("content-type", "text/xml")
            .body(read_fixture("enc_windows1251_undeclared.xml")),
    );
    let f = get_body(&server, "/feed.xml").await;
    let feed = parse_feed(&f.body, f.content_type.as_deref(), &f.final_url).expect("parses");
    assert_eq!(feed.encoding, "windows-1251");
    assert_eq!(feed.items[0].title, PIKABU_FIRST_TITLE);
}

#[tokio::test]
async fn koi8r_body_without_any_label_parses_and_is_sniffed() {
    let server = FeedServer::start().await;
    server.set(
        "/feed.xml",
        Route::status(200).body(read_fixture("enc_koi8r_undeclared.xml")),
    );
    let f = get_body(&server, "/feed.xml").await;
    let feed = parse_feed(&f.body, f.content_type.as_deref(), &f.final_url).expect("parses");
    // chardetng names KOI8-U, the superset of KOI8-R: Russian text decodes identically.
    assert_eq!(feed.encoding, "KOI8-U");
    assert_eq!(feed.items[0].title, "Как пережить новогоднюю ночь");
}

// --- request headers and proxy ---------------------------------------------------------------

#[tokio::test]
async fn user_agent_and_accept_are_sent() {
    let server = FeedServer::start().await;
    server.set("/feed.xml", Route::feed(RSS));
    get_body(&server, "/feed.xml").await;
    let seen = server.seen("/feed.xml");
    assert_eq!(header(&seen[0], "user-agent"), Some(USER_AGENT));
    assert!(
        header(&seen[0], "accept").is_some_and(|a| a.starts_with("application/rss+xml")),
        "{seen:?}"
    );
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
        .collect()
}

#[tokio::test]
async fn per_feed_headers_and_user_agent_are_sent() {
    let server = FeedServer::start().await;
    server.set("/feed.xml", Route::feed(RSS));
    let options = RequestOptions {
        headers: headers(&[("x-api-key", "s3cret"), ("accept-language", "ru")]),
        headers_origin: None,
        user_agent: Some(HeaderValue::from_static("custom-agent/2")),
    };
    fetcher()
        .fetch_with(
            &server.parsed_url("/feed.xml"),
            &Validators::default(),
            &options,
        )
        .await
        .expect("fetch");
    let seen = server.seen("/feed.xml");
    assert_eq!(header(&seen[0], "x-api-key"), Some("s3cret"));
    assert_eq!(header(&seen[0], "accept-language"), Some("ru"));
    assert_eq!(header(&seen[0], "user-agent"), Some("custom-agent/2"));
    assert_eq!(seen[0].headers.get_all("user-agent").iter().count(), 1);
}

#[tokio::test]
async fn per_feed_headers_are_not_sent_to_another_origin() {
    let home = FeedServer::start().await;
    let elsewhere = FeedServer::start().await;
    home.set(
        "/feed.xml",
        Route::redirect(301, &elsewhere.url("/feed.xml")),
    );
    elsewhere.set("/feed.xml", Route::feed(RSS));
    let options = RequestOptions {
        headers: headers(&[("authorization", "Bearer s3cret")]),
        headers_origin: None,
        user_agent: Some(HeaderValue::from_static("custom-agent/2")),
    };
    let f = fetched(
        fetcher()
            .fetch_with(
                &home.parsed_url("/feed.xml"),
                &Validators::default(),
                &options,
            )
            .await
            .expect("fetch"),
    );
    assert_eq!(
        f.permanent_redirect,
        Some(elsewhere.parsed_url("/feed.xml"))
    );
    let at_home = home.seen("/feed.xml");
    let away = elsewhere.seen("/feed.xml");
    assert_eq!(header(&at_home[0], "authorization"), Some("Bearer s3cret"));
    assert_eq!(header(&away[0], "authorization"), None);
    assert_eq!(header(&away[0], "user-agent"), Some("custom-agent/2"));
}

#[tokio::test]
async fn proxy_setting_sends_requests_through_the_proxy() {
    let proxy = FeedServer::start().await;
    proxy.set("/feed.xml", Route::feed(RSS));
    let fetcher = Fetcher::new(&FetchSettings {
        proxy: Some(proxy.parsed_url("/")),
        ..settings()
    })
    .expect("client builds");
    // The host does not resolve: only the proxy can answer.
    let url = Url::parse("http://feed.invalid/feed.xml").expect("valid url");
    let f = fetched(
        fetcher
            .fetch(&url, &Validators::default())
            .await
            .expect("fetch via proxy"),
    );
    assert_eq!(f.body, RSS.as_bytes());
    let seen = proxy.seen("/feed.xml");
    assert_eq!(header(&seen[0], "host"), Some("feed.invalid"));
}

// --- the address guard for links found in feeds (articles) -------------------------------------

fn link_fetcher(policy: AddressPolicy) -> Fetcher {
    Fetcher::for_links(&settings(), policy).expect("client builds")
}

#[tokio::test]
async fn guarded_fetch_of_a_literal_loopback_link_is_refused_before_any_request() {
    assert_refused_before_any_request(|url| url).await;
}

/// A public-only fetch of a loopback server's article, its URL changed by `edit`, must be
/// refused as a permanent failure without the server seeing a request.
async fn assert_refused_before_any_request(edit: impl FnOnce(Url) -> Url) {
    let server = FeedServer::start().await;
    server.set("/article", Route::feed("<p>secret</p>"));
    let err = link_fetcher(AddressPolicy::PUBLIC_ONLY)
        .fetch(&edit(server.parsed_url("/article")), &Validators::default())
        .await
        .expect_err("loopback refused");
    assert!(matches!(err, FetchError::Refused(_)), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn guarded_fetch_of_a_name_resolving_to_loopback_is_refused_before_any_request() {
    assert_refused_before_any_request(|mut url| {
        url.set_host(Some("localhost")).expect("host set");
        url
    })
    .await;
}

#[tokio::test]
async fn guarded_fetch_allowing_private_addresses_reaches_loopback_by_name() {
    let server = FeedServer::start().await;
    server.set("/article", Route::feed("<p>story</p>"));
    let mut url = server.parsed_url("/article");
    url.set_host(Some("localhost")).expect("host set");
    let f = fetched(
        link_fetcher(AddressPolicy::ANY)
            .fetch(&url, &Validators::default())
            .await
            .expect("allowed"),
    );
    assert_eq!(f.body, b"<p>story</p>");
}

#[tokio::test]
async fn guarded_fetch_refuses_a_redirect_to_a_non_http_scheme() {
    let server = FeedServer::start().await;
    server.set("/article", Route::redirect(302, "file:///etc/passwd"));
    let err = link_fetcher(AddressPolicy::ANY)
        .fetch(&server.parsed_url("/article"), &Validators::default())
        .await
        .expect_err("file: refused");
    assert!(matches!(err, FetchError::BadRedirect { .. }), "{err:?}");
}

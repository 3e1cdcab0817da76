//! Full stories (issue 13): `fetch_article = true` fetches a new item's link and matches the
//! page's main text as the `article` field, through the real binary against real loopback
//! servers. Nothing here leaves loopback: the refusal case is a feed on 127.0.0.1 with
//! `allow_private = false` linking to another loopback port, whose server must see no request.

mod support;

use support::{FeedServer, Route, config_dir, feedwatch};

/// A page whose article body (and only that) names Kabulov; enough text for readability.
fn article_page(name_in_article: &str) -> String {
    let filler = "Delegations from regional powers met in the capital to discuss security, \
                  trade routes and the humanitarian situation along the border. "
        .repeat(6);
    format!(
        "<!doctype html><html><head><title>Talks</title></head><body>\
         <nav><a href=\"/\">Home</a> <a href=\"/world\">World</a></nav>\
         <div class=\"article-body\"><h1>Talks in Moscow</h1>\
         <p>{filler}</p><p>The envoy {name_in_article} said on Thursday that the format \
         would continue next month.</p><p>{filler}</p></div>\
         <footer>Copyright the newspaper</footer></body></html>"
    )
}

/// An RSS feed of one item linking to `link`, published an hour ago, whose teaser is `teaser`.
fn teaser_feed(link: &str, teaser: &str) -> String {
    let date = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc2822();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>News</title>\
         <item><guid>story-1</guid><title>Regional talks</title><link>{link}</link>\
         <pubDate>{date}</pubDate><description>{teaser}</description></item>\
         </channel></rss>"
    )
}

/// A config with one feed (`feed_keys` added to it) and a rule for Kabulov printing to stdout.
fn config(feed_url: &str, feed_keys: &str) -> String {
    format!(
        "[storage]\npath = \"fw.db\"\n[poll]\ntimeout = \"3s\"\n\
         [[feed]]\nurl = \"{feed_url}\"\nname = \"news\"\n{feed_keys}\n\
         [[rule]]\nname = \"kabulov\"\nquery = 'Kabulov'\n\
         [notify.console]\ntype = \"stdout\"\n"
    )
}

fn html(body: String) -> Route {
    Route {
        content_type: Some("text/html; charset=utf-8".into()),
        ..Route::status(200).body(body)
    }
}

/// `feedwatch once` on `cfg`, which must succeed; returns its standard output.
async fn once(cfg: &str) -> String {
    let run = feedwatch(&["--config", cfg, "once"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    run.stdout
}

/// A server with the article at `/story` (naming Kabulov) and a feed at `/feed.xml` whose
/// teaser does not; the feed has no validators, so every poll gets its whole body.
async fn story_server() -> FeedServer {
    let server = FeedServer::start().await;
    server.set("/story", html(article_page("Zamir Kabulov")));
    server.set(
        "/feed.xml",
        Route::feed(teaser_feed(&server.url("/story"), "Envoys met.")),
    );
    server
}

/// `feedwatch feeds` on `cfg`, which must show these article counts; returns its output.
async fn article_counts_shown(cfg: &str, fetched: u32, failed: u32) -> String {
    let listing = feedwatch(&["--config", cfg, "feeds"]).await;
    let want = format!("articles: {fetched} fetched, {failed} failed");
    assert!(listing.stdout.contains(&want), "{}", listing.stdout);
    listing.stdout
}

fn alerts_in(stdout: &str) -> usize {
    stdout.matches("=== ").count()
}

#[tokio::test]
async fn a_name_only_in_the_article_alerts_once_with_the_article_snippet_and_is_not_refetched() {
    let server = story_server().await;
    let (_dir, cfg) = config_dir(&config(&server.url("/feed.xml"), "fetch_article = true"));
    let cfg = cfg.to_str().expect("utf-8");

    let out = once(cfg).await;
    assert_eq!(alerts_in(&out), 1, "{out}");
    assert!(out.contains("Zamir *Kabulov* said on Thursday"), "{out}");
    assert_eq!(server.seen("/story").len(), 1);

    let again = once(cfg).await;
    assert_eq!(alerts_in(&again), 0, "{again}");
    assert_eq!(
        server.seen("/story").len(),
        1,
        "a known item's article is not refetched"
    );
}

#[tokio::test]
async fn article_selector_picks_the_text_to_match() {
    let server = story_server().await;
    // The selector names the footer: the article body (with the name) is not searched.
    let keys = "fetch_article = true\narticle_selector = \"footer\"";
    let (_dir, cfg) = config_dir(&config(&server.url("/feed.xml"), keys));
    let out = once(cfg.to_str().expect("utf-8")).await;
    assert_eq!(alerts_in(&out), 0, "{out}");
    assert_eq!(server.seen("/story").len(), 1);
}

/// A feed's own `user_agent` goes with its article requests too, not only with the feed's.
#[tokio::test]
async fn a_feeds_user_agent_is_sent_for_its_articles() {
    let server = story_server().await;
    let keys = "fetch_article = true\nuser_agent = \"feedUA/2\"";
    let (_dir, cfg) = config_dir(&config(&server.url("/feed.xml"), keys));
    let out = once(cfg.to_str().expect("utf-8")).await;
    assert_eq!(alerts_in(&out), 1, "{out}");
    for path in ["/feed.xml", "/story"] {
        let seen = server.seen(path);
        assert_eq!(seen.len(), 1, "{path}");
        assert_eq!(seen[0].headers["user-agent"], "feedUA/2", "{path}");
    }
}

#[tokio::test]
async fn allow_private_false_refuses_a_loopback_link_and_the_item_still_matches_its_feed_text() {
    let feeds = FeedServer::start().await;
    let articles = FeedServer::start().await;
    articles.set("/story", html(article_page("Zamir Kabulov")));
    feeds.set(
        "/feed.xml",
        Route::feed(teaser_feed(&articles.url("/story"), "Kabulov met envoys.")),
    );
    let keys = "fetch_article = true\nallow_private = false";
    let (_dir, cfg) = config_dir(&config(&feeds.url("/feed.xml"), keys));
    let cfg = cfg.to_str().expect("utf-8");
    let out = once(cfg).await;
    assert_eq!(alerts_in(&out), 1, "{out}");
    assert!(out.contains("Kabulov met envoys"), "{out}");
    assert_eq!(
        articles.requests(),
        0,
        "the refused link must see no request"
    );
    let listing = article_counts_shown(cfg, 0, 1).await;
    assert!(listing.contains("loopback"), "{listing}");
}

#[tokio::test]
async fn a_missing_or_empty_article_still_alerts_on_the_feed_text() {
    let server = FeedServer::start().await;
    server.set("/gone", Route::status(404));
    server.set(
        "/empty",
        html("<html><body><script>x()</script></body></html>".into()),
    );
    let date = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc2822();
    let item = |n: &str, path: &str| {
        format!(
            "<item><guid>{n}</guid><title>Kabulov story {n}</title><link>{}</link>\
             <pubDate>{date}</pubDate><description>Teaser.</description></item>",
            server.url(path)
        )
    };
    let feed = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>News</title>{}{}\
         </channel></rss>",
        item("a", "/gone"),
        item("b", "/empty")
    );
    server.set("/feed.xml", Route::feed(feed));
    let (_dir, cfg) = config_dir(&config(&server.url("/feed.xml"), "fetch_article = true"));
    let cfg = cfg.to_str().expect("utf-8");
    let out = once(cfg).await;
    assert_eq!(alerts_in(&out), 2, "{out}");
    let listing = article_counts_shown(cfg, 0, 2).await;
    // The link (already masked when stored) and the reason, as written.
    let last = (listing.lines())
        .find(|l| l.contains("last failure: "))
        .unwrap_or_else(|| panic!("no last failure in:\n{listing}"));
    let reason = ["the page yields no text", "404"];
    assert!(reason.iter().any(|r| last.contains(r)), "{last}");
    assert!(!last.contains("%20"), "{last}");
}

#[tokio::test]
async fn a_stalled_article_server_does_not_hold_back_the_alert_beyond_the_fetch_timeout() {
    // Accepts the connection, reads the request, never answers.
    let stalled = support::raw_server("", support::RawBody::Stall).await;
    let feeds = FeedServer::start().await;
    feeds.set(
        "/feed.xml",
        Route::feed(teaser_feed(stalled.as_str(), "Kabulov met envoys.")),
    );
    // Loopback feed linking to loopback: the link is allowed, so the fetch really waits.
    let text = config(&feeds.url("/feed.xml"), "fetch_article = true")
        .replace("timeout = \"3s\"", "timeout = \"2s\"");
    let (_dir, cfg) = config_dir(&text);
    let cfg = cfg.to_str().expect("utf-8");
    let started = std::time::Instant::now();
    let out = once(cfg).await;
    let took = started.elapsed();
    assert_eq!(alerts_in(&out), 1, "{out}");
    assert!(out.contains("Kabulov met envoys"), "{out}");
    // The server holds the connection for 30 s; the poll gave up at its 2 s timeout (the
    // margin is for a loaded machine, far below the 30 s an unbounded wait would take).
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    article_counts_shown(cfg, 0, 1).await;
}

#[tokio::test]
async fn test_rule_url_matches_the_article_of_a_configured_feed_that_fetches_articles() {
    let server = story_server().await;
    let feed_url = server.url("/feed.xml");
    let (_dir, cfg) = config_dir(&config(&feed_url, "fetch_article = true"));
    let cfg = cfg.to_str().expect("utf-8");
    let run = feedwatch(&["--config", cfg, "test-rule", "Kabulov", "--url", &feed_url]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout
            .contains("Kabulov in article: …situation along the border. The envoy Zamir *Kabulov*"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("articles: 1 fetched, 0 failed"),
        "{}",
        run.stdout
    );
    assert_eq!(server.seen("/story").len(), 1);

    let json = feedwatch(&[
        "--config",
        cfg,
        "test-rule",
        "article:Kabulov",
        "--url",
        &feed_url,
        "--json",
    ])
    .await;
    assert_eq!(json.code, Some(0), "{json:#?}");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert!(
        v[0]["article"]
            .as_str()
            .is_some_and(|a| a.contains("Zamir Kabulov")),
        "{v}"
    );
    assert!(v[0]["article_error"].is_null(), "{v}");
}

/// `feedwatch test-rule Kabulov --url URL EXTRA…` with no config file to read.
async fn test_rule_unconfigured(url: &str, extra: &[&str]) -> support::Run {
    let args = [
        "--config",
        "/nonexistent/feedwatch.toml",
        "test-rule",
        "Kabulov",
        "--url",
        url,
    ];
    feedwatch(&[&args[..], extra].concat()).await
}

#[tokio::test]
async fn test_rule_fetches_articles_only_when_asked() {
    let server = story_server().await;
    let feed_url = server.url("/feed.xml");
    let plain = test_rule_unconfigured(&feed_url, &[]).await;
    assert_eq!(
        plain.code,
        Some(1),
        "the teaser does not name him: {plain:#?}"
    );
    assert_eq!(server.seen("/story").len(), 0);

    let asked = test_rule_unconfigured(&feed_url, &["--fetch-article"]).await;
    assert_eq!(asked.code, Some(0), "{asked:#?}");
    assert!(
        asked.stdout.contains("Kabulov in article:"),
        "{}",
        asked.stdout
    );

    // The selector names the footer, which does not name him.
    let selector = ["--fetch-article", "--article-selector", "footer"];
    let footer = test_rule_unconfigured(&feed_url, &selector).await;
    assert_eq!(footer.code, Some(1), "{footer:#?}");
}

#[tokio::test]
async fn test_rule_names_why_an_article_was_not_used() {
    let server = FeedServer::start().await;
    server.set("/story", Route::status(403));
    server.set(
        "/feed.xml",
        Route::feed(teaser_feed(&server.url("/story"), "Kabulov met envoys.")),
    );
    let run = test_rule_unconfigured(&server.url("/feed.xml"), &["--fetch-article"]).await;
    assert_eq!(run.code, Some(0), "matched on the feed text: {run:#?}");
    let out = &run.stdout;
    assert!(
        out.contains("article not used:") && out.contains("403"),
        "{out}"
    );
    assert!(out.contains("articles: 0 fetched, 1 failed"), "{out}");
}

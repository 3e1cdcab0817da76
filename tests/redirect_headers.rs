//! Per-feed headers (usually credentials) go only to the origin the user configured. A
//! permanent redirect to another host moves where the feed is polled, not where its
//! credentials go: only editing the URL in the config does that. Real servers on two loopback
//! addresses (127.0.0.1 and 127.0.0.2 are different hosts to an origin check) and the real
//! binary, polling twice with `once` as a cron job would.

mod support;

use std::net::Ipv4Addr;

use support::{FeedServer, Route, config_dir, feedwatch};

const API_KEY: &str = "k-7f3e9a-never-leaves-home";

const RSS: &str = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>T</title>\
    <item><guid>1</guid><title>One</title><link>http://news.test/1</link></item></channel></rss>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_feed_headers_never_follow_a_permanent_redirect_to_another_host() {
    let home = FeedServer::start().await;
    let away = FeedServer::start_on(Ipv4Addr::new(127, 0, 0, 2)).await;
    home.set("/feed.xml", Route::redirect(301, &away.url("/feed.xml")));
    away.set("/feed.xml", Route::rss(RSS, "\"1\""));
    let (_dir, cfg) = config_dir(&format!(
        "[storage]\npath = \"fw.db\"\n[poll]\ntimeout = \"5s\"\n\
         [[feed]]\nurl = \"{}\"\nname = \"F\"\nheaders = {{ \"X-Api-Key\" = \"{API_KEY}\" }}\n\
         user_agent = \"per-feed-agent/1\"\n\
         [notify.out]\ntype = \"stdout\"\n",
        home.url("/feed.xml")
    ));
    let cfg = cfg.to_str().expect("utf-8");

    for poll in ["first", "second"] {
        let run = feedwatch(&["--config", cfg, "once"]).await;
        assert_eq!(run.code, Some(0), "{poll} poll: {run:#?}");
    }

    let at_home = home.seen("/feed.xml");
    assert_eq!(
        at_home.len(),
        1,
        "after the 301 the feed is polled at its new address"
    );
    let key = |s: &support::Seen| s.headers.get("x-api-key").cloned();
    assert_eq!(
        key(&at_home[0]).as_ref().map(|v| v.as_bytes()),
        Some(API_KEY.as_bytes()),
        "the configured origin gets the key"
    );
    let away_seen = away.seen("/feed.xml");
    assert_eq!(away_seen.len(), 2, "both polls reached the new host");
    for (n, seen) in away_seen.iter().enumerate() {
        assert_eq!(
            key(seen),
            None,
            "poll {} sent the API key to the new host",
            n + 1
        );
        // Only the credentials stay home: the per-feed User-Agent is not one.
        assert_eq!(
            seen.headers.get("user-agent").map(|v| v.as_bytes()),
            Some(&b"per-feed-agent/1"[..])
        );
    }
}

//! `feedwatch parse` through the real binary: a good file, a broken file (exit 1, one line),
//! a repaired file and a feed fetched from a loopback server.

mod support;

use support::{FeedServer, Route, feedwatch, fixture};

fn path(name: &str) -> String {
    fixture(name).to_str().expect("utf-8").to_string()
}

#[tokio::test]
async fn a_good_file_prints_every_item_as_the_rules_see_it() {
    let run = feedwatch(&["parse", &path("no_guid.xml")]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let out = &run.stdout;
    assert!(out.starts_with("Feed without GUIDs\n"), "{out}");
    assert!(out.contains("recovered: nothing (well-formed)\n"), "{out}");
    assert!(out.contains("items: 2\n"), "{out}");
    assert!(
        out.contains("key:        link:http://example.org/news/kabulov-meets-delegation#"),
        "{out}"
    );
    assert!(
        out.contains("title:      Kabulov meets delegation\n"),
        "{out}"
    );
    assert!(
        out.contains("published:  2021-10-07T12:00:00+00:00\n"),
        "{out}"
    );
    assert!(
        out.contains("summary:    Envoy Zamir Kabulov met the delegation.\n"),
        "{out}"
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[tokio::test]
async fn json_output_has_the_keys_the_daemon_stores() {
    let run = feedwatch(&["parse", &path("no_guid.xml"), "--json"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(v["title"], "Feed without GUIDs");
    assert_eq!(v["encoding"], "UTF-8");
    assert_eq!(v["recoveries"], serde_json::json!([]));
    let items = v["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert!(
        items[1]["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("hash:")),
        "{items:#?}"
    );
    assert_eq!(items[1]["link"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_broken_file_fails_with_one_clear_line() {
    let file = path("malformed_truncated.xml");
    let run = feedwatch(&["parse", &file]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(&format!(
            "feedwatch: cannot parse {file}: not a valid RSS, Atom or JSON feed"
        )),
        "{}",
        run.stderr
    );
    let missing = feedwatch(&["parse", "/nonexistent/feed.xml"]).await;
    assert_eq!(missing.code, Some(1), "{missing:#?}");
    assert_eq!(missing.stderr.lines().count(), 1, "{}", missing.stderr);
}

#[tokio::test]
async fn a_repaired_feed_names_its_repairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("broken.xml");
    std::fs::write(
        &file,
        "\n  <?xml version=\"1.0\"?><rss version=\"0.93\"><channel><item><guid>1</guid>\
         <title>Tom &amp; Jerry&nbsp;&mdash; again</title></item></channel></rss>\
         <?xml version=\"1.0\"?>",
    )
    .expect("write");
    let run = feedwatch(&["parse", file.to_str().expect("utf-8")]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains(
            "recovered: text-before-declaration, later-declaration, html-entities, rss-version\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("title:      Tom & Jerry — again\n"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn a_loopback_url_is_fetched_and_parsed() {
    let server = FeedServer::start().await;
    let (body, _, _) = encoding_rs::KOI8_R.encode(
        "<rss version=\"2.0\"><channel><title>Лента</title><item><guid>k-1</guid>\
         <title>Кабулов в Москве</title><link>/news/1</link></item></channel></rss>",
    );
    server.set(
        "/feed.xml",
        Route::feed(body.into_owned())
            .header("content-type", "application/rss+xml; charset=koi8-r"),
    );
    let url = server.url("/feed.xml");
    let run = feedwatch(&["parse", &url]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.starts_with("Лента\nencoding: KOI8-R\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("key:        guid:k-1\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("title:      Кабулов в Москве\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("link:       {}\n", server.url("/news/1"))),
        "relative links resolve against the fetched URL: {}",
        run.stdout
    );
    assert_eq!(server.requests(), 1);

    server.set("/gone.xml", Route::status(404));
    let gone = feedwatch(&["parse", &server.url("/gone.xml")]).await;
    assert_eq!(gone.code, Some(1), "{gone:#?}");
    assert_eq!(gone.stderr.lines().count(), 1, "{}", gone.stderr);
    assert!(gone.stderr.contains("404"), "{}", gone.stderr);
}

//! `test-rule` and `backtest` on real feed files: what a user does before trusting a rule.

mod support;

use support::{FeedServer, Route, SmtpServer, feedwatch, fixture};

fn seed() -> String {
    fixture("moscow_times_seed.xml")
        .to_str()
        .expect("utf-8")
        .to_string()
}

/// A loopback server with the seed feed at `/rss`, and a config in a new folder that polls it
/// (as feed `MT`) with `backlog` and `rest` (rules and notifiers). The server and the folder
/// live as long as the returned values.
async fn seed_feed_config(backlog: &str, rest: &str) -> (FeedServer, tempfile::TempDir) {
    let feeds = FeedServer::start().await;
    feeds.set(
        "/rss",
        Route::rss(support::read_fixture("moscow_times_seed.xml"), "\"1\""),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("feedwatch.toml"),
        format!(
            "[storage]\npath = \"fw.db\"\n[poll]\nbacklog = \"{backlog}\"\n\
             [[feed]]\nurl = \"{}\"\nname = \"MT\"\n{rest}",
            feeds.url("/rss"),
        ),
    )
    .expect("write");
    (feeds, dir)
}

/// The config [`seed_feed_config`] wrote.
fn config_path(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("feedwatch.toml");
    path.to_str().expect("utf-8").to_string()
}

#[tokio::test]
async fn test_rule_prints_matching_items_with_highlights_and_fields() {
    let run = feedwatch(&[
        "test-rule",
        "\"Moscow format\" OR Kabulov",
        "--file",
        &seed(),
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let out = &run.stdout;
    assert!(
        out.contains("Russia Invites Taliban for Afghan Talks\n"),
        "{out}"
    );
    assert!(
        out.contains("https://www.themoscowtimes.com/2021/10/07/russia-invites-taliban-for-afghan-talks-a75242"),
        "{out}"
    );
    // Not a terminal: matches are marked with stars, and the field is named.
    assert!(out.contains("Moscow format in summary: "), "{out}");
    assert!(out.contains("*Moscow format*"), "{out}");
    assert!(
        out.contains("Kabulov in summary: ") && out.contains("*Kabulov*"),
        "{out}"
    );
    assert!(out.contains("1 of 3 items matched"), "{out}");
    assert!(
        !out.contains("Moscow Weather"),
        "a near miss is not a match: {out}"
    );
}

#[tokio::test]
async fn test_rule_json_and_exit_codes() {
    let run = feedwatch(&["test-rule", "title:Ruble", "--file", &seed(), "--json"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["title"], "Ruble Steadies as Oil Climbs");
    assert_eq!(v[0]["matched"][0]["field"], "title");
    assert_eq!(v[0]["matched"][0]["term"], "Ruble");

    let none = feedwatch(&["test-rule", "Kabulovsky", "--file", &seed()]).await;
    assert_eq!(none.code, Some(1), "whole words only: {none:#?}");
    assert!(none.stdout.contains("0 of 3 items matched"));

    // A query may start with an exclusion: it is the query, not an unknown flag.
    let excluding = feedwatch(&["test-rule", "-frost Moscow", "--file", &seed()]).await;
    assert_eq!(excluding.code, Some(0), "{excluding:#?}");
    assert!(excluding.stdout.contains("read as: (NOT frost) AND Moscow"));
    assert!(excluding.stdout.contains("1 of 3 items matched"));

    let bad = feedwatch(&["test-rule", "(Kabulov OR", "--file", &seed()]).await;
    assert_eq!(bad.code, Some(2), "{bad:#?}");
    assert!(bad.stderr.contains("invalid query"), "{}", bad.stderr);
    let lines: Vec<&str> = bad.stderr.lines().collect();
    let caret = lines
        .iter()
        .position(|l| l.trim() == "^" || l.trim_end().ends_with('^'));
    assert!(
        caret.is_some(),
        "a caret under the problem:\n{}",
        bad.stderr
    );
}

#[tokio::test]
async fn test_rule_languages_and_transliterate_match_word_forms_but_not_the_city() {
    let file = fixture("tass_kabulov_word_forms.xml");
    let file = file.to_str().expect("utf-8");
    let exact = feedwatch(&["test-rule", "Kabulov", "--file", file]).await;
    assert_eq!(exact.code, Some(0), "{exact:#?}");
    assert!(
        exact.stdout.contains("1 of 4 items matched"),
        "{}",
        exact.stdout
    );

    let forms = feedwatch(&[
        "test-rule",
        "Kabulov",
        "--file",
        file,
        "--languages",
        "ru,en",
        "--transliterate",
    ])
    .await;
    assert_eq!(forms.code, Some(0), "{forms:#?}");
    let out = &forms.stdout;
    assert!(out.contains("3 of 4 items matched"), "{out}");
    assert!(
        out.contains("*Кабулову*") && out.contains("*Кабулов*"),
        "{out}"
    );
    assert!(
        !out.contains("Взрыв в Кабуле"),
        "the city is not the envoy: {out}"
    );

    let bad = feedwatch(&["test-rule", "Kabulov", "--file", file, "--languages", "de"]).await;
    assert_eq!(bad.code, Some(2), "{bad:#?}");
    assert!(bad.stderr.contains("unknown language"), "{}", bad.stderr);
}

#[tokio::test]
async fn test_rule_reads_a_windows_1251_russian_feed_over_http() {
    let feeds = FeedServer::start().await;
    feeds.set(
        "/pikabu.xml",
        Route {
            content_type: Some("application/rss+xml; charset=windows-1251".into()),
            ..Route::rss(
                support::read_fixture("enc_windows1251_undeclared.xml"),
                "\"p\"",
            )
        },
    );
    // Inflected forms need a wildcard: `Москв*` matches Москвы and Москве.
    let run = feedwatch(&[
        "test-rule",
        "Москв* OR московск*",
        "--url",
        &feeds.url("/pikabu.xml"),
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("Москв"), "{}", run.stdout);
    let literal = feedwatch(&["test-rule", "Москва", "--url", &feeds.url("/pikabu.xml")]).await;
    assert_eq!(
        literal.code,
        Some(1),
        "the feed has no nominative Москва: {}",
        literal.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_runs_a_configured_rule_over_stored_items_without_sending() {
    let smtp = SmtpServer::start();
    // backlog 1s: the 2021 items are stored on the first poll but do not alert.
    let (_feeds, dir) = seed_feed_config(
        "1s",
        &format!(
            "[[rule]]\nname = \"weather\"\nquery = 'frost OR title:weather'\n\
             [notify.mail]\ntype = \"email\"\nsmtp = \"{}\"\nfrom = \"fw@localhost\"\nto = [\"a@example.org\"]\n",
            smtp.url()
        ),
    )
    .await;
    let cfg = &config_path(&dir);
    assert_eq!(feedwatch(&["--config", cfg, "once"]).await.code, Some(0));
    assert!(smtp.mails().is_empty(), "backlog kept old items quiet");

    let run = feedwatch(&["--config", cfg, "backtest", "weather", "--since", "1d"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout
            .contains("Moscow Weather: First Frost Expected  (MT)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("would have alerted on 1 of 3 stored items"),
        "{}",
        run.stdout
    );
    let json = feedwatch(&["--config", cfg, "backtest", "weather", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v[0]["feed"], "MT");
    assert!(smtp.mails().is_empty(), "a backtest sends nothing");

    let missing = feedwatch(&["--config", cfg, "backtest", "nope"]).await;
    assert_eq!(missing.code, Some(1));
    assert!(
        missing
            .stderr
            .contains("no rule named \"nope\" (configured: weather)"),
        "{}",
        missing.stderr
    );
}

#[tokio::test]
async fn image_alt_and_title_attributes_never_match() {
    // Issue 11: a name that appears only in `<img alt>`, `<img title>` and `<a title>` is
    // invisible to a reader, so it must not alert (docs/rules.md: attributes are invisible).
    let feeds = FeedServer::start().await;
    feeds.set(
        "/photos.xml",
        Route::rss(
            support::read_fixture("html_attributes_mention_name.xml"),
            "\"a\"",
        ),
    );
    let url = feeds.url("/photos.xml");
    let hidden = feedwatch(&["test-rule", "Kabulov OR envoy", "--url", &url]).await;
    assert_eq!(hidden.code, Some(1), "{hidden:#?}");
    assert!(
        hidden.stdout.contains("0 of 1 items matched"),
        "{}",
        hidden.stdout
    );
    // The visible text around the images still matches.
    let visible = feedwatch(&["test-rule", "\"next round\" Delegations", "--url", &url]).await;
    assert_eq!(visible.code, Some(0), "{visible:#?}");
}

#[tokio::test]
async fn test_rule_shows_how_the_query_was_read_and_warns() {
    // Read as three required words, so nothing matches: the warning says why.
    let run = feedwatch(&["test-rule", "kabulov or lavrov", "--file", &seed()]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stdout
            .starts_with("read as: kabulov AND or AND lavrov\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("warning: `or` is searched as a word")
            && run.stderr.contains("did you mean OR?"),
        "{}",
        run.stderr
    );
    // With --json the read-back moves to stderr: stdout stays one JSON document.
    let json = feedwatch(&["test-rule", "NOT football", "--file", &seed(), "--json"]).await;
    assert_eq!(json.code, Some(0), "{json:#?}");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(3));
    assert!(
        json.stderr.contains("read as: NOT football"),
        "{}",
        json.stderr
    );
    assert!(
        json.stderr.contains("nothing in it must be present"),
        "{}",
        json.stderr
    );
    let near = feedwatch(&["test-rule", "Kabulov NEAR/5 Taliban", "--file", &seed()]).await;
    assert!(
        near.stderr.contains("\"Kabulov Taliban\"~5"),
        "{}",
        near.stderr
    );
}

#[tokio::test]
async fn test_rule_exits_3_when_the_feed_cannot_be_had() {
    let feeds = FeedServer::start().await;
    feeds.set("/missing.xml", Route::status(404));
    feeds.set(
        "/garbage.xml",
        Route::feed(b"\x00\x01 this is not a feed <<<".to_vec()),
    );
    for (what, source) in [
        ("404", vec!["--url".to_string(), feeds.url("/missing.xml")]),
        (
            "garbage",
            vec!["--url".to_string(), feeds.url("/garbage.xml")],
        ),
        (
            "missing file",
            vec!["--file".to_string(), "/nonexistent/feed.xml".to_string()],
        ),
    ] {
        let mut args = vec!["test-rule", "Kabulov"];
        args.extend(source.iter().map(String::as_str));
        let run = feedwatch(&args).await;
        assert_eq!(run.code, Some(3), "{what}: {run:#?}");
        assert!(
            run.stderr.contains("feedwatch: error:"),
            "{what}: {}",
            run.stderr
        );
    }
    // A feed that parses but matches nothing is still 1.
    let quiet = feedwatch(&["test-rule", "Kabulovsky", "--file", &seed()]).await;
    assert_eq!(quiet.code, Some(1), "{quiet:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_runs_an_ad_hoc_query_and_marks_items_that_already_alerted() {
    // A backlog of ten years: the 2021 Kabulov item alerts on the first poll.
    let (_feeds, dir) = seed_feed_config(
        "3650days",
        "[[rule]]\nname = \"kabulov\"\nquery = 'Kabulov'\n[notify.out]\ntype = \"stdout\"\n",
    )
    .await;
    let cfg = &config_path(&dir);
    let once = feedwatch(&["--config", cfg, "once"]).await;
    assert_eq!(once.code, Some(0), "{once:#?}");

    let q = "\"Moscow format\" OR frost";
    let run = feedwatch(&["--config", cfg, "backtest", "--query", q, "--since", "1d"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let out = &run.stdout;
    assert!(
        out.starts_with("read as: \"Moscow format\" OR frost\n"),
        "{out}"
    );
    assert!(out.contains("already alerted: kabulov"), "{out}");
    assert_eq!(out.matches("already alerted:").count(), 1, "{out}");
    assert!(
        out.contains(&format!(
            "query {q:?} would have alerted on 2 of 3 stored items from the last 1day (1 already alerted)"
        )),
        "{out}"
    );
    let json = feedwatch(&["--config", cfg, "backtest", "--query", q, "--json"]).await;
    assert_eq!(json.code, Some(0), "{json:#?}");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let alerted: Vec<&serde_json::Value> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|i| &i["alerted"])
        .collect();
    assert_eq!(
        alerted,
        vec![&serde_json::json!(["kabulov"]), &serde_json::json!([])]
    );

    let bad = feedwatch(&["--config", cfg, "backtest", "--query", "(Kabulov"]).await;
    assert_eq!(bad.code, Some(2), "{bad:#?}");
    let neither = feedwatch(&["--config", cfg, "backtest"]).await;
    assert_eq!(neither.code, Some(2), "clap usage error: {neither:#?}");
}

#[tokio::test]
async fn check_warns_about_queries_and_unused_notifiers_but_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("feedwatch.toml");
    std::fs::write(
        &cfg,
        "[storage]\npath = \"fw.db\"\n\
         [[feed]]\nurl = \"http://127.0.0.1:9/rss\"\nname = \"MT\"\n\
         [[rule]]\nname = \"lower\"\nquery = 'kabulov or lavrov'\nnotify = [\"mail\"]\n\
         [[rule]]\nname = \"near\"\nquery = 'Kabulov NEAR/5 Taliban'\nnotify = [\"mail\"]\n\
         [[rule]]\nname = \"negative\"\nquery = '-football'\nnotify = [\"mail\"]\n\
         [[rule]]\nname = \"twice\"\nquery = 'Kabulov OR Kabulov*'\nnotify = [\"mail\"]\n\
         [[rule]]\nname = \"clean\"\nquery = '(\"Moscow format\" OR Kabulov) -football'\nnotify = [\"mail\"]\n\
         [notify.mail]\ntype = \"stdout\"\n\
         [notify.spare]\ntype = \"stdout\"\n",
    )
    .expect("write");
    let cfg = cfg.to_str().expect("utf-8");
    let run = feedwatch(&["--config", cfg, "check"]).await;
    assert_eq!(run.code, Some(0), "warnings are not errors: {run:#?}");
    let out = &run.stdout;
    for want in [
        "warning: `or` is searched as a word: operators are written in capitals; did you mean OR?",
        "warning: `NEAR/5` is not an operator here and is searched as a word; for words within 5 words of each other write \"Kabulov Taliban\"~5",
        "warning: the query matches items that contain none of its terms",
        "warning: `Kabulov` is redundant: `Kabulov*` in the same OR already matches everything it matches",
        "warning: notify.spare is used by no enabled rule",
    ] {
        assert!(out.contains(want), "lacks {want:?}:\n{out}");
    }
    assert_eq!(out.matches("warning:").count(), 5, "{out}");
    assert!(!out.contains("read as:"), "only with -v: {out}");
    assert!(!out.contains("notify.mail is used"), "{out}");

    let verbose = feedwatch(&["--config", cfg, "check", "-v"]).await;
    assert_eq!(verbose.code, Some(0), "{verbose:#?}");
    for want in [
        "    read as: kabulov AND or AND lavrov\n",
        "    read as: (\"Moscow format\" OR Kabulov) AND (NOT football)\n",
        "    read as: NOT football\n",
    ] {
        assert!(
            verbose.stdout.contains(want),
            "lacks {want:?}:\n{}",
            verbose.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_tells_a_delivered_alert_from_one_on_its_way_and_one_given_up() {
    // Two rules alert on the Kabulov item: one to a webhook that rejects it for good (400:
    // the alert is given up), one to a port nothing listens on (refused: it waits for a retry).
    let (feeds, dir) = seed_feed_config("3650days", "").await;
    feeds.set("/hook", Route::status(400));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let refused = format!("http://{}/hook", closed.local_addr().expect("addr"));
    drop(closed);
    let cfg = &config_path(&dir);
    let mut text = std::fs::read_to_string(cfg).expect("read");
    text.push_str(&format!(
        "[[rule]]\nname = \"to-rejecting\"\nquery = 'Kabulov'\nnotify = [\"rejecting\"]\n\
         [[rule]]\nname = \"to-down\"\nquery = 'Kabulov'\nnotify = [\"down\"]\n\
         [notify.rejecting]\ntype = \"webhook\"\nurl = \"{}\"\n\
         [notify.down]\ntype = \"webhook\"\nurl = \"{refused}\"\n",
        feeds.url("/hook")
    ));
    std::fs::write(cfg, text).expect("write");
    let once = feedwatch(&["--config", cfg, "once"]).await;
    assert!(
        feeds.requests() >= 2,
        "the feed and the rejecting hook: {once:#?}"
    );

    let run = feedwatch(&["--config", cfg, "backtest", "--query", "Kabulov"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let out = &run.stdout;
    assert!(!out.contains("already alerted:"), "{out}");
    assert!(
        out.contains("  alert queued, not delivered yet: to-down\n"),
        "{out}"
    );
    assert!(
        out.contains("  alert given up, never delivered: to-rejecting\n"),
        "{out}"
    );
    assert!(
        out.contains("would have alerted on 1 of 3 stored items from the last 30days (0 already alerted, 1 queued)"),
        "{out}"
    );
    let json = feedwatch(&["--config", cfg, "backtest", "--query", "Kabulov", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let item = &v[0];
    assert_eq!(item["alerted"], serde_json::json!([]), "{v:#}");
    assert_eq!(item["queued"], serde_json::json!(["to-down"]), "{v:#}");
    assert_eq!(item["failed"], serde_json::json!(["to-rejecting"]), "{v:#}");
}

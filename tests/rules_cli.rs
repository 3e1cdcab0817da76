//! `test-rule` and `backtest` on real feed files: what a user does before trusting a rule.

mod support;

use support::{FeedServer, Route, SmtpServer, feedwatch, fixture};

fn seed() -> String {
    fixture("moscow_times_seed.xml")
        .to_str()
        .expect("utf-8")
        .to_string()
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
    let feeds = FeedServer::start().await;
    feeds.set(
        "/rss",
        Route::rss(support::read_fixture("moscow_times_seed.xml"), "\"1\""),
    );
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("feedwatch.toml");
    // backlog 1s: the 2021 items are stored on the first poll but do not alert.
    std::fs::write(
        &cfg,
        format!(
            "[storage]\npath = \"fw.db\"\n[poll]\nbacklog = \"1s\"\n\
             [[feed]]\nurl = \"{}\"\nname = \"MT\"\n\
             [[rule]]\nname = \"weather\"\nquery = 'frost OR title:weather'\n\
             [notify.mail]\ntype = \"email\"\nsmtp = \"{}\"\nfrom = \"fw@localhost\"\nto = [\"a@example.org\"]\n",
            feeds.url("/rss"),
            smtp.url()
        ),
    )
    .expect("write");
    let cfg = cfg.to_str().expect("utf-8");
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
